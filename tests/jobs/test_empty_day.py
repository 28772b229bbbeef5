"""A day with nothing to process is settled without Spark, and its gate decides as the Spark job's does.

The lake here is its own, written by Spark in processes that exit: pyiceberg must not commit to an SQLite
catalog while a JVM that writes it later is alive (the session's ``spark`` fixture is one), as Airflow's pool
and the catalog lock ensure in production.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from llm_lakehouse.core.catalog import open_catalog, read_day
from llm_lakehouse.core.reports import report_path
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.stages import DAY_STAGES, NEEDS_SPARK
from llm_lakehouse.spark.runner import RESULT_PREFIX
from llm_lakehouse.spark.submit import spark_submit_command

QUIET = date(2027, 2, 10)
FED = [date(2027, 3, d) for d in (1, 2, 3)]
STOPPED = date(2027, 3, 4)
DOCS = 20

SEED = textwrap.dedent("""
    import sys
    from datetime import date
    from pathlib import Path

    from llm_lakehouse.core.settings import Settings
    from llm_lakehouse.core.spec import load_spec
    from llm_lakehouse.spark.bronze import ingest_day
    from llm_lakehouse.spark.context import RunContext
    from llm_lakehouse.spark.session import ensure_tables, spark_session

    spec, settings = load_spec(sys.argv[1]), Settings.from_env()
    spark = spark_session(settings, "seed")
    ensure_tables(spark, settings, spec)
    for day in sys.argv[3:]:
        ingest_day(RunContext(spark, spec, settings, date.fromisoformat(day), "empty__fed"), Path(sys.argv[2]))
    spark.stop()
""")


@pytest.fixture(scope="module")
def lake(tmp_path_factory, spec) -> Settings:
    """Tables created and three days of 20 records ingested by a Python process of its own."""
    home = tmp_path_factory.mktemp("empty-day")
    settings = Settings.from_env({"LAKEHOUSE_HOME": str(home), "PATH": os.environ.get("PATH", "")})
    feed = home / "feed"
    feed.mkdir()
    (feed / "a.jsonl").write_text(
        "".join(json.dumps({"id": i, "text": f"doc {i}"}) + "\n" for i in range(DOCS))
    )
    (home / "seed.py").write_text(SEED)
    days = [d.isoformat() for d in FED]
    proc = subprocess.run(
        [sys.executable, str(home / "seed.py"), str(spec.path), str(feed), *days],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return settings


def _env(settings: Settings) -> dict[str, str]:
    return os.environ | settings.spark_env() | {"LAKEHOUSE_HOME": str(settings.home)}


def _empty_day(spec, settings, stage: str, day: date, run_id: str) -> subprocess.CompletedProcess:
    args = ["--spec", str(spec.path), "--date", day.isoformat(), "--run-id", run_id]
    return subprocess.run(
        [sys.executable, "-m", "llm_lakehouse.spark.empty_day", stage, *args],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _results(settings, day: date, run_id: str) -> list[dict]:
    rows = read_day(open_catalog(settings), "ops.quality_results", day).to_pylist()
    return [r for r in rows if r["run_id"] == run_id]


def _volume(settings, day: date, run_id: str) -> dict:
    (row,) = [r for r in _results(settings, day, run_id) if r["expect"] == "row_count_vs_trailing"]
    return row


def test_a_day_nothing_landed_for_is_settled_without_spark(spec, lake):
    cat = open_catalog(lake)
    before = {t: cat.load_table(t).current_snapshot() for s in DAY_STAGES.values() for t in s.outputs}
    for stage in DAY_STAGES:
        proc = _empty_day(spec, lake, stage, QUIET, "empty__quiet")
        assert proc.returncode == 0, proc.stderr[-3000:]
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX))
        result = json.loads(line[len(RESULT_PREFIX) :])
        assert result["settled_without_spark"] and result["quality"]["outcome"] == "published"
        # Every rule of the stage's tables was decided and recorded, as the Spark gate records them.
        rows = [r for r in _results(lake, QUIET, "empty__quiet") if r["job"] == stage]
        assert len(rows) == sum(len(spec.quality.rules(t)) for t in DAY_STAGES[stage].outputs)
        assert all(r["success"] and r["outcome"] == "published" for r in rows)
    audit = [r for r in read_day(open_catalog(lake), "ops.run_audit", QUIET).to_pylist()]
    assert sorted(r["job"] for r in audit) == sorted(DAY_STAGES)
    assert all(r["docs_in"] == 0 and r["step"] == "*" and r["run_id"] == "empty__quiet" for r in audit)
    # No data table moved.
    cat = open_catalog(lake)
    for t, snap in before.items():
        now = cat.load_table(t).current_snapshot()
        assert (now and now.snapshot_id) == (snap and snap.snapshot_id), t


def test_a_feed_that_stopped_blocks_the_day_as_the_spark_gate_does(spec, lake):
    proc = _empty_day(spec, lake, "bronze", STOPPED, "empty__stopped")
    assert proc.returncode not in (0, NEEDS_SPARK), proc.stdout[-2000:]
    report = json.loads(report_path(lake, "empty__stopped", "bronze").read_text())
    assert report["outcome"] == "blocked" and "volume_vs_last_week" in report["message"]
    volume = _volume(lake, STOPPED, "empty__stopped")
    # 20 rows on each of the three days before: at least 0.2 x 20.
    assert not volume["success"] and json.loads(volume["kwargs"])["min_value"] == DOCS // 5

    # The Spark job on the same day blocks on the same rule with the same bounds.
    cmd = spark_submit_command(lake, spec, "bronze", STOPPED.isoformat(), "spark__stopped")
    spark_run = subprocess.run(cmd, env=_env(lake), capture_output=True, text=True, timeout=600)
    assert spark_run.returncode != 0
    assert json.loads(report_path(lake, "spark__stopped", "bronze").read_text())["outcome"] == "blocked"
    volume = _volume(lake, STOPPED, "spark__stopped")
    assert not volume["success"] and json.loads(volume["kwargs"])["min_value"] == DOCS // 5


def test_a_day_with_a_landed_file_goes_to_spark_and_nothing_is_written(spec, lake):
    day = date(2027, 2, 11)
    folder = Path(lake.landing) / day.isoformat() / spec.sources[0].name
    folder.mkdir(parents=True)
    # Even a file no reader takes: the Spark job accounts for it in ops.run_audit.
    (folder / "notes.txt").write_text("not a feed file\n")
    proc = _empty_day(spec, lake, "bronze", day, "empty__landed")
    assert proc.returncode == NEEDS_SPARK, proc.stderr[-2000:]
    assert "files landed for source" in proc.stdout
    assert _results(lake, day, "empty__landed") == []
    assert read_day(open_catalog(lake), "ops.run_audit", day).num_rows == 0
