"""The spec's drift checks in the write-audit-publish gate: the day (as the job's branch holds it) against the
trailing window of published days, per source; the statistics are ``core/drift.py``'s.

- silver's gate: quality signals and lengths from ``ops.doc_profile`` (this run's sample against the
  published runs' samples of the window), the language mix from the same samples, the drop-reason mix from
  every record (``silver.quarantine`` by reason plus ``silver.documents`` as ``kept``);
- gold's gate: ``n_tokens`` of ``gold.training_documents`` and a sample of ``gold.chunk_embeddings``.

A failed check is an ``Outcome`` like any rule's, so ``level`` blocks or warns the day exactly as declared;
every source's result goes to ``ops.drift_results`` (also on a blocked day) and into the corpus report.
Only aggregates and sampled numbers are collected to the driver: never text.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import numpy as np
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual, LessThan
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from llm_lakehouse.core import drift as d
from llm_lakehouse.core.catalog import open_catalog
from llm_lakehouse.core.rules import DistributionDrift, DriftCheck, EmbeddingDrift, MixDrift
from llm_lakehouse.core.tables import (
    DOC_PROFILE,
    DRIFT_RESULTS,
    GOLD_CHUNKS,
    GOLD_TRAINING,
    PUBLICATIONS,
    QUARANTINE,
)
from llm_lakehouse.spark.common import day_filter, stamp
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.gate import Outcome, to_json

KEPT = "kept"
# Rows without a source (a hand-written job's) are compared under this name instead of failing the gate.
NO_SOURCE = "(no source)"
# The table a check's outcome is reported on (the gate's log, ops.quality_results, DataHub assertions).
_TABLE = {"silver": "silver.documents", "embedding": GOLD_CHUNKS.ident, "n_tokens": GOLD_TRAINING.ident}


def checks_for(ctx: RunContext, stage: str) -> list[DriftCheck]:
    return [
        c
        for c in ctx.spec.quality.drift.checks
        if any(d.stage_of(c, m) == stage for m in getattr(c, "metrics", None) or [None])
    ]


def run_checks(ctx: RunContext, stage: str) -> tuple[list[Outcome], list[d.DriftResult]]:
    """The stage's drift checks on the day: one gate outcome per check, one result per source and metric."""
    checks = checks_for(ctx, stage)
    if not checks:
        return [], []
    drift = ctx.spec.quality.drift
    window = (ctx.day - timedelta(days=drift.window_days), ctx.day)
    sides = _silver_sides(ctx, checks, window) if stage == "silver" else _gold_sides(ctx, checks, window)
    day_sides, base_sides = sides
    sources = sorted(set(day_sides) | set(base_sides) | {s.name for s in ctx.spec.sources})
    outcomes, results = [], []
    for check in checks:
        mine = [
            r
            for source in sources
            for r in d.evaluate(
                check,
                drift,
                source,
                day_sides.get(source, d.Side()),
                base_sides.get(source, d.Side(days=0)),
                stage,
            )
        ]
        results += mine
        outcomes.append(check_outcome(check, mine, stage))
    return outcomes, results


def check_outcome(check: DriftCheck, results: list[d.DriftResult], stage: str) -> Outcome:
    """The gate's outcome of one check: failed when any source drifted; its level blocks or warns."""
    if isinstance(check, EmbeddingDrift):
        table = _TABLE["embedding"]
    else:
        table = _TABLE["n_tokens"] if stage == "gold" else _TABLE["silver"]
    kwargs = check.model_dump(exclude={"name", "level", "check"})
    return Outcome(
        table, check, "lakehouse.drift", not any(r.drifted for r in results), d.summary(results), kwargs
    )


def _published_runs(ctx: RunContext, ident: str, window: tuple[date, date]) -> dict[date, str]:
    """Day -> run id of the window's days whose latest ``ops.publications`` row for ``ident`` is published."""
    try:
        pubs = open_catalog(ctx.settings).load_table(PUBLICATIONS.ident)
    except NoSuchTableError:
        return {}
    rows = pubs.scan(
        row_filter=And(
            EqualTo("table_name", ident), GreaterThanOrEqual("dt", window[0]), LessThan("dt", window[1])
        ),
        selected_fields=("dt", "run_id", "state", "processed_at"),
    ).to_arrow()
    latest: dict[date, dict[str, Any]] = {}
    for r in rows.sort_by([("processed_at", "ascending")]).to_pylist():
        latest[r["dt"]] = r
    return {day: r["run_id"] for day, r in latest.items() if r["state"] == "published"}


def _in_window(window: tuple[date, date]) -> Column:
    return (F.col("dt") >= F.lit(window[0].isoformat()).cast("date")) & (
        F.col("dt") < F.lit(window[1].isoformat()).cast("date")
    )


def _table(ctx: RunContext, ident: str) -> DataFrame:
    return ctx.spark.table(f"{ctx.settings.catalog.name}.{ident}")


def _silver_sides(
    ctx: RunContext, checks: list[DriftCheck], window: tuple[date, date]
) -> tuple[dict[str, d.Side], dict[str, d.Side]]:
    metrics = sorted(
        {
            m
            for c in checks
            if isinstance(c, DistributionDrift)
            for m in c.metrics
            if d.stage_of(c, m) == "silver"
        }
    )
    mixes = {c.of for c in checks if isinstance(c, MixDrift)}
    profile = _table(ctx, DOC_PROFILE.ident).where(~F.col("example"))
    runs = _published_runs(ctx, DOC_PROFILE.ident, window)
    day_rows = profile.where(day_filter(ctx.day) & (F.col("run_id") == ctx.run_id))
    base_rows = profile.where(_in_window(window)).where(
        F.concat_ws("/", F.col("dt").cast("string"), "run_id").isin([f"{k}/{v}" for k, v in runs.items()])
        if runs
        else F.lit(False)
    )
    day, base = (
        _profile_sides(day_rows, metrics, "language" in mixes),
        _profile_sides(base_rows, metrics, "language" in mixes),
    )
    if "drop_reason" in mixes:
        for source, counts in _reason_mix(ctx, day_filter(ctx.day)).items():
            day.setdefault(source, d.Side()).mixes["drop_reason"] = counts
        for source, counts in _reason_mix(ctx, _in_window(window)).items():
            base.setdefault(source, d.Side(days=0)).mixes["drop_reason"] = counts
    return day, base


