"""WrappedLLM: a wrapper is the wrapped model, except for what it overrides."""

from __future__ import annotations

from compound.intelligence.llm import (
    Completion,
    GenerationParams,
    ScriptedLLM,
    TextDelta,
    WrappedLLM,
)


class _Loading(ScriptedLLM):
    """A scripted model that counts its loads and has its own provider and token count."""

    provider = "loading"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.loads = 0

    def load(self) -> None:
        self.loads += 1

    def count_tokens(self, text: str) -> int:
        return 100 + len(text)


def test_a_wrapper_reports_the_wrapped_model_and_hands_it_the_calls() -> None:
    inner = _Loading(["Paris is the capital."], model="tiny", timeout_s=7.0,
                     defaults=GenerationParams(max_tokens=9))
    inner.price_per_mtok = {"input": 2.0, "output": 4.0}
    llm = WrappedLLM(inner)

    assert llm.inner is inner
    assert (llm.provider, llm.model, llm.timeout_s) == ("loading", "tiny", 7.0)
    assert llm.defaults.max_tokens == 9 and llm.price_per_mtok == {"input": 2.0, "output": 4.0}
    assert llm.count_tokens("abc") == 103
    llm.load()
    assert inner.loads == 1

    done = llm.complete("capital of France?")
    assert done.text == "Paris is the capital."
    assert (done.provider, done.model) == ("loading", "tiny")
    assert len(inner.calls) == 1 and inner.calls[0][1].max_tokens == 9
    assert inner.loads == 2  # complete() loads the wrapped model first

    events = list(llm.stream("again?"))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == done.text
    assert isinstance(events[-1], Completion) and len(inner.calls) == 2
