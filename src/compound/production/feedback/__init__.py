"""User signals tied to runs: the kinds (:mod:`.signals`), durable storage (:mod:`.log`) and a
client for applications (:mod:`.client`)."""

from compound.production.feedback.client import FeedbackClient, FeedbackRejected
from compound.production.feedback.log import FeedbackLog, UnknownRun
from compound.production.feedback.signals import (
    KINDS,
    CommentSignal,
    CorrectionSignal,
    EditSignal,
    RatingSignal,
    RetrySignal,
    Signal,
    SuggestionSignal,
    ThumbsSignal,
    parse_signal,
)

__all__ = [
    "KINDS",
    "CommentSignal",
    "CorrectionSignal",
    "EditSignal",
    "FeedbackClient",
    "FeedbackLog",
    "FeedbackRejected",
    "RatingSignal",
    "RetrySignal",
    "Signal",
    "SuggestionSignal",
    "ThumbsSignal",
    "UnknownRun",
    "parse_signal",
]
