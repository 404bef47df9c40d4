"""The research agent's Python half: the encyclopedia it searches, and its plan-act-observe loop.

The encyclopedia is every paragraph of the HotpotQA dev questions
(``shared:hotpotqa/dev500.jsonl``), pooled into one BM25 index, so a search has to find the
right two paragraphs among about 4,900. ``search`` over it is the agent's tool.

The loop (:func:`investigate`), for one question:

1. **act**: search with the question itself; the best paragraph is the anchor of the
   evidence, and everything found is kept in the state (:class:`Findings`).
2. **plan**: the entries of the encyclopedia that the newest evidence or the question
   mentions by name are the leads (a HotpotQA question's second paragraph is usually the
   bridge entity named in the first), ordered by a search with the question and that
   evidence together. The planner picks the one to look up: by default the best-ranked lead
   (``planner="ranked"``); with ``planner="model"`` the LLM chooses, its reply the search
   tool's arguments constrained by a grammar to ``{"query": <one of the leads>}``. Measured on
   100 HotpotQA questions with Qwen2.5-Coder 0.5B, the ranking chose better (supporting
   recall 0.700 against the model's 0.555; Gemma 3 270M's choices reached 0.665).
3. **act** and **observe** again: the tool searches for the chosen entry, and what it finds is
   added to the state.

It stops on its budget (``max_hops`` searches, ``max_model_calls`` model calls), when no lead
is left, or when a search brings nothing new, and hands the evidence (at most ``evidence``
paragraphs) to the answer step of the spec, which cites them by title.

With ``max_hops=1`` the loop is the single-shot baseline: the top paragraphs of one search
with the question. ``bench/research_agent.py`` runs both, and the gold paragraphs.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> from compound.workflow.context import RunContext
    >>> books = Encyclopedia(paragraphs=[
    ...     Paragraph("Kiss and Tell", "Kiss and Tell is a 1945 film starring Shirley Temple."),
    ...     Paragraph("Shirley Temple", "Shirley Temple was a United States diplomat."),
    ...     Paragraph("Tell Tale", "Tell Tale is a song.")])
    >>> llm = ScriptedLLM(['{"query": "Shirley Temple"}'])
    >>> ctx = RunContext(deps=ResearchDeps(llm=llm, encyclopedia=books, planner="model"))
    >>> found = investigate(ctx, "Which post did the star of Kiss and Tell hold?")
    >>> found.citations, found.stop_reason, found.model_calls
    (['Kiss and Tell', 'Shirley Temple'], 'max_hops', 1)
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from compound.intelligence.llm.errors import InvalidResponse
from compound.intelligence.llm.types import Message
from compound.orchestration.tools import Tool
from compound.workflow.context import RunContext

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM
    from compound.orchestration.retrieval import LexicalRetriever

HOTPOT = "hotpotqa/dev500.jsonl"  # under the shared datasets (compound.public_data)
SPEC = Path(__file__).resolve().parent / "compound.yaml"
# The answer step's prompt (workflows.answer in compound.yaml says the same); the reference
# eval (bench/eval_reference.py) asks the model with these words too.
ANSWER_SYSTEM = "Answer the question with a short phrase taken from the passages."
ANSWER_PROMPT = "Passages:\n{passages}\n\nQuestion: {question}"
PLAN_SYSTEM = ("You research questions in an encyclopedia: name the entry to look up next to "
               "answer the question.")

StopReason = Literal["max_hops", "max_model_calls", "no_leads", "nothing_new"]


@dataclass(frozen=True)
class Paragraph:
    """One entry of the encyclopedia."""

    title: str
    text: str

    def passage(self) -> str:
        """As the answer prompt shows it: ``title: text``."""
        return f"{self.title}: {self.text}"


# -- the data -------------------------------------------------------------------------------


def hotpot_questions(limit: int | None = None) -> list[dict[str, Any]]:
    """The first ``limit`` HotpotQA dev questions (all 500 when None), each with ``question``,
    ``answers`` and its ``contexts`` (title, text, supporting)."""
    from compound.public_data import dataset_path

    with dataset_path(HOTPOT).open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return rows if limit is None else rows[:limit]


def hotpot_paragraphs() -> list[Paragraph]:
    """Every distinct paragraph of all the dev questions: the encyclopedia (one per title)."""
    pooled: dict[str, str] = {}
    for row in hotpot_questions():
        for context in row["contexts"]:
            pooled.setdefault(context["title"], context["text"])
    return [Paragraph(title, text) for title, text in pooled.items()]


def supporting_titles(row: dict[str, Any]) -> set[str]:
    """The titles of a question's gold supporting paragraphs."""
    return {c["title"] for c in row["contexts"] if c["supporting"]}


