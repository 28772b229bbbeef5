"""End to end on a running `airflow standalone`, the embedded default: the UI's Trigger -> Backfill, and the run
unpausing starts. REST backfills, days side by side and a lost worker run on the production topology
(test_prod.py).

One standalone serves the module (start-up is ~30 s). It gets its own AIRFLOW_HOME and lakehouse, a port of
its own, and is stopped (whole process group) however the tests end.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from conftest import BASE, SCREENSHOTS, stats

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import load_spec
from llm_lakehouse.datahub.airflow_env import plugin_env
from llm_lakehouse.devtools.sample import default_days, generate
from llm_lakehouse.devtools.standalone import AirflowProcess, up

pytestmark = pytest.mark.e2e
PORT = int(os.environ.get("LAKEHOUSE_TEST_AIRFLOW_PORT", "18080"))
DAYS = default_days(date(2026, 10, 1), 1)  # the browser's backfill builds it
HOME = BASE / "e2e"


def counts(day: date) -> tuple[int, int, int, int]:
    s = stats(day, HOME / "lakehouse")
    return s["bronze"], s["silver"], s["quarantine"], s["duplicates"]


def expected(manifest: dict, day: date) -> tuple[int, int, int, int]:
    m = manifest["days"][day.isoformat()]
    return m["bronze"], m["silver"], m["quarantine"], m["duplicates"]


@pytest.fixture(scope="module")
def airflow():
    env = {"LAKEHOUSE_HOME": str(HOME / "lakehouse")}
    # The plugin writes where this lakehouse's jobs move its events from (not the session's lakehouse).
    outside = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__DATAHUB__", "AIRFLOW_CONN_DATAHUB"))
    }
    outside |= env
    env |= plugin_env(Settings.from_env(outside), outside)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    manifest = generate(Settings.from_env().landing, DAYS, docs_per_source=6)
    spec = load_spec(Path(__file__).resolve().parents[2] / "pipelines" / "corpus_nightly.yaml")
    process = AirflowProcess(HOME / "airflow", PORT)
    try:
        yield up(process, spec.spark.pool), manifest
    finally:
        process.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_browser_trigger_backfill(airflow):
    """The user's own path: DAG page → Trigger → Backfill → a date range → Run Backfill. The range holds one
    run (02:00 to 12:00 of the lake's first day): a day run through the UI proves the path as well as two
    would, in half the suite's time."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    af, manifest = airflow
    day = DAYS[0]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            ctx.add_cookies([{"name": "_token", "value": af.token(), "url": af.url}])
            page = ctx.new_page()
            page.goto(f"{af.url}/dags/corpus_nightly")
            page.get_by_role("button", name="Trigger").first.click()
            dialog = page.locator("[role=dialog][data-state=open]")
            dialog.get_by_text("Backfill", exact=True).click()
            for i, hour in enumerate(("02:00", "12:00")):
                dialog.locator("[data-testid=datetime-input]").nth(i).click()
                picker = page.locator("[data-scope=popover][data-part=content][data-state=open]")
                picker.get_by_placeholder("YYYY/MM/DD").fill(day.strftime("%Y/%m/%d"))
                picker.get_by_placeholder("HH:mm").fill(hour)
                page.keyboard.press("Enter")  # commits the typed value
                page.keyboard.press("Escape")  # closes the picker, not the dialog
            # silver depends_on_past (dedup against history needs day order), so Airflow requires a
            # reprocess behaviour other than "Missing Runs".
            dialog.get_by_text("Missing and Errored Runs", exact=True).click()
            dialog.get_by_text("1 run will be triggered").wait_for()
            # The README shows these: each run of the suite refreshes them.
            page.screenshot(path=str(SCREENSHOTS / "backfill-dialog.png"))
            # On SQLite the api-server answers 503 "Database is locked" while the scheduler writes; the
            # dialog then stays open with that error, and a user clicks again.
            for attempt in range(5):
                dialog.get_by_role("button", name="Run Backfill").click()
                try:
                    dialog.wait_for(state="hidden", timeout=20_000)
                    break
                except PlaywrightTimeout:
                    if attempt == 4:
                        raise AssertionError(f"backfill dialog still open: {dialog.inner_text()}") from None
                    page.wait_for_timeout(3_000 * (attempt + 1))
            runs = af.runs_for(day, day)
            assert [r["data_interval_start"][:10] for r in runs] == [day.isoformat()]
            assert {r["run_type"] for r in runs} == {"backfill"}
            states = af.wait_runs([r["dag_run_id"] for r in runs])
            assert set(states.values()) == {"success"}, states
            # The run's page: its grid of task instances beside the run's details.
            page.goto(f"{af.url}/dags/corpus_nightly/runs/{runs[0]['dag_run_id']}", wait_until="load")
            page.wait_for_timeout(3_000)  # the grid fills from API calls after the page loads
            page.screenshot(path=str(SCREENSHOTS / "airflow-grid.png"))
            # Each Spark task links to the day's corpus report, which the lakehouse_reports plugin serves on
            # the API server to logged-in users only.
            links = af.api(
                "GET", f"/api/v2/dags/corpus_nightly/dagRuns/{runs[0]['dag_run_id']}/taskInstances/gold/links"
            )
            link = links["extra_links"]["Corpus report"]
            assert link == f"/lakehouse-reports/{day.isoformat()}/index.html", links
            anonymous = ctx.browser.new_context().request.get(f"{af.url}{link}")
            assert anonymous.status in (401, 403), anonymous.status
            report = page.goto(f"{af.url}{link}", wait_until="load")
            assert report.status == 200 and "corpus of" in page.content()
            sizes = page.eval_on_selector_all("img", "els => els.map(e => [e.naturalWidth, e.naturalHeight])")
            assert len(sizes) >= 5 and all(w > 300 and h > 150 for w, h in sizes), sizes
        finally:
            browser.close()
    assert counts(day) == expected(manifest, day)


def test_the_run_unpausing_starts_succeeds(airflow):
    """Unpausing (catchup off) runs the last complete interval at once: on a new lake a day nothing landed for."""
    af, _ = airflow
    runs = af.api("GET", "/api/v2/dags/corpus_nightly/dagRuns?run_type=scheduled")["dag_runs"]
    assert runs  # two when the suite crosses 02:00 UTC
    ids = [r["dag_run_id"] for r in runs]
    assert set(af.wait_runs(ids).values()) == {"success"}
    for r in runs:
        day = date.fromisoformat(r["data_interval_start"][:10])
        assert counts(day) == (0, 0, 0, 0)
        # Gold, at least, had nothing to process on tables that exist by then: settled without Spark.
        audit = stats(day, HOME / "lakehouse")["audit"]
        gold = [a for a in audit if a["job"] == "gold"]
        assert gold and all("without Spark" in (a["detail"] or "") for a in gold), gold
