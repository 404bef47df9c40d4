"""Small synthetic datasets and specs for the ML layer's tests (real files in tmp_path).

A plain module, not a conftest: the test modules import its helpers by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from compound.system import System

PHRASES = {
    "card_lost": ["i lost my card", "my card was stolen", "card is missing", "cannot find card"],
    "top_up": ["how do i top up", "add money to account", "top up failed", "topping up"],
    "transfer": ["send money abroad", "transfer to a friend", "wire transfer", "pay my rent"],
}
FILLER = ["please", "help", "today", "now", "urgent", "hi", "thanks", "quickly", "again"]


def text_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Short requests in three intents, with filler words and occasional typos."""
    rng = np.random.default_rng(seed)
    rows = []
    labels = sorted(PHRASES)
    for i in range(n):
        label = labels[i % len(labels)]
        words = str(rng.choice(PHRASES[label])).split()
        words += [str(w) for w in rng.choice(FILLER, size=rng.integers(0, 3))]
        if rng.random() < 0.2:
            k = int(rng.integers(len(words)))
            words[k] = words[k][:-1] or words[k]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def tabular_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """A binary target driven by a number and a category, plus a noise column."""
    rng = np.random.default_rng(seed)
    cities = ["oslo", "rome", "lima", "pune"]
    effect = {"oslo": -1.5, "rome": 0.0, "lima": 1.0, "pune": 2.0}
    rows = []
    for _ in range(n):
        city = str(rng.choice(cities))
        income = float(rng.normal(50, 15))
        logit = 0.08 * (income - 50) + effect[city] - 0.3
        rows.append({"income": round(income, 2), "city": city,
                     "noise": float(rng.normal()),
                     "churn": int(rng.random() < 1 / (1 + np.exp(-logit)))})
    return rows


def regression_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = 3 * x[:, 0] - 2 * x[:, 1] + rng.normal(scale=0.3, size=n)
    return [{"a": float(a), "b": float(b), "y": float(t)} for (a, b), t in zip(x, y, strict=True)]


def ranking_rows(queries: int, per_query: int = 10, seed: int = 0) -> list[dict[str, Any]]:
    """Each query's items: relevance 0-3, one feature tracking it, one not."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(queries):
        for _ in range(per_query):
            grade = int(rng.integers(0, 4))
            rows.append({"query": f"q{q}", "signal": grade + float(rng.normal(scale=0.7)),
                         "noise": float(rng.normal()), "relevance": grade})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def make_system(folder: Path, models: str, criteria: str = "") -> System:
    """A spec in ``folder`` with these models (and criteria), loaded."""
    indented = "\n".join("  " + line for line in models.strip("\n").splitlines())
    crit = ("criteria:\n" + "\n".join("  " + line for line in criteria.strip().splitlines())
            + "\n") if criteria else ""
    text = (f"name: test\nloop: prediction\ntask: Test models.\n{crit}"
            f"store: {{path: store.db}}\nmodels:\n{indented}\n")
    (folder / "compound.yaml").write_text(text, encoding="utf-8")
    return System.load(folder / "compound.yaml")


TEXT_MODEL = """\
intent:
  kind: predictor
  task: text_classification
  dataset: train.jsonl
  target: label
  features: [text]
"""

TABULAR_MODEL = """\
churn:
  kind: predictor
  task: tabular_classification
  dataset: customers.csv
  target: churn
  params: {n_estimators: 200}
"""