# -- the encyclopedia and its search tool ---------------------------------------------------


def _words(text: str) -> str:
    """Lower-case words between single spaces, padded, for whole-name matching."""
    return " " + " ".join(re.findall(r"\w+", text.lower())) + " "


class Encyclopedia:
    """BM25 over paragraphs (compound's lexical retriever), searched by title or by words.

    Args:
        paragraphs: the entries; None reads the HotpotQA dev paragraphs on :meth:`load`.
        top_k: paragraphs one search returns.
        folder: where the index lives; a temporary folder when None.
    """

    def __init__(self, *, paragraphs: Sequence[Paragraph] | None = None, top_k: int = 5,
                 folder: str | Path | None = None) -> None:
        self.paragraphs = list(paragraphs) if paragraphs is not None else None
        self.top_k = top_k
        self.folder = folder
        self._lock = threading.Lock()
        self.retriever_: LexicalRetriever | None = None
        self.by_title_: dict[str, Paragraph] = {}
        self.names_: dict[str, str] = {}  # an entry's name as words -> its title

    def load(self) -> Encyclopedia:
        """Read the paragraphs (when not given) and build the index; once."""
        with self._lock:
            if self.retriever_ is not None:
                return self
            from compound.orchestration.ingest import ChunkSettings, Document
            from compound.orchestration.retrieval import DocumentIndex, LexicalRetriever

            paragraphs = self.paragraphs if self.paragraphs is not None else hotpot_paragraphs()
            folder = self.folder or tempfile.mkdtemp(prefix="research-agent-bm25-")
            index = DocumentIndex(folder, chunking=ChunkSettings(strategy="none"))
            index.open()
            index.ingest([Document(id=p.title, text=p.text, title=p.title) for p in paragraphs])
            self.by_title_ = {p.title: p for p in paragraphs}
            for title in self.by_title_:
                # "Kiss and Tell (1945 film)" is mentioned as "Kiss and Tell"
                name = _words(re.sub(r"\s*\([^)]*\)\s*$", "", title)).strip()
                if len(name) >= 3:
                    self.names_.setdefault(name, title)
            self.retriever_ = LexicalRetriever(index, top_k=self.top_k)
        return self

    def search(self, query: str) -> list[dict[str, str]]:
        """Search the encyclopedia: the paragraphs that best match the words of the query.

        Args:
            query: an entry's name (a person, place, work or thing), or words to look for.
        """
        retriever = self.load().retriever_
        assert retriever is not None
        hits = retriever.run(query).hits
        return [{"title": h.title or h.doc_id, "text": h.text} for h in hits]

    def mentioned(self, text: str) -> list[str]:
        """Titles of the entries whose name appears in ``text`` as whole words."""
        words = _words(text)
        return [title for name, title in self.load().names_.items() if f" {name} " in words]

    @cached_property
    def tool(self) -> Tool:
        """:meth:`search` as the agent's tool."""
        return Tool(self.search, name="search")


# -- the agent's state and loop ---------------------------------------------------------------


@dataclass
class Found:
    """A paragraph in the state: which hop found it, with which query, at which rank."""

    paragraph: Paragraph
    hop: int
    query: str
    rank: int


