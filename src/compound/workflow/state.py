"""What a run keeps in the store: its record, a checkpoint per step, a journal of the model
and tool calls it made, and sessions (conversation memory).

Layout in the store (collections, keyed by run id):

* ``runs/{run_id}``: status (``running``, ``completed``, ``failed``, ``stopped``), workflow,
  how to rebuild it (``target``), input, output, error, stop reason, timings;
* ``checkpoints/{run_id}/{step}``: the JSON output of each completed step;
* ``effects/{run_id}/{step path}#{n}``: the n-th model or tool call of a step: the
  completion or tool result, or ``status: started`` for a side-effecting tool call still
  under way. A resumed run reads these back instead of calling again, which is how it avoids
  repeating a completed side-effecting call; a replay reads the model outputs from them.

Sessions are streams ``session:{id}`` of messages.

Example:
    >>> from compound.store import MemoryStore
    >>> from compound.intelligence.llm import Message
    >>> session = Session(MemoryStore(), "user-42")
    >>> session.append(Message("user", "hi"), Message("assistant", "hello"))
    >>> [m.content for m in session.messages()]
    ['hi', 'hello']
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from compound.errors import UserError
from compound.intelligence.llm.types import Message, ToolCall
from compound.store.base import Store

RUNS = "runs"
CHECKPOINTS = "checkpoints"
EFFECTS = "effects"


class Journal:
    """The model and tool calls of a run, by stable key, for resume and replay.

    Args:
        store: where new entries are written; None records nothing (replay of a run that
            should leave no trace).
        run_id: the run whose entries are written.
        recorded: entries to answer from instead of calling (a resumed run's own, or the
            original run's for a replay).
        replay: True when model calls must come from ``recorded`` (no model is called).
    """

    __slots__ = ("recorded", "replay", "run_id", "store")

    def __init__(self, store: Store | None, run_id: str, *,
                 recorded: Mapping[str, dict[str, Any]] | None = None,
                 replay: bool = False) -> None:
        self.store = store
        self.run_id = run_id
        self.recorded = dict(recorded or {})
        self.replay = replay

    @classmethod
    def of_run(cls, store: Store, run_id: str) -> dict[str, dict[str, Any]]:
        """Every entry a run recorded, by key."""
        prefix = f"{run_id}/"
        return {key[len(prefix):]: value for key, value in store.items(EFFECTS, prefix=prefix)}

    def lookup(self, key: str) -> dict[str, Any] | None:
        return self.recorded.get(key)

    def write(self, key: str, entry: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.put(EFFECTS, f"{self.run_id}/{key}", entry)


class Checkpoints:
    """The run record and per-step checkpoints of one run."""

    __slots__ = ("run_id", "store")

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    def begin(self, record: dict[str, Any]) -> None:
        existing = self.store.get(RUNS, self.run_id) or {}
        self.store.put(RUNS, self.run_id, {
            **existing, **record, "status": "running", "started": existing.get(
                "started", time.time()), "resumed": existing.get("resumed", 0) + bool(existing),
        })

    def step_done(self, step: str, output: Any) -> None:
        self.store.put(CHECKPOINTS, f"{self.run_id}/{step}", {"output": output})

    def completed(self) -> dict[str, Any]:
        """Outputs (as JSON) of the steps that completed, by step name."""
        prefix = f"{self.run_id}/"
        return {key[len(prefix):]: value["output"]
                for key, value in self.store.items(CHECKPOINTS, prefix=prefix)}

    def finish(self, **fields: Any) -> None:
        record = self.store.get(RUNS, self.run_id) or {}
        self.store.put(RUNS, self.run_id, {**record, **fields, "ended": time.time()})


def load_run(store: Store, run_id: str) -> dict[str, Any]:
    """The record of ``run_id``, or a :class:`UserError` listing recent runs."""
    record = store.get(RUNS, run_id)
    if record is None:
        recent = sorted(store.items(RUNS), key=lambda kv: -float(kv[1].get("started", 0)))[:5]
        hint = ", ".join(key for key, _ in recent) or "none"
        raise UserError(
            f"no run '{run_id}' in the store {store!r}; recent runs: {hint}. Point --home or "
            "--spec at the store the run used"
        )
    return dict(record)


# -- messages as JSON -------------------------------------------------------------------------


def message_to_dict(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        data["tool_calls"] = [{"name": c.name, "arguments": dict(c.arguments), "id": c.id}
                              for c in message.tool_calls]
    if message.tool_call_id is not None:
        data["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        data["name"] = message.name
    return data


def message_from_dict(data: Mapping[str, Any]) -> Message:
    calls = tuple(ToolCall(c["name"], c.get("arguments", {}), c.get("id", ""))
                  for c in data.get("tool_calls", ()))
    return Message(data["role"], data.get("content", ""), calls, data.get("tool_call_id"),
                   data.get("name"))


class Session:
    """Conversation memory: the messages of one conversation, kept in the store.

    Args:
        store: where the conversation lives (stream ``session:{session_id}``).
        session_id: which conversation.
        max_messages: how many of the latest messages :meth:`messages` returns by default.
    """

    def __init__(self, store: Store, session_id: str, *, max_messages: int = 50) -> None:
        self.store = store
        self.session_id = session_id
        self.max_messages = max_messages

    @property
    def stream(self) -> str:
        return f"session:{self.session_id}"

    def messages(self, limit: int | None = None) -> list[Message]:
        """The latest messages, oldest first."""
        records = list(self.store.read(self.stream))
        keep = limit if limit is not None else self.max_messages
        return [message_from_dict(r.data) for r in records[-keep:]] if keep else []

    def append(self, *messages: Message) -> None:
        """Add messages at the end, all together or none."""
        with self.store.transaction():
            for message in messages:
                self.store.append(self.stream, message_to_dict(message))
