"""The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright) against a real server that has served real traffic. Screenshots go to
test-artifacts/dashboard/."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from serving_apps import ROOT, ServerProcess

from compound.production.serving.keys import ApiKeys
from compound.store import SQLiteStore
from compound.strategy.review import ReviewQueue

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def record_traffic(url: str, key: str) -> dict[str, str]:
    """Runs of every kind, signals, and inputs whose distribution moves halfway."""
    rng = np.random.default_rng(3)
    runs: dict[str, str] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                      timeout=30) as client:
        for i in range(30):
            text = "where is my card" if i % 3 else "what is the exchange rate"
            runs.setdefault("classify", client.post("/v1/workflows/classify",
                                                    json={"text": text}).json()["run_id"])
        for amount in rng.normal(50, 5, 40):  # the reference window (reference_size: 40)
            client.post("/v1/workflows/score", json={"amount": float(amount), "country": "FR"})
        for amount in rng.normal(400, 20, 30):  # then the amounts jump
            client.post("/v1/workflows/score", json={"amount": float(amount), "country": "FR"})
        for _ in range(3):
            run = client.post("/v1/workflows/answer", json={"text": "capital?"}).json()
            runs["answer"] = run["run_id"]
        for _ in range(2):
            assert client.post("/v1/workflows/broken", json={"text": "x"}).status_code == 500
        for value in ("up", "up", "down"):
            assert client.post("/v1/feedback", json={"run_id": runs["classify"],
                                                     "kind": "thumbs", "value": value}
                               ).status_code == 201
        client.post("/v1/feedback", json={"run_id": runs["answer"], "kind": "rating",
                                          "value": 4})
        client.post("/v1/feedback", json={"run_id": runs["answer"], "kind": "edit",
                                          "value": "Paris."})
        reports = client.post("/v1/drift/check").json()["reports"]
        assert next(r for r in reports if r["workflow"] == "score")["status"] == "drift"
    return runs


def test_the_dashboard_charts_real_traffic_and_follows_a_run_to_its_trace(
        tmp_path: Path) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the dashboard test needs: pip install playwright "
        "(the dev extra) and Debian's chromium (apt-get install chromium)")
    if not Path(CHROMIUM).exists():
        pytest.skip("the dashboard test needs Debian's chromium: apt-get install chromium")
    store = SQLiteStore(tmp_path / "compound.db")
    admin, _ = ApiKeys(store).create("tests", scope="admin")
    reader, _ = ApiKeys(store).create("dashboard", scope="read")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with ServerProcess(tmp_path) as server:
        runs = record_traffic(server.url, admin)
        review = ReviewQueue(store).submit("is my card lost?", proposed="card_arrival",
                                           confidence=0.41, reason="below_threshold",
                                           source="intent", run_id=runs["classify"])
        time.sleep(1.2)  # the server writes rollups and online scores every 0.5 s
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error"
                        else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{server.url}/dashboard#key={reader}")
                page.wait_for_selector("body[data-loaded=true]", timeout=15_000)
                page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

                for chart in ("traffic", "latency", "errors", "cost", "quality", "feedback"):
                    figure = page.locator(f'figure[data-chart="{chart}"]')
                    assert int(figure.get_attribute("data-points") or 0) > 0, chart
                    assert figure.locator("svg path").count() >= 1, chart
                latency_series = page.locator('figure[data-chart="latency"] path[data-series]')
                assert latency_series.count() == 3  # p50, p95, p99
                quality = page.locator('figure[data-chart="quality"] path[data-series]')
                names = {quality.nth(i).get_attribute("data-series")
                         for i in range(quality.count())}
                assert {"short_answer", "thumbs up", "rating / 5"} <= names
                runs_total = page.locator("#kpi-runs").inner_text()
                assert int(runs_total) >= 105
                assert page.locator("#kpi-errors").inner_text() != "-"
                assert page.locator("#system-name").inner_text() == "serving-tests"

                drift = page.locator('[data-drift-status="drift"]')
                assert drift.count() == 1
                assert "bad" in (page.locator('tr[data-field="amount"]').first
                                 .get_attribute("class") or "")
                assert page.locator("#alerts li").first.inner_text().find("amount") >= 0
                queued = page.locator(f'tr[data-review-id="default/{review.id:012d}"]')
                assert "below_threshold" in queued.inner_text()

                answer_row = page.locator("#runs tr[data-run-id]", has_text="answer").first
                run_id = answer_row.get_attribute("data-run-id")
                assert run_id == runs["answer"]  # the newest answer run is listed first
                answer_row.locator("a").click()
                page.wait_for_selector('#trace .span-row[data-span="answer"]', timeout=10_000)
                assert page.locator("#trace-id").inner_text() == run_id
                spans = page.locator("#trace .span-row")
                assert {spans.nth(i).get_attribute("data-kind")
                        for i in range(spans.count())} >= {"run", "step", "model"}
                assert "Paris" in page.locator("#trace-record").inner_text()
                assert "rating: 4" in page.locator("#trace-feedback").inner_text()
                page.locator("#trace-panel").screenshot(path=str(ARTIFACTS / "trace.png"))
                assert not errors, errors
            finally:
                browser.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
