"""Ranking metrics: how well an ordered list of ids puts the relevant ones first.

Each per-query function takes ``ranked`` (ids, best first) and ``relevance`` (id to graded
relevance; ids not in it, or with a grade of 0 or less, are not relevant) and returns a number
in [0, 1]. :func:`evaluate_ranking` averages them over queries the way BEIR and ``trec_eval``
do: a query with no relevant ids is left out, and a query the system returned nothing for
scores 0.

Gains are linear in the grade (``rel / log2(rank + 1)``), as in BEIR and scikit-learn's
``ndcg_score``. Duplicated ids in ``ranked`` count once, at their first position.

Example:
    >>> ranked = ["d3", "d1", "d7"]
    >>> relevance = {"d1": 1, "d9": 1}
    >>> round(ndcg_at_k(ranked, relevance, 10), 4)
    0.3869
    >>> recall_at_k(ranked, relevance, 10), mrr_at_k(ranked, relevance, 10)
    (0.5, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from compound.errors import UserError


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise UserError(f"k must be a positive whole number of results; received {k!r}")


def _first_k(ranked: Iterable[str], k: int) -> list[str]:
    """The first ``k`` distinct ids, keeping order (a repeated id counts once)."""
    seen: set[str] = set()
    out: list[str] = []
    for doc_id in ranked:
        if doc_id in seen:
            continue
        seen.add(doc_id)
        out.append(doc_id)
        if len(out) == k:
            break
    return out


def _relevant(relevance: Mapping[str, float]) -> dict[str, float]:
    return {doc_id: float(grade) for doc_id, grade in relevance.items() if grade > 0}


def dcg_at_k(ranked: Sequence[str], relevance: Mapping[str, float], k: int) -> float:
    """Discounted cumulative gain of the first ``k`` ids.

    Example:
        >>> round(dcg_at_k(["a", "b"], {"b": 2}, 10), 4)
        1.2619
    """
    _check_k(k)
    grades = _relevant(relevance)
    return sum(
        grades.get(doc_id, 0.0) / math.log2(rank + 2)
        for rank, doc_id in enumerate(_first_k(ranked, k))
    )


def ndcg_at_k(ranked: Sequence[str], relevance: Mapping[str, float], k: int) -> float:
    """DCG@k divided by the DCG of the ideal order; 0 when nothing is relevant.

    Example:
        >>> ndcg_at_k(["a", "b"], {"a": 1}, 10)
        1.0
    """
    _check_k(k)
    grades = _relevant(relevance)
    ideal = sorted(grades.values(), reverse=True)[:k]
    ideal_dcg = sum(grade / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    if ideal_dcg == 0:
        return 0.0
    return dcg_at_k(ranked, grades, k) / ideal_dcg


def recall_at_k(ranked: Sequence[str], relevance: Mapping[str, float], k: int) -> float:
    """The share of relevant ids found in the first ``k``; 0 when nothing is relevant.

    Example:
        >>> recall_at_k(["a", "x", "b"], {"a": 1, "b": 1, "c": 1, "d": 1}, 2)
        0.25
    """
    _check_k(k)
    grades = _relevant(relevance)
    if not grades:
        return 0.0
    found = sum(1 for doc_id in _first_k(ranked, k) if doc_id in grades)
    return found / len(grades)


def precision_at_k(ranked: Sequence[str], relevance: Mapping[str, float], k: int) -> float:
    """The share of the first ``k`` positions holding a relevant id (``k`` is the divisor).

    Example:
        >>> precision_at_k(["a", "x"], {"a": 1}, 4)
        0.25
    """
    _check_k(k)
    grades = _relevant(relevance)
    return sum(1 for doc_id in _first_k(ranked, k) if doc_id in grades) / k


def mrr_at_k(ranked: Sequence[str], relevance: Mapping[str, float], k: int) -> float:
    """``1 / rank`` of the first relevant id within the first ``k``, else 0.

    Example:
        >>> mrr_at_k(["x", "y", "a"], {"a": 1}, 10)
        0.3333333333333333
    """
    _check_k(k)
    grades = _relevant(relevance)
    for rank, doc_id in enumerate(_first_k(ranked, k), start=1):
        if doc_id in grades:
            return 1.0 / rank
    return 0.0


def average_precision(
    ranked: Sequence[str], relevance: Mapping[str, float], k: int | None = None
) -> float:
    """Mean of precision at each relevant hit, divided by the number of relevant ids.

    The mean over queries is MAP. ``k`` None looks at the whole list.

    Example:
        >>> round(average_precision(["a", "x", "b"], {"a": 1, "b": 1}), 4)
        0.8333
    """
    grades = _relevant(relevance)
    if not grades:
        return 0.0
    limit = len(ranked) if k is None else k
    if k is not None:
        _check_k(k)
    hits = 0
    total = 0.0
    for rank, doc_id in enumerate(_first_k(ranked, max(limit, 1)), start=1):
        if doc_id in grades:
            hits += 1
            total += hits / rank
    return total / len(grades)


@dataclass(frozen=True)
class RankingReport:
    """Metrics averaged over queries.

    Attributes:
        metrics: name (``ndcg@10``, ``recall@100``, ``mrr@10``, ``map@100``...) to mean value.
        queries: how many queries were scored (those with at least one relevant id).
        per_query: name to {query id: value}, for finding the queries that fail.
    """

    metrics: dict[str, float]
    queries: int
    per_query: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)


def evaluate_ranking(
    run: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, float]],
    *,
    ndcg_k: Sequence[int] = (10,),
    recall_k: Sequence[int] = (100,),
    mrr_k: Sequence[int] = (10,),
    map_k: Sequence[int] = (100,),
) -> RankingReport:
    """Score a whole run: each query's ranked ids against its relevance judgments.

    Args:
        run: query id to ranked ids, best first. A judged query missing here scores 0.
        qrels: query id to {id: grade}. Queries with no positive grade are left out.
        ndcg_k: cut-offs for nDCG.
        recall_k: cut-offs for recall.
        mrr_k: cut-offs for MRR.
        map_k: cut-offs for MAP.

    Returns:
        The mean of each metric over judged queries, and the per-query values.

    Raises:
        UserError: no query in ``qrels`` has a relevant id.

    Example:
        >>> report = evaluate_ranking({"q1": ["a", "b"]}, {"q1": {"b": 1}})
        >>> round(report.metrics["ndcg@10"], 4), report.metrics["mrr@10"]
        (0.6309, 0.5)
    """
    judged = {qid: rel for qid, rel in qrels.items() if _relevant(rel)}
    if not judged:
        raise UserError(
            "no query in the relevance judgments has a relevant document (grade above 0); "
            f"received {len(qrels)} queries. Check that the qrels file is the right one."
        )
    functions = [
        *((f"ndcg@{k}", ndcg_at_k, k) for k in ndcg_k),
        *((f"recall@{k}", recall_at_k, k) for k in recall_k),
        *((f"mrr@{k}", mrr_at_k, k) for k in mrr_k),
        *((f"map@{k}", average_precision, k) for k in map_k),
    ]
    per_query: dict[str, dict[str, float]] = {name: {} for name, _, _ in functions}
    for qid, rel in judged.items():
        ranked = run.get(qid, ())
        for name, fn, k in functions:
            per_query[name][qid] = fn(ranked, rel, k)
    metrics = {name: sum(values.values()) / len(values) for name, values in per_query.items()}
    return RankingReport(metrics=metrics, queries=len(judged), per_query=per_query)
