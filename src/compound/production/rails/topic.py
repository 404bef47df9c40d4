"""The topic and policy rail: topics a system allows or denies, each told by examples and
keywords.

A request is on a topic when it names one of the topic's keywords (whole words, any case),
or when it is similar enough to one of its examples: by word-stem and character n-gram
overlap (cosine of counts; no model, works offline and in microseconds), or by sentence
embeddings when the rail names an ``embedder`` (``minilm``), which also catches paraphrases.

* a **denied** topic fires the rail when the request is on it;
* when **allowed** topics are declared, a request on none of them fires the rail (off-topic).

Example:
    >>> rail = TopicRail(denied={"medical_advice": Topic(
    ...     examples=["What dose of ibuprofen should I take for my headache?"],
    ...     keywords=["diagnosis", "prescription"])})
    >>> rail.run("How much ibuprofen should I take for a headache?").reason
    "denied topic 'medical_advice' (similar to an example, 0.81)"
    >>> rail.run("Can you give me a diagnosis?").reason
    "denied topic 'medical_advice' (keyword 'diagnosis')"
    >>> rail.run("How do I reset my password?").action
    'allow'
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from compound.production.rails.base import BaseRail, RailRequest
from compound.production.rails.normalization import normalize, segments
from compound.production.rails.verdict import RailInput, Verdict

if TYPE_CHECKING:
    from compound.intelligence.embedders import Embedder
    from compound.workflow.context import RunContext

_WORD = re.compile(r"[^\W\d_]{2,}")
_STOP_TEXT = """a an the of in on at to for from by with and or but is are was were be been
it its this that these those as he she they them his her their we you i me my your our not no
do does did has have had which who what when where why how there than then so can could would
should will shall may might must am der die das ein eine und oder ist sind zu mit von für wie
was ich du sie wir es den dem des im auf nicht"""
_STOP = frozenset(_STOP_TEXT.split())
DEFAULT_THRESHOLD = {"lexical": 0.3, "embedding": 0.55}


@dataclass(frozen=True)
class Topic:
    """A topic: examples of requests on it and keywords that name it."""

    examples: Sequence[str] = ()
    keywords: Sequence[str] = ()
    description: str = ""


@dataclass
class _Compiled:
    name: str
    topic: Topic
    keywords: re.Pattern[str] | None
    features: list[Counter[str]] = field(default_factory=list)
    vectors: np.ndarray | None = None


def features(text: str) -> Counter[str]:
    """Word stems (first six letters of content words) and their character 4-grams."""
    found: Counter[str] = Counter()
    for word in _WORD.findall(text.lower()):
        if word in _STOP:
            continue
        stem = word[:6]
        found["w:" + stem] += 2
        padded = f" {word} "
        for i in range(len(padded) - 3):
            found[padded[i:i + 4]] += 1
    return found


def cosine(a: Counter[str], b: Counter[str]) -> float:
    """Cosine similarity of two count vectors."""
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    dot = sum(count * b.get(key, 0) for key, count in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


class TopicRail(BaseRail):
    """Allows or denies requests by topic.

    Args:
        allowed: topics the system serves; a request on none of them fires the rail.
        denied: topics the system refuses; a request on one fires the rail.
        threshold: the similarity at which a request is on a topic (0.3 lexical, 0.55 with
            an embedder, by default).
        embedder: an embedder name (``minilm``) or object for similarity; lexical when None.
        max_chars: read at most this many characters.
        **common: name, stages, action, timeout_s, on_error (see :class:`BaseRail`).
    """

    type = "topic"
    default_stages = ("input",)

    def __init__(
        self,
        *,
        allowed: Mapping[str, Topic] | None = None,
        denied: Mapping[str, Topic] | None = None,
        threshold: float | None = None,
        embedder: str | Embedder | None = None,
        max_chars: int = 20_000,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.allowed = dict(allowed or {})
        self.denied = dict(denied or {})
        method = "lexical" if embedder is None else "embedding"
        self.threshold = threshold if threshold is not None else DEFAULT_THRESHOLD[method]
        self.embedder = embedder
        self.max_chars = max_chars
        self.embedder_: Embedder | None = None
        self._topics: dict[str, list[_Compiled]] | None = None

    def load(self) -> None:
        if self._topics is not None:
            return
        if self.embedder is not None:
            from compound.intelligence.embedders import make_embedder

            self.embedder_ = (make_embedder(self.embedder) if isinstance(self.embedder, str)
                              else self.embedder)
        self._topics = {"denied": [self._compile(n, t) for n, t in self.denied.items()],
                        "allowed": [self._compile(n, t) for n, t in self.allowed.items()]}

    def _compile(self, name: str, topic: Topic) -> _Compiled:
        words = "|".join(re.escape(k.lower()) for k in topic.keywords)
        compiled = _Compiled(name, topic, re.compile(rf"\b(?:{words})\b") if words else None)
        examples = [normalize(e).text for e in topic.examples]
        if self.embedder_ is not None and examples:
            compiled.vectors = self.embedder_.embed(examples)
        else:
            compiled.features = [features(e) for e in examples]
        return compiled

    def _match(self, topic: _Compiled, text: str, query: Any) -> tuple[float, str]:
        """How strongly ``text`` is on ``topic``, and why."""
        if topic.keywords is not None:
            found = topic.keywords.search(text.lower())
            if found:
                return 1.0, f"keyword '{found.group()}'"
        if topic.vectors is not None:
            best = float(np.max(query @ topic.vectors.T)) if len(topic.vectors) else 0.0
        else:
            best = max((cosine(query, example) for example in topic.features), default=0.0)
        return best, f"similar to an example, {best:.2f}"

    def check(self, subject: RailInput, ctx: RunContext | None = None) -> Verdict:
        self.load()
        assert self._topics is not None
        text = normalize(subject.text, max_chars=self.max_chars).text
        if self.embedder_ is not None:
            pieces, _ = segments(text, max_segments=8)
            query: Any = self.embedder_.embed(pieces or [""])
        else:
            query = features(text)
        scores: dict[str, float] = {}
        for topic in self._topics["denied"]:
            value, why = self._match(topic, text, query)
            scores[topic.name] = round(value, 4)
            if value >= self.threshold:
                return self.fire(subject, f"denied topic '{topic.name}' ({why})", score=value,
                                 details={"topic": topic.name, "scores": scores})
        best_name, best = "", 0.0
        for topic in self._topics["allowed"]:
            value, why = self._match(topic, text, query)
            scores[topic.name] = round(value, 4)
            if value >= self.threshold:
                return self.allow(subject, f"on allowed topic '{topic.name}' ({why})",
                                  score=value, details={"topic": topic.name, "scores": scores})
            if value >= best:
                best_name, best = topic.name, value
        if self._topics["allowed"]:
            return self.fire(subject, f"off-topic: on none of the allowed topics (closest "
                                      f"'{best_name}', {best:.2f})", score=best,
                             details={"scores": scores})
        return self.allow(subject, "on no denied topic", details={"scores": scores})

    @classmethod
    def from_spec(cls, request: RailRequest) -> TopicRail:
        spec = request.spec

        def topics(entries: Mapping[str, Any]) -> dict[str, Topic]:
            return {name: Topic(examples=list(t.examples), keywords=list(t.keywords),
                                description=t.description) for name, t in entries.items()}

        return cls(**request.common(), allowed=topics(spec.allowed_topics),
                   denied=topics(spec.denied_topics), threshold=spec.threshold,
                   **spec.options)