@dataclass
class Findings:
    """The agent's state, and the evidence it hands to the answer step.

    Attributes:
        question: the question.
        passages: the evidence as the answer prompt shows it (``title: text``), best first.
        citations: the evidence's titles, in the same order.
        found: every paragraph the searches returned, in the order found.
        queries: the search queries, one per hop.
        hops: searches made.
        model_calls: model calls made (one per planned hop).
        stop_reason: why the loop ended.
        notes: what went wrong on the way (a model reply that was no valid choice).
    """

    question: str
    passages: list[str] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    found: list[Found] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    hops: int = 0
    model_calls: int = 0
    stop_reason: StopReason = "max_hops"
    notes: list[str] = field(default_factory=list)

    def titles(self) -> list[str]:
        """Titles of every paragraph found, each once, in the order found."""
        return list(dict.fromkeys(f.paragraph.title for f in self.found))


@dataclass(frozen=True)
class ResearchDeps:
    """What :func:`investigate` works with, handed in through the run context's ``deps``.

    Args:
        llm: the model that plans the next search.
        encyclopedia: the corpus and its search tool.
        max_hops: most searches (1: the single-shot baseline, no model call).
        max_model_calls: most planning calls.
        evidence: most paragraphs handed to the answer step.
        leads: most candidate entries offered to the model at a hop.
        planner: who picks the next search among the leads: ``"model"`` (the LLM, one call a
            hop) or ``"ranked"`` (the best-ranked lead, no model call: the leads are already
            ordered by a search with the question and the newest evidence).
    """

    llm: LLM
    encyclopedia: Encyclopedia
    max_hops: int = 2
    max_model_calls: int = 4
    evidence: int = 2
    leads: int = 5
    planner: Literal["model", "ranked"] = "ranked"


def investigate(ctx: RunContext, question: str) -> Findings:
    """Search, plan, search again, within the budget; the evidence for the answer.

    The dependencies come from ``ctx.deps`` (a :class:`ResearchDeps`); without them (a
    ``compound run`` of the spec) the spec's LLM and the HotpotQA encyclopedia are used.
    """
    deps = ctx.deps if isinstance(ctx.deps, ResearchDeps) else _default_deps()
    state = Findings(question=question)
    evidence: list[Paragraph] = []  # the anchor, then what each later hop looked up
    backup: list[Paragraph] = []  # the rest of the first search, to fill the evidence
    query = question  # the plan of the first hop: the question itself
    while True:
        found = _search(ctx, deps, state, query)
        if state.hops == 1:
            evidence.extend(found[:1])
            backup.extend(found[1:])
        else:
            known = {p.title for p in evidence}
            new = [p for p in found if p.title not in known]
            if not new:
                state.stop_reason = "nothing_new"
                break
            # the entry asked for when the search returns it, else the best new paragraph
            evidence.append(next((p for p in new if p.title == query), new[0]))
        if state.hops >= deps.max_hops:
            state.stop_reason = "max_hops"
            break
        if state.model_calls >= deps.max_model_calls:
            state.stop_reason = "max_model_calls"
            break
        if not evidence:
            state.stop_reason = "nothing_new"
            break
        leads = _leads(ctx, deps, question, evidence)
        if not leads:
            state.stop_reason = "no_leads"
            break
        query = (leads[0] if deps.planner == "ranked"
                 else _choose(ctx, deps, state, evidence[-1], leads))
    chosen = [*evidence, *[p for p in backup if p not in evidence]][: deps.evidence]
    state.passages = [p.passage() for p in chosen]
    state.citations = [p.title for p in chosen]
    return state


def _search(ctx: RunContext, deps: ResearchDeps, state: Findings, query: str
            ) -> list[Paragraph]:
    """Act and observe: one call of the search tool, its paragraphs kept in the state."""
    state.hops += 1
    state.queries.append(query)
    result = ctx.call_tool(deps.encyclopedia.tool, {"query": query})
    if result.outcome != "ok":
        state.notes.append(f"hop {state.hops}: {result.observation()}")
        return []
    found = [Paragraph(str(item["title"]), str(item["text"])) for item in result.value]
    state.found.extend(Found(p, state.hops, query, rank) for rank, p in enumerate(found, 1))
    return found