def _source() -> Column:
    return F.coalesce(F.col("source"), F.lit(NO_SOURCE)).alias("source")


def _value(metric: str) -> Column:
    return F.col("n_chars").cast("double") if metric == "n_chars" else F.col("signals")[metric]


def _profile_sides(rows: DataFrame, metrics: list[str], language: bool) -> dict[str, d.Side]:
    aggs = [F.collect_list(_value(m)).alias(f"m{i}") for i, m in enumerate(metrics)]
    aggs.append(F.countDistinct("dt").alias("days"))
    if language:
        aggs.append(F.collect_list("lang").alias("langs"))
    out = {}
    for r in rows.groupBy(_source()).agg(*aggs).collect():
        side = d.Side(days=int(r["days"]))
        side.values = {m: np.asarray(r[f"m{i}"], dtype=np.float64) for i, m in enumerate(metrics)}
        if language:
            side.mixes["language"] = Counter(r["langs"])
        out[r["source"]] = side
    return out


def _reason_mix(ctx: RunContext, where: Column) -> dict[str, Counter]:
    """Source -> records per outcome (``kept`` or the quarantine reason) over the rows ``where`` selects."""
    quarantine = _table(ctx, QUARANTINE.ident).where(where).groupBy(_source(), "reason").count()
    kept = (
        _table(ctx, ctx.spec.silver_table().ident)
        .where(where)
        .groupBy(_source())
        .count()
        .select("source", F.lit(KEPT).alias("reason"), "count")
    )
    out: dict[str, Counter] = {}
    for r in quarantine.unionByName(kept).collect():
        out.setdefault(r["source"], Counter())[r["reason"]] += int(r["count"])
    return out


def _gold_sides(
    ctx: RunContext, checks: list[DriftCheck], window: tuple[date, date]
) -> tuple[dict[str, d.Side], dict[str, d.Side]]:
    day: dict[str, d.Side] = {}
    base: dict[str, d.Side] = {}
    if any(isinstance(c, DistributionDrift) for c in checks):
        cap = ctx.spec.quality.drift.sample_size
        for sides, where in ((day, day_filter(ctx.day)), (base, _in_window(window))):
            for source, (values, days) in _sampled(ctx, GOLD_TRAINING.ident, where, "n_tokens", cap).items():
                side = sides.setdefault(source, d.Side(days=days))
                side.values["n_tokens"] = np.asarray(values, dtype=np.float64)
    embedding = next((c for c in checks if isinstance(c, EmbeddingDrift)), None)
    if embedding is not None:
        for sides, where in ((day, day_filter(ctx.day)), (base, _in_window(window))):
            for source, (values, days) in _sampled(
                ctx, GOLD_CHUNKS.ident, where, "embedding", embedding.sample
            ).items():
                side = sides.setdefault(source, d.Side(days=days))
                side.days = days
                side.embeddings = np.asarray(values, dtype=np.float32) if values else None
    return day, base


def _sampled(
    ctx: RunContext, ident: str, where: Column, column: str, cap: int
) -> dict[str, tuple[list, int]]:
    """Source -> (up to ``cap`` values of ``column`` in a hash order, distinct days) over ``where``'s rows."""
    key = "chunk_id" if ident == GOLD_CHUNKS.ident else "doc_id"
    ranked = (
        _table(ctx, ident)
        .where(where)
        .select(_source(), "dt", column, F.xxhash64(key).alias("_h"))
        .groupBy("source")
        .agg(
            F.slice(F.sort_array(F.collect_list(F.struct("_h", column))), 1, cap).alias("picked"),
            F.countDistinct("dt").alias("days"),
        )
    )
    return {r["source"]: ([x[column] for x in r["picked"]], int(r["days"])) for r in ranked.collect()}


def record_results(ctx: RunContext, stage: str, results: list[d.DriftResult], outcome: str) -> None:
    """Appends the gate's drift results to ``ops.drift_results`` (a log: every attempt keeps its rows)."""
    if not results:
        return
    run_columns = ("dt", "run_id", "processed_at")
    rows = [
        (
            stage,
            r.check,
            r.kind,
            r.test,
            r.source,
            r.metric,
            r.level,
            r.status,
            _float(r.statistic),
            _float(r.p_value),
            float(r.threshold),
            int(r.n_day),
            int(r.n_baseline),
            int(r.baseline_days),
            to_json(r.detail),
            outcome,
        )
        for r in results
    ]
    df = ctx.spark.createDataFrame(rows, DRIFT_RESULTS.spark_schema(exclude=run_columns))
    df = stamp(df, ctx.day, ctx.run_id).select(*DRIFT_RESULTS.column_names).coalesce(1)
    df.writeTo(f"{ctx.settings.catalog.name}.{DRIFT_RESULTS.ident}").append()


def _float(value: float | None) -> float | None:
    """A Python float for Spark's DoubleType (NumPy's float64 is refused)."""
    return None if value is None else float(value)
