"""The steps of the credit-risk system that read better as Python than as YAML.

The workflow ``decide`` (see compound.yaml): the model scores the applicant and attaches the
three features that pushed the score most toward default; ``factors`` puts them into words;
``explain_prompt`` makes them the LLM's question; ``send_to_review`` puts a borderline
applicant in the review queue (the workflow's ``when:`` says who is borderline); ``decide``
returns the decision, its reason and an explanation: the LLM's sentence when ``grounded``
accepts it, else a sentence built from the factors.

For evaluation: ``save_holdout`` stores the rows the model never trained on as the eval
dataset ``credit-default-holdout`` (``python credit.py holdout`` after training);
``default_probability`` is the model alone; ``roc_auc``, ``review_share`` and
``explanation_coverage`` are the metrics behind the spec's criteria.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from compound.errors import UserError
from compound.intelligence.ml.types import Contribution, Prediction
from compound.metrics.base import metric
from compound.workflow.adapters import LLMOutput
from compound.workflow.context import RunContext

if TYPE_CHECKING:
    from compound.evaluation.dataset_store import DatasetInfo
    from compound.intelligence.ml.predictor import Predictor
    from compound.store import Store
    from compound.system import System

SPEC = Path(__file__).with_name("compound.yaml")
MODEL = "default_model"  # the predictor under `models:`
DEFAULTS = 1  # the class of the target `default` that means the applicant defaulted
QUEUE = "credit_risk"  # the spec's strategy.review.queue, where `compound review list` looks
HOLDOUT = "credit-default-holdout"  # the eval dataset `save_holdout` stores

Outcome = Literal["approve", "decline", "review"]

# What the dataset's columns mean (Yeh & Lien 2009), in words an applicant would use. PAY_k is
# the repayment status k-1 months before the latest month: -2 no use of the card, -1 paid in
# full, 0 paid the minimum (revolving credit), n > 0 paid n months late.
_MONTHS = {1: "in the latest month", 2: "in the month before", 3: "3 months back",
           4: "4 months back", 5: "5 months back", 6: "6 months back"}
_STATUS = {-2: "card not used", -1: "paid in full", 0: "minimum paid"}
_FEATURE = re.compile(r"^(PAY_AMT|BILL_AMT|PAY_)(\d)$")
# The words that show an explanation talks about a feature group (whole words: "payment"
# must not match "repayment").
_TERMS = {
    "limit": re.compile(r"\blimit\b"),
    "repayment": re.compile(r"\b(repay\w*|late|overdue|delay\w*|paid in full|minimum|"
                            r"not used)\b"),
    "bill": re.compile(r"\b(bills?|balances?|owed?|owing)\b"),
    "payment": re.compile(r"\b(amounts? paid|payments?|paid back)\b"),
}
_LEVEL = re.compile(r"\brisk (?:of default )?is (?:\w+ )?(high|moderate|low)\b")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_STATUSES = re.compile(r"paid in full|minimum|not used|\d+ months? late")


@dataclass(frozen=True)
class Factor:
    """One feature that moved the score: its column, value, effect and description.

    Attributes:
        feature: the input column (e.g. ``PAY_1``).
        value: the applicant's value of it.
        contribution: its share of the log-odds of default (above 0 raises the risk).
        text: the factor in words, e.g. ``repayment in the latest month: 2 months late``.
    """

    feature: str
    value: Any
    contribution: float
    text: str

    @property
    def raises_risk(self) -> bool:
        return self.contribution > 0


@dataclass(frozen=True)
class Factors:
    """The score as a probability of default, and the features that moved it most."""

    default_probability: float
    factors: tuple[Factor, ...]
    model_version: int | None

    @property
    def text(self) -> str:
        """The factors as one line, each with the direction of its effect."""
        return "; ".join(f"{f.text} ({'raises' if f.raises_risk else 'lowers'} risk)"
                         for f in self.factors)


@dataclass(frozen=True)
class Prompt:
    """What the LLM is asked: the probability and the factors, in one line."""

    text: str


@dataclass(frozen=True)
class ReviewTicket:
    """A borderline applicant waiting in the review queue."""

    id: int | None
    queue: str
    reason: str


@dataclass(frozen=True)
class CreditDecision:
    """What the workflow returns for one applicant.

    Attributes:
        decision: ``approve``, ``decline``, or ``review`` (a person decides).
        default_probability: the model's calibrated probability that the applicant defaults.
        reason: why this decision, in one sentence.
        explanation: what drove the score, in one sentence (the LLM's, or built from the
            factors when the LLM's was empty or not grounded in them).
        explained_by: ``llm`` or ``template``.
        factors: the features that moved the score most.
        model_version: the model version that scored.
        review_id: the review item, for ``review`` decisions (None when the run keeps no store).
    """

    decision: Outcome
    default_probability: float
    reason: str
    explanation: str
    explained_by: Literal["llm", "template"]
    factors: tuple[Factor, ...]
    model_version: int | None
    review_id: int | None = None

    @property
    def text(self) -> str:
        """The decision in one line, as an eval report and the review queue show it."""
        return f"{self.decision}: {self.reason} {self.explanation}"

    @property
    def data(self) -> dict[str, Any]:
        """The decision as JSON-ready fields (what the evaluation metrics read)."""
        return asdict(self)


# -- the workflow's steps --------------------------------------------------------------------


def factors(score: Prediction) -> Factors:
    """The features that moved the applicant's score most, in words, with the probability of
    default. The score step attaches them (its ``explain`` option): TreeSHAP contributions to
    the log-odds of default, from the model version that scored."""
    if not score.contributions:
        raise UserError(
            f"the prediction of model '{score.model}' carries no feature contributions; give "
            "its workflow step 'options: {explain: {top: 3, label: 1}}'"
        )
    return Factors(default_probability=default_probability_of(score),
                   factors=tuple(_factor(c) for c in score.contributions),
                   model_version=score.version)


def explain_prompt(factors: Factors) -> Prompt:
    """The question the LLM answers; the spec's few-shot examples show the same form."""
    p = factors.default_probability
    return Prompt(f"Risk: {risk_level(p)} (probability of default {p:.2f}). "
                  f"Factors: {factors.text}.")


def send_to_review(ctx: RunContext | None, applicant: Any, score: Prediction,
                   factors: Factors) -> ReviewTicket:
    """Put a borderline applicant in the review queue, with the model's lean and factors."""
    p = factors.default_probability
    lean = "decline" if score.label == DEFAULTS else "approve"
    reason = (f"borderline: probability of default {p:.2f}; the model is only "
              f"{score.probability:.0%} sure, so a person decides")
    item_id = None
    if ctx is not None and ctx.store is not None:
        from compound.strategy.review import ReviewQueue

        item = ReviewQueue(ctx.store, queue=QUEUE).submit(
            _fields(applicant), proposed=lean, confidence=score.probability, reason=reason,
            source="credit_risk.decide", run_id=ctx.run_id,
            context={"default_probability": p, "factors": factors.text},
        )
        item_id = item.id
    return ReviewTicket(item_id, QUEUE, reason)


def decide(score: Prediction, factors: Factors, explain: LLMOutput | None = None,
           review: ReviewTicket | None = None) -> CreditDecision:
    """Approve or decline by the model's prediction, unless the applicant went to review;
    attach the explanation, falling back to one built from the factors."""
    p = factors.default_probability
    decision: Outcome
    if review is not None:
        decision, reason = "review", review.reason
    elif score.label == DEFAULTS:
        decision, reason = "decline", f"probability of default {p:.2f}: the model expects a default"
    else:
        decision, reason = "approve", (f"probability of default {p:.2f}: the model expects the "
                                       "applicant to repay")
    sentence = _one_sentence(explain.text) if explain is not None else ""
    by: Literal["llm", "template"] = "llm" if grounded(sentence, factors) else "template"
    explanation = sentence if by == "llm" else template_explanation(factors)
    return CreditDecision(decision, p, reason, explanation, by, factors.factors,
                          factors.model_version, review.id if review is not None else None)


# -- explanations ----------------------------------------------------------------------------


def describe(feature: str, value: Any) -> str:
    """A feature and its value in words.

    Example:
        >>> describe("PAY_1", 2), describe("LIMIT_BAL", 20000)
        ('repayment in the latest month: 2 months late', 'credit limit: 20,000')
    """
    if feature == "LIMIT_BAL":
        return f"credit limit: {_amount(value)}"
    match = _FEATURE.match(feature)
    if match is None:
        return f"{feature}: {value}"
    kind, month = match.group(1), _MONTHS.get(int(match.group(2)), f"in month {match.group(2)}")
    if kind == "BILL_AMT":
        return f"bill {month}: {_amount(value)}"
    if kind == "PAY_AMT":
        return f"amount paid {month}: {_amount(value)}"
    status = int(value) if _is_number(value) else None
    if status is None:
        words = str(value)
    elif status in _STATUS:
        words = _STATUS[status]
    else:
        words = f"{status} month{'s' if status != 1 else ''} late"
    return f"repayment {month}: {words}"


def group_of(feature: str) -> str:
    """The group a feature's words belong to: limit, repayment, bill or payment."""
    if feature == "LIMIT_BAL":
        return "limit"
    match = _FEATURE.match(feature)
    kind = match.group(1) if match else ""
    return {"PAY_": "repayment", "BILL_AMT": "bill", "PAY_AMT": "payment"}.get(kind, feature)


def grounded(text: str, factors: Factors) -> bool:
    """Whether an explanation rests on the factors it was given, and only on them.

    It must name at least one of the factors (in words of its group) and no feature group
    outside them, call the risk what the score says (``risk_level``), give a high risk a
    factor that raises it and a low risk one that lowers it, and use no number or repayment
    status that the factors do not state.

    Example:
        >>> f = Factors(0.71, (Factor("PAY_1", 2, 0.9, describe("PAY_1", 2)),), 1)
        >>> grounded("Risk is high: the latest repayment was 2 months late.", f)
        True
        >>> grounded("Risk is low: the latest repayment was 2 months late.", f)
        False
        >>> grounded("Risk is high: repayments were late and the limit is low.", f)
        False
        >>> grounded("Risk is high: the latest repayment was 3 months late.", f)
        False
        >>> grounded("Risk is high: the credit limit is 20,000.", Factors(0.71, (
        ...     Factor("LIMIT_BAL", 20000, -0.2, describe("LIMIT_BAL", 20000)),), 1))
        False
    """
    lowered = text.lower()
    named = {group for group, words in _TERMS.items() if words.search(lowered)}
    given = {group_of(f.feature) for f in factors.factors}
    if not named & given or not named <= given:
        return False
    stated = " ".join(f.text for f in factors.factors).lower()
    level = risk_level(factors.default_probability)
    levels = set(_LEVEL.findall(lowered))
    if levels and levels != {level}:
        return False
    if level != "moderate" and not any(
            group_of(f.feature) in named and f.raises_risk == (level == "high")
            for f in factors.factors):
        return False
    numbers = {n.replace(",", "") for n in _NUMBER.findall(stated)}
    numbers.add(f"{factors.default_probability:.2f}")
    if any(n.replace(",", "") not in numbers for n in _NUMBER.findall(lowered)):
        return False
    return all(status in stated for status in _STATUSES.findall(lowered))


def risk_level(probability: float) -> str:
    """``high`` from 0.5, ``moderate`` from 0.3, else ``low``."""
    return "high" if probability >= 0.5 else "moderate" if probability >= 0.3 else "low"


def template_explanation(factors: Factors) -> str:
    """The explanation built from the factors alone, for when the LLM's is not usable.

    Example:
        >>> f = Factors(0.71, (Factor("PAY_1", 2, 0.9, describe("PAY_1", 2)),), 1)
        >>> template_explanation(f)
        'The risk of default is high (0.71); what weighed most: repayment in the latest month: 2 months late (raises risk).'
    """  # noqa: E501
    p = factors.default_probability
    return f"The risk of default is {risk_level(p)} ({p:.2f}); what weighed most: {factors.text}."


def default_probability_of(score: Prediction) -> float:
    """The calibrated probability of default, whichever class the model predicted."""
    probability = float(score.probability or 0.0)
    return probability if score.label == DEFAULTS else 1.0 - probability


def _fields(applicant: Any) -> dict[str, Any]:
    """The workflow's input (a dataclass of the declared fields, or a mapping) as a dict."""
    if dataclasses.is_dataclass(applicant) and not isinstance(applicant, type):
        return dataclasses.asdict(applicant)
    return dict(applicant)


def _factor(c: Contribution) -> Factor:
    return Factor(c.feature, c.value, c.contribution, describe(c.feature, c.value))


def _one_sentence(text: str) -> str:
    """The first sentence of ``text`` (empty for blank text), ending in a full stop."""
    first = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0].strip()
    return first if not first or first.endswith((".", "!", "?")) else first + "."


