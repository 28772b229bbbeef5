"""``ops.publications``: the commit point of a stage's day, and how Spark jobs read another stage's day.

Iceberg has no multi-table commit on the SQL catalogs, so a stage's tables (silver: documents, quarantine,
dedup index, PII audit) move one at a time when a day is published (``spark/wap.py``). A kill between two
moves would leave readers combining one run's ``silver.documents`` with another run's quarantine. So a run
appends, in one commit each, one row per table of its stage with the table's main snapshot:

- ``started``, before its first write: the state readers keep while the run writes, gates and publishes;
- ``published``, once every table has moved: the day's commit point.

Readers resolve a day's tables through the day's latest row (``catalog.latest_publication``) and read each table at the recorded snapshot, filtered to the day. A run killed anywhere
before its ``published`` row, or blocked by its gate, stays invisible (its ``started`` row pins the state
before it, also for a day never published before); its retry republishes. The day's runs are serialized by
the day lease, so "latest" is well defined. A day with no row (a lake from before, tables written by a job
called directly) reads the table's current snapshot, and a recorded snapshot that table maintenance has
expired falls back to the current one.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession

from llm_lakehouse.core.catalog import latest_publication, load, open_catalog
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.tables import PUBLICATIONS, Table
from llm_lakehouse.spark.common import day_filter, of_source, stamp

# The rows are read and the snapshots looked up with pyiceberg from the driver (metadata only, milliseconds),
# not with Spark queries on metadata tables (a Spark job each); they are written with Spark, the one writer
# of the catalog in a job (a second SQLite writer would invalidate the JVM's read snapshot).


def record(
    spark: SparkSession,
    settings: Settings,
    stage: str,
    day: date,
    run_id: str,
    tables: list[str],
    state: str = "published",
) -> dict[str, int | None]:
    """Appends a ``started`` or ``published`` row per table of the stage, in one commit.

    ``published`` records each table's main snapshot now. ``started`` carries the day's pinned snapshot
    forward: main of a table written outside the branch (``ops.pii_audit``) may hold a killed run's rows,
    which must stay invisible through any number of crashed retries. A day whose every table is pinned
    already needs no ``started`` row (nothing is appended)."""
    catalog = open_catalog(settings)
    snapshots: dict[str, int | None] = {}
    pinned = 0
    for ident in tables:
        if state == "started":
            sid, row_state = latest_publication(catalog, ident, day)
            if row_state is not None:
                snapshots[ident], pinned = sid, pinned + 1
                continue
        current = load(catalog, ident).current_snapshot()
        snapshots[ident] = current.snapshot_id if current else None
    if state == "started" and pinned == len(tables):
        return snapshots
    # A table with no snapshot yet has nothing to read at any point: a null snapshot reads it as it is.
    rows = [(stage, ident, sid, state) for ident, sid in snapshots.items()]
    schema = PUBLICATIONS.spark_schema(exclude=("dt", "run_id", "processed_at"))
    df = stamp(spark.createDataFrame(rows, schema), day, run_id).coalesce(1)
    name = f"{settings.catalog.name}.{PUBLICATIONS.ident}"
    df.select(*PUBLICATIONS.column_names).writeTo(name).append()
    return snapshots


def read_published(
    spark: SparkSession, table: Table, settings: Settings, day: date, source: str | None = None
) -> DataFrame:
    """The day of another stage's table as the day's latest row pins it (what a consumer may read)."""
    sid, _ = latest_publication(open_catalog(settings), table.ident, day)
    reader = spark.read if sid is None else spark.read.option("snapshot-id", sid)
    rows = reader.table(f"{settings.catalog.name}.{table.ident}").where(day_filter(day))
    return rows if source is None else rows.where(of_source(table, source))
