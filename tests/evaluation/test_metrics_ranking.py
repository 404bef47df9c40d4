"""Ranking metrics, checked against scikit-learn and against hand-computed values."""

from __future__ import annotations

import math
import random

import pytest

from compound.errors import UserError
from compound.metrics.ranking import (
    average_precision,
    dcg_at_k,
    evaluate_ranking,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)


def _random_case(rng: random.Random) -> tuple[list[str], dict[str, int], list[float]]:
    n = rng.randint(2, 30)
    ids = [f"d{i}" for i in range(n)]
    grades = {i: rng.choice([0, 0, 0, 1, 2, 3]) for i in ids}
    if not any(grades.values()):
        grades[ids[0]] = 1
    scores = rng.sample(range(10_000), n)  # distinct: scikit-learn averages ties
    ranked = [i for _, i in sorted(zip(scores, ids, strict=True), reverse=True)]
    return ranked, grades, [float(s) for s in scores]


@pytest.mark.parametrize("k", [1, 3, 10, 50])
def test_ndcg_matches_scikit_learn(k: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(k)
    for _ in range(200):
        ranked, grades, scores = _random_case(rng)
        ids = sorted(grades, key=lambda i: int(i[1:]))
        expected = metrics.ndcg_score([[grades[i] for i in ids]], [scores], k=k)
        assert ndcg_at_k(ranked, grades, k) == pytest.approx(expected, abs=1e-9)


def test_average_precision_matches_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(7)
    for _ in range(200):
        ranked, grades, scores = _random_case(rng)
        ids = sorted(grades, key=lambda i: int(i[1:]))
        expected = metrics.average_precision_score([int(grades[i] > 0) for i in ids], scores)
        assert average_precision(ranked, grades) == pytest.approx(expected, abs=1e-9)


def test_hand_computed_values() -> None:
    ranked = ["x", "a", "y", "b"]
    relevance = {"a": 2, "b": 1, "c": 1}
    assert dcg_at_k(ranked, relevance, 4) == pytest.approx(2 / math.log2(3) + 1 / math.log2(5))
    ideal = 2 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, relevance, 4) == pytest.approx(
        (2 / math.log2(3) + 1 / math.log2(5)) / ideal
    )
    assert recall_at_k(ranked, relevance, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, relevance, 10) == pytest.approx(2 / 3)
    assert mrr_at_k(ranked, relevance, 10) == 0.5
    assert mrr_at_k(ranked, relevance, 1) == 0.0
    assert precision_at_k(ranked, relevance, 4) == 0.5
    assert average_precision(ranked, relevance) == pytest.approx((1 / 2 + 2 / 4) / 3)


def test_duplicates_count_once_and_zero_grades_are_not_relevant() -> None:
    assert recall_at_k(["a", "a", "a"], {"a": 1, "b": 1}, 3) == 0.5
    assert ndcg_at_k(["a", "a"], {"a": 1, "z": 0}, 10) == 1.0
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0
    assert mrr_at_k([], {"a": 1}, 10) == 0.0


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_k_is_a_user_error(k: object) -> None:
    with pytest.raises(UserError, match="positive whole number"):
        ndcg_at_k(["a"], {"a": 1}, k)  # type: ignore[arg-type]


def test_evaluate_ranking_averages_over_judged_queries_only() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}
    run = {"q1": ["a"], "q3": ["c"]}  # q2 missing: it scores 0; q3 has nothing relevant
    report = evaluate_ranking(run, qrels, ndcg_k=(10,), recall_k=(100,), mrr_k=(10,))
    assert report.queries == 2
    assert report.metrics["ndcg@10"] == 0.5
    assert report.metrics["recall@100"] == 0.5
    assert report.per_query["mrr@10"] == {"q1": 1.0, "q2": 0.0}


def test_evaluate_ranking_without_any_relevant_document_says_so() -> None:
    with pytest.raises(UserError, match="no query in the relevance judgments"):
        evaluate_ranking({"q": ["a"]}, {"q": {"a": 0}})
