"""``ops.run_audit``: what each run took in, kept and dropped, per step and per reason, with timings.

Reason rows are counted from the tables the run wrote (exact). Step rows for pipes come from a Spark
accumulator the Python workers add to after each batch (documents and bytes in/out, wall and CPU seconds):
a retried or speculative task adds twice, so they are figures for tuning, not for reconciliation.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable, Hashable
from typing import Any

from pyspark.accumulators import Accumulator, AccumulatorParam
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from llm_lakehouse.core.tables import RUN_AUDIT
from llm_lakehouse.spark.common import replace_rows, stamp
from llm_lakehouse.spark.context import RunContext

STEP_FIELDS = ("docs_in", "docs_out", "bytes_in", "bytes_out", "wall_s", "cpu_s")


class StepTotals(AccumulatorParam):
    """Sums ``{step: [docs_in, docs_out, bytes_in, bytes_out, wall_s, cpu_s]}`` (or any ``{key: [numbers]}``
    of a fixed length per key) across workers."""

    def zero(self, value: dict[str, list[float]]) -> dict[str, list[float]]:
        return {}

    def addInPlace(self, a: dict[str, list[float]], b: dict[str, list[float]]) -> dict[str, list[float]]:  # noqa: N802
        for step, values in b.items():
            a[step] = [x + y for x, y in zip(a.get(step, [0.0] * len(values)), values, strict=True)]
        return a


def step_accumulator(spark: SparkSession) -> Accumulator:
    return spark.sparkContext.accumulator({}, StepTotals())


def recorder(acc: Accumulator) -> Callable[[Hashable, list[float]], None]:
    """The callback a pipe chain calls on a worker after each step of each batch (``observe``: keyed by
    step) or with each batch's canary outcome (``on_canaries``: keyed by (policy, source))."""

    def observe(step: Hashable, values: list[float]) -> None:
        acc.add({step: values})

    return observe


def step_rows(order: list[str], totals: dict[str, list[float]]) -> list[dict[str, Any]]:
    rows = []
    for step in order:
        if step not in totals:
            continue
        v = dict(zip(STEP_FIELDS, totals[step], strict=True))
        rows.append(
            {
                "step": step,
                **{k: int(v[k]) for k in ("docs_in", "docs_out", "bytes_in", "bytes_out")},
                "docs_dropped": int(v["docs_in"] - v["docs_out"]),
                "wall_s": round(v["wall_s"], 3),
                "cpu_s": round(v["cpu_s"], 3),
            }
        )
    return rows


class Clock:
    """Wall and CPU seconds of the driver process since creation (CPU includes the driver's Python only)."""

    def __init__(self) -> None:
        self.wall0 = time.monotonic()
        self.cpu0 = _cpu()

    def wall(self) -> float:
        return round(time.monotonic() - self.wall0, 3)

    def cpu(self) -> float:
        return round(_cpu() - self.cpu0, 3)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def commits(spark: SparkSession) -> dict[str, Any]:
    """The Iceberg commits this driver made since the last call, from the catalog's metrics reporter
    (``CommitAttemptsReporter``, ``Settings.jars``): how many, and those Iceberg retried because another writer
    committed to the table first (its optimistic concurrency), with their attempts."""
    made = json.loads(spark.sparkContext._jvm.io.llmlakehouse.iceberg.CommitAttemptsReporter.drain())
    retried = [c for c in made if c["attempts"] > 1]
    return {"commits": len(made), "retried": retried}


def write_audit(ctx: RunContext, job: str, rows: list[dict[str, Any]]) -> None:
    """Replaces the (day, job) rows of ``ops.run_audit`` with ``rows`` in one commit. The ``*`` row's detail
    gets the Iceberg commits the run made up to here (``commits``)."""
    df = audit_frame(ctx.spark, job, rows)
    # One file per (day, job): readers get the rows in step order.
    replace_rows(
        stamp(df.coalesce(1), ctx.day, ctx.run_id), RUN_AUDIT, ctx.settings, ctx.day, F.col("job") == job
    )


def audit_frame(spark: SparkSession, job: str, rows: list[dict[str, Any]]) -> DataFrame:
    """``rows`` as ``ops.run_audit`` rows of ``job``, without the run columns."""
    cols = [c for c in RUN_AUDIT.column_names if c not in ("dt", "run_id", "processed_at")]
    made = commits(spark)
    records = []
    for r in rows:
        rec = {c: r.get(c) for c in cols}
        rec["job"] = job
        if rec.get("step") == "*":
            detail = rec.get("detail") or {}
            detail = json.loads(detail) if isinstance(detail, str) else detail
            rec["detail"] = {**detail, "iceberg_commits": made}
        if isinstance(rec.get("detail"), dict):
            rec["detail"] = json.dumps(rec["detail"], sort_keys=True, default=str)
        for c in ("wall_s", "cpu_s"):
            rec[c] = None if rec[c] is None else float(rec[c])
        records.append(rec)
    return spark.createDataFrame(records, RUN_AUDIT.spark_schema(exclude=("dt", "run_id", "processed_at")))


def skipped_file_rows(skipped: list[tuple[str, str, str, int]]) -> list[dict[str, Any]]:
    """One ``skipped_file`` audit row per (source, file, reason, bytes) no reader took: nothing in the landing
    folder is passed over without a trace (the nightly bronze job and every micro-batch of the stream)."""
    return [
        {
            "step": "skipped_file",
            "reason": reason,
            "docs_dropped": 0,
            "bytes_in": size,
            "detail": {"source": source, "file": uri},
        }
        for source, uri, reason, size in skipped
    ]
