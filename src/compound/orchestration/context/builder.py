"""The context builder: assembles what a model sees, under a token budget, and says what it left
out.

A context has up to five sections: instructions, retrieved passages (each with a citation id
``[n]``), tool results, the conversation so far, and the question. Tokens are counted with the
target model's tokenizer (``LLM.count_tokens``; any ``Callable[[str], int]``), so the budget
holds for the model that will read it. The final text is counted as a whole, so the budget
holds even for tokenizers where pieces do not add up.

When the budget is short, a declared :class:`ContextPolicy` decides per section: drop the
lowest-ranked passages or truncate the last one that fits, truncate or drop tool results,
summarise or drop the oldest turns. Every such decision is a :class:`Dropped` record in
``Context.dropped`` (what, why, tokens before and after), for the run's trace. Instructions
are never cut: a budget too small for them is a configuration error. The same inputs always
give the same context.

Example:
    >>> builder = ContextBuilder(budget=60)
    >>> context = builder.run(
    ...     instructions="Answer from the sources; cite them as [n].",
    ...     question="Why do cats purr?",
    ...     passages=[Passage("a", "Cats purr when content. " * 3, score=2.0),
    ...               Passage("b", "Purring also helps healing. " * 20, score=1.0)],
    ... )
    >>> context.tokens <= 60, [c for c in context.citations], [d.item for d in context.dropped]
    (True, ['1'], ['b'])
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from compound.errors import UserError
from compound.orchestration.context.types import (
    ELLIPSIS,
    Context,
    ContextBudgetError,
    ContextPolicy,
    Dropped,
    Passage,
    Section,
    Summariser,
    TokenCounter,
    ToolResult,
    Turn,
    approx_tokens,
)


def truncate_to_tokens(text: str, limit: int, count: TokenCounter) -> str:
    """The longest word-boundary prefix of ``text`` that, with `` …``, fits ``limit`` tokens.

    Returns ``text`` itself when it fits, and ``""`` when not even one word does.

    Example:
        >>> truncate_to_tokens("one two three four", 3, approx_tokens)
        'one two …'
    """
    if count(text) <= limit:
        return text
    cuts = [m.start() for m in re.finditer(r"\s+", text)] + [len(text)]
    low, high, best = 0, len(cuts) - 1, ""
    while low <= high:
        middle = (low + high) // 2
        candidate = text[: cuts[middle]].rstrip() + ELLIPSIS
        if text[: cuts[middle]].strip() and count(candidate) <= limit:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


def first_sentences(turns: Sequence[Turn], words: int = 20) -> str:
    """The default summariser: the opening words of each turn, one line.

    Example:
        >>> first_sentences([Turn("user", "Hi. I need a refund."), Turn("assistant", "Sure.")])
        'user: Hi. | assistant: Sure.'
    """
    parts = []
    for turn in turns:
        sentence = re.split(r"(?<=[.!?])\s", turn.content.strip(), maxsplit=1)[0]
        parts.append(f"{turn.role}: {' '.join(sentence.split()[:words])}")
    return " | ".join(parts)


@dataclass
class _Plan:
    """The items chosen so far for each section (mutable while fitting)."""

    passages: list[tuple[str, Passage]] = field(default_factory=list)  # (text, passage)
    tools: list[tuple[str, ToolResult]] = field(default_factory=list)
    summary: str = ""
    turns: list[tuple[str, Turn]] = field(default_factory=list)
    question: str = ""


class ContextBuilder:
    """Builds a :class:`Context` under a token budget.

    Args:
        budget: the most tokens the context may take.
        count_tokens: the target model's counter (e.g. ``llm.count_tokens``).
        section_budgets: optional caps per section (``passages``, ``tools``,
            ``conversation``), in tokens (an int) or as a share of ``budget`` (a float in
            (0, 1]).
        policy: what to do when a section is over its share.
        priority: the order sections take from what the instructions and question leave.
        summarise: turns older turns into one line (default :func:`first_sentences`; pass an
            LLM-backed one to summarise with a model).
    """

    def __init__(
        self,
        *,
        budget: int,
        count_tokens: TokenCounter = approx_tokens,
        section_budgets: Mapping[str, float] | None = None,
        policy: ContextPolicy | None = None,
        priority: Sequence[str] = ("passages", "tools", "conversation"),
        summarise: Summariser | None = None,
    ) -> None:
        if budget < 1:
            raise UserError(f"the context budget must be at least 1 token; received {budget}")
        unknown = set(priority) ^ {"passages", "tools", "conversation"}
        if unknown:
            raise UserError(
                "priority must order exactly passages, tools and conversation; received "
                f"{list(priority)}"
            )
        self.budget = budget
        self.count_tokens = count_tokens
        self.section_budgets = dict(section_budgets or {})
        for name, share in self.section_budgets.items():
            if name not in ("passages", "tools", "conversation") or share <= 0:
                raise UserError(
                    f"section budget '{name}: {share}' is not valid; use passages, tools or "
                    "conversation with a token count or a share in (0, 1]"
                )
        self.policy = policy or ContextPolicy()
        self.priority = tuple(priority)
        self.summarise = summarise or first_sentences

    # -- rendering --------------------------------------------------------------------------

    @staticmethod
    def _render_passage(number: int, text: str, passage: Passage) -> str:
        head = " — ".join(p for p in (passage.title, passage.source) if p)
        return f"[{number}] {head}\n{text}" if head else f"[{number}] {text}"

    def _sections(self, instructions: str, plan: _Plan) -> list[tuple[str, str]]:
        sections = [("instructions", instructions.strip())]
        if plan.passages:
            body = "\n\n".join(self._render_passage(n, text, p)
                               for n, (text, p) in enumerate(plan.passages, start=1))
            sections.append(("passages", "Sources:\n" + body))
        if plan.tools:
            sections.append(("tools", "Tool results:\n" + "\n".join(
                f"({tool.name}) {text}" for text, tool in plan.tools)))
        if plan.summary or plan.turns:
            lines = [f"Earlier in the conversation: {plan.summary}"] if plan.summary else []
            lines += [f"{turn.role.capitalize()}: {text}" for text, turn in plan.turns]
            sections.append(("conversation", "Conversation so far:\n" + "\n".join(lines)))
        if plan.question:
            sections.append(("question", f"Question: {plan.question}"))
        return [(name, text) for name, text in sections if text]

    def _measure(self, instructions: str, plan: _Plan) -> tuple[str, int]:
        text = "\n\n".join(t for _, t in self._sections(instructions, plan))
        return text, self.count_tokens(text)

    # -- building ---------------------------------------------------------------------------

    def run(
        self,
        *,
        question: str = "",
        instructions: str = "",
        passages: Sequence[Passage | Any] = (),
        conversation: Sequence[Turn | Any] = (),
        tool_results: Sequence[ToolResult] = (),
    ) -> Context:
        """Assemble the context.

        Args:
            question: the current request (truncated, and recorded, only if it alone
                overflows what the instructions leave).
            instructions: the system instructions; never cut.
            passages: retrieved passages or hits, best first (ties keep this order).
            conversation: earlier turns, oldest first (``Turn`` or LLM ``Message``).
            tool_results: tool outputs, oldest first.

        Raises:
            ContextBudgetError: the instructions alone exceed the budget.
        """
        dropped: list[Dropped] = []
        count = self.count_tokens
        instruction_tokens = count(instructions.strip())
        if instruction_tokens > self.budget:
            raise ContextBudgetError(
                f"the instructions take {instruction_tokens} tokens but the context budget is "
                f"{self.budget}; raise the budget or shorten the instructions"
            )
        plan = _Plan(question=question.strip())
        _, used = self._measure(instructions, plan)
        if used > self.budget:
            room = self.budget - count(self._measure(instructions, _Plan())[0]) - 3
            cut = truncate_to_tokens(plan.question, max(room, 0), count)
            dropped.append(Dropped("question", "question", "truncated" if cut else "dropped",
                                   f"the question alone is over the {self.budget}-token "
                                   "budget left after the instructions",
                                   count(plan.question), count(cut)))
            plan.question = cut
        ranked = sorted(
            (p if isinstance(p, Passage) else Passage.from_hit(p) for p in passages),
            key=lambda p: -p.score,
        )
        turns = [t if isinstance(t, Turn) else Turn(t.role, t.content) for t in conversation
                 if getattr(t, "role", None) in ("user", "assistant")]
        fill = {"passages": lambda r: self._fill_passages(ranked, r, plan, dropped),
                "tools": lambda r: self._fill_tools(list(tool_results), r, plan, dropped),
                "conversation": lambda r: self._fill_conversation(turns, r, plan, dropped)}
        for name in self.priority:
            _, used = self._measure(instructions, plan)
            fill[name](self._allowance(name, self.budget - used))
        text, tokens = self._measure(instructions, plan)
        while tokens > self.budget:  # the counter did not add up: remove more, then recount
            self._shed_one(plan, dropped)
            text, tokens = self._measure(instructions, plan)
        sections = tuple(Section(name, t, count(t)) for name, t in
                         self._sections(instructions, plan))
        citations = {str(n): p for n, (_, p) in enumerate(plan.passages, start=1)}
        return Context(text, tokens, self.budget, sections, citations, tuple(dropped))

    def _allowance(self, name: str, remaining: int) -> int:
        cap = self.section_budgets.get(name)
        if cap is None:
            return max(remaining, 0)
        tokens = int(cap * self.budget) if isinstance(cap, float) and cap <= 1 else int(cap)
        return max(min(tokens, remaining), 0)

    def _fits(self, rendered: Sequence[str], allowance: int) -> bool:
        # Each item is counted with its line break so that the sum tracks the joined text.
        return sum(self.count_tokens(r + "\n") for r in rendered) <= allowance

    def _fill_passages(self, ranked: list[Passage], allowance: int, plan: _Plan,
                       dropped: list[Dropped]) -> None:
        header = self.count_tokens("Sources:\n\n\n")
        rendered: list[str] = []
        for index, passage in enumerate(ranked):
            number = len(plan.passages) + 1
            item = self._render_passage(number, passage.text, passage)
            if self._fits([*rendered, item], allowance - header):
                plan.passages.append((passage.text, passage))
                rendered.append(item)
                continue
            tokens = self.count_tokens(passage.text)
            if self.policy.passages == "truncate":
                shell = self.count_tokens(self._render_passage(number, "", passage) + "\n")
                spare = allowance - header - sum(self.count_tokens(r + "\n") for r in rendered)
                cut = truncate_to_tokens(passage.text, spare - shell, self.count_tokens)
                if cut and self.count_tokens(cut) >= self.policy.min_item_tokens:
                    plan.passages.append((cut, passage))
                    rendered.append(self._render_passage(number, cut, passage))
                    dropped.append(Dropped("passages", passage.id, "truncated",
                                           f"rank {index + 1} did not fit the {allowance} "
                                           "tokens left for passages", tokens,
                                           self.count_tokens(cut)))
                    for rest_index, rest in enumerate(ranked[index + 1 :], start=index + 2):
                        dropped.append(self._drop_passage(rest, rest_index, allowance))
                    return
            for rest_index, rest in enumerate(ranked[index:], start=index + 1):
                dropped.append(self._drop_passage(rest, rest_index, allowance))
            return

    def _drop_passage(self, passage: Passage, rank: int, allowance: int) -> Dropped:
        return Dropped("passages", passage.id, "dropped",
                       f"rank {rank} (score {passage.score:.4g}) is below the passages that "
                       f"filled the {allowance} tokens left for passages",
                       self.count_tokens(passage.text))

    def _fill_tools(self, results: list[ToolResult], allowance: int, plan: _Plan,
                    dropped: list[Dropped]) -> None:
        spare = allowance - self.count_tokens("Tool results:\n")
        chosen: list[tuple[str, ToolResult]] = []
        for result in reversed(results):  # newest first: the latest results matter most
            shell = self.count_tokens(f"({result.name}) \n")
            tokens = self.count_tokens(result.content)
            if shell + tokens <= spare:
                chosen.append((result.content, result))
                spare -= shell + tokens
                continue
            cut = ""
            if self.policy.tools == "truncate":
                cut = truncate_to_tokens(result.content, spare - shell, self.count_tokens)
            if cut and self.count_tokens(cut) >= self.policy.min_item_tokens:
                chosen.append((cut, result))
                spare -= shell + self.count_tokens(cut)
                dropped.append(Dropped("tools", result.name, "truncated",
                                       f"over the {allowance} tokens left for tool results",
                                       tokens, self.count_tokens(cut)))
            else:
                dropped.append(Dropped("tools", result.name, "dropped",
                                       f"no room in the {allowance} tokens left for tool "
                                       "results after newer ones", tokens))
        plan.tools = list(reversed(chosen))

    def _fill_conversation(self, turns: list[Turn], allowance: int, plan: _Plan,
                           dropped: list[Dropped]) -> None:
        spare = allowance - self.count_tokens("Conversation so far:\n")
        kept: list[tuple[str, Turn, int]] = []  # (text, turn, cost), oldest first
        older = len(turns)
        for index in range(len(turns) - 1, -1, -1):  # newest first
            turn = turns[index]
            cost = self.count_tokens(f"{turn.role.capitalize()}: {turn.content}\n")
            if cost > spare:
                break
            kept.insert(0, (turn.content, turn, cost))
            spare -= cost
            older = index
        old = turns[:older]
        if old and self.policy.conversation == "summarise_oldest":
            shell = self.count_tokens("Earlier in the conversation: \n")
            while True:
                summary = truncate_to_tokens(self.summarise(old), spare - shell,
                                             self.count_tokens)
                if summary or not kept:
                    break
                # No room for the summary: fold the oldest kept turn into it as well.
                _, turn, cost = kept.pop(0)
                old = [*old, turn]
                spare += cost
            if summary:
                plan.summary = summary
                dropped.append(Dropped(
                    "conversation", f"turns 1-{len(old)}", "summarised",
                    f"older turns did not fit the {allowance} tokens left for the "
                    "conversation", sum(self.count_tokens(t.content) for t in old),
                    self.count_tokens(summary)))
                old = []
        if old and self.policy.conversation == "truncate":
            last = old[-1]
            shell = self.count_tokens(f"{last.role.capitalize()}: \n")
            cut = truncate_to_tokens(last.content, spare - shell, self.count_tokens)
            if cut and self.count_tokens(cut) >= self.policy.min_item_tokens:
                kept.insert(0, (cut, last, 0))
                dropped.append(Dropped("conversation", f"turn {len(old)}", "truncated",
                                       f"over the {allowance} tokens left for the "
                                       "conversation", self.count_tokens(last.content),
                                       self.count_tokens(cut)))
                old = old[:-1]
        for number, turn in enumerate(old, start=1):
            dropped.append(Dropped("conversation", f"turn {number}", "dropped",
                                   f"older than the turns that filled the {allowance} tokens "
                                   "left for the conversation", self.count_tokens(turn.content)))
        plan.turns = [(text, turn) for text, turn, _ in kept]

    def _shed_one(self, plan: _Plan, dropped: list[Dropped]) -> None:
        """Remove the least important remaining item (used when counts did not add up)."""
        reason = "the assembled text counted more tokens than its parts"
        order = {"passages": plan.passages, "tools": plan.tools, "conversation": plan.turns}
        for name in reversed(self.priority):
            items: list[Any] = order[name]
            if name == "conversation" and plan.summary:
                dropped.append(Dropped("conversation", "summary", "dropped", reason,
                                       self.count_tokens(plan.summary)))
                plan.summary = ""
                return
            if items:
                text, item = items.pop(-1 if name == "passages" else 0)
                label = getattr(item, "id", None) or getattr(item, "name", None) or "turn"
                dropped.append(Dropped(name, str(label), "dropped", reason,
                                       self.count_tokens(text)))
                return
        if plan.question:
            words = plan.question.split()
            cut = " ".join(words[: len(words) // 2])
            dropped.append(Dropped("question", "question", "truncated" if cut else "dropped",
                                   reason, self.count_tokens(plan.question),
                                   self.count_tokens(cut)))
            plan.question = cut
            return
        raise ContextBudgetError(  # unreachable: the instructions alone were checked to fit
            f"the instructions do not fit the {self.budget}-token budget once rendered"
        )
