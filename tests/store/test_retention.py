"""store.retention_days: a store opened with it prunes old runs and traces by itself, on
SQLite and on PostgreSQL. (What prune keeps and drops is in the conformance suite.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from compound.store import SQLiteStore, Store, open_store
from compound.store.postgres import PostgresStore
from compound.system import System


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_store_opened_with_retention_prunes_old_runs_and_traces(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if kind == "sqlite":
        where = f"path: {tmp_path / 'c.db'}"
        plain: Store = SQLiteStore(tmp_path / "c.db")
    else:
        url = request.getfixturevalue("pg_url")
        where = f"url: '{url}'"
        plain = PostgresStore(url)
    plain.put("runs", "r1", {"status": "completed"})
    plain.put("checkpoints", "r1/answer", {"output": "hi"})
    plain.append("trace:r1", {"spans": []})
    plain.append("feedback", {"run_id": "r1"})
    plain.close()
    time.sleep(0.2)  # older than the retention below: 0.0864 s
    spec = tmp_path / "compound.yaml"
    spec.write_text(f"name: kept\nloop: interaction\ntask: answer\nstore:\n  {where}\n"
                    "  retention_days: 0.000001\n", encoding="utf-8")
    with open_store(System.load(spec)) as store:
        retention = store.inner.retention  # type: ignore[attr-defined]
        deadline = time.time() + 20
        while retention.pruned < 3 and time.time() < deadline:
            time.sleep(0.05)
        assert store.get("runs", "r1") is None
        assert list(store.items("checkpoints")) == []
        assert store.streams(prefix="trace:") == []
        assert len(list(store.read("feedback"))) == 1
        assert retention.pruned == 3


def test_retention_must_be_positive(tmp_path: Path) -> None:
    from compound.errors import SpecError

    spec = tmp_path / "compound.yaml"
    spec.write_text("name: kept\nloop: interaction\ntask: answer\nstore:\n"
                    "  retention_days: 0\n", encoding="utf-8")
    with pytest.raises(SpecError, match="retention_days"):
        System.load(spec)
