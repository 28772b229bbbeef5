"""End to end on a running `airflow standalone`: REST trigger, REST backfill, rerun, and the UI's Backfill.

One standalone serves the module (start-up is ~30 s). It gets its own AIRFLOW_HOME and lakehouse, a port of
its own, and is stopped (whole process group) however the tests end.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest
from conftest import ARTIFACTS, BASE, lakehouse, stats

from llm_lakehouse.sample import default_days, generate
from llm_lakehouse.settings import Settings
from llm_lakehouse.spec import load_spec
from llm_lakehouse.standalone import Airflow, up

pytestmark = pytest.mark.e2e
PORT = int(os.environ.get("LAKEHOUSE_TEST_AIRFLOW_PORT", "18080"))
DAYS = default_days(date(2026, 10, 1), 3)  # 2 for the REST backfill (one a rerun), 1 for the browser's
HOME = BASE / "e2e"


def counts(day: date) -> tuple[int, int, int, int]:
    s = stats(day, HOME / "lakehouse")
    return s["bronze"], s["silver"], s["quarantine"], s["duplicates"]


def history(table: str) -> list[dict]:
    out = lakehouse("history", table, "--json", env={"LAKEHOUSE_HOME": str(HOME / "lakehouse")})
    return json.loads(out)


def expected(manifest: dict, day: date) -> tuple[int, int, int, int]:
    m = manifest["days"][day.isoformat()]
    return m["bronze"], m["silver"], m["quarantine"], m["duplicates"]


@pytest.fixture(scope="module")
def airflow():
    env = {"LAKEHOUSE_HOME": str(HOME / "lakehouse")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    manifest = generate(Settings.from_env().landing, DAYS, docs_per_source=6)
    spec = load_spec(Path(__file__).resolve().parents[2] / "pipelines" / "corpus_nightly.yaml")
    af = Airflow(HOME / "airflow", PORT)
    try:
        up(af.home, PORT, spec.spark.pool)
        yield af, manifest
    finally:
        af.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_trigger_over_rest_builds_the_day(airflow):
    af, manifest = airflow
    run_id = af.trigger(DAYS[0])
    assert af.wait_runs([run_id]) == {run_id: "success"}
    assert counts(DAYS[0]) == expected(manifest, DAYS[0])


def test_backfill_over_rest_builds_each_day_once_and_reruns_idempotently(airflow):
    af, manifest = airflow
    day0_before = counts(DAYS[0])
    snapshots_before = len(history("silver.documents"))
    # reprocess=completed: DAYS[0] already has a successful run, which the backfill runs again.
    af.backfill(DAYS[0], DAYS[1], reprocess="completed")
    runs = af.runs_for(DAYS[0], DAYS[1])
    assert sorted(r["data_interval_start"][:10] for r in runs) == [d.isoformat() for d in DAYS[:2]]
    states = af.wait_runs([r["dag_run_id"] for r in runs])
    assert set(states.values()) == {"success"}, states
    for d in DAYS[:2]:
        got = counts(d)
        assert got == expected(manifest, d), d
        bronze, silver, quarantine, duplicates = got
        assert bronze == silver + quarantine + duplicates
    # The rerun of DAYS[0] replaced its day (a new snapshot per day written) and changed no count.
    assert counts(DAYS[0]) == day0_before
    assert len(history("silver.documents")) == snapshots_before + 2
    af.wait_backfills()  # the scheduler then marks the backfill complete: the next one may start


def test_browser_trigger_backfill(airflow):
    """The user's own path: DAG page → Trigger → Backfill → a date range → Run Backfill. The range holds one
    run (02:00 to 12:00 of one day): a day run through the UI proves the path as well as two would, in half
    the suite's time.

    Runs after the REST backfill built the earlier days, so history dedup sees them as the nightly runs would.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    af, manifest = airflow
    af.wait_backfills()  # one active backfill per DAG: the UI disables Run Backfill until the last one ends
    day = DAYS[2]
    ARTIFACTS.mkdir(exist_ok=True)
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
            page.screenshot(path=str(ARTIFACTS / "backfill-dialog.png"))
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
        finally:
            browser.close()
    runs = af.runs_for(day, day)
    assert [r["data_interval_start"][:10] for r in runs] == [day.isoformat()]
    assert {r["run_type"] for r in runs} == {"backfill"}
    states = af.wait_runs([r["dag_run_id"] for r in runs])
    assert set(states.values()) == {"success"}, states
    assert counts(day) == expected(manifest, day)


def test_the_run_unpausing_starts_succeeds(airflow):
    """Unpausing (catchup off) runs the last complete interval at once: on a new lake a day nothing landed for."""
    af, _ = airflow
    runs = af.api("GET", "/api/v2/dags/corpus_nightly/dagRuns?run_type=scheduled")["dag_runs"]
    assert runs  # two when the suite crosses 02:00 UTC
    ids = [r["dag_run_id"] for r in runs]
    assert set(af.wait_runs(ids).values()) == {"success"}
    for r in runs:
        assert counts(date.fromisoformat(r["data_interval_start"][:10])) == (0, 0, 0, 0)
