"""Persistence: SQLite embedded by default, one small interface for everything compound keeps."""

from compound.store.base import JSON, Record, Store
from compound.store.memory import MemoryStore
from compound.store.opening import open_store
from compound.store.redacting import RedactingStore
from compound.store.sqlite import SQLiteStore

__all__ = ["JSON", "MemoryStore", "Record", "RedactingStore", "SQLiteStore", "Store",
           "open_store"]
