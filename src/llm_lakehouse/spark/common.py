"""Helpers the layer jobs share: stamping run columns and replacing one day of a table atomically."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.tables import Table


def only_source_arg(parser: argparse.ArgumentParser) -> None:
    """``--only-source NAME``: the job replaces that source's rows of the day and no others."""
    parser.add_argument("--only-source", help="replace only this source's rows of the day (ad-hoc builds)")


def day_filter(day: date) -> Column:
    return F.col("dt") == F.lit(day.isoformat()).cast("date")


def stamp(df: DataFrame, day: date, run_id: str) -> DataFrame:
    """Adds ``dt``, ``run_id`` and ``processed_at`` (one timestamp per run, not per row)."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return (
        df.withColumn("dt", F.lit(day.isoformat()).cast("date"))
        .withColumn("run_id", F.lit(run_id))
        .withColumn("processed_at", F.lit(now).cast("timestamp"))
    )


def of_source(table: Table, source: str) -> Column:
    """Rows of ``table`` that belong to ``source``: by its ``source`` column, else by the source-qualified
    ``doc_id`` (``<source>/<id>``) that every lakehouse table carries."""
    if "source" in table.column_names:
        return F.col("source") == F.lit(source)
    return F.col("doc_id").startswith(f"{source}/")


def replace_day(
    df: DataFrame, table: Table, settings: Settings, day: date, source: str | None = None
) -> None:
    """Overwrites exactly the rows of ``day`` (of ``source`` only, when given) in one Iceberg commit.

    ``overwrite(dt == day)`` replaces the day even when ``df`` is empty (dynamic
    ``overwritePartitions()`` would leave an emptied day's old rows in place). With ``source``, the day's
    other sources' rows are left as they were: a table partitioned by source overwrites that partition; any
    other table gets the day's other rows carried over, unchanged, into the same commit. A job killed before
    the commit leaves the table's previous snapshot as it was.
    """
    if source is None or "source" in table.partition_by:
        replace_rows(df, table, settings, day, None if source is None else of_source(table, source))
        return
    name = f"{settings.catalog.name}.{table.ident}"
    stored = df.sparkSession.table(name)
    kept = stored.where(day_filter(day) & ~of_source(table, source))
    aligned(df, table, stored).unionByName(kept).writeTo(name).overwrite(day_filter(day))


def replace_rows(
    df: DataFrame, table: Table, settings: Settings, day: date, where: Column | None = None
) -> None:
    """``replace_day`` limited to the rows of ``day`` that also match ``where`` (on partition columns only:
    Iceberg overwrites whole files)."""
    cond = day_filter(day) if where is None else day_filter(day) & where
    name = f"{settings.catalog.name}.{table.ident}"
    aligned(df, table, df.sparkSession.table(name)).writeTo(name).overwrite(cond)


def aligned(df: DataFrame, table: Table, stored: DataFrame) -> DataFrame:
    """``df`` in the stored table's column order. Columns of the stored table that this spec no longer
    produces (a pipe removed from the spec) are written as nulls: schema evolution only ever adds columns."""
    cols = [
        F.col(f.name) if f.name in df.columns else F.lit(None).cast(f.dataType).alias(f.name)
        for f in stored.schema.fields
    ]
    return df.select(*table.column_names).select(*cols)


def materialize(df: DataFrame) -> DataFrame:
    """``df`` computed once, now, and its plan cut to the computed rows.

    Not ``persist``: a persisted DataFrame keeps its whole plan, and every later query on it analyzes and
    optimizes that plan again before it finds the cached rows. On small days that planning, not the data,
    was most of silver's time (a job's fresh JVM plans slowly). The rows stay on the executors (memory, then
    disk) until ``release``; losing an executor fails the job, and its retry recomputes the day.
    """
    return df.localCheckpoint(eager=True)


def release(*dfs: DataFrame) -> None:
    """Frees the rows of ``materialize``d DataFrames once nothing reads them any more.

    Left alone they go only when the JVM's garbage collector finds them unreachable: a long-lived session (the
    tests', a notebook's) filled its heap with them and slowed to a crawl.
    """
    for df in dfs:
        df._jdf.logicalPlan().rdd().unpersist(False)  # the LogicalRDD over the checkpointed rows


def read_day(
    spark: SparkSession, table: Table, settings: Settings, day: date, source: str | None = None
) -> DataFrame:
    rows = spark.table(f"{settings.catalog.name}.{table.ident}").where(day_filter(day))
    return rows if source is None else rows.where(of_source(table, source))


def refs_holding(spark: SparkSession, fq: str, where: str, kind: str | None = None) -> dict[str, str]:
    """The tags and branches (only ``kind``, "TAG" or "BRANCH", when given) of table ``fq`` other than main
    whose snapshot has a row matching ``where``: ``{name: type}``. Snapshot expiry keeps what they point at, so
    retention reports them and an erasure must move or drop them."""
    held = {}
    only = f" AND type = '{kind}'" if kind else ""
    for r in spark.sql(f"SELECT name, type FROM {fq}.refs WHERE name <> 'main'{only}").collect():
        name = r["name"].replace("'", "\\'")
        if spark.sql(f"SELECT 1 FROM {fq} VERSION AS OF '{name}' WHERE {where} LIMIT 1").count():
            held[r["name"]] = r["type"]
    return held