def _amount(value: Any) -> str:
    return f"{float(value):,.0f}" if _is_number(value) else str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- the model alone, for evaluation ---------------------------------------------------------

_LOCK = threading.Lock()
_PREDICTORS: dict[Path, Predictor] = {}


def _production_model(spec: Path | None = None) -> Predictor:
    """The production version of the model of the spec (this folder's), loaded once."""
    from compound.intelligence.ml.predictor import Predictor

    spec = spec or SPEC
    with _LOCK:
        if spec not in _PREDICTORS:
            _PREDICTORS[spec] = Predictor.from_system(_system(spec), MODEL)
        return _PREDICTORS[spec]


def _system(spec: Path = SPEC) -> System:
    from compound.system import System

    return System.load(spec)


# -- evaluation ------------------------------------------------------------------------------


def holdout_rows(system: System) -> list[dict[str, Any]]:
    """The rows the model's training held out as its test split, reproduced from the spec.

    Training cuts the test rows out of the one CSV with a stratified, seeded split
    (``split.test``, ``split.seed``); these are the same rows, with the features and the
    target only.
    """
    import numpy as np

    from compound.intelligence.ml.data import read_table
    from compound.intelligence.ml.schema import encode_target
    from compound.intelligence.ml.splits import holdout
    from compound.intelligence.registry import predictor_spec

    spec = predictor_spec(system, MODEL)
    path = system.resolve_path(spec.dataset)
    frame = read_table(path)
    y, _ = encode_target(spec, frame[spec.target], source=str(path))
    held, _ = holdout(np.arange(len(frame)), fraction=spec.split.test, seed=spec.split.seed,
                      strata=y)
    rows = frame.iloc[held][[*spec.features, spec.target]]
    records: list[dict[str, Any]] = json.loads(rows.to_json(orient="records"))
    return records


