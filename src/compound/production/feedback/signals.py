"""User signals: what a user did with an answer, tied to the run that produced it.

One model per kind of signal; ``kind`` tells them apart, in JSON and in the OpenAPI document:

===============  =========================================  =======================
kind             value                                      tells you
===============  =========================================  =======================
``thumbs``       ``"up"`` or ``"down"``                     satisfaction, cheaply
``rating``       1 to 5                                     satisfaction, graded
``edit``         the user's corrected version of the answer  what the answer should
                                                            have been (training data)
``retry``        none (``new_run_id`` optional)             the answer was not used
``suggestion``   ``"accepted"`` or ``"ignored"``            whether a suggestion helped
``comment``      free text                                  why
``correction``   the right label (or number) for a step     what a model should have
                 whose prediction was wrong                  predicted (training data)
===============  =========================================  =======================

Every signal may name the ``user`` and the ``step`` whose output it is about, and carry a
``comment``. A ``correction`` names the ``step`` it corrects (it may be left out when the
run's workflow has one trained-model step) and, optionally, the output ``field`` (``label``
for a classifier, ``value`` for a regression model); ``compound improve`` retrains on them.

Example:
    >>> signal = parse_signal({"run_id": "ab" * 16, "kind": "rating", "value": 4})
    >>> type(signal).__name__, signal.value
    ('RatingSignal', 4)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, TypeAdapter

RUN_ID = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
               description="the run the signal is about (returned by every run endpoint)")


class _SignalBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str = RUN_ID
    user: str | None = Field(default=None, max_length=200, description="who gave it")
    step: str | None = Field(default=None, max_length=200,
                             description="the step whose output it is about")
    comment: str | None = Field(default=None, max_length=10_000)


class ThumbsSignal(_SignalBase):
    """Thumbs up or down."""

    kind: Literal["thumbs"]
    value: Literal["up", "down"]


class RatingSignal(_SignalBase):
    """A rating from 1 (bad) to 5 (excellent)."""

    kind: Literal["rating"]
    value: int = Field(ge=1, le=5, strict=True)


class EditSignal(_SignalBase):
    """The user's edited version of the answer."""

    kind: Literal["edit"]
    value: str = Field(max_length=100_000)


class RetrySignal(_SignalBase):
    """The user asked again instead of using the answer."""

    kind: Literal["retry"]
    value: None = None
    new_run_id: str | None = Field(default=None, max_length=64,
                                   description="the run that answered the retry")


class SuggestionSignal(_SignalBase):
    """A suggestion (a completion, a recommended action) was accepted or ignored."""

    kind: Literal["suggestion"]
    value: Literal["accepted", "ignored"]


class CommentSignal(_SignalBase):
    """Free-text feedback."""

    kind: Literal["comment"]
    value: str = Field(min_length=1, max_length=10_000)


class CorrectionSignal(_SignalBase):
    """The right output of a step whose prediction was wrong: the label a classifier should
    have given, or the number a regression model should have predicted.

    Example:
        >>> signal = parse_signal({"run_id": "r1", "kind": "correction", "step": "classify",
        ...                        "value": "card_arrival"})
        >>> signal.step, signal.value, signal.field
        ('classify', 'card_arrival', None)
    """

    kind: Literal["correction"]
    value: Annotated[StrictStr, Field(min_length=1, max_length=1_000)] | StrictInt | StrictFloat
    field: str | None = Field(
        default=None, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="the output field corrected (label or value); the model's own when unset")


Signal = Annotated[
    ThumbsSignal | RatingSignal | EditSignal | RetrySignal | SuggestionSignal | CommentSignal
    | CorrectionSignal,
    Field(discriminator="kind"),
]
KINDS = ("thumbs", "rating", "edit", "retry", "suggestion", "comment", "correction")
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Signal)


def parse_signal(data: Any) -> Any:
    """A signal model from JSON data.

    Raises:
        pydantic.ValidationError: the data is not a valid signal.
    """
    return _ADAPTER.validate_python(data)


def value_label(signal: Any) -> str:
    """The value as a short label for metrics (the text of edits and comments left out)."""
    if signal.kind in ("thumbs", "suggestion"):
        return str(signal.value)
    if signal.kind == "rating":
        return str(signal.value)
    return "-"
