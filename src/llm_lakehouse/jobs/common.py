"""Helpers the layer jobs share: stamping run columns and replacing one day of a table atomically."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from llm_lakehouse.settings import Settings
from llm_lakehouse.tables import Table


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


def replace_day(df: DataFrame, table: Table, settings: Settings, day: date) -> None:
    """Overwrites exactly the rows of ``day`` in one Iceberg commit.

    ``overwrite(dt == day)`` replaces the day even when ``df`` is empty (dynamic
    ``overwritePartitions()`` would leave an emptied day's old rows in place). A job killed before the
    commit leaves the table's previous snapshot as it was.
    """
    replace_rows(df, table, settings, day)


def replace_rows(
    df: DataFrame, table: Table, settings: Settings, day: date, where: Column | None = None
) -> None:
    """``replace_day`` limited to the rows of ``day`` that also match ``where`` (a partition column)."""
    cond = day_filter(day) if where is None else day_filter(day) & where
    name = f"{settings.catalog_name}.{table.ident}"
    # Columns of the stored table that this spec no longer produces (a pipe removed from the spec) are
    # written as nulls: schema evolution only ever adds columns.
    stored = df.sparkSession.table(name).schema
    cols = [
        F.col(f.name) if f.name in df.columns else F.lit(None).cast(f.dataType).alias(f.name)
        for f in stored.fields
    ]
    df.select(*table.column_names).select(*cols).writeTo(name).overwrite(cond)


def read_day(spark: SparkSession, table: Table, settings: Settings, day: date) -> DataFrame:
    return spark.table(f"{settings.catalog_name}.{table.ident}").where(day_filter(day))
