"""The credit_risk example: its spec, its decide workflow on a model trained from a slice of
the credit-default table, the review rule, malformed applicants, and its evals."""

from __future__ import annotations

import dataclasses
import doctest
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

# The learners ask OpenMP for passive waiting, which holds only if they load before
# LightGBM does: spinning threads slowed this module tenfold on a busy 2-core machine.
import compound.intelligence.ml.learners  # noqa: F401
from compound.errors import UserError
from compound.intelligence.llm import ScriptedLLM
from compound.intelligence.llm.types import GenerationParams, Message
from compound.public_data import DatasetMissing, dataset_path
from compound.system import System

pytest.importorskip("lightgbm")
pd = pytest.importorskip("pandas")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit_risk"
sys.path.insert(0, str(EXAMPLE))
import credit  # noqa: E402  (the example's own module, as its spec imports it)

ROWS = 8000  # the slice of the 24,000-row table the test model learns from
DECISIONS = ("approve", "decline", "review")


def test_the_spec_validates() -> None:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-m", "compound", "check", str(EXAMPLE)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "is a valid prediction system" in out.stdout
    for name in ("default_auc", "explanation_coverage", "review_share", "default_model",
                 "decide"):
        assert name in out.stdout


def test_the_workflow_wires_and_the_review_queue_is_the_specs() -> None:
    from compound.workflow.loader import build_workflow

    system = System.load(EXAMPLE)
    flow = build_workflow(system, "decide", shared={"llm:llm": ScriptedLLM()})
    assert set(flow.input_fields()) == set(system.predictors()[credit.MODEL].features)
    assert system.strategy.review.queue == credit.QUEUE
    assert system.llms()["llm"].provider == "embedded"


def test_the_documented_examples_hold() -> None:
    assert doctest.testmod(credit, raise_on_error=False).failed == 0


# -- a model trained on the first rows of the table ------------------------------------------


@dataclasses.dataclass(frozen=True)
class Trained:
    system: System
    folder: Path
    test_auc: float
    test_rows: list[dict[str, Any]]  # the rows training measured test_auc on
    holdout: list[dict[str, Any]]

    def applicants(self) -> Iterator[dict[str, Any]]:
        """Held-out rows as applications: the features without the outcome."""
        features = self.system.predictors()[credit.MODEL].features
        for row in self.holdout:
            yield {name: row[name] for name in features}


def slice_spec(folder: Path, *, data: Path, store: Path,
               llm: dict[str, Any] | None = None) -> Path:
    """The example's spec written to ``folder``, training on ``data``, storing in ``store``."""
    spec = yaml.safe_load((EXAMPLE / "compound.yaml").read_text(encoding="utf-8"))
    spec["models"][credit.MODEL]["dataset"] = str(data)
    spec["store"] = {"path": str(store)}
    if llm is not None:
        spec["models"]["llm"] = llm
    path = folder / "compound.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    from compound.intelligence.ml import train
    from compound.intelligence.registry import ModelRegistry
    from compound.store import open_store

    try:
        source = dataset_path("tabular/credit-default.csv")
    except DatasetMissing as exc:
        pytest.skip(str(exc))
    folder = tmp_path_factory.mktemp("credit")
    pd.read_csv(source, nrows=ROWS).to_csv(folder / "slice.csv", index=False)
    system = System.load(slice_spec(folder, data=folder / "slice.csv",
                                    store=folder / "store.db"))
    result = train(system, credit.MODEL)
    with open_store(system) as store:
        assert ModelRegistry(store).promote(credit.MODEL, criteria={}).promoted
    columns = [*system.predictors()[credit.MODEL].features, "default"]
    return Trained(system, folder, result.metrics["roc_auc"],
                   result.test_rows[columns].to_dict("records"), credit.holdout_rows(system))


def grounded_reply(messages: tuple[Message, ...], params: GenerationParams) -> str:
    """A stand-in for the LLM that names the first factor agreeing with the risk level."""
    question = messages[-1].content
    level = question.split("Risk: ", 1)[1].split(" ", 1)[0]
    factors = question.split("Factors: ", 1)[1].rstrip(".").split("; ")
    wanted = {"high": "(raises risk)", "low": "(lowers risk)"}.get(level, "")
    chosen = next((f for f in factors if f.endswith(wanted)), factors[0])
    return f"Risk is {level} mainly because of the {chosen.split(' (')[0]}."


def agreeing(d: Any) -> list[Any]:
    """The factors of a decision that push the way its risk level says."""
    level = credit.risk_level(d.default_probability)
    if level == "moderate":
        return list(d.factors)
    return [f for f in d.factors if f.raises_risk == (level == "high")]


