"""bench/prompts.py runs its four configurations on a few calls (CI keeps its path working)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_bench_times_each_configuration() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "prompts.py"), "--calls", "5"],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    figures = json.loads(done.stdout)
    assert set(figures["results"]) == {"spec", "registry", "registry_read_every_call",
                                       "four_examples"}
    assert figures["results"]["spec"]["excess_over_spec_us"] == 0.0
    assert all(r["median_us"] > 0 for r in figures["results"].values())
    assert len(figures["machine"]["load_before"]) == 3
