"""Table maintenance on real Iceberg tables: a rerun's replaced rows stop being readable by time travel once
their snapshots pass the retention, while the current rows, a dataset version's tag (its rebuild stays
byte-identical), a branch, and files younger than the orphan age stay; small files are compacted; what was
removed is in ops.run_audit.

The lakehouse here is a second Iceberg catalog in the session's SparkSession, over its own home: maintenance
with a zero retention would otherwise expire the snapshots of every other test module's tables.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from llm_lakehouse.cli import dataset
from llm_lakehouse.core.catalog import load, open_catalog, read_day
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.tables import ALL_TABLES, QUALITY_RESULTS, RUN_COLUMNS
from llm_lakehouse.devtools.sample import generate
from llm_lakehouse.spark import publications
from llm_lakehouse.spark.bronze import ingest_day
from llm_lakehouse.spark.common import stamp
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.gold import tokenize_day
from llm_lakehouse.spark.maintenance import Policy, maintain
from llm_lakehouse.spark.silver import refine_day
from tests.jobs.conftest import isolated_lake

DAY = date(2026, 6, 1)
CATALOG = "maint"
BRONZE, SILVER, GOLD = "bronze.documents", "silver.documents", "gold.training_documents"
LAYERS = (BRONZE, SILVER, GOLD)
BRANCH = "wap_bronze_kept_1"


def zero_retention(spec) -> Policy:
    """The spec's maintenance with a zero retention, only main's head kept, and compaction of any partition
    with two small files or more (``lakehouse maintain --older-than-days 0`` plus two test-only knobs)."""
    return replace(Policy.from_spec(spec, older_than_days=0), retain_last=1, compact_min_input_files=2)


@pytest.fixture(scope="module")
def lake(spark, spec, tmp_path_factory) -> Settings:
    """An isolated lakehouse: its own home and SQLite catalog, registered in the running session."""
    return isolated_lake(spark, spec, tmp_path_factory.mktemp("maintenance-home"), CATALOG)


def _fq(ident: str) -> str:
    return f"{CATALOG}.{ident}"


def _head(spark, ident: str) -> int:
    return spark.sql(
        f"SELECT snapshot_id FROM {_fq(ident)}.refs WHERE name = 'main' AND type = 'BRANCH'"
    ).collect()[0][0]


def _snapshots(spark, ident: str) -> set[int]:
    return {r[0] for r in spark.table(f"{_fq(ident)}.snapshots").select("snapshot_id").collect()}


def _rows(spark, ident: str, version: int | str | None = None) -> list[tuple]:
    """(doc_id, run_id) of the day; at a snapshot id, or a tag or branch name, when ``version`` is given."""
    as_of = "" if version is None else f" VERSION AS OF {version!r}"
    return sorted(
        tuple(r)
        for r in spark.sql(
            f"SELECT doc_id, run_id FROM {_fq(ident)}{as_of} WHERE dt = DATE '{DAY}'"
        ).collect()
    )


def _orphan(folder: Path, name: str, age_hours: float) -> Path:
    """A file no snapshot references, like one a killed job left, last modified ``age_hours`` ago."""
    path = folder / name
    path.write_bytes(b"PAR1 not referenced by any snapshot" * 100)
    mtime = time.time() - age_hours * 3600
    os.utime(path, (mtime, mtime))
    return path


def _gate_attempts(spark, n: int) -> None:
    """``n`` appends to ``ops.quality_results``, one small file each, as repeated gate attempts of a day make."""
    schema = QUALITY_RESULTS.spark_schema(exclude=RUN_COLUMNS)
    for i in range(n):
        row = {c: None for c in QUALITY_RESULTS.column_names if c not in RUN_COLUMNS} | {"job": "silver"}
        df = stamp(spark.createDataFrame([row], schema), DAY, f"attempt_{i}")
        df.select(*QUALITY_RESULTS.column_names).writeTo(_fq(QUALITY_RESULTS.ident)).append()


def _data_files(spark, ident: str) -> int:
    files = spark.table(f"{_fq(ident)}.files").where(f"partition.dt = DATE '{DAY}'")
    return files.count()


@pytest.fixture(scope="module")
def maintained(spark, spec, lake):
    generate(lake.landing, [DAY], docs_per_source=4)
    ingest_day(RunContext(spark, spec, lake, DAY, "first"))
    refine_day(RunContext(spark, spec, lake, DAY, "first"))
    tokenize_day(RunContext(spark, spec, lake, DAY, "first"))
    first = {"bronze": _head(spark, BRONZE), "gold": _head(spark, GOLD)}
    # A dataset version tags gold's snapshot of the first build (dataset_<name>).
    m = dataset.create(
        open_catalog(lake), spec, lake, dataset.Request("maint-v1", DAY, DAY, {}, seq_len=32, seed=1)
    )
    # A branch at bronze's first snapshot, as a failed gate leaves its write-audit-publish branch.
    spark.sql(
        f"ALTER TABLE {_fq(BRONZE)} CREATE BRANCH `{BRANCH}` AS OF VERSION {first['bronze']} RETAIN 7 DAYS"
    )
    # Reruns replace every row of the day: bronze twice, gold once (silver is not rerun: it would only be slower).
    ingest_day(RunContext(spark, spec, lake, DAY, "second"))
    second = _head(spark, BRONZE)
    tokenize_day(RunContext(spark, spec, lake, DAY, "second"))
    ingest_day(RunContext(spark, spec, lake, DAY, "third"))
    old_rows = {
        "bronze_first": _rows(spark, BRONZE, first["bronze"]),
        "bronze_second": _rows(spark, BRONZE, second),
        "gold_first": _rows(spark, GOLD, first["gold"]),
    }
    current = {t: _rows(spark, t) for t in LAYERS}
    data = Path(urlsplit(load(open_catalog(lake), BRONZE).location()).path) / "data"
    stale = _orphan(data, "stale-orphan.parquet", age_hours=48)
    fresh = _orphan(data, "fresh-orphan.parquet", age_hours=1)
    _gate_attempts(spark, 3)
    # Zero retention, only main's head kept; compaction of any partition with two small files or more.
    result = maintain(RunContext(spark, spec, lake, DAY, "maintenance_test"), zero_retention(spec))
    return {
        "first": first,
        "second": second,
        "old_rows": old_rows,
        "current": current,
        "manifest": m,
        "stale": stale,
        "fresh": fresh,
        "result": result,
    }


def test_replaced_rows_are_gone_from_time_travel(spark, maintained):
    second = maintained["second"]
    # The second ingest's rows were readable by time travel until maintenance ...
    assert {r[1] for r in maintained["old_rows"]["bronze_second"]} == {"second"}
    assert second not in _snapshots(spark, BRONZE)
    with pytest.raises(Exception, match=str(second)):
        _rows(spark, BRONZE, second)
    # ... and of bronze's history only main's head and the branch's snapshot are left.
    assert _snapshots(spark, BRONZE) == {_head(spark, BRONZE), maintained["first"]["bronze"]}


def test_current_rows_are_unchanged(spark, maintained):
    for ident in LAYERS:
        assert _rows(spark, ident) == maintained["current"][ident], ident
    assert {r[1] for r in maintained["current"][BRONZE]} == {"third"}
    assert {r[1] for r in maintained["current"][GOLD]} == {"second"}


def test_a_dataset_tag_keeps_its_snapshot_and_rebuilds_identically(spark, lake, maintained, tmp_path):
    m, gold_first = maintained["manifest"], maintained["first"]["gold"]
    assert m["input_snapshots"][GOLD] == gold_first != _head(spark, GOLD)
    assert gold_first in _snapshots(spark, GOLD)
    assert load(open_catalog(lake), GOLD).metadata.refs["dataset_maint-v1"].snapshot_id == gold_first
    assert _rows(spark, GOLD, "dataset_maint-v1") == maintained["old_rows"]["gold_first"]
    built = dataset.rebuild(open_catalog(lake), lake, "maint-v1", tmp_path / "again")
    assert built["sha256"] == m["sha256"]
    folder = dataset.dataset_dir(lake, "maint-v1")
    for shard in m["shards"]:
        assert (tmp_path / "again" / shard["file"]).read_bytes() == (folder / shard["file"]).read_bytes()


def test_a_branch_keeps_its_snapshot(spark, maintained):
    assert maintained["first"]["bronze"] in _snapshots(spark, BRONZE)
    assert _rows(spark, BRONZE, BRANCH) == maintained["old_rows"]["bronze_first"]


def test_only_orphans_past_the_safe_age_are_deleted(maintained):
    assert not maintained["stale"].exists()
    assert maintained["fresh"].exists()
    assert maintained["result"]["by_table"][BRONZE]["orphan_files"] == 1


def test_run_audit_records_what_was_removed(lake, maintained):
    rows = read_day(open_catalog(lake), "ops.run_audit", DAY).to_pylist()
    mine = {r["step"]: r for r in rows if r["job"] == "maintenance"}
    assert set(mine) == {t.ident for t in ALL_TABLES} | {"*"}
    assert all(r["run_id"] == "maintenance_test" for r in mine.values())
    total = json.loads(mine["*"]["detail"])
    assert total["files_removed"] > 0 and total["bytes_removed"] > 0 and total["failed"] == {}
    assert total["files_removed"] == maintained["result"]["files_removed"]
    bronze = json.loads(mine[BRONZE]["detail"])
    assert bronze["snapshots_expired"] >= 1 and maintained["second"] in bronze["expired_snapshot_ids"]
    assert bronze["expired_files"] > 0 and bronze["expired_bytes"] > 0
    # The files that left the table's metadata are the ones Iceberg counts as deleted.
    expire = bronze["procedures"]["expire_snapshots"][0]
    assert bronze["expired_files"] == sum(expire.values()) > 0
    assert mine[BRONZE]["bytes_in"] - mine[BRONZE]["bytes_out"] == bronze["bytes_removed"]


def test_small_files_are_compacted(spark, maintained):
    got = maintained["result"]["by_table"][QUALITY_RESULTS.ident]
    assert got["data_files_rewritten"] == 3 and got["bytes_rewritten"] > 0
    assert _data_files(spark, QUALITY_RESULTS.ident) == 1
    assert spark.table(_fq(QUALITY_RESULTS.ident)).where(f"dt = DATE '{DAY}'").count() == 3


def test_a_second_run_removes_no_data(spark, spec, lake, maintained):
    # Another audit day: a run replaces the maintenance rows of its own day, as any job's rerun does.
    later = DAY + timedelta(days=1)
    tables = [BRONZE, GOLD, QUALITY_RESULTS.ident]
    again = maintain(
        RunContext(spark, spec, lake, later, "maintenance_again"), zero_retention(spec), tables=tables
    )
    assert again["data_files_rewritten"] == 0, again
    for ident in (BRONZE, GOLD):
        assert again["by_table"][ident]["files_removed"] == again["by_table"][ident]["snapshots_expired"] == 0
    # The compaction's own snapshot was newer than the first run's cut-off: only its metadata goes now.
    rows = read_day(open_catalog(lake), "ops.run_audit", later).to_pylist()
    compacted = next(json.loads(r["detail"]) for r in rows if r["step"] == QUALITY_RESULTS.ident)
    assert compacted["snapshots_expired"] == 1
    assert compacted["procedures"]["expire_snapshots"][0]["deleted_data_files_count"] == 0
    assert _data_files(spark, QUALITY_RESULTS.ident) == 1


def test_a_snapshot_an_unpublished_day_pins_stays_until_the_day_publishes(spark, spec, lake, maintained):
    """A silver run killed after its writes reached main, before its ``published`` row: readers of the day
    stay on the snapshot its ``started`` row pinned, so maintenance keeps that snapshot until a run of the day
    publishes."""
    before = _head(spark, SILVER)
    publications.record(spark, lake, "silver", DAY, "killed", [SILVER], "started")
    refine_day(RunContext(spark, spec, lake, DAY, "killed"))
    assert _head(spark, SILVER) != before

    first_audit = DAY + timedelta(days=2)
    maintain(
        RunContext(spark, spec, lake, first_audit, "maintenance_pinned"),
        zero_retention(spec),
        tables=[SILVER],
    )
    assert before in _snapshots(spark, SILVER)
    read = read_day(open_catalog(lake), SILVER, DAY, ("run_id",))
    assert set(read.column("run_id").to_pylist()) == {"first"}
    rows = read_day(open_catalog(lake), "ops.run_audit", first_audit).to_pylist()
    detail = next(json.loads(r["detail"]) for r in rows if r["step"] == SILVER)
    assert detail["kept_for_days"] == {DAY.isoformat(): before}

    # The retry publishes the day: the pin is gone and the next run expires the snapshot.
    publications.record(spark, lake, "silver", DAY, "retry", [SILVER])
    maintain(
        RunContext(spark, spec, lake, DAY + timedelta(days=3), "maintenance_unpinned"),
        zero_retention(spec),
        [SILVER],
    )
    assert _snapshots(spark, SILVER) == {_head(spark, SILVER)}
    read = read_day(open_catalog(lake), SILVER, DAY, ("run_id",))
    assert set(read.column("run_id").to_pylist()) == {"killed"}


def test_the_cli_and_airflow_submit_the_maintenance_entry_point(spec, settings):
    from llm_lakehouse.spark.runner import parse_args
    from llm_lakehouse.spark.submit import spark_submit_command

    cmd = spark_submit_command(settings, spec, "maintenance", "2026-06-02", "r", ["--older-than-days", "0"])
    app = next(i for i, c in enumerate(cmd) if c.endswith(".py"))
    assert Path(cmd[app]).name == "table_maintenance.py" and Path(cmd[app]).exists()
    assert cmd[cmd.index("--name") + 1] == f"{spec.name}.maintenance"
    args = parse_args(cmd[app + 1 :], lambda p: p.add_argument("--older-than-days", type=float))
    assert args.older_than_days == 0 and args.date == date(2026, 6, 2)
    policy = Policy.from_spec(spec, older_than_days=args.older_than_days)
    assert policy.expire_before > policy.orphans_before  # snapshots: no retention; orphans: still 24 hours
    default = Policy.from_spec(spec)
    assert (default.retain_last, default.target_file_size_bytes) == (5, 128 << 20)


def test_the_spec_refuses_an_unsafe_orphan_age(tmp_path):
    from llm_lakehouse.core.settings import REPO_ROOT
    from llm_lakehouse.core.spec import SpecError, load_spec

    text = (REPO_ROOT / "pipelines" / "corpus_nightly.yaml").read_text()
    bad = tmp_path / "spec.yaml"
    bad.write_text(text.replace("orphan_min_age_hours: 24", "orphan_min_age_hours: 1", 1))
    with pytest.raises(
        SpecError, match=r"maintenance\.orphan_min_age_hours: Input should be greater than or equal to 24"
    ):
        load_spec(bad)


def test_rows_past_retention_are_deleted_and_a_pinned_dataset_is_reported(spark, spec, lake, maintained):
    """support's raw records are kept 365 days, web's 1825 (the spec's sources): a day 400 days old loses its
    support rows from main, keeps its web rows, and a tag holding the old rows is reported, not moved."""
    old = DAY - timedelta(days=400)
    generate(lake.landing, [old], docs_per_source=3)
    ingest_day(RunContext(spark, spec, lake, old, "old"))
    by_source = dict(
        spark.sql(
            f"SELECT source, count(*) FROM {_fq(BRONZE)} WHERE dt = DATE '{old}' GROUP BY source"
        ).collect()
    )
    assert by_source["support"] > 0 and by_source["web"] > 0
    spark.sql(f"ALTER TABLE {_fq(BRONZE)} CREATE TAG `dataset_retention_probe`")
    result = maintain(RunContext(spark, spec, lake, DAY, "retention_test"), zero_retention(spec), [BRONZE])
    left = dict(
        spark.sql(
            f"SELECT source, count(*) FROM {_fq(BRONZE)} WHERE dt = DATE '{old}' GROUP BY source"
        ).collect()
    )
    assert "support" not in left and left["web"] == by_source["web"] and left["docs"] == by_source["docs"]
    assert result["by_table"][BRONZE]["rows_past_retention"] == by_source["support"]
    tagged = spark.sql(
        f"SELECT count(*) FROM {_fq(BRONZE)} VERSION AS OF 'dataset_retention_probe' "
        f"WHERE dt = DATE '{old}' AND source = 'support'"
    ).collect()[0][0]
    assert tagged == by_source["support"]  # the pinned version still reads them: reported below
    audit = spark.sql(
        f"SELECT detail FROM {_fq('ops.run_audit')} WHERE run_id = 'retention_test' AND step = '{BRONZE}'"
    ).collect()
    rules = json.loads(audit[0][0])["retention"]["rules"]
    support = next(r for r in rules if r["source"] == "support")
    assert (
        support["pinned_by"] == ["dataset_retention_probe"]
        and support["declared_in"] == "sources.1.retention_days"
    )
    assert support["before"] == (DAY - timedelta(days=365)).isoformat()
