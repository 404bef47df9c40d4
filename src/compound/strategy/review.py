"""Human review: a queue in the store for answers a person must decide, and their resolutions
as labelled data.

Requests whose confidence is below a threshold, on which an ensemble disagrees, or that a
guardrail flagged are *submitted* with the proposed answer and the reason. A reviewer lists
them (``compound review list``), looks at one (``show``) and *resolves* it: approve the
proposal, correct it with the right label, or reject it. Each resolution is appended to the
stream ``review:resolutions``; :meth:`ReviewQueue.labelled` reads the approved and corrected
ones back as ``{"input", "label"}`` rows, the labelled data the flywheel retrains on.

Items live in the collection ``review`` under ``{queue}/{id}``; the id is the store's
sequence number of the submission, so ids are short, unique and increasing.

Example:
    >>> from compound.store import MemoryStore
    >>> queue = ReviewQueue(MemoryStore())
    >>> item = queue.submit("is my card lost?", proposed="lost_or_stolen_card",
    ...                     confidence=0.41, reason="below_threshold", source="intent")
    >>> [i.id for i in queue.entries()]
    [1]
    >>> queue.resolve(item.id, "correct", label="card_arrival", reviewer="ana").status
    'corrected'
    >>> queue.labelled()
    [{'input': 'is my card lost?', 'label': 'card_arrival'}]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from compound.errors import UserError
from compound.specfile import did_you_mean
from compound.strategy.answers import Answer
from compound.strategy.trace import decision_span, note

if TYPE_CHECKING:
    from compound.store import Store
    from compound.system import System
    from compound.workflow.context import RunContext

COLLECTION = "review"
RESOLUTIONS = "review:resolutions"
Action = Literal["approve", "correct", "reject"]
Status = Literal["open", "approved", "corrected", "rejected"]
_STATUS: dict[str, Status] = {"approve": "approved", "correct": "corrected", "reject": "rejected"}


@dataclass(frozen=True, slots=True)
class Resolution:
    """A reviewer's decision: the action, the final label (None when rejected), who, why."""

    action: Action
    label: Any
    reviewer: str
    note: str
    resolved_at: float


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One request waiting for, or decided by, a person.

    Attributes:
        id: the item's number in its queue.
        queue: the queue's name.
        input: the request.
        proposed: the answer proposed by ``source`` (None when there was none).
        confidence: the proposal's confidence.
        reason: why it needs review (``below_threshold``, ``disagreement``, ``flagged: ...``).
        source: the component that proposed the answer.
        run_id: the run the request belongs to, when known.
        created_at: seconds since the epoch.
        status: ``open``, ``approved``, ``corrected`` or ``rejected``.
        resolution: the decision, once resolved.
        context: anything else the reviewer should see (alternatives, a rail's finding).
    """

    id: int
    queue: str
    input: Any
    proposed: Any
    confidence: float | None
    reason: str
    source: str
    run_id: str | None
    created_at: float
    status: Status = "open"
    resolution: Resolution | None = None
    context: Any = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReviewItem:
        resolution = data.get("resolution")
        return cls(**{**data, "resolution": Resolution(**resolution) if resolution else None})


class ReviewQueue:
    """A review queue in the store.

    Args:
        store: where items and resolutions live.
        queue: the queue's name (several systems or teams may share a store).
        labels: the labels a correction may use; empty: any.
        clock: seconds since the epoch (tests pass a fake).
    """

    def __init__(self, store: Store, *, queue: str = "default", labels: Sequence[str] = (),
                 clock: Any = time.time) -> None:
        self.store = store
        self.queue = queue
        self.labels = tuple(labels)
        self.clock = clock

    @classmethod
    def of_system(cls, system: System, store: Store) -> ReviewQueue:
        """The review queue ``system`` declares (``strategy.review``), in ``store``."""
        spec = system.strategy.review
        return cls(store, queue=spec.queue, labels=spec.labels)

    def _key(self, item_id: int) -> str:
        return f"{self.queue}/{item_id:012d}"

    def submit(self, input: Any, *, proposed: Any = None, confidence: float | None = None,
               reason: str, source: str = "", run_id: str | None = None,
               context: Any = None) -> ReviewItem:
        """Put a request in the queue; returns the item with its id."""
        with self.store.transaction():
            item_id = self.store.append("review:submissions", {"queue": self.queue})
            item = ReviewItem(item_id, self.queue, input, proposed, confidence, reason, source,
                              run_id, self.clock(), context=context)
            self.store.put(COLLECTION, self._key(item_id), item.to_dict())
        return item

    def get(self, item_id: int | str) -> ReviewItem:
        """The item ``item_id``.

        Raises:
            UserError: no such item in this queue.
        """
        number = _number(item_id)
        data = self.store.get(COLLECTION, self._key(number))
        if data is None:
            open_ids = [str(i.id) for i in self.entries(limit=20)]
            raise UserError(
                f"review queue '{self.queue}' has no item {item_id}"
                f"{did_you_mean(str(item_id), open_ids)}; open items: "
                f"{', '.join(open_ids) or 'none'} (see 'compound review list')"
            )
        return ReviewItem.from_dict(data)

    def entries(self, *, status: Status | Literal["all"] = "open", limit: int | None = None
             ) -> list[ReviewItem]:
        """Items of the queue, oldest first, by status."""
        found = []
        for _, data in self.store.items(COLLECTION, prefix=f"{self.queue}/"):
            if status == "all" or data["status"] == status:
                found.append(ReviewItem.from_dict(data))
                if limit is not None and len(found) >= limit:
                    break
        return found

    def counts(self) -> dict[str, int]:
        """How many items have each status."""
        counts = {"open": 0, "approved": 0, "corrected": 0, "rejected": 0}
        for _, data in self.store.items(COLLECTION, prefix=f"{self.queue}/"):
            counts[data["status"]] += 1
        return counts

    def resolve(self, item_id: int | str, action: Action, *, label: Any = None,
                reviewer: str = "", note: str = "") -> ReviewItem:
        """Decide an item: ``approve`` the proposal, ``correct`` it with ``label``, or
        ``reject`` it. The resolution is appended to ``review:resolutions`` in the same
        transaction.

        Raises:
            UserError: an unknown item, one already resolved, a missing or unknown label.
        """
        if action not in _STATUS:
            raise UserError(f"review action must be approve, correct or reject; received "
                            f"{action!r}")
        item = self.get(item_id)
        if item.status != "open":
            assert item.resolution is not None
            raise UserError(
                f"review item {item.id} was already {item.status} by "
                f"{item.resolution.reviewer or 'someone'}; resolutions are final (submit the "
                "request again to review it anew)"
            )
        final = self._final_label(item, action, label)
        resolution = Resolution(action, final, reviewer, note, self.clock())
        resolved = ReviewItem(**{**asdict(item), "status": _STATUS[action],
                                 "resolution": resolution})
        with self.store.transaction():
            self.store.put(COLLECTION, self._key(item.id), resolved.to_dict())
            self.store.append(RESOLUTIONS, {
                "queue": self.queue, "item": item.id, "action": action, "label": final,
                "input": item.input, "proposed": item.proposed, "source": item.source,
                "run_id": item.run_id, "reviewer": reviewer, "note": note,
            })
        return resolved

    def _final_label(self, item: ReviewItem, action: Action, label: Any) -> Any:
        if action == "reject":
            return None
        if action == "approve":
            if item.proposed is None:
                raise UserError(f"review item {item.id} has no proposed answer to approve; "
                                "use 'correct' with the right label")
            return item.proposed
        if label is None or label == "":
            raise UserError(f"correcting review item {item.id} needs the right label "
                            "(--correct LABEL)")
        if self.labels and label not in self.labels:
            raise UserError(f"label '{label}' is not one of this queue's labels"
                            f"{did_you_mean(str(label), self.labels)}")
        return label

    def labelled(self) -> list[dict[str, Any]]:
        """Approved and corrected requests as ``{"input", "label"}`` rows, oldest first."""
        return [{"input": r.data["input"], "label": r.data["label"]}
                for r in self.store.read(RESOLUTIONS)
                if r.data["queue"] == self.queue and r.data["action"] != "reject"]


def _number(item_id: int | str) -> int:
    try:
        return int(str(item_id).lstrip("#"))
    except ValueError:
        raise UserError(f"a review item id is a number (see 'compound review list'); "
                        f"received {item_id!r}") from None


class ReviewHandler:
    """The review queue as a handler: the answer is "pending review", with the item's id.

    Routers and ensembles call :meth:`escalate` with the proposal that was not confident
    enough; the item keeps it, so the reviewer can approve it in one step.

    Args:
        queue: the review queue.
        name: names the handler in decisions (``review``).
    """

    def __init__(self, queue: ReviewQueue, *, name: str = "review") -> None:
        self.queue = queue
        self.name = name

    def run(self, request: Any, ctx: RunContext | None = None) -> Answer:
        return self.escalate(request, proposal=None, reason="routed", ctx=ctx)

    def escalate(self, request: Any, *, proposal: Answer | None, reason: str,
                 ctx: RunContext | None = None) -> Answer:
        """Submit ``request`` with the proposal that needs a person's decision."""
        with decision_span(ctx, "review") as span:
            alternatives = getattr(proposal.raw, "alternatives", None) if proposal else None
            item = self.queue.submit(
                request, proposed=proposal.value if proposal else None,
                confidence=proposal.confidence if proposal else None, reason=reason,
                source=proposal.source if proposal else "", context=(
                    {"alternatives": [list(a) for a in alternatives]} if alternatives else None),
                run_id=(ctx.run_id or None) if ctx is not None else None,
            )
            note(span, "compound.review.id", item.id)
            note(span, "compound.review.reason", reason)
        return Answer(value=None, source=self.name, status="review", review_id=str(item.id),
                      confidence=proposal.confidence if proposal else None)
