"""Silver: bronze's day through the spec's pipes, exact dedup against all history, drops to quarantine.

The pipes run in one ``mapInArrow`` stage and only mark rows; the job then splits them. Exact duplicates
are found by ``content_hash`` within the day (the smallest ``doc_id`` is kept, so reruns and backfills pick
the same one) and against every earlier day of ``silver.documents``. Every bronze row ends in exactly one
of silver or quarantine: ``bronze = silver + quarantine`` per day, duplicates included in quarantine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from functools import cache
from typing import Any

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from llm_lakehouse.jobs.common import read_day, replace_day, stamp
from llm_lakehouse.pipes import build_chain
from llm_lakehouse.settings import Settings
from llm_lakehouse.spec import PipelineSpec
from llm_lakehouse.tables import BRONZE, QUARANTINE, SILVER

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
    "raw",
    "parse_error",
)
MARKED_SCHEMA = (
    "doc_id STRING, record_id STRING, source STRING, text STRING, content_type STRING, metadata STRING, "
    "source_file STRING, line_number BIGINT, raw_hash STRING, raw BINARY, parse_error STRING, "
    "drop_stage STRING, drop_reason STRING, drop_detail STRING, content_hash STRING"
)
DUPLICATE = "exact_duplicate"


@cache
def _chain(steps_json: str):  # noqa: ANN202 - built once per Python worker, reused for every batch
    return build_chain([(s["pipe"], s["params"]) for s in json.loads(steps_json)])


def _apply(steps_json: str):  # noqa: ANN202
    names = [f.split()[0] for f in MARKED_SCHEMA.split(", ")]

    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        chain = _chain(steps_json)
        for batch in batches:
            yield chain(batch).select(names)

    return apply


def mark_day(spark: SparkSession, spec: PipelineSpec, settings: Settings, day: date) -> DataFrame:
    steps = json.dumps([{"pipe": p.pipe, "params": p.params} for p in spec.silver.pipes])
    bronze = read_day(spark, BRONZE, settings, day).select(*IN_COLUMNS)
    return bronze.mapInArrow(_apply(steps), MARKED_SCHEMA)


def dedup(
    spark: SparkSession, kept: DataFrame, spec: PipelineSpec, settings: Settings, day: date
) -> DataFrame:
    """Adds ``duplicate_of`` (null for the copy that is kept) and ``id_clash`` to the kept rows."""
    if not spec.dedup.exact:
        return kept.withColumn("duplicate_of", F.lit(None).cast("string")).withColumn(
            "id_clash", F.lit(False)
        )
    first = Window.partitionBy("content_hash").orderBy("doc_id")
    out = kept.withColumn("first_doc", F.first("doc_id").over(first))
    if spec.dedup.scope == "history":
        history = (
            spark.table(f"{settings.catalog_name}.{SILVER.ident}")
            .where(F.col("dt") < F.lit(day.isoformat()).cast("date"))
            .groupBy("content_hash")
            .agg(F.min("doc_id").alias("history_doc"))
        )
        out = out.join(history, "content_hash", "left")
    else:
        out = out.withColumn("history_doc", F.lit(None).cast("string"))
    out = out.withColumn(
        "duplicate_of",
        F.coalesce("history_doc", F.when(F.col("first_doc") != F.col("doc_id"), F.col("first_doc"))),
    )
    # Two different texts under one doc_id on one day: keep the smallest hash, quarantine the others.
    same_id = Window.partitionBy("doc_id").orderBy("content_hash")
    unique = out.where(F.col("duplicate_of").isNull()).withColumn("id_rank", F.row_number().over(same_id))
    dups = out.where(F.col("duplicate_of").isNotNull()).withColumn("id_rank", F.lit(1))
    return (
        unique.unionByName(dups)
        .withColumn("id_clash", F.col("id_rank") > 1)
        .drop("first_doc", "history_doc", "id_rank")
    )


def _quarantined(rows: DataFrame, reason: str, detail: Column) -> DataFrame:
    """Kept rows that dedup rejects, shaped like the rows the pipes dropped."""
    cols = [c for c in rows.columns if not c.startswith("drop_") and c != "id_clash"]
    return rows.select(
        *cols,
        F.lit("dedup").alias("drop_stage"),
        F.lit(reason).alias("drop_reason"),
        detail.alias("drop_detail"),
    )


def refine_day(
    spark: SparkSession, spec: PipelineSpec, settings: Settings, day: date, run_id: str
) -> dict[str, Any]:
    marked = mark_day(spark, spec, settings, day).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        checked = dedup(spark, marked.where(F.col("drop_reason").isNull()), spec, settings, day).persist(
            StorageLevel.MEMORY_AND_DISK
        )
        dropped = marked.where(F.col("drop_reason").isNotNull()).select(
            "*", F.lit(None).cast("string").alias("duplicate_of")
        )
        duplicates = _quarantined(
            checked.where(F.col("duplicate_of").isNotNull()),
            DUPLICATE,
            F.concat(F.lit("same content_hash as "), F.col("duplicate_of")),
        )
        clashes = _quarantined(
            checked.where(F.col("id_clash")),
            "duplicate_doc_id",
            F.lit("another text with this doc_id is kept this day"),
        )
        quarantine = (
            dropped.unionByName(duplicates)
            .unionByName(clashes)
            .withColumnRenamed("drop_stage", "stage")
            .withColumnRenamed("drop_reason", "reason")
            .withColumnRenamed("drop_detail", "detail")
        )
        silver = checked.where(F.col("duplicate_of").isNull() & ~F.col("id_clash")).withColumn(
            "n_chars", F.length("text")
        )
        replace_day(stamp(quarantine, day, run_id), QUARANTINE, settings, day)
        replace_day(stamp(silver, day, run_id), SILVER, settings, day)
        checked.unpersist()
    finally:
        marked.unpersist()
    return day_counts(spark, settings, day)


def day_counts(spark: SparkSession, settings: Settings, day: date) -> dict[str, Any]:
    by_reason = {
        r["reason"]: r["count"]
        for r in read_day(spark, QUARANTINE, settings, day).groupBy("reason").count().collect()
    }
    duplicates = by_reason.get(DUPLICATE, 0)
    return {
        "silver": read_day(spark, SILVER, settings, day).count(),
        "quarantine": sum(by_reason.values()) - duplicates,
        "duplicates": duplicates,
        "by_reason": by_reason,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from llm_lakehouse.jobs.runner import run_job

    return run_job(
        "silver", lambda spark, spec, settings, a: refine_day(spark, spec, settings, a.date, a.run_id), argv
    )
