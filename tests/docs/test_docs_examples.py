"""Every YAML example in docs/*.md (and the README) is checked, so that none rots.

How a ```yaml block is treated (the conventions docs/index.md tells writers):

* **A complete system** (top-level ``name:`` and ``loop:``) is loaded and checked as
  ``compound check`` does: keys, types, references between components, cycles.
* **A fragment** (anything else: one or more top-level sections such as ``guardrails:``) is
  embedded into a minimal system, ``name: docs-example``, ``task: ...`` and ``loop:
  interaction`` (``hybrid`` when the fragment declares a ``kind: predictor`` model); the
  fragment's own keys win. A fragment includes whatever it refers to (the models a rail or a
  router names), so that it reads, and checks, on its own.
* **Markers**, a comment on the block's first line, change what happens:

  - ``# docs-test: run``: after the check, every eval of the system runs (in a fresh store)
    and its scorecard must pass: use the ``scripted`` provider so that it runs in a moment.
  - ``# docs-test: run-workflow NAME {JSON input}``: the workflow NAME runs on the input and
    must finish.
  - ``# docs-test: invalid TEXT``: the block shows a mistake; loading it must fail with an
    error that contains TEXT.

Paths in examples are relative to docs/ (``data/faq.jsonl`` is docs/data/faq.jsonl), as if
the spec were docs/compound.yaml; Python referenced as ``module:function`` lives in docs/ too
(each example is written to a temporary folder linking docs/data and docs/*.py).

Also checked here: every key of every spec section appears in the page documenting it, so a
key added to a spec model without documentation fails this test with the page to edit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from compound.errors import UserError
from compound.system import System

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BLOCK = re.compile(r"^```yaml[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"^#\s*docs-test:\s*(\S+)\s*(.*)$")


@dataclass(frozen=True)
class Example:
    page: Path
    line: int
    text: str

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def marker(self) -> tuple[str, str]:
        found = MARKER.match(self.text.splitlines()[0]) if self.text.strip() else None
        return (found.group(1), found.group(2).strip()) if found else ("", "")


def examples() -> Iterator[Example]:
    pages = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            yield Example(page, text.count("\n", 0, match.start()) + 2, match.group(1))


ALL = list(examples())


def as_system(example: Example) -> str:
    """The example as a whole spec: itself, or the fragment inside the minimal system."""
    data = yaml.safe_load(example.text)
    assert isinstance(data, dict), f"{example.id}: a YAML example must be a mapping of keys"
    if "name" in data and "loop" in data:
        return example.text
    models = data.get("models") or {}
    predictor = any(isinstance(m, dict) and m.get("kind") == "predictor"
                    for m in models.values())
    base = {"name": "docs-example", "task": "An example from the documentation.",
            "loop": "hybrid" if predictor else "interaction"}
    head = "".join(f"{key}: {value}\n" for key, value in base.items() if key not in data)
    return head + example.text


def load(example: Example, folder: Path) -> System:
    """The example as ``folder/compound.yaml``, next to links to docs/'s data and modules."""
    for item in DOCS.iterdir():
        if item.name == "data" or item.suffix == ".py":
            (folder / item.name).symlink_to(item)
    spec = folder / "compound.yaml"
    spec.write_text(as_system(example), encoding="utf-8")
    return System.load(spec)


def test_the_docs_have_examples() -> None:
    assert len(ALL) >= 30, [e.id for e in ALL]
    assert {e.marker[0] for e in ALL} >= {"run", "invalid"}


@pytest.mark.parametrize("example", ALL, ids=lambda e: e.id)
def test_every_yaml_example_checks(example: Example, tmp_path: Path) -> None:
    mode, argument = example.marker
    assert mode in ("", "run", "run-workflow", "invalid"), f"{example.id}: unknown marker {mode}"
    if mode == "invalid":
        with pytest.raises(UserError) as raised:
            load(example, tmp_path)
        assert argument in str(raised.value), str(raised.value)
        return
    system = load(example, tmp_path)
    _check_like_the_cli(system)
    if mode == "run":
        _run_evals(example, system)
    elif mode == "run-workflow":
        _run_workflow(example, system, argument)