def save_holdout(system: System, store: Store) -> DatasetInfo:
    """Store the held-out rows as the eval dataset ``credit-default-holdout``.

    Raises:
        UserError: the production model was trained on another file than the spec names now
            (its held-out rows would not be these).
    """
    from compound.evaluation.dataset_store import DatasetRegistry
    from compound.evaluation.datasets import Dataset
    from compound.intelligence.ml.data import file_sha256
    from compound.intelligence.registry import ModelRegistry, predictor_spec

    record = ModelRegistry(store).production(MODEL)
    path = system.resolve_path(predictor_spec(system, MODEL).dataset)
    if record is not None:
        trained_on = (record.data or {}).get("train", {}).get("sha256")
        if trained_on and trained_on != file_sha256(path):
            raise UserError(
                f"{record.ref} was trained on another version of {path}; its held-out rows "
                "cannot be reproduced. Retrain it (compound train) before storing the holdout"
            )
    return DatasetRegistry(store).save(Dataset(holdout_rows(system), name=HOLDOUT,
                                               source=f"{path} (test split)"))


def default_probability(inputs: Mapping[str, Any]) -> str:
    """The production model alone: its probability of default, as text (the eval target of
    the ROC-AUC criterion)."""
    score = _production_model().run(dict(inputs))
    return f"{default_probability_of(score):.6f}"


