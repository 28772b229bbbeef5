"""Table maintenance: compact, rewrite manifests, expire snapshots and remove orphan files on every table.

First, rows past their retention (the spec's sources and data products, ``governance.retention_rules``) are
deleted as of the run's day; a dataset version's tag that still holds some is reported (``pinned_by``), never
moved. Then each lakehouse table (``tables.ALL_TABLES``) gets Iceberg's Spark procedures, in this order:

1. ``rewrite_data_files``: bin-packs a partition's small data files into files of the spec's target size
   (only partitions with ``compact_min_input_files`` small files or more);
2. ``rewrite_manifests``: merges small manifests;
3. ``expire_snapshots``: drops snapshots older than ``snapshot_retention_days`` except main's last
   ``retain_last``, and deletes the files only they referenced. Rows a rerun replaced are then no longer
   readable by time travel. Snapshots a tag or branch points at stay, whatever their age: a dataset
   version's tag ``dataset_<name>`` (dataset.py) and a write-audit-publish branch (spark/wap.py; a failed
   gate's branch is dropped here once its own ``RETAIN`` age has passed). So does a snapshot that a day's
   ``started`` row in ``ops.publications`` pins (a run killed or blocked before publishing,
   spark/publications.py): the cut-off moves back to it, since readers of that day read it until a run of
   the day publishes, and the audit names the day;
4. ``remove_orphan_files``: deletes files in the table's folder that no snapshot references and that are
   older than ``orphan_min_age_hours`` (leftovers of killed jobs).

Compaction comes first so that the small files it replaced, which only older snapshots reference, are deleted
in the same run when the retention allows; the compaction's own snapshot is newer than the cut-off and is
expired by a later run.
Everything commits to main directly: besides the retention deletes, which only remove whole days the policy no
longer allows, maintenance changes no row, so there is nothing for a quality gate to check and it never goes
through write-audit-publish. Every table is attempted even when one fails; the job
then fails after writing ``ops.run_audit``, naming the tables.

``ops.run_audit`` gets one row per table (``job='maintenance'``, ``step=<table>``) and a ``'*'`` row:
``bytes_in`` is what the table's files took before (reachable files plus orphans), ``bytes_out`` what its
reachable files take after; ``detail`` holds the files and bytes removed, the snapshots expired and each
procedure's own output.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from llm_lakehouse.core.catalog import load, open_catalog, pinned_snapshots
from llm_lakehouse.core.governance import retention_rules
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec, load_spec
from llm_lakehouse.core.tables import ALL_TABLES
from llm_lakehouse.spark.audit import Clock, write_audit
from llm_lakehouse.spark.common import refs_holding
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.runner import RESULT_PREFIX, catalog_lock, parse_args
from llm_lakehouse.spark.session import ensure_tables, spark_session

JOB = "maintenance"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    """What one maintenance run does, resolved to absolute cut-offs (UTC) once per run."""

    expire_before: datetime
    retain_last: int
    orphans_before: datetime
    compact: bool
    target_file_size_bytes: int
    compact_min_input_files: int
    rewrite_manifests: bool

    @classmethod
    def from_spec(
        cls, spec: PipelineSpec, now: datetime | None = None, older_than_days: float | None = None
    ) -> Policy:
        """``older_than_days`` overrides the spec's ``snapshot_retention_days`` (``lakehouse maintain``)."""
        m = spec.maintenance
        now = now or datetime.now(UTC).replace(tzinfo=None)
        days = m.snapshot_retention_days if older_than_days is None else older_than_days
        return cls(
            expire_before=now - timedelta(days=days),
            retain_last=m.retain_last,
            orphans_before=now - timedelta(hours=m.orphan_min_age_hours),
            compact=m.compact,
            target_file_size_bytes=m.target_file_size_mb * 1024 * 1024,
            compact_min_input_files=m.compact_min_input_files,
            rewrite_manifests=m.rewrite_manifests,
        )


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        # Read in the session time zone, which every lakehouse session sets to UTC.
        return f"TIMESTAMP '{value.isoformat(sep=' ', timespec='milliseconds')}'"
    if isinstance(value, dict):
        return "map(" + ", ".join(f"{_sql_literal(k)}, {_sql_literal(v)}" for k, v in value.items()) + ")"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def call(spark: SparkSession, settings: Settings, procedure: str, **args: Any) -> list[dict[str, Any]]:
    """``CALL <catalog>.system.<procedure>(name => value, ...)``; its output rows as dicts."""
    named = ", ".join(f"{k} => {_sql_literal(v)}" for k, v in args.items())
    rows = spark.sql(f"CALL {settings.catalog.name}.system.{procedure}({named})").collect()
    return [r.asDict() for r in rows]


