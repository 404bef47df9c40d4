"""API keys: created once, shown once, kept only as a hash in the store.

A key reads ``ck_<id>_<secret>``: the id finds the record (collection ``api_keys``), the
SHA-256 of the whole key must match the stored hash, and the key must not be revoked. Secrets
are 256 random bits, so a fast hash is enough: there is nothing to brute-force that a slow
hash would protect (unlike passwords).

Each key has one scope, and scopes nest: ``read`` (monitoring, runs, traces, the dashboard's
data) < ``write`` (run workflows, call models, record feedback) < ``admin`` (manage keys,
pin drift references).

Example:
    >>> from compound.store import MemoryStore
    >>> keys = ApiKeys(MemoryStore())
    >>> secret, info = keys.create("ci", scope="write")
    >>> keys.verify(secret).allows("read"), keys.verify(secret).allows("admin")
    (True, False)
    >>> keys.revoke(info.key_id)
    True
    >>> keys.verify(secret) is None
    True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from compound.errors import UserError

if TYPE_CHECKING:
    from compound.store.base import Store

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
COLLECTION = "api_keys"
_LEVEL = {scope: level for level, scope in enumerate(SCOPES)}


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the key's id, name and scope."""

    key_id: str
    name: str
    scope: Scope

    def allows(self, needed: Scope) -> bool:
        """Whether this key's scope covers ``needed`` (scopes nest: read < write < admin)."""
        return _LEVEL[self.scope] >= _LEVEL[needed]


@dataclass(frozen=True)
class KeyInfo:
    """A key's record, without its secret."""

    key_id: str
    name: str
    scope: Scope
    created: float
    revoked: float | None = None
    prefix: str = ""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiKeys:
    """Create, list, revoke and verify API keys kept in a store.

    Args:
        store: where the hashed keys live.
        cache_s: how long a verified key is remembered in memory; a revoked key stops
            working within this time in every server process.
    """

    def __init__(self, store: Store, *, cache_s: float = 5.0) -> None:
        self.store = store
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def create(self, name: str, *, scope: Scope = "write") -> tuple[str, KeyInfo]:
        """A new key. The returned secret is not kept anywhere: show it to the user once.

        Raises:
            UserError: an unknown scope or an empty name.
        """
        if scope not in SCOPES:
            raise UserError(f"unknown scope '{scope}'; use one of {', '.join(SCOPES)} "
                            "(they nest: read < write < admin)")
        if not name.strip():
            raise UserError("a key needs a name saying who or what uses it, e.g. 'ci' or "
                            "'web-app'")
        key_id = secrets.token_hex(4)
        while self.store.get(COLLECTION, key_id) is not None:
            key_id = secrets.token_hex(4)
        token = f"ck_{key_id}_{secrets.token_urlsafe(32)}"
        info = KeyInfo(key_id, name.strip(), scope, time.time(), prefix=token[:12])
        self.store.put(COLLECTION, key_id, {
            "name": info.name, "scope": scope, "hash": _hash(token), "created": info.created,
            "revoked": None, "prefix": info.prefix,
        })
        return token, info

    def list(self) -> list[KeyInfo]:
        """Every key, revoked ones included, oldest first."""
        infos = [KeyInfo(key_id, doc["name"], doc["scope"], doc["created"], doc.get("revoked"),
                         doc.get("prefix", ""))
                 for key_id, doc in self.store.items(COLLECTION)]
        return sorted(infos, key=lambda k: k.created)

    def count_active(self) -> int:
        return sum(1 for k in self.list() if k.revoked is None)

    def revoke(self, key_id: str) -> bool:
        """Revoke a key by id; False when no such key exists."""
        doc = self.store.get(COLLECTION, key_id)
        if doc is None:
            return False
        if doc.get("revoked") is None:
            self.store.put(COLLECTION, key_id, {**doc, "revoked": time.time()})
        with self._lock:
            self._cache.clear()
        return True

    def verify(self, token: str) -> Principal | None:
        """The principal of a presented key, or None for an unknown, wrong or revoked one."""
        now = time.monotonic()
        cached = self._cache.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = self._lookup(token)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = (now + self.cache_s, principal)
        return principal

    def _lookup(self, token: str) -> Principal | None:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "ck" or len(parts[1]) != 8:
            return None
        doc = self.store.get(COLLECTION, parts[1])
        if doc is None or doc.get("revoked") is not None:
            return None
        if not hmac.compare_digest(doc["hash"], _hash(token)):
            return None
        return Principal(parts[1], doc["name"], doc["scope"])
