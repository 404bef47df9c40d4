"""LLM-as-judge with a rubric: a score on a fixed scale and a one-line reason, as JSON.

The judge is any model with ``complete(prompt, json_schema=...)``: a configured LLM, the
embedded one by default, or a :class:`~compound.intelligence.llm.ScriptedLLM` in tests. The
schema constrains the score to the scale, so a small model cannot answer off the scale.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> judge = RubricJudge(ScriptedLLM(['{"score": 5, "reason": "exact"}']))
    >>> judge.run(question="2+2?", answer="4", reference="4")
    Verdict(score=5, reason='exact')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_RUBRIC = (
    "Score how correct and complete the answer is. 1 = wrong or off-topic, 3 = partly right, "
    "5 = fully correct."
)


@dataclass(frozen=True)
class Verdict:
    """A judge's score and why."""

    score: int
    reason: str = ""


class RubricJudge:
    """Scores an answer against a rubric.

    Args:
        llm: the judge model (anything with ``complete``).
        rubric: what the scores mean, in words.
        scale: the lowest and highest score.
        max_tokens: room for the JSON verdict.
    """

    def __init__(
        self,
        llm: Any,
        *,
        rubric: str = DEFAULT_RUBRIC,
        scale: tuple[int, int] = (1, 5),
        max_tokens: int = 96,
    ) -> None:
        self.llm = llm
        self.rubric = rubric
        self.scale = scale
        self.max_tokens = max_tokens

    def schema(self) -> dict[str, Any]:
        """The JSON schema of a verdict."""
        low, high = self.scale
        return {
            "type": "object",
            "properties": {
                "score": {"type": "integer", "enum": list(range(low, high + 1))},
                "reason": {"type": "string", "maxLength": 80},
            },
            "required": ["score"],
        }

    def prompt(self, *, question: str, answer: str, reference: Any = None) -> str:
        """The text the judge reads."""
        parts = [f"Rubric: {self.rubric}", f"Question: {question}"]
        if reference not in (None, "", []):
            parts.append(f"Reference answer: {reference}")
        parts.append(f"Answer to judge: {answer}")
        low, high = self.scale
        parts.append(f"Give a score from {low} to {high} as JSON with 'score' and 'reason'.")
        return "\n".join(parts)

    def run(self, *, question: str, answer: str, reference: Any = None) -> Verdict:
        """Judge one answer.

        Raises:
            LLMError: the judge failed or answered off the schema.
        """
        completion = self.llm.complete(
            self.prompt(question=question, answer=answer, reference=reference),
            json_schema=self.schema(), max_tokens=self.max_tokens, temperature=0.0,
        )
        data = completion.data if isinstance(completion.data, dict) else {}
        low, high = self.scale
        score = int(data.get("score", low))
        return Verdict(min(max(score, low), high), str(data.get("reason", "")))


def question_text(inputs: Mapping[str, Any] | None) -> str:
    """The question a judge is shown: the ``question``/``input``/``query`` field, else all."""
    if not inputs:
        return ""
    for key in ("question", "input", "query", "prompt", "text"):
        if key in inputs:
            return str(inputs[key])
    return "\n".join(f"{k}: {v}" for k, v in inputs.items())
