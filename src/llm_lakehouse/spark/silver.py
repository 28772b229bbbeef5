"""Silver: bronze's day through the spec's pipes, then deduplication, drops to quarantine.

The pipes run in one ``mapInArrow`` stage and only mark rows; the job then splits them. Then, on the kept
rows: one text per ``doc_id`` and day, its last record's (``duplicate_doc_id``), and exact and near-duplicates within the day
and against all earlier days (``spark/dedup.py``). Every bronze row ends in exactly one of silver or
quarantine: ``bronze = silver + quarantine`` per day, duplicates included in quarantine. The run's
accounting (per step and per reason, with timings) goes to ``ops.run_audit``. Quarantine rows point to the
bronze record (file, line, ``raw_hash``); unparseable bytes are kept in bronze only, the restricted layer.

With ``only_source`` (``lakehouse build --source DIR``) the job refines that source's bronze rows of the day
and replaces only its rows in every table; the day's other sources stay as they were and count as already
published for deduplication.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from llm_lakehouse.core.pipes import build_chain, pipe_columns, step_labels
from llm_lakehouse.core.pipes.base import DROP_COLUMNS
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.tables import BRONZE, DEDUP_INDEX, DOC_PROFILE, PII_AUDIT, QUARANTINE
from llm_lakehouse.spark.audit import Clock, recorder, step_accumulator, step_rows, write_audit
from llm_lakehouse.spark.common import materialize, only_source_arg, read_day, release, replace_day, stamp
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.dedup import EXACT, NEAR, Dedup, deduplicate
from llm_lakehouse.spark.profile import profile_rows
from llm_lakehouse.spark.publications import read_published
from llm_lakehouse.spark.runner import run_job

IN_COLUMNS = (
    "doc_id",
    "record_id",
    "source",
    "text",
    "content_type",
    "metadata",
    "source_file",
    "line_number",
    "raw_hash",
    "parse_error",
)
CLASH = "duplicate_doc_id"
REPLACED = "a later record with this doc_id replaced it"


def marked_columns(spec: PipelineSpec) -> list[tuple[str, str]]:
    """(name, Spark type) of the pipes' output: bronze's columns, the drop marks, every column pipes add."""
    base = [(n, t) for n, t, _ in BRONZE.columns if n in IN_COLUMNS]
    base += [(c, "STRING") for c in DROP_COLUMNS]
    added = [c for c in spec.silver_table().columns if c[0] == "content_hash"]
    added += pipe_columns([p.pipe for p in spec.silver.pipes])
    seen = {n for n, _ in base}
    for name, sql_type, _ in added:
        if name not in seen:
            seen.add(name)
            base.append((name, sql_type))
    return base


def _apply(steps_json: str, names: list[str], observe, on_canaries):  # noqa: ANN001, ANN202
    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # Built per task (each task brings its own accumulator); pipes cache their models per worker.
        chain = build_chain([(s["pipe"], s["params"]) for s in json.loads(steps_json)], observe, on_canaries)
        for batch in batches:
            yield chain(batch).select(names)

    return apply


def mark_day(
    spark: SparkSession,
    spec: PipelineSpec,
    settings: Settings,
    day: date,
    observe=None,  # noqa: ANN001
    on_canaries=None,  # noqa: ANN001
    only_source: str | None = None,
) -> DataFrame:
    bronze = read_published(spark, BRONZE, settings, day, only_source)
    return mark_rows(spec, bronze, observe, on_canaries)


def mark_rows(spec: PipelineSpec, bronze: DataFrame, observe=None, on_canaries=None) -> DataFrame:  # noqa: ANN001
    """Bronze-shaped rows through the spec's pipes in one ``mapInArrow`` stage: the nightly day and each
    micro-batch of the stream run exactly this."""
    steps = json.dumps([{"pipe": p.pipe, "params": p.params} for p in spec.silver.pipes])
    columns = marked_columns(spec)
    schema = ", ".join(f"{n} {t}" for n, t in columns)
    return bronze.select(*IN_COLUMNS).mapInArrow(
        _apply(steps, [n for n, _ in columns], observe, on_canaries), schema
    )


def quarantined(rows: DataFrame, stage: str, reason: Column | str, detail: Column) -> DataFrame:
    """Kept rows that a job step rejects, shaped like the rows the pipes dropped."""
    cols = [c for c in rows.columns if not c.startswith(("drop_", "dup_", "_"))]
    return rows.select(
        *cols,
        F.lit(stage).alias("drop_stage"),
        (F.lit(reason) if isinstance(reason, str) else reason).alias("drop_reason"),
        detail.alias("drop_detail"),
    )


def refine_day(ctx: RunContext, only_source: str | None = None) -> dict[str, Any]:
    spark, spec, settings, day, run_id = ctx.spark, ctx.spec, ctx.settings, ctx.day, ctx.run_id
    clock = Clock()
    acc, canaries = step_accumulator(spark), step_accumulator(spark)
    # Computed once: the accumulators count each row once, and the steps below read it several times.
    marked = materialize(mark_day(spark, spec, settings, day, recorder(acc), recorder(canaries), only_source))
    stored = [marked]  # released once the day is written, also when a write fails
    try:
        # One state per doc_id and day: its last record (file, then line) wins, as the stream's upsert does; a
        # kept record that a later one of the day replaces is quarantined (also when the later one is dropped).
        last = Window.partitionBy("doc_id").orderBy(F.desc("source_file"), F.desc("line_number"))
        kept = marked.withColumn("_rank", F.row_number().over(last)).where(F.col("drop_reason").isNull())
        clashes = quarantined(kept.where(F.col("_rank") > 1), "dedup", CLASH, F.lit(REPLACED)).withColumn(
            "duplicate_of", F.col("doc_id")
        )
        unique = kept.where(F.col("_rank") == 1).drop("_rank")
        dedup_clock = Clock()
        dd = deduplicate(ctx, unique, only_source)
        checked, duplicates = split_duplicates(dd, stored)
        dropped = marked.where(F.col("drop_reason").isNotNull()).withColumn(
            "duplicate_of", F.lit(None).cast("string")
        )
        quarantine = (
            dropped.unionByName(duplicates, allowMissingColumns=True)
            .unionByName(clashes, allowMissingColumns=True)
            .withColumnRenamed("drop_stage", "stage")
            .withColumnRenamed("drop_reason", "reason")
            .withColumnRenamed("drop_detail", "detail")
        )
        silver = checked.where(F.col("duplicate_of").isNull()).withColumn("n_chars", F.length("text"))
        replace_day(stamp(quarantine, day, run_id), QUARANTINE, settings, day, only_source)
        replace_day(stamp(silver, day, run_id), spec.silver_table(), settings, day, only_source)
        # Index the documents silver now holds (written after silver: a rerun rewrites both).
        index = dd.index.join(silver.select("doc_id"), "doc_id")
        replace_day(stamp(index, day, run_id), DEDUP_INDEX, settings, day, only_source)
        if "pii_counts" in silver.columns:
            # Written after silver's commit: by then the accumulator holds every batch's canary outcome.
            audit_rows = pii_audit(silver).unionByName(canary_rows(spark, canaries.value))
            replace_day(stamp(audit_rows, day, run_id), PII_AUDIT, settings, day, only_source)
        # What drift checks and the corpus report read: a sample of every record, scrubbed examples per reason.
        with ctx.timings.phase("profile"):
            profile = profile_rows(spec, marked, duplicates)
            replace_day(stamp(profile, day, run_id), DOC_PROFILE, settings, day, only_source)
        dedup_wall = dedup_clock.wall()
    finally:
        release(*stored)
    counts = day_counts(spark, spec, settings, day, only_source)
    audit = step_rows(step_labels([p.pipe for p in spec.silver.pipes]), acc.value)
    audit.append(
        {
            "step": "dedup",
            "docs_in": counts["silver"] + counts["duplicates"] + counts["by_reason"].get(CLASH, 0),
            "docs_out": counts["silver"],
            "docs_dropped": counts["duplicates"] + counts["by_reason"].get(CLASH, 0),
            "wall_s": dedup_wall,  # Spark is lazy: the dedup joins run inside the four commits timed here
            "detail": {**dd.stats, "wall_s_includes": "dedup joins and the Iceberg commits"},
        }
    )
    audit += [
        {"step": stage, "reason": reason, "docs_dropped": n}
        for (stage, reason), n in sorted(counts.pop("by_stage_reason").items())
    ]
    audit.append(
        {
            "step": "*",
            "docs_in": counts["bronze"],
            "docs_out": counts["silver"],
            "docs_dropped": counts["bronze"] - counts["silver"],
            "bytes_out": counts.pop("silver_bytes"),
            "wall_s": clock.wall(),
            "cpu_s": round(sum(r.get("cpu_s") or 0 for r in audit), 3),
        }
    )
    write_audit(ctx, "silver", audit)
    return {**counts, "dedup": dd.stats}


def split_duplicates(dd: Dedup, stored: list[DataFrame]) -> tuple[DataFrame, DataFrame]:
    """The deduplicated rows, computed once (kept for ``release`` in ``stored``), and the duplicates among them
    as quarantine rows."""
    stored += dd.stored
    checked = materialize(dd.docs)
    stored.append(checked)
    duplicates = quarantined(
        checked.where(F.col("duplicate_of").isNotNull()), "dedup", F.col("dup_reason"), F.col("dup_detail")
    )
    return checked, duplicates


def pii_audit(silver: DataFrame) -> DataFrame:
    """Spans replaced per (source, policy, entity) in the kept documents, from ``pii_counts`` (never the
    text)."""
    return (
        silver.select("source", "pii_policy", F.explode("pii_counts").alias("entity", "n"))
        .where(F.col("n") > 0)
        .groupBy("source", F.col("pii_policy").alias("policy"), "entity")
        .agg(F.sum("n").cast("bigint").alias("count"), F.count("*").alias("docs_with_entity"))
        .withColumn("kind", F.lit("scrubbed"))
        .withColumn("survived", F.lit(None).cast("bigint"))
    )


def canary_rows(spark: SparkSession, totals: dict[tuple[str, str], list[float]]) -> DataFrame:
    """One ``kind = 'canary'`` row per (policy, source) from the canary accumulator: records, values planted
    and values that survived, summed over every batch of the run."""
    rows = []
    for (policy, source), (records, planted, survived) in sorted(totals.items()):
        rows.append((source, policy, "*", int(planted), int(records), "canary", int(survived)))
    schema = "source STRING, policy STRING, entity STRING, count BIGINT, docs_with_entity BIGINT, "
    schema += "kind STRING, survived BIGINT"
    return spark.createDataFrame(rows, schema)


def day_counts(
    spark: SparkSession, spec: PipelineSpec, settings: Settings, day: date, only_source: str | None = None
) -> dict[str, Any]:
    quarantine = read_day(spark, QUARANTINE, settings, day, only_source)
    by_stage_reason = {
        (r["stage"], r["reason"]): r["count"] for r in quarantine.groupBy("stage", "reason").count().collect()
    }
    by_reason: dict[str, int] = {}
    for (_, reason), n in by_stage_reason.items():
        by_reason[reason] = by_reason.get(reason, 0) + n
    duplicates = by_reason.get(EXACT, 0) + by_reason.get(NEAR, 0)
    silver = (
        read_day(spark, spec.silver_table(), settings, day, only_source)
        .agg(F.count("*").alias("n"), F.sum(F.octet_length("text")).alias("bytes"))
        .first()
    )
    return {
        "bronze": read_published(spark, BRONZE, settings, day, only_source).count(),
        "silver": silver["n"],
        "silver_bytes": int(silver["bytes"] or 0),
        "quarantine": sum(by_reason.values()) - duplicates,
        "duplicates": duplicates,
        "near_duplicates": by_reason.get(NEAR, 0),
        "by_reason": dict(sorted(by_reason.items())),
        "by_stage_reason": by_stage_reason,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:

    def body(ctx: RunContext, a) -> dict[str, Any]:  # noqa: ANN001
        return refine_day(ctx, a.only_source)

    return run_job("silver", body, argv, only_source_arg)