def _reachable(spark: SparkSession, fq: str) -> tuple[DataFrame, set[int]]:
    """Every data, delete and manifest file and manifest list some snapshot of the table references, with
    its size (``path``, ``bytes``); and the table's snapshot ids."""
    files = spark.table(f"{fq}.all_files").select(
        F.col("file_path").alias("path"), F.col("file_size_in_bytes").alias("bytes")
    )
    manifests = spark.table(f"{fq}.all_manifests").select("path", F.col("length").alias("bytes"))
    snapshots = spark.table(f"{fq}.snapshots").select("snapshot_id", "manifest_list").collect()
    # Metadata tables give no manifest list's size: one stat per snapshot, a few dozen per table.
    lists = _file_sizes(spark, fq, [r["manifest_list"] for r in snapshots if r["manifest_list"]])
    lists_df = spark.createDataFrame(list(lists.items()), "path STRING, bytes BIGINT")
    return files.unionByName(manifests).unionByName(lists_df).distinct(), {
        r["snapshot_id"] for r in snapshots
    }


def _iceberg_table(spark: SparkSession, fq: str) -> Any:
    """The table's Java ``org.apache.iceberg.Table`` (metadata only, no Spark job)."""
    jvm = spark.sparkContext._jvm
    return jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, fq)


def _file_sizes(spark: SparkSession, fq: str, paths: list[str]) -> dict[str, int]:
    """Sizes through the table's own FileIO (local, HDFS or S3 alike); a file already gone counts 0."""
    if not paths:
        return {}
    io = _iceberg_table(spark, fq).io()
    sizes = {}
    for p in paths:
        try:
            sizes[p] = int(io.newInputFile(p).getLength())
        except Exception:
            sizes[p] = 0
    return sizes


def _sum(rows: list[dict[str, Any]], key: str) -> int:
    return sum(int(r.get(key) or 0) for r in rows)


def _expiry_cutoff(
    settings: Settings, ident: str, policy: Policy, pins: dict[date, int]
) -> tuple[datetime, dict[str, int]]:
    """The policy's cut-off, moved back to the oldest snapshot an unpublished day pins (expiry removes only
    snapshots strictly older than it); and those days, for the audit."""
    cutoff, kept = policy.expire_before, {}
    if pins:
        table = load(open_catalog(settings), ident)
        for day, sid in sorted(pins.items()):
            snapshot = table.snapshot_by_id(sid)
            if snapshot is None:  # expired before this rule existed: nothing left to keep
                continue
            kept[day.isoformat()] = sid
            cutoff = min(
                cutoff, datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC).replace(tzinfo=None)
            )
    if kept:
        log.warning(
            "maintenance: %s keeps the snapshots of days not published since a run started (%s): "
            "rerun those days to publish them and release the snapshots",
            ident,
            ", ".join(kept),
        )
    return cutoff, kept


