"""Write-audit-publish with Great Expectations: real jobs, real Iceberg branches, real GX on Spark."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date

import pytest
from pyspark.sql import functions as F

from llm_lakehouse.core.reports import quality_dir, report_path
from llm_lakehouse.core.spec import PipeStep
from llm_lakehouse.core.stages import STAGES
from llm_lakehouse.core.tables import QUARANTINE, RUN_COLUMNS
from llm_lakehouse.devtools.sample import default_days, generate
from llm_lakehouse.spark.bronze import ingest_day
from llm_lakehouse.spark.common import replace_day, stamp
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.silver import refine_day
from llm_lakehouse.spark.wap import QualityGateFailed, branches, write_audit_publish

DAYS = default_days(date(2027, 1, 1), 4)  # three published days of history, then the day under test
LEAKED = "jane.leak@example.org"


def run_stage(spark, spec, settings, stage, day, run_id, body, accept_warnings=False):
    tables = list(STAGES[stage].outputs)
    ctx = RunContext(spark, spec, settings, day, run_id, accept_warnings=accept_warnings)
    return write_audit_publish(ctx, stage, tables, body)


def bronze(spark, spec, settings, day, run_id):
    return run_stage(
        spark,
        spec,
        settings,
        "bronze",
        day,
        run_id,
        lambda: ingest_day(RunContext(spark, spec, settings, day, run_id)),
    )


def main_snapshots(spark, settings, table: str) -> list[int]:
    """Snapshot ids of main's history, oldest first."""
    rows = spark.sql(
        f"SELECT snapshot_id FROM {settings.catalog.name}.{table}.history ORDER BY made_current_at"
    )
    return [r["snapshot_id"] for r in rows.collect()]


def day_rows(spark, settings, table, day, branch=None):
    reader = spark.read.option("branch", branch) if branch else spark.read
    return reader.table(f"{settings.catalog.name}.{table}").where(F.col("dt") == F.lit(day)).count()


def results(spark, settings, run_id):
    return (
        spark.table(f"{settings.catalog.name}.ops.quality_results").where(F.col("run_id") == run_id).collect()
    )


@pytest.fixture(scope="module")
def history(spark, spec, settings):
    """Three clean days of bronze, each written to a branch, checked and published."""
    manifest = generate(settings.landing, DAYS, docs_per_source=30)
    out = {d: bronze(spark, spec, settings, d, f"gate__{d}") for d in DAYS[:3]}
    return manifest, out


def test_a_clean_day_passes_and_publishes(history, spark, settings):
    manifest, out = history
    for day, result in out.items():
        assert result["quality"]["outcome"] == "published", result["quality"]
        assert result["quality"]["published"] == {"bronze.documents": "fast-forward"}
        # main holds the day; the run's branch is gone once published
        assert day_rows(spark, settings, "bronze.documents", day) == result["bronze"] > 0
        assert not branches(settings, "bronze.documents")
    rows = results(spark, settings, f"gate__{DAYS[0]}")
    assert {r["expectation"] for r in rows} == {"not_null:doc_id", "not_null:raw_hash", "volume_vs_last_week"}
    assert all(r["success"] and r["outcome"] == "published" for r in rows)


