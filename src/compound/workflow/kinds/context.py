"""The built-in ``context`` step: a retriever's hits into the prompt, under a token budget.

A step with ``uses: context`` (nothing to declare: it is built in) takes the passages a
retrieval step found and the question, and builds the :class:`Context` the LLM reads with the
:class:`ContextBuilder`: each passage numbered ``[n]`` with its title and source, the
lowest-ranked passages left out (and recorded in ``dropped``) when the budget is short, tokens
counted with the tokenizer of the model that will read it. An LLM step whose template has the
context as a field (``{context}``) shows its text, and its output carries the ``citations``:
which document each ``[n]`` was.

Example (the part of a `compound.yaml` that retrieves, builds the context and answers)::

    retrievers:
      docs: {kind: bm25, documents: [pages/]}

    workflows:
      answer:
        input: {question: str}
        steps:
          - name: retrieve
            uses: docs
            inputs: {query: input.question}
          - name: context
            uses: context               # built in: passages -> prompt, under a token budget
            inputs: {passages: retrieve, question: input.question}
            options:
              model: llm                # whose tokenizer counts the budget (default: the LLM)
              budget: 700               # tokens of the context
              instructions: Answer from the sources only; cite them as [1], [2].
          - name: draft
            uses: llm
            options:
              system: Answer in one or two sentences, using only the sources given.
              template: "{context}"     # the context's text; the answer gets its citations

``compound run SPEC answer -i '{"question": "..."}'`` then answers with
``{"text": ..., "citations": [{"number": 1, "id": "pages/a.md#0", "doc_id": ..., ...}]}``.

Options: ``model``, ``budget`` (default 1024), ``instructions`` (never cut), ``max_passages``
(keep at most this many, best first), ``section_budgets`` and ``policy`` (see
:class:`ContextPolicy`: ``{passages: drop_lowest | truncate, min_item_tokens: 16}``).

In Python:
    >>> from compound.orchestration.retrieval import Hit, SearchResult
    >>> step = ContextStep(budget=60)
    >>> found = SearchResult("why purr?", [Hit("cats#0", "cats", "Cats purr when content.",
    ...                                        2.0, title="Cats")])
    >>> context = step.run(passages=found, question="Why do cats purr?")
    >>> print(context.text)
    Sources:
    [1] Cats
    Cats purr when content.
    <BLANKLINE>
    Question: Why do cats purr?
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.orchestration.context.builder import ContextBuilder
from compound.orchestration.context.types import (
    Context,
    ContextPolicy,
    Passage,
    TokenCounter,
    approx_tokens,
)
from compound.orchestration.retrieval.types import Hit, SearchResult

if TYPE_CHECKING:
    from compound.workflow.adapters import AdapterRequest

DEFAULT_BUDGET = 1024
OPTIONS = ("model", "budget", "instructions", "max_passages", "section_budgets", "policy")

Passages = SearchResult | Sequence[Hit] | Sequence[Passage] | Sequence[str] | None


class ContextStep:
    """Builds the context an LLM reads from retrieved passages and the question.

    Args:
        budget: the most tokens the context may take.
        count_tokens: the reading model's counter (``llm.count_tokens``).
        instructions: put first, never cut.
        max_passages: keep at most this many passages, best first (None: all that fit).
        section_budgets: caps per section, as for :class:`ContextBuilder`.
        policy: what to do when passages do not fit.
    """

    def __init__(self, *, budget: int = DEFAULT_BUDGET, count_tokens: TokenCounter = approx_tokens,
                 instructions: str = "", max_passages: int | None = None,
                 section_budgets: Mapping[str, float] | None = None,
                 policy: ContextPolicy | None = None) -> None:
        self.builder = ContextBuilder(budget=budget, count_tokens=count_tokens,
                                      section_budgets=section_budgets, policy=policy)
        self.instructions = instructions
        self.max_passages = max_passages

    def run(self, passages: Passages, question: str = "") -> Context:
        """The context: instructions, the numbered passages that fit, the question.

        Args:
            passages: a retrieval step's output (a ``SearchResult``), or its hits, or
                passages, or plain texts; best first. None (a skipped retrieval) is none.
            question: the request, shown last.
        """
        items = _as_passages(passages)
        if self.max_passages is not None:
            items = sorted(items, key=lambda p: -p.score)[: self.max_passages]
        return self.builder.run(question=str(question or ""), instructions=self.instructions,
                                passages=items)


def _as_passages(value: Any) -> list[Passage]:
    if value is None:
        return []
    if isinstance(value, SearchResult):
        value = value.hits
    if isinstance(value, str | Hit | Passage):
        value = [value]
    found: list[Passage] = []
    for rank, item in enumerate(value, start=1):
        if isinstance(item, Passage):
            found.append(item)
        elif isinstance(item, Hit):
            found.append(Passage.from_hit(item))
        elif isinstance(item, str):  # plain texts keep their order: score by rank
            found.append(Passage(f"passage-{rank}", item, score=-float(rank)))
        else:
            raise UserError(
                f"the context step takes retrieved passages (a retrieval step's output, its "
                f"hits, or texts); received a {type(item).__name__} among them"
            )
    return found


def context_step(request: AdapterRequest) -> ContextStep:
    """The ``context`` step adapter (registered under the ``compound.steps`` entry points).

    Raises:
        UserError: an unknown option, a ``model`` that is not an LLM of the system, or a
            budget that is not a positive whole number.
    """
    from compound.specfile import did_you_mean
    from compound.workflow.adapters import shared_llm

    step = request.step.name
    options = dict(request.step.options)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UserError(
            f"step '{step}': option '{unknown[0]}' is not an option of the context step"
            f"{did_you_mean(unknown[0], OPTIONS)}; its options: {', '.join(OPTIONS)}"
        )
    llms = request.system.llms()
    model = options.get("model") or (request.system.default_llm() if llms else None)
    if model is not None and model not in llms:
        raise UserError(
            f"step '{step}': model '{model}' is not an LLM of the system"
            f"{did_you_mean(str(model), llms)}; the context's tokens are counted with the "
            f"tokenizer of the LLM that reads it. LLMs: {', '.join(llms) or 'none'}"
        )
    budget = options.get("budget", DEFAULT_BUDGET)
    max_passages = options.get("max_passages")
    for name, value in (("budget", budget), ("max_passages", max_passages)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < 1):
            raise UserError(f"step '{step}': {name} must be a whole number of at least 1; "
                            f"received {value!r}")
    policy = options.get("policy")
    if policy is not None:
        if not isinstance(policy, Mapping):
            raise UserError(f"step '{step}': policy must be a mapping such as "
                            f"{{passages: truncate}}; received {policy!r}")
        try:
            policy = ContextPolicy(**policy)
        except TypeError as exc:
            raise UserError(f"step '{step}': policy {dict(policy)} is not valid ({exc}); keys: "
                            "passages, tools, conversation, min_item_tokens") from None
    llm = shared_llm(request, model) if model is not None else None
    count = llm.count_tokens if llm is not None else approx_tokens
    return ContextStep(budget=budget, count_tokens=count,
                       instructions=str(options.get("instructions") or ""),
                       max_passages=max_passages,
                       section_budgets=options.get("section_budgets"), policy=policy)