def decide_flow(trained: Trained, llm: ScriptedLLM) -> Any:
    from compound.strategy.cached_steps import CACHE_KEY
    from compound.workflow.loader import build_workflow

    # each test stands in a different scripted model under the one name 'llm', in the one
    # store: the spec's cache (persistent) would answer with an earlier stand-in's sentence
    return build_workflow(trained.system, "decide", shared={"llm:llm": llm, CACHE_KEY: None})


def run_many(trained: Trained, llm: ScriptedLLM, n: int) -> tuple[list[Any], Any]:
    """Decide ``n`` held-out applicants with a store, as `compound run` does."""
    from compound.store import open_store
    from compound.workflow.context import RunContext

    flow = decide_flow(trained, llm)
    store = open_store(trained.system)
    applicants = list(trained.applicants())[:n]
    return [flow.run(a, ctx=RunContext(store=store)).output for a in applicants], store


@pytest.mark.dataset
def test_decisions_carry_a_reason_and_an_explanation_of_real_features(trained: Trained
                                                                      ) -> None:
    features = set(trained.system.predictors()[credit.MODEL].features)
    decisions, store = run_many(trained, ScriptedLLM(grounded_reply), 150)
    store.close()
    seen = {d.decision for d in decisions}
    assert seen == set(DECISIONS), f"150 held-out applicants gave only {seen}"
    assert sum(d.explained_by == "llm" for d in decisions) > len(decisions) / 2
    for d in decisions:
        assert isinstance(d, credit.CreditDecision) and d.model_version == 1
        assert d.reason and f"{d.default_probability:.2f}" in d.reason
        assert len(d.factors) == 3 and {f.feature for f in d.factors} <= features
        if agreeing(d):  # the stand-in names one; else no sentence can be grounded
            assert d.explained_by == "llm" and agreeing(d)[0].text in d.explanation
        else:
            assert d.explained_by == "template"
        assert any(f.text in d.explanation for f in d.factors)
        if d.decision == "approve":
            assert d.default_probability < 0.5 and d.review_id is None
        elif d.decision == "decline":
            assert d.default_probability >= 0.5 and d.review_id is None
        else:
            assert 0.4 <= d.default_probability <= 0.6 and d.review_id is not None


@pytest.mark.dataset
def test_factors_are_the_features_that_pushed_toward_default(trained: Trained) -> None:
    decisions, store = run_many(trained, ScriptedLLM(grounded_reply), 40)
    store.close()
    for d in decisions:
        magnitudes = [abs(f.contribution) for f in d.factors]
        assert magnitudes == sorted(magnitudes, reverse=True)
        for f in d.factors:
            word = "raises" if f.raises_risk else "lowers"
            assert f"{f.text} ({word} risk)" in credit.explain_prompt(
                credit.Factors(d.default_probability, d.factors, 1)).text
    risky = max(decisions, key=lambda d: d.default_probability)
    assert risky.factors[0].raises_risk  # the riskiest applicant's top factor raises risk


@pytest.mark.dataset
@pytest.mark.parametrize("reply", ["", "The applicant seems trustworthy and pleasant.",
                                   "Risk is low mainly because the credit limit is 999,999."])
def test_an_ungrounded_or_empty_llm_sentence_falls_back_to_the_factors(
    trained: Trained, reply: str
) -> None:
    decisions, store = run_many(trained, ScriptedLLM([reply]), 12)
    store.close()
    for d in decisions:
        assert d.explained_by == "template"
        assert d.explanation == credit.template_explanation(
            credit.Factors(d.default_probability, d.factors, d.model_version))
        assert all(f.text in d.explanation for f in d.factors)


@pytest.mark.dataset
def test_borderline_scores_go_to_the_review_queue(trained: Trained) -> None:
    from compound.strategy.review import ReviewQueue

    decisions, store = run_many(trained, ScriptedLLM(grounded_reply), 150)
    try:
        queue = ReviewQueue(store, queue=credit.QUEUE)
        ours = {d.review_id for d in decisions}  # other tests share the store
        queued = [i for i in queue.entries() if i.id in ours]
    finally:
        store.close()
    reviewed = [d for d in decisions if d.decision == "review"]
    assert reviewed and len(reviewed) < len(decisions) / 4
    assert all(d.review_id is not None for d in reviewed)
    assert sorted(i.id for i in queued) == sorted(d.review_id for d in reviewed)
    for item in queued:
        assert item.reason.startswith("borderline: probability of default")
        assert item.proposed in ("approve", "decline")
        assert item.confidence is not None and item.confidence < 0.6
        assert item.run_id and set(item.input) == set(trained.holdout[0]) - {"default"}
    assert all(max(d.default_probability, 1 - d.default_probability) >= 0.6
               for d in decisions if d.decision != "review")