def test_a_90_percent_drop_fails_the_gate_then_the_fixed_rerun_publishes_once(history, spark, spec, settings):
    day = DAYS[3]
    folder = settings.landing / day.isoformat()
    backup = folder.with_name(folder.name + ".full")
    shutil.copytree(folder, backup)
    # An upstream outage: every jsonl feed delivers a tenth of its lines (parquet feed: nothing).
    for f in folder.rglob("*"):
        if f.suffix == ".jsonl":
            lines = f.read_bytes().splitlines(keepends=True)
            f.write_bytes(b"".join(lines[: max(1, len(lines) // 10)]))
        elif f.is_file():
            f.unlink()
    before = main_snapshots(spark, settings, "bronze.documents")
    with pytest.raises(QualityGateFailed) as failed:
        bronze(spark, spec, settings, day, "gate__drop")
    message = str(failed.value)
    assert "volume_vs_last_week [blocking] FAILED: observed" in message
    assert "nothing was published" in message and "trailing_mean" in message
    # main keeps its previous snapshot; the branch holds the bad day for inspection, with a retention
    assert main_snapshots(spark, settings, "bronze.documents") == before
    assert day_rows(spark, settings, "bronze.documents", day) == 0
    kept = branches(settings, "bronze.documents")
    assert list(kept) == ["wap_bronze_gate_drop_1"]
    assert kept["wap_bronze_gate_drop_1"]["max_age_ms"] == 7 * 86_400_000
    assert 0 < day_rows(spark, settings, "bronze.documents", day, "wap_bronze_gate_drop_1") < 10
    rows = {r["expectation"]: r for r in results(spark, settings, "gate__drop")}
    assert not rows["volume_vs_last_week"]["success"] and rows["volume_vs_last_week"]["outcome"] == "blocked"
    observed = json.loads(rows["volume_vs_last_week"]["observed"])
    assert observed["history_days"] == 3 and observed["observed_value"] < 0.2 * observed["trailing_mean"]
    report = json.loads(report_path(settings, "gate__drop", "bronze").read_text())
    assert report["outcome"] == "blocked" and report["failed"] == ["volume_vs_last_week"]

    # Accepting warnings (the DAG param) does not skip a blocking rule: only a spec change does.
    with pytest.raises(QualityGateFailed, match=r"volume_vs_last_week \[blocking\] FAILED"):
        run_stage(
            spark,
            spec,
            settings,
            "bronze",
            day,
            "gate__drop",
            lambda: ingest_day(RunContext(spark, spec, settings, day, "gate__drop")),
            accept_warnings=True,
        )
    assert main_snapshots(spark, settings, "bronze.documents") == before

    # The input is fixed and the same run is retried: a fresh branch, published once.
    shutil.rmtree(folder)
    backup.rename(folder)
    out = bronze(spark, spec, settings, day, "gate__drop")
    assert out["quality"]["branch"] == "wap_bronze_gate_drop_3"
    after = main_snapshots(spark, settings, "bronze.documents")
    assert after[: len(before)] == before and len(after) == len(before) + 1
    assert day_rows(spark, settings, "bronze.documents", day) == out["bronze"] > 10
    assert sorted(branches(settings, "bronze.documents")) == [
        "wap_bronze_gate_drop_1",
        "wap_bronze_gate_drop_2",
    ]


def _silver_rows(spark, spec, rows):
    """Rows shaped like silver.documents: the given columns, every other one null."""
    table = spec.silver_table()
    df = spark.createDataFrame(rows, "doc_id STRING, text STRING, lang STRING, content_hash STRING")
    return with_null_columns(df.withColumn("n_chars", F.length("text")), table)


def with_null_columns(df, table):
    """``df`` with every other column of ``table`` (run columns aside) as typed nulls."""
    for name, sql_type, _ in table.columns:
        if name not in df.columns and name not in RUN_COLUMNS:
            df = df.withColumn(name, F.lit(None).cast(sql_type))
    return df


def test_planted_bad_rows_fail_each_named_expectation_and_leak_no_value(history, spark, spec, settings):
    day = DAYS[0]
    planted = _silver_rows(
        spark,
        spec,
        [
            ("a", "A clean paragraph about lakehouse tables.", "en", "h1"),
            ("a", "The same id twice is a bug upstream.", "en", "h2"),
            ("b", None, "en", "h3"),
            ("c", f"Write to {LEAKED} for a refund.", "en", "h4"),
            ("d", "Ein deutscher Satz ohne Übersetzung.", "de", "h5"),
        ],
    )
    silver = spec.silver_table()
    before = main_snapshots(spark, settings, silver.ident)

    def buggy_job():
        replace_day(stamp(planted, day, "gate__planted"), silver, settings, day)
        return {}

    with pytest.raises(QualityGateFailed) as failed:
        run_stage(spark, spec, settings, "silver", day, "gate__planted", buggy_job)
    message = str(failed.value)
    for line in (
        "silver.documents not_null:text [blocking] FAILED: 1 of 5 rows unexpected",
        "silver.documents unique:doc_id [blocking] FAILED: 2 of 5 rows unexpected",
        "silver.documents in_set:lang [blocking] FAILED: 1 of 5 rows unexpected",
        "silver.documents no_structured_pii:text [blocking] FAILED: 1 of 5 rows unexpected",
        # A job that wrote silver without the pii pipe: no row has a policy, no canary was checked.
        "silver.documents not_null:pii_policy [blocking] FAILED: 5 of 5 rows unexpected",
        "silver.documents pii_canaries [blocking] FAILED: observed 0",
    ):
        assert line in message, message
    assert "unique:content_hash" not in message and "not_null:doc_id" not in message
    assert main_snapshots(spark, settings, silver.ident) == before
    assert day_rows(spark, settings, silver.ident, day, "wap_silver_gate_planted_1") == 5
    # No offending value anywhere the gate writes: results table, report, GX results and Data Docs.
    rows = results(spark, settings, "gate__planted")
    # Each rule of the table, and each of silver's drift checks (nothing to compare on this day: passed).
    drift = [c for c in spec.quality.drift.checks if c.name in {r["expectation"] for r in rows}]
    assert {c.name for c in drift} == {"length_shift", "language_mix", "outcome_mix", "signal_shift"}
    assert len(rows) == len(spec.quality.rules("silver.documents")) + len(drift)
    assert all(r["success"] for r in rows if r["gx_type"] == "lakehouse.drift")
    assert LEAKED not in json.dumps([r.asDict() for r in rows], default=str)
    assert LEAKED not in message
    for f in quality_dir(settings).rglob("*"):
        if f.is_file():
            assert LEAKED not in f.read_text(errors="replace"), f
    site = quality_dir(settings) / "gx" / "uncommitted" / "data_docs" / "local_site"
    assert (site / "index.html").exists()
    # The gate's validation page is rendered too (one Data Docs build after the gate's checks).
    assert any("silver.documents" in str(p) for p in (site / "validations").rglob("*.html"))


def test_a_warning_blocks_unless_the_run_accepts_warnings(history, spark, spec, settings):
    day = DAYS[1]
    n_bronze = day_rows(spark, settings, "bronze.documents", day)
    assert n_bronze >= 100  # the rule's min_rows: below, a share is not enforced
    # More than half of the day's records in quarantine: quarantine_share is a warning-level rule.
    spilled = (
        spark.table(f"{settings.catalog.name}.bronze.documents")
        .where(F.col("dt") == F.lit(day))
        .select("doc_id", "source", "raw", F.lit("validate").alias("stage"), F.lit("planted").alias("reason"))
    )
    spilled = with_null_columns(spilled, QUARANTINE)

    def job(run_id):
        def body():
            replace_day(stamp(spilled, day, run_id), QUARANTINE, settings, day)
            return {}

        return body

    before = main_snapshots(spark, settings, QUARANTINE.ident)
    with pytest.raises(QualityGateFailed, match="accept_quality_warnings=true") as failed:
        run_stage(spark, spec, settings, "silver", day, "gate__warn", job("gate__warn"))
    assert "quarantine_share [warning] FAILED" in str(failed.value)
    assert main_snapshots(spark, settings, QUARANTINE.ident) == before

    out = run_stage(spark, spec, settings, "silver", day, "gate__warn_ok", job("gate__warn_ok"), True)
    assert out["quality"]["outcome"] == "accepted_warnings" and out["quality"]["failed"] == [
        "quarantine_share"
    ]
    assert day_rows(spark, settings, QUARANTINE.ident, day) == n_bronze
    rows = results(spark, settings, "gate__warn_ok")
    assert {r["outcome"] for r in rows} == {"accepted_warnings"}


def test_a_real_silver_run_with_weak_or_missing_pii_policies_is_stopped_by_the_gate(
    history, spark, spec, settings
):
    day = DAYS[2]
    # Support rows get a weak policy (scanned, pii_policy set, emails replaced, yet phones pass and names
    # score under its threshold); web and docs rows get none (model_copy skips the load-time check that
    # refuses such a spec). The gate's own scan, its not_null:pii_policy rule and the canaries (names
    # survived) must all stop the day.
    weak = PipeStep(
        pipe="pii",
        policy="weak",
        sources=["support"],
        entities=["PERSON", "EMAIL_ADDRESS"],
        score_threshold=0.9,
    )
    pipes = [p for p in spec.silver.pipes if p.pipe != "pii"]
    pipes.insert([p.pipe for p in pipes].index("content_hash"), weak)
    leaky = spec.model_copy(update={"silver": spec.silver.model_copy(update={"pipes": pipes})})
    before = main_snapshots(spark, settings, "silver.documents")
    with pytest.raises(QualityGateFailed) as failed:
        run_stage(
            spark,
            leaky,
            settings,
            "silver",
            day,
            "gate__leaky",
            lambda: refine_day(RunContext(spark, leaky, settings, day, "gate__leaky")),
        )
    assert re.search(r"no_structured_pii:text \[blocking\] FAILED: \d+ of \d+ rows", str(failed.value))
    assert re.search(r"not_null:pii_policy \[blocking\] FAILED", str(failed.value))
    assert re.search(r"pii_canaries \[blocking\] FAILED: observed [1-9]", str(failed.value))
    canary = [r for r in results(spark, settings, "gate__leaky") if r["expectation"] == "pii_canaries"]
    assert canary and json.loads(canary[0]["observed"])["survived_by_policy"]["weak"] > 0
    assert main_snapshots(spark, settings, "silver.documents") == before
    assert day_rows(spark, settings, "silver.documents", day) == 0
    assert day_rows(spark, settings, "silver.documents", day, "wap_silver_gate_leaky_1") > 0