def maintain_table(
    spark: SparkSession,
    settings: Settings,
    ident: str,
    policy: Policy,
    pins: dict[date, int] | None = None,
) -> dict[str, Any]:
    """Runs the four procedures on one table; returns their outputs and what was removed. ``pins``: the
    snapshots unpublished days of the table pin (``catalog.pinned_snapshots``), which expiry keeps."""
    fq = f"{settings.catalog.name}.{ident}"
    out: dict[str, Any] = {}
    if _iceberg_table(spark, fq).currentSnapshot() is None:
        # Never written: nothing to compact or expire (what a killed first write left goes once one commits).
        return {k: 0 for k in (*TOTALS, "bytes_before", "bytes_after")} | {
            "procedures": {},
            "kept_for_days": {},
        }
    if policy.compact:
        out["rewrite_data_files"] = call(
            spark,
            settings,
            "rewrite_data_files",
            table=ident,
            options={
                "target-file-size-bytes": str(policy.target_file_size_bytes),
                "min-input-files": str(policy.compact_min_input_files),
            },
        )
    if policy.rewrite_manifests:
        out["rewrite_manifests"] = call(spark, settings, "rewrite_manifests", table=ident)

    # Materialized before the expiry: evaluated after it, the same query would read the new metadata.
    reachable, snapshots_before = _reachable(spark, fq)
    before = reachable.withColumnRenamed("bytes", "before").localCheckpoint()
    cutoff, kept = _expiry_cutoff(settings, ident, policy, pins or {})
    out["expire_snapshots"] = call(
        spark,
        settings,
        "expire_snapshots",
        table=ident,
        older_than=cutoff,
        retain_last=policy.retain_last,
    )
    reachable, snapshots_after = _reachable(spark, fq)
    gone = F.col("after").isNull()
    sizes = (
        before.join(reachable.withColumnRenamed("bytes", "after"), "path", "full")
        .agg(
            F.sum("before").alias("before"),
            F.sum("after").alias("after"),
            F.count(F.when(gone, 1)).alias("expired_files"),
            F.sum(F.when(gone, F.col("before"))).alias("expired_bytes"),
        )
        .collect()[0]
    )
    expired_snapshots = sorted(snapshots_before - snapshots_after)

    # A dry run first, for the sizes (the procedure reports only locations, and once deleted a file has none);
    # the deleting run only when there is something to delete, as there rarely is.
    # On S3 the images carry S3FileIO but no Hadoop S3 filesystem: list through the table's FileIO there.
    listing = {"prefix_listing": True} if settings.catalog.uses_s3 else {}
    orphan_args = {"table": ident, "older_than": policy.orphans_before, **listing}
    found = [
        r["orphan_file_location"]
        for r in call(spark, settings, "remove_orphan_files", **orphan_args, dry_run=True)
    ]
    orphan_sizes = _file_sizes(spark, fq, found)
    orphans = (
        [r["orphan_file_location"] for r in call(spark, settings, "remove_orphan_files", **orphan_args)]
        if found
        else []
    )
    out["remove_orphan_files"] = {"deleted": orphans}
    orphan_bytes = sum(orphan_sizes.get(p, 0) for p in orphans)
    expired_files, expired_bytes = int(sizes["expired_files"]), int(sizes["expired_bytes"] or 0)

    rewritten = out.get("rewrite_data_files", [])
    return {
        "files_removed": expired_files + len(orphans),
        "bytes_removed": expired_bytes + orphan_bytes,
        "expired_files": expired_files,
        "expired_bytes": expired_bytes,
        "snapshots_expired": len(expired_snapshots),
        "expired_snapshot_ids": expired_snapshots,
        "orphan_files": len(orphans),
        "orphan_bytes": orphan_bytes,
        "data_files_rewritten": _sum(rewritten, "rewritten_data_files_count"),
        "data_files_added": _sum(rewritten, "added_data_files_count"),
        "bytes_rewritten": _sum(rewritten, "rewritten_bytes_count"),
        "manifests_rewritten": _sum(out.get("rewrite_manifests", []), "rewritten_manifests_count"),
        "bytes_before": int(sizes["before"] or 0) + orphan_bytes,
        "bytes_after": int(sizes["after"] or 0),
        "kept_for_days": kept,
        "procedures": out,
    }


TOTALS = (
    "rows_past_retention",
    "files_removed",
    "bytes_removed",
    "snapshots_expired",
    "orphan_files",
    "data_files_rewritten",
    "bytes_rewritten",
    "manifests_rewritten",
)


def apply_retention(ctx: RunContext, tables: list[str]) -> dict[str, dict[str, Any]]:
    """Deletes the rows past their retention (``governance.retention_rules``: a source's raw records, a
    product's tables) as of the run's day, on main. Their files then go with the snapshot expiry that follows,
    except where a dataset version's tag pins a snapshot holding them: those tags are reported, never moved (a
    pinned dataset is rebuilt identically until its owner drops it)."""
    spark, settings = ctx.spark, ctx.settings
    out: dict[str, dict[str, Any]] = {}
    for rule in retention_rules(ctx.spec):
        if rule.table not in tables:
            continue
        fq = f"{settings.catalog.name}.{rule.table}"
        cutoff = ctx.day - timedelta(days=rule.days)
        where = f"dt < DATE '{cutoff.isoformat()}'" + (
            f" AND source = {_sql_literal(rule.source)}" if rule.source else ""
        )
        expired = spark.table(fq).where(where).count()
        if expired:
            spark.sql(f"DELETE FROM {fq} WHERE {where}")
        pinned = list(refs_holding(spark, fq, where, kind="TAG"))
        if pinned:
            log.warning(
                "retention: %s rows before %s%s are past %s days, but tags %s pin snapshots holding them: "
                "drop those dataset versions to let them expire",
                rule.table,
                cutoff,
                f" of {rule.source}" if rule.source else "",
                rule.days,
                pinned,
            )
        entry = out.setdefault(rule.table, {"rows_deleted": 0, "rules": []})
        entry["rows_deleted"] += expired
        entry["rules"].append(
            {
                "source": rule.source,
                "days": rule.days,
                "before": cutoff.isoformat(),
                "rows_deleted": expired,
                "pinned_by": pinned,
                "declared_in": rule.why,
            }
        )
    return out