@pytest.mark.dataset
def test_malformed_applicants_are_refused_naming_the_field(trained: Trained) -> None:
    flow = decide_flow(trained, ScriptedLLM(grounded_reply))
    applicant = next(trained.applicants())
    missing = {k: v for k, v in applicant.items() if k != "PAY_AMT6"}
    with pytest.raises(UserError, match=r"(?s)does not fit.*PAY_AMT6.*Field required"):
        flow.run(missing)
    with pytest.raises(UserError, match=r"(?s)does not fit.*PAY_1.*valid integer"):
        flow.run({**applicant, "PAY_1": "two months late"})
    with pytest.raises(UserError, match=r"(?s)does not fit.*LIMIT_BAL.*valid number"):
        flow.run({**applicant, "LIMIT_BAL": None})
    assert flow.run(applicant).output.decision in DECISIONS


def test_a_score_without_contributions_says_how_to_get_them() -> None:
    from compound.intelligence.ml import Prediction

    with pytest.raises(UserError, match=r"carries no feature contributions; give its workflow "
                                        r"step 'options: \{explain"):
        credit.factors(Prediction(label=0, probability=0.9, model=credit.MODEL, version=1))


# -- evaluation on the rows training held out -------------------------------------------------


@pytest.mark.dataset
def test_the_holdout_is_the_test_split_training_measured(trained: Trained) -> None:
    assert len(trained.holdout) == round(ROWS * 0.2)
    assert trained.holdout == trained.test_rows


@pytest.mark.dataset
def test_evals_measure_the_held_out_rows(
    trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compound.evaluation.plan import plan_eval
    from compound.evaluation.runner import EvalRunner
    from compound.store import open_store

    monkeypatch.setattr(credit, "SPEC", trained.system.source)
    with open_store(trained.system) as store:
        info = credit.save_holdout(trained.system, store)
        assert (info.name, info.rows) == (credit.HOLDOUT, len(trained.holdout))
        runner = EvalRunner(store, progress=False)
        scores = runner.run(plan_eval(trained.system, "scores", store=store))
    assert scores.counts["ok"] == len(trained.holdout)
    # the same rows as the test metric of training, so the same area (to rounding)
    assert scores.metric("roc_auc").value == pytest.approx(trained.test_auc, abs=1e-3)


@pytest.mark.dataset
def test_the_decisions_eval_reads_each_decision(trained: Trained, tmp_path: Path) -> None:
    from compound.evaluation.plan import plan_eval
    from compound.evaluation.runner import EvalRunner
    from compound.store import open_store

    reply = "Risk is low mainly because the minimum was paid in the latest month."
    system = System.load(slice_spec(
        tmp_path, data=trained.folder / "slice.csv", store=trained.folder / "store.db",
        llm={"kind": "llm", "provider": "scripted", "options": {"replies": [reply]}}))
    with open_store(system) as store:
        credit.save_holdout(system, store)
        run = EvalRunner(store, progress=False).run(
            plan_eval(system, "decisions", store=store, limit=20))
    assert run.counts == {"total": 20, "ok": 20, "error": 0, "invalid": 0}
    coverage = run.metric("explanation_coverage").value
    share = run.metric("review_share").value
    assert coverage is not None and 0.0 < coverage < 1.0  # the one reply fits some rows only
    assert share is not None and 0.0 <= share < 0.5
    assert run.metric("p95_latency_ms").value is not None


@pytest.mark.dataset
def test_holdout_refuses_a_model_trained_on_another_file(trained: Trained, tmp_path: Path
                                                         ) -> None:
    from compound.store import open_store

    edited = tmp_path / "slice.csv"
    pd.read_csv(trained.folder / "slice.csv").iloc[:-1].to_csv(edited, index=False)
    system = System.load(slice_spec(tmp_path, data=edited, store=trained.folder / "store.db"))
    with open_store(system) as store, pytest.raises(UserError, match="trained on another"):
        credit.save_holdout(system, store)


# -- the real embedded model -------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.dataset
def test_the_embedded_model_explains_two_applicants(trained: Trained) -> None:
    from compound.workflow.loader import build_workflow

    flow = build_workflow(trained.system, "decide")
    for applicant in list(trained.applicants())[:2]:
        result = flow.run(applicant)
        drafted = result.outputs["explain"].text
        decision = result.output
        assert drafted.strip(), "the embedded model wrote nothing"
        assert decision.decision in DECISIONS and decision.reason
        factors = credit.Factors(decision.default_probability, decision.factors, 1)
        assert credit.grounded(decision.explanation, factors)
        if decision.explained_by == "llm":
            assert decision.explanation.split()[:3] == drafted.split()[:3]
