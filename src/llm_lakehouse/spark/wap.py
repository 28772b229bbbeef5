"""Write-audit-publish: a job writes its day to an Iceberg branch, the quality gate checks it there, and only
then does ``main`` (what every consumer reads) move.

- **Write**: the job body runs with ``spark.wap.branch`` set, so every write to a table with
  ``write.wap.enabled`` (bronze, silver, gold: ``tables.WAP_LAYERS``) lands on the branch
  ``wap_<stage>_<run id>_<attempt>``, created from main's current snapshot; the job's own reads of those
  tables read the branch too. ``ops.*`` tables (run audit, quality results) are logs and go to main.
- **Audit**: ``spark/gate.py`` runs the spec's rules with Great Expectations on each table's day as the
  branch holds it; results go to ``ops.quality_results`` (always, also when the gate fails), to the GX
  Data Docs and to DataHub as assertions.
- **Publish**: every table the job wrote is fast-forwarded to its branch (main gains exactly the job's
  snapshots); if main moved meanwhile (a concurrent writer on another day), the day is copied from the
  branch to main in one overwrite instead. The branches are then dropped.

- **Record**: once every table has moved, one append to ``ops.publications`` (``spark/publications.py``)
  records each of the stage's tables' snapshots: the day's commit point (a ``started`` row, written before
  the job's first write, pins the state before it). Iceberg has no multi-table commit on the SQL catalogs,
  so readers resolve a day's tables through those rows: a job killed between two fast-forwards (or before
  the record) leaves readers on the day's state before it, consistent, and its retry rewrites and
  republishes everything.

On a failed gate nothing is published: main keeps its snapshot, the branches stay for
``quality.keep_failed_branches_days`` (``SELECT ... FROM t VERSION AS OF '<branch>'``) and are dropped by a
later job on the table, and the job raises ``QualityGateFailed`` naming every failed expectation and its
observed value.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pyspark.sql import SparkSession

from llm_lakehouse.core import faults
from llm_lakehouse.core.catalog import load, open_catalog
from llm_lakehouse.core.errors import QualityGateFailed
from llm_lakehouse.core.reports import data_docs_index, report_path, safe_run_id
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.tables import QUALITY_RESULTS, TABLES
from llm_lakehouse.spark import publications
from llm_lakehouse.spark.common import day_filter, stamp
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.drift import record_results, run_checks
from llm_lakehouse.spark.gate import Outcome, check_table, to_json, update_data_docs

log = logging.getLogger(__name__)
PREFIX = "wap_"
WAP_BRANCH_CONF = "spark.wap.branch"


@dataclass
class Gate:
    outcomes: list[Outcome]
    accept_warnings: bool

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def blocking(self) -> list[Outcome]:
        return [o for o in self.failed if o.level == "blocking"]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.failed if o.level == "warning"]

    @property
    def outcome(self) -> str:
        if self.blocking or (self.warnings and not self.accept_warnings):
            return "blocked"
        return "accepted_warnings" if self.warnings else "published"

    def summary(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "checks": len(self.outcomes),
            "failed": [o.name for o in self.failed],
        }


def _fq(settings: Settings, table: str) -> str:
    return f"{settings.catalog.name}.{table}"


def branches(settings: Settings, table: str) -> dict[str, dict[str, Any]]:
    """The table's write-audit-publish branches: name -> snapshot_id, committed_at (epoch ms), max age (ms).

    Read from the table's metadata with pyiceberg (milliseconds): a Spark query on the ``refs`` and
    ``snapshots`` metadata tables is a Spark job each, ~0.4 s apiece in a fresh JVM, and a run asks 3-4 times
    per table."""
    t = load(open_catalog(settings), table)
    out = {}
    for name, ref in t.metadata.refs.items():
        if ref.snapshot_ref_type != "branch" or not name.startswith(PREFIX):
            continue
        snapshot = t.snapshot_by_id(ref.snapshot_id)
        out[name] = {
            "name": name,
            "snapshot_id": ref.snapshot_id,
            "max_age_ms": ref.max_ref_age_ms,
            "committed_at": snapshot.timestamp_ms if snapshot else None,
        }
    return out


def expire_branches(
    spark: SparkSession, spec: PipelineSpec, settings: Settings, tables: list[str]
) -> set[str]:
    """Drops branches older than their retention (failed gates) or than ``keep_failed_branches_days``;
    returns the names of the branches that remain."""
    now_ms = time.time() * 1000
    default_ms = spec.quality.keep_failed_branches_days * 86_400_000
    dropped, remaining = [], set()
    for table in tables:
        for name, ref in branches(settings, table).items():
            age_ms = now_ms - ref["committed_at"] if ref["committed_at"] else 0
            if age_ms > (ref["max_age_ms"] or default_ms):
                spark.sql(f"ALTER TABLE {_fq(settings, table)} DROP BRANCH IF EXISTS `{name}`")
                dropped.append(f"{table}@{name}")
            else:
                remaining.add(name)
    if dropped:
        log.info("dropped expired write-audit-publish branches: %s", ", ".join(dropped))
    return remaining


def new_branch(stage: str, run_id: str, taken: set[str]) -> str:
    """``wap_<stage>_<run id>_<n>``, not in ``taken`` (the tables' branches): a fresh branch per attempt, so
    a retry never reuses a half-written one."""
    base = f"{PREFIX}{stage}_{safe_run_id(run_id)}_"
    attempt = 1
    while f"{base}{attempt}" in taken:
        attempt += 1
    return f"{base}{attempt}"


def publish(spark: SparkSession, settings: Settings, table: str, branch: str, day: date) -> str:
    """Moves main to the branch (fast-forward), or copies the day over when main has moved on since."""
    name = table  # the procedure takes the table without the catalog
    try:
        spark.sql(
            f"CALL {settings.catalog.name}.system.fast_forward(table => '{name}', branch => 'main', to => '{branch}')"
        )
        how = "fast-forward"
    except Exception as exc:
        if "not an ancestor" not in str(exc):
            raise
        log.warning("%s: main moved since %s was created; copying the day from the branch", table, branch)
        rows = spark.read.option("branch", branch).table(_fq(settings, table)).where(day_filter(day))
        rows.writeTo(_fq(settings, table)).overwrite(day_filter(day))
        how = "copy"
    spark.sql(f"ALTER TABLE {_fq(settings, table)} DROP BRANCH IF EXISTS `{branch}`")
    return how


def keep_for_inspection(
    spark: SparkSession, spec: PipelineSpec, settings: Settings, table: str, branch: str
) -> None:
    """Sets the branch's retention, so Iceberg's own snapshot expiry removes it in time too."""
    days = max(1, round(spec.quality.keep_failed_branches_days))
    # AS OF is required: REPLACE BRANCH without it would point the branch at main's snapshot.
    snapshot = branches(settings, table)[branch]["snapshot_id"]
    spark.sql(
        f"ALTER TABLE {_fq(settings, table)} REPLACE BRANCH `{branch}` AS OF VERSION {snapshot} RETAIN {days} DAYS"
    )


def result_rows(stage: str, branch: str | None, gate: Gate) -> list[dict[str, Any]]:
    """The gate's rows of ``ops.quality_results``, less the run's stamp (``dt``, ``run_id``,
    ``processed_at``); the Spark path and the empty day (``empty_day.py``) write the same rows."""
    return [
        {
            "job": stage,
            "table_name": o.table,
            "expectation": o.name,
            "expect": o.rule.expect,
            "gx_type": o.gx_type,
            "column_name": o.column,
            "level": o.level,
            "success": o.success,
            "observed": to_json(o.observed),
            "kwargs": to_json(o.kwargs),
            "branch": branch,
            "outcome": gate.outcome,
        }
        for o in gate.outcomes
    ]


def gate_report(stage: str, day: date, run_id: str, branch: str | None, gate: Gate) -> dict[str, Any]:
    """The gate's report (``report_path``), before what it published or its message is added."""
    return {
        "stage": stage,
        "date": day.isoformat(),
        "run_id": run_id,
        "branch": branch,
        **gate.summary(),
        "finished_at": time.time(),
    }


def record(
    spark: SparkSession, settings: Settings, stage: str, day: date, run_id: str, branch: str, gate: Gate
) -> None:
    """Appends the gate's results to ``ops.quality_results`` (a log: every attempt keeps its rows)."""
    run_columns = ("dt", "run_id", "processed_at")
    columns = [c for c in QUALITY_RESULTS.column_names if c not in run_columns]
    rows = [tuple(row[c] for c in columns) for row in result_rows(stage, branch, gate)]
    schema = QUALITY_RESULTS.spark_schema(exclude=run_columns)
    df = stamp(spark.createDataFrame(rows, schema), day, run_id)
    df.select(*QUALITY_RESULTS.column_names).writeTo(_fq(settings, QUALITY_RESULTS.ident)).append()


def gate_message(
    stage: str, day: date, branch: str | None, gate: Gate, settings: Settings, tables: list[str]
) -> str:
    """The blocked gate's message: each failed check, how to publish anyway if allowed, where to look."""
    lines = [f"quality gate failed for {stage} {day}: nothing was published (main is unchanged)"]
    lines += [f"  - {o.line()}" for o in gate.failed]
    if not gate.blocking:
        lines.append("  only warning-level checks failed: rerun with accept_quality_warnings=true to publish")
    first = tables[0] if tables else "<table>"
    if branch:
        lines.append(
            f"  the written day is kept on branch {branch!r}: SELECT * FROM {_fq(settings, first)} VERSION AS OF '{branch}'"
        )
    lines.append(f"  Data Docs: {data_docs_index(settings).as_uri()}")
    return "\n".join(lines)


def write_audit_publish(
    ctx: RunContext, stage: str, tables: list[str], body: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Runs ``body`` (the job's writes) on a branch, gates each of ``tables``, publishes or raises."""
    spark, spec, settings, day, run_id = ctx.spark, ctx.spec, ctx.settings, ctx.day, ctx.run_id
    stage_tables, tables = list(tables), [t for t in tables if TABLES[t].wap]
    if stage_tables:
        # Readers stay on the day's state before this run until its published row (spark/publications.py).
        publications.record(spark, settings, stage, day, run_id, stage_tables, "started")
    phase = ctx.timings.phase
    if spec.quality.publish == "direct" or not tables:
        with phase("write"):
            result = body()
        if stage_tables:
            publications.record(spark, settings, stage, day, run_id, stage_tables)
        return result
    branch = new_branch(stage, run_id, expire_branches(spark, spec, settings, tables))
    log.info("write-audit-publish: %s writes %s to branch %s", stage, ", ".join(tables), branch)
    spark.conf.set(WAP_BRANCH_CONF, branch)
    try:
        with phase("write"):
            result = body()
        started = time.monotonic()
        with phase("gate"):
            # Only the tables the job wrote: one it left alone has no branch and nothing new to check.
            written = [t for t in tables if branch in branches(settings, t)]
            outcomes = [o for t in written for o in check_table(ctx, t)]
            update_data_docs(ctx)
            # The day against its trailing window of published days, on what the branch holds.
            with phase("drift"):
                drifted, drift_results = run_checks(ctx, stage) if written else ([], [])
            outcomes += drifted
    finally:
        spark.conf.unset(WAP_BRANCH_CONF)
    gate = Gate(outcomes, ctx.accept_warnings)
    for o in outcomes:
        (log.info if o.success else log.warning)("quality: %s", o.line())
    log.info(
        "quality: %d checks in %.1f s, Data Docs %s",
        len(outcomes),
        time.monotonic() - started,
        data_docs_index(settings).as_uri(),
    )
    record(spark, settings, stage, day, run_id, branch, gate)
    record_results(ctx, stage, drift_results, gate.outcome)
    report = gate_report(stage, day, run_id, branch, gate) | {"data_docs": str(data_docs_index(settings))}
    # DataHub assertions go with the run's lineage (runner.py): one write to the metadata store per run.
    ctx.assertions.extend(o.record() for o in outcomes)
    path = report_path(settings, run_id, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gate.outcome == "blocked":
        for t in written:
            keep_for_inspection(spark, spec, settings, t, branch)
        message = gate_message(stage, day, branch, gate, settings, written)
        path.write_text(json.dumps(report | {"message": message}, indent=2))
        raise QualityGateFailed(message)
    faults.point("publish:start")
    published = {}
    with phase("publish"):
        for t in written:
            published[t] = publish(spark, settings, t, branch, day)
            faults.point(f"publish:moved:{t}")
        # The commit point: until this append, readers see the day's previous publication.
        publications.record(spark, settings, stage, day, run_id, stage_tables)
    faults.point("publish:recorded")
    path.write_text(json.dumps(report | {"published": published}, indent=2))
    return result | {"quality": gate.summary() | {"branch": branch, "published": published}}
