"""`compound eval --on ray`: the rows over Ray actors give the local runner's results, through
the same output cache, and a run interrupted locally finishes on Ray."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from compound.cli import main
from compound.errors import UserError
from compound.evaluation.plan import plan_eval
from compound.evaluation.results import RunRepository, RunSummary
from compound.evaluation.runner import EvalRunner
from compound.scale.cluster import RayCluster, parse_on
from compound.scale.eval import RayRows
from compound.store import open_store
from compound.system import System


def figures(run: RunSummary) -> list[tuple]:
    return [(m.name, m.value, m.low, m.high, m.n, m.errors) for m in run.metrics]


def rows_of(store, run: RunSummary) -> list[tuple]:
    return [(r.index, r.status, r.output, r.scores, r.error_type)
            for r in RunRepository(store).rows(run.id)]


@pytest.mark.ray
def test_ray_actors_give_the_local_results_through_the_same_cache(
        ray_cluster: object, capitals: Callable[..., Path]) -> None:
    folder = capitals()
    system = System.load(folder)
    store = open_store(system)
    for name in ("capitals", "echo"):
        local = EvalRunner(store, progress=False).run(plan_eval(system, name, store=store))
        rows = RayRows(folder, actors=3)
        remote = EvalRunner(store, progress=False, rows=rows).run(
            plan_eval(system, name, store=store), resume=False)
        assert remote.id != local.id
        assert remote.counts == local.counts
        assert figures(remote) == figures(local)
        assert rows_of(store, remote) == rows_of(store, local)
        assert len(set(rows.pids)) == 3 and os.getpid() not in rows.pids
    capitals_runs = RunRepository(store).runs("capitals")
    # the LLM's answers came from the cache the local run filled: none computed again
    assert capitals_runs[-1].cached == capitals_runs[-1].counts["ok"] == 23
    assert capitals_runs[0].cached == 0
    echo = RunRepository(store).runs("echo")[-1]
    assert echo.counts == {"total": 24, "ok": 22, "error": 1, "invalid": 1}


@pytest.mark.ray
def test_a_run_interrupted_locally_resumes_on_ray(
        ray_cluster: object, capitals: Callable[..., Path]) -> None:
    folder = capitals()
    system = System.load(folder)
    store = open_store(system)
    seen: list[int] = []

    def stop_after_five(row: object) -> None:
        seen.append(1)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        EvalRunner(store, progress=False, on_row=stop_after_five).run(
            plan_eval(system, "echo", store=store))
    started = RunRepository(store).runs("echo")[0]
    assert len(RunRepository(store).done_indices(started.id)) == 5
    resumed = EvalRunner(store, progress=False, rows=RayRows(folder, actors=2)).run(
        plan_eval(system, "echo", store=store))
    assert resumed.id == started.id and resumed.status == "complete"
    whole = EvalRunner(store, progress=False).run(plan_eval(system, "echo", store=store),
                                                  resume=False)
    assert figures(resumed) == figures(whole)
    assert rows_of(store, resumed) == rows_of(store, whole)


@pytest.mark.ray
def test_the_command_gates_on_the_driver(
        ray_cluster: object, capitals: Callable[..., Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = capitals()
    main(["eval", str(folder), "--on", "ray", "--actors", "2", "--no-progress"])
    out = capsys.readouterr()
    assert "gate passed" in out.err
    assert "exact_match" in out.out
    runs = RunRepository(open_store(System.load(folder))).runs()
    assert {r.eval for r in runs} == {"capitals", "echo"}
    assert all(r.gate_passed for r in runs)


def test_an_unreachable_cluster_is_a_clear_error_at_once(
        capitals: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ray")
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    started = time.perf_counter()
    with pytest.raises(SystemExit) as exit_:
        main(["eval", str(capitals()), "--on", f"ray://127.0.0.1:{port}"])
    assert exit_.value.code == 2
    assert time.perf_counter() - started < 10
    err = " ".join(capsys.readouterr().err.split())
    assert f"cannot reach Ray at ray://127.0.0.1:{port} (Connection refused)" in err
    assert "ray start --head" in err


def test_on_names_ray_or_a_ray_address() -> None:
    assert parse_on("ray") is None
    assert parse_on("ray://head:10001") == "ray://head:10001"
    for wrong in ("spark", "ray://head", "ray://:10001", "ray:head:1"):
        with pytest.raises(UserError, match="--on expects 'ray' or 'ray://HOST:PORT'"):
            RayCluster(wrong)
