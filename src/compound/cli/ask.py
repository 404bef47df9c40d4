"""`compound ask`: put a question to a system's LLM and stream the answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from compound.cli import app
from compound.console import console, console_err, plain

if TYPE_CHECKING:
    from compound.system import System


@app.command()
def ask(
    spec: Annotated[Path, typer.Argument(help="a compound.yaml, or a folder holding one")],
    question: Annotated[str, typer.Argument(help="the question to ask")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="which LLM of the spec; default 'llm'")
    ] = None,
    max_tokens: Annotated[int | None, typer.Option(help="most tokens to generate")] = None,
    temperature: Annotated[float | None, typer.Option(help="0 is greedy")] = None,
    stream: Annotated[bool, typer.Option(help="print tokens as they come")] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the whole completion as JSON")
    ] = False,
) -> None:
    """Ask the system's LLM alone, not its workflow: no retrieval, rails or other steps.

    The answer streams to the terminal. To send the question through a workflow (what a
    served request does), use `compound run SPEC WORKFLOW -i '{"question": "..."}'`.
    """
    from compound.errors import UserError
    from compound.intelligence.llm import Completion, TextDelta
    from compound.specfile import did_you_mean
    from compound.system import System

    system = System.load(spec)
    name = model or system.default_llm()
    llms = system.llms()
    if name not in llms:
        raise UserError(
            f"no LLM named '{name}' in {system.source}{did_you_mean(name, llms)}; "
            f"declared LLMs: {', '.join(llms) or 'none'}"
        )
    if not question.strip():
        raise UserError("the question is empty; pass the text to ask as the second argument")
    from compound.intelligence.llm.versions import system_llm
    from compound.store import open_store

    with open_store(system) as store:  # the production adapter, if one was promoted
        llm = system_llm(system, name, store)
    console_err.print(_header(system, name), markup=False)
    with console_err.status(plain(f"loading {name} ({llm.provider}:{llm.model})"),
                            spinner="dots"):
        llm.load()
    completion: Completion | None = None
    if stream and not as_json:
        started = False
        for event in llm.stream(question, max_tokens=max_tokens, temperature=temperature):
            if isinstance(event, TextDelta):
                text = event.text if started else event.text.lstrip()
                started = started or bool(text)
                console.print(text, end="", markup=False)
                console.file.flush()
            else:
                completion = event
        console.print()
        console.file.flush()
    else:
        completion = llm.complete(question, max_tokens=max_tokens, temperature=temperature)
        if not as_json:
            console.print(completion.text.strip(), markup=False)
    assert completion is not None
    if as_json:
        console.print_json(json.dumps({
            "text": completion.text.strip(), "model": completion.model,
            "provider": completion.provider, "finish_reason": completion.finish_reason,
            "prompt_tokens": completion.usage.prompt_tokens,
            "completion_tokens": completion.usage.completion_tokens,
            "latency_s": round(completion.latency_s, 4), "cost_usd": completion.cost_usd,
        }))
        return
    generating = completion.latency_s - (completion.ttft_s or 0.0)
    speed = completion.usage.completion_tokens / generating if generating > 0 else 0.0
    console_err.print(plain(
        f"{completion.provider}:{completion.model} · {completion.usage.prompt_tokens} prompt "
        f"+ {completion.usage.completion_tokens} completion tokens · {completion.latency_s:.2f}s "
        f"· {speed:.0f} tok/s · ${completion.cost_usd:.6f}", style="dim"))


def _header(system: System, name: str) -> str:
    """Says that the LLM answers alone, and how to run a workflow instead."""
    workflows = list(system.workflows)
    source = system.source or "SPEC"
    how = (f"'compound run {source} {workflows[0]} -i ...' runs the workflow '{workflows[0]}'"
           if workflows else "'compound run SPEC WORKFLOW' runs a workflow")
    return f"asking the LLM '{name}' alone (no workflow, retrieval or rails); {how}"