def maintain(
    ctx: RunContext, policy: Policy | None = None, tables: list[str] | None = None
) -> dict[str, Any]:
    """Maintains ``tables`` (default: every lakehouse table) and records the run in ``ops.run_audit``
    under the run's day. Raises after the audit is written if any table failed."""
    spark, spec, settings = ctx.spark, ctx.spec, ctx.settings
    policy = policy or Policy.from_spec(spec)
    idents = tables or [t.ident for t in ALL_TABLES]
    clock = Clock()
    log.info(
        "maintenance: expiring snapshots before %s (keeping the last %d), orphans before %s, on %s",
        policy.expire_before,
        policy.retain_last,
        policy.orphans_before,
        ", ".join(idents),
    )
    by_table: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    audit = []
    # Rows past retention first: the expiry below then removes their files in the same run, where it may.
    retention = apply_retention(ctx, idents)
    pins = pinned_snapshots(open_catalog(settings))
    for ident in idents:
        table_clock = Clock()
        try:
            got = maintain_table(spark, settings, ident, policy, pins.get(ident))
        except Exception as exc:
            # The other tables still get their maintenance; the job fails at the end, naming this one.
            log.exception("maintenance of %s failed", ident)
            failed[ident] = f"{type(exc).__name__}: {str(exc)[:500]}"
            audit.append({"step": ident, "wall_s": table_clock.wall(), "detail": {"error": failed[ident]}})
            continue
        got["retention"] = retention.get(ident, {"rows_deleted": 0, "rules": []})
        got["rows_past_retention"] = got["retention"]["rows_deleted"]
        by_table[ident] = {k: got[k] for k in TOTALS}
        log.info("maintenance: %s %s", ident, by_table[ident])
        audit.append(
            {
                "step": ident,
                "bytes_in": got["bytes_before"],
                "bytes_out": got["bytes_after"],
                "wall_s": table_clock.wall(),
                "detail": {k: v for k, v in got.items() if k not in ("bytes_before", "bytes_after")},
            }
        )
    totals = {k: sum(t[k] for t in by_table.values()) for k in TOTALS}
    audit.append(
        {
            "step": "*",
            "bytes_in": sum(r.get("bytes_in") or 0 for r in audit),
            "bytes_out": sum(r.get("bytes_out") or 0 for r in audit),
            "wall_s": clock.wall(),
            "cpu_s": clock.cpu(),
            "detail": {
                **totals,
                "tables": len(idents),
                "failed": failed,
                "expire_before": policy.expire_before.isoformat(),
                "retain_last": policy.retain_last,
                "orphans_before": policy.orphans_before.isoformat(),
                "compact": policy.compact,
                "target_file_size_bytes": policy.target_file_size_bytes,
            },
        }
    )
    write_audit(ctx, JOB, audit)
    if failed:
        raise RuntimeError("maintenance failed on " + "; ".join(f"{t}: {why}" for t, why in failed.items()))
    return {"tables": len(idents), **totals, "by_table": by_table}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """spark-submit entry point. Not ``runner.run_job``: that wraps a body in write-audit-publish for a
    layer's tables and emits the layer's lineage, and maintenance is neither a layer nor a writer of rows."""

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--older-than-days",
            type=float,
            default=None,
            help="expire snapshots older than this instead of the spec's maintenance.snapshot_retention_days",
        )

    args = parse_args(argv, extra)
    spec = load_spec(Path(args.spec))
    settings = Settings.from_env().for_spec(spec)
    if args.older_than_days is not None and args.older_than_days < 0:
        raise SystemExit("--older-than-days must be >= 0")
    policy = Policy.from_spec(spec, older_than_days=args.older_than_days)
    # The embedded catalog takes one writing JVM at a time, and the procedures commit like any writer.
    with catalog_lock(settings):
        spark = spark_session(settings, f"{spec.name}.{JOB}")
        ensure_tables(spark, settings, spec)
        ctx = RunContext(spark, spec, settings, args.date, args.run_id, attempt=args.attempt)
        result = maintain(ctx, policy)
    result = {"stage": JOB, "date": args.date.isoformat(), "run_id": args.run_id} | result
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)
    sys.stdout.flush()
    return result