@metric(corpus=True)
def roc_auc(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """Area under the ROC curve of the probability of default against the true outcome."""
    from compound.metrics.classification import roc_auc as area

    return area([int(float(r)) for r in references], [float(p) for p in predictions],
                labels=[0, 1])


@metric(higher_is_better=False, on_error=None)  # a failed run must not look like fewer reviews
def review_share(output: Any) -> float:
    """1 when the applicant went to review, else 0 (its mean is the share sent to people)."""
    return float(_field(output, "decision") == "review")


@metric
def explanation_coverage(output: Any) -> float:
    """1 when the explanation is the LLM's own and grounded in the model's factors, 0 when it
    fell back to the template sentence."""
    return float(_field(output, "explained_by") == "llm")


def _field(output: Any, name: str) -> Any:
    data = getattr(output, "data", None)
    if not isinstance(data, Mapping) or name not in data:
        raise ValueError(f"the output is not a credit decision (no '{name}'); evaluate the "
                         "'decide' workflow")
    return data[name]


def main(argv: Sequence[str]) -> int:
    """``python credit.py holdout [SPEC]``: store the held-out rows as the eval dataset."""
    if len(argv) < 1 or argv[0] != "holdout":
        print("usage: python credit.py holdout [path/to/compound.yaml]", file=sys.stderr)
        return 2
    from compound.store import open_store

    system = _system(Path(argv[1]) if len(argv) > 1 else SPEC)
    with open_store(system) as store:
        info = save_holdout(system, store)
    print(f"stored {info.ref}: {info.rows} held-out rows (eval dataset 'store:{HOLDOUT}')")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
