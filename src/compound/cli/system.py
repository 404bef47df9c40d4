"""`compound init` and `compound check`: the system spec (steps 1 and 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from compound.cli import app
from compound.cli.output import console, styled

SPEC_ARG = Annotated[
    Path, typer.Argument(help="a compound.yaml, or a folder holding one", show_default=False)
]

TEMPLATES = {
    "interaction": """\
# compound.yaml: an LLM-centred system. Run `compound check` after editing.
name: {name}
loop: interaction
task: Answer users' questions about {name} concisely and accurately.

# Success criteria become the evaluation gates: metric, threshold, direction, tolerance.
criteria:
  answer_f1:
    threshold: 0.5
    direction: higher
    tolerance: 0.02

models:
  llm:
    kind: llm
    provider: embedded        # llama.cpp + Gemma 3 270M, offline; or openai / anthropic
    generation:
      max_tokens: 64
      temperature: 0.0
""",
    "prediction": """\
# compound.yaml: an ML-centred system. Run `compound check` after editing.
name: {name}
loop: prediction
task: Predict the label of each incoming record.

criteria:
  accuracy:
    threshold: 0.9

models:
  classifier:
    kind: predictor
    task: text_classification
    dataset: data/train.jsonl
    target: label
    features: [text]
""",
    "hybrid": """\
# compound.yaml: ML and LLM together. Run `compound check` after editing.
name: {name}
loop: hybrid
task: Classify each request with an ML model and answer it with an LLM.

criteria:
  accuracy:
    threshold: 0.9
  groundedness:
    threshold: 0.8

models:
  classifier:
    kind: predictor
    task: text_classification
    dataset: data/train.jsonl
    target: label
    features: [text]
  llm:
    kind: llm
    provider: embedded

workflows:
  answer:
    steps:
      - name: classify
        uses: classifier
      - name: respond
        uses: llm
        needs: [classify]
""",
}


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="where to write compound.yaml")] = Path(
        "compound.yaml"
    ),
    loop: Annotated[
        str, typer.Option(help="interaction (LLM-centred), prediction (ML) or hybrid")
    ] = "interaction",
    name: Annotated[str | None, typer.Option(help="system name; defaults to the folder")] = None,
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Scaffold a compound.yaml for a new system."""
    from compound.errors import UserError
    from compound.specfile import did_you_mean

    if loop not in TEMPLATES:
        raise UserError(
            f"--loop must be one of {', '.join(TEMPLATES)}; received '{loop}'"
            f"{did_you_mean(loop, TEMPLATES)}"
        )
    target = path / "compound.yaml" if path.is_dir() else path
    if target.exists() and not force:
        raise UserError(f"{target} exists; pass --force to overwrite it")
    system_name = name or target.resolve().parent.name or "my-system"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(TEMPLATES[loop].format(name=system_name), encoding="utf-8")
    console.print(f"wrote {target} ({loop} system '{system_name}'); next: compound check {target}")


@app.command()
def check(spec: SPEC_ARG) -> None:
    """Validate a compound.yaml: types, references between components, cycles, templates,
    the typed wiring of each workflow (built, not run), the Python code it names (imported),
    metric names, and each eval's target against what its metrics compare."""
    from rich.table import Table

    from compound.checking import check_problems
    from compound.errors import SpecError
    from compound.system import System
    from compound.workflow.loader import build_problems

    system = System.load(spec)
    problems = build_problems(system) + check_problems(system)
    if problems:
        raise SpecError(problems, path=str(system.source))
    table = Table(title=f"{system.name} ({system.loop})", title_justify="left")
    table.add_column("section")
    table.add_column("name")
    table.add_column("what")
    for name, criterion in system.criteria.items():
        op = ">=" if criterion.direction == "higher" else "<="
        tol = f" (tolerance {criterion.tolerance:g})" if criterion.tolerance else ""
        rule = f"{criterion.metric or name} {op} {criterion.threshold:g}{tol}"
        table.add_row("criteria", name, rule)
    for name, model in system.models.items():
        what = (
            f"llm via {model.provider}" if model.kind == "llm" else f"predictor: {model.task}"
        )
        table.add_row("models", name, what)
    for section in ("retrievers", "tools", "guardrails", "workflows"):
        for name in getattr(system, section):
            table.add_row(section, name, "")
    console.print(table)
    console.print(styled("[green]ok[/]: {source} is a valid {loop} system",
                         source=system.source, loop=system.loop))