def _check_like_the_cli(system: System) -> None:
    """What `compound check` adds to loading (the same call): the workflows built (not run),
    templates, the Python the spec names (read, not run), metric names, eval targets."""
    from compound.checking import check_all

    problems, _notes = check_all(system)
    assert not problems, problems


def _run_evals(example: Example, system: System) -> None:
    from compound.lifecycle.up import evaluate
    from compound.store import open_store

    assert system.evals, f"{example.id}: marked 'run' but declares no evals"
    with open_store(system) as store:
        card = evaluate(system, store, progress=False)
    assert card.passed, f"{example.id}: {card.failures()}"


def _run_workflow(example: Example, system: System, argument: str) -> None:
    from compound.store import open_store
    from compound.workflow import build_workflow
    from compound.workflow.runs import start

    name, _, raw = argument.partition(" ")
    inputs: dict[str, Any] = json.loads(raw or "{}")
    flow = build_workflow(system, name)
    with open_store(system) as store:
        result = start(flow, inputs, store=store)
    assert result.output is not None, f"{example.id}: workflow '{name}' gave no output"


# -- every key documented ---------------------------------------------------------------------

def _spec_models() -> dict[str, list[type]]:
    from compound import system
    from compound.evaluation import spec as evals
    from compound.intelligence import spec as models
    from compound.orchestration import spec as orchestration
    from compound.privacy.spec import RedactionSpec
    from compound.production import serving_spec as serving
    from compound.production import spec as rails
    from compound.strategy import spec as strategy
    from compound.workflow import spec as workflows

    return {
        "system.md": [system.System],
        "criteria.md": [system.Criterion],
        "store.md": [system.StoreSpec, RedactionSpec],
        "design_review.md": [system.DesignReviewSpec],
        "models.md": [models.LLMSpec, models.GenerationSpec, models.PredictorSpec,
                      models.SplitSpec, models.ChurnSpec, models.CandidateSpec],
        "retrievers.md": [orchestration.RetrieverSpec, orchestration.ChunkingSpec,
                          orchestration.FusionSpec, orchestration.BM25Spec,
                          orchestration.RerankerSpec, orchestration.QdrantSpec],
        "tools.md": [orchestration.ToolSpec],
        "guardrails.md": [rails.RailSpec, rails.TopicSpec],
        "strategy.md": [strategy.StrategySpec, strategy.ConfidenceRouterSpec,
                        strategy.TargetSpec, strategy.Rule, strategy.RulesRouterSpec,
                        strategy.LearnedRouterSpec, strategy.FallbackSpec,
                        strategy.ChainOptionSpec, strategy.BackoffSpec, strategy.EnsembleSpec,
                        strategy.ReviewSpec, strategy.CacheSpec, strategy.ExactCacheSpec,
                        strategy.SemanticCacheSpec, strategy.BudgetsSpec, strategy.LimitSpec,
                        strategy.PeriodLimitSpec],
        "evals.md": [evals.EvalSpec, evals.DatasetSpec, evals.TargetSpec, evals.MetricSpec,
                     evals.JudgeSpec, evals.SuiteSpec, evals.BootstrapSpec],
        "workflows.md": [workflows.WorkflowSpec, workflows.StepSpec, workflows.LoopSpec,
                         workflows.AgentSpec],
        "serve.md": [serving.ServeSpec, serving.RateLimitSpec, serving.BatchSpec,
                     serving.LLMQueueSpec, serving.DriftSpec, serving.BehaviourSpec,
                     serving.OnlineEvalSpec],
    }


@pytest.mark.parametrize("page", sorted(_spec_models()))
def test_every_spec_key_is_documented(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    missing = [f"{model.__name__}.{key}" for model in _spec_models()[page]
               for key, field in model.model_fields.items()
               if not field.exclude and f"`{key}`" not in text]
    assert not missing, f"docs/{page} does not document {', '.join(missing)}"


def test_the_readme_links_the_docs_index_and_the_index_links_every_page() -> None:
    assert "docs/index.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in sorted(DOCS.glob("*.md")):
        if page.name != "index.md":
            assert f"({page.name})" in index, f"docs/index.md does not link {page.name}"