def _leads(ctx: RunContext, deps: ResearchDeps, question: str, evidence: list[Paragraph]
           ) -> list[str]:
    """Entries the question or the newest evidence names, not yet in the evidence, ordered by
    a search with the question and that evidence together (entries it does not return come
    last); at most ``deps.leads``, filled with that search's best paragraphs when fewer are
    named."""
    newest = evidence[-1]
    known = {p.title for p in evidence}
    named = [t for t in deps.encyclopedia.mentioned(f"{question} {newest.text}")
             if t not in known]
    wide = [item["title"] for item in deps.encyclopedia.search(f"{question} {newest.text}")
            if item["title"] not in known]
    order = {title: rank for rank, title in enumerate(wide)}
    named.sort(key=lambda t: order.get(t, len(order)))
    return list(dict.fromkeys([*named, *wide]))[: deps.leads]


def _choose(ctx: RunContext, deps: ResearchDeps, state: Findings, newest: Paragraph,
            leads: list[str]) -> str:
    """Plan: the model picks the next search among the leads, which the prompt lists, best
    ranked first (a grammar alone lets a chat model pick blind: Qwen2.5-Coder 0.5B then chose
    worse than the first lead). Its reply is the search tool's arguments under a grammar that
    allows only the leads; the best-ranked lead when the reply is not a valid choice."""
    first_sentence = newest.text.split(". ")[0].rstrip(".")
    prompt = [
        Message("system", PLAN_SYSTEM),
        Message("user", f"{state.question}\nFound: [{newest.title}] {first_sentence}.\n"
                        f"Entries: {'; '.join(leads)}\n"
                        "Which entry should be looked up next?"),
    ]
    schema = {"type": "object", "required": ["query"],
              "properties": {"query": {"type": "string", "enum": leads}}}
    state.model_calls += 1
    try:  # a reply outside the schema raises: the grammar was not enforced (not embedded)
        reply = ctx.complete(deps.llm, prompt, json_schema=schema, max_tokens=64)
    except InvalidResponse as exc:
        state.notes.append(f"hop {state.hops + 1}: no valid choice ({exc}); took the first lead")
        return leads[0]
    choice = reply.data.get("query") if isinstance(reply.data, dict) else None
    return str(choice) if choice in leads else leads[0]  # the grammar checked it already


_DEFAULTS: dict[str, ResearchDeps] = {}
_DEFAULTS_LOCK = threading.Lock()


def _default_deps() -> ResearchDeps:
    """The spec's LLM and the HotpotQA encyclopedia, built on first use by a `compound run`
    or `compound serve` of the spec (the index takes a few seconds)."""
    with _DEFAULTS_LOCK:
        if "spec" not in _DEFAULTS:
            from compound.intelligence.llm import build_llm
            from compound.system import System

            system = System.load(SPEC)
            llm = build_llm(system.llms()[system.default_llm()])
            _DEFAULTS["spec"] = ResearchDeps(llm=llm, encyclopedia=Encyclopedia().load())
        return _DEFAULTS["spec"]


# -- the answer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CitedAnswer:
    """The answer and the paragraphs (titles) it was drawn from."""

    answer: str
    citations: list[str]


@dataclass(frozen=True)
class ResearchReport:
    """What the research workflow returns.

    Attributes:
        answer: the short answer.
        citations: titles of the paragraphs the answer was drawn from.
        queries: the searches the agent made, in order.
        hops, model_calls: what the research spent (the answer's model call not included).
        stop_reason: why the research stopped.
        notes: what went wrong on the way.
    """

    answer: str
    citations: list[str]
    queries: list[str]
    hops: int
    model_calls: int
    stop_reason: str
    notes: list[str]


def cite(answer: str, titles: list[str]) -> CitedAnswer:
    """The drafted answer, trimmed, with the titles of the passages it was shown."""
    return CitedAnswer(answer=answer.strip(), citations=list(titles))


def report(findings: Findings, answer: CitedAnswer) -> ResearchReport:
    """The answer with its citations and how the research went."""
    return ResearchReport(answer=answer.answer, citations=answer.citations,
                          queries=list(findings.queries), hops=findings.hops,
                          model_calls=findings.model_calls, stop_reason=findings.stop_reason,
                          notes=list(findings.notes))

