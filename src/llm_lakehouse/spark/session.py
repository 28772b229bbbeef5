"""The SparkSession every job and test uses, wired to the shared Iceberg catalog, and the tables it needs."""

from __future__ import annotations

import hashlib
import logging
import os
import re

from pyspark.sql import SparkSession

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.tables import ALL_TABLES, DEDUP_INDEX, SILVER, WAP_PROPERTY, Table, column_ddl
from llm_lakehouse.spark.dedup import LAYOUT_PROPERTY, index_layout, rebuild_index

log = logging.getLogger(__name__)


def spark_session(settings: Settings, app: str) -> SparkSession:
    settings.prepare()
    # In-process sessions take the worker Python from PYSPARK_PYTHON, not from spark.pyspark.python.
    os.environ["PYSPARK_PYTHON"] = settings.spark.python
    builder = SparkSession.builder.appName(app)
    # Under spark-submit the master comes from the submit (the Airflow connection): don't override it.
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = builder.master(settings.spark.master)
    for key, value in settings.spark_conf().items():
        builder = builder.config(key, value)
    # spark-submit passes --jars; a session started in-process (tests, notebooks) needs them here.
    builder = builder.config("spark.jars", ",".join(str(j) for j in settings.jars()))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


# A namespace property: the fingerprint of the table definitions last ensured in that namespace.
FINGERPRINT_PROPERTY = "lakehouse.tables-fingerprint"


def ensure_tables(spark: SparkSession, settings: Settings, spec: PipelineSpec | None = None) -> None:
    """Creates the namespaces and tables that do not exist yet (idempotent, cheap once they exist).

    Two jobs can start on a new catalog at once (days side by side, on a catalog without a lock): one's
    namespace properties or table may land between the other's check and write. A second pass then finds
    them and goes on; an error that persists is raised.

    With a spec, silver.documents gets the columns the spec's pipes add; a pipe added to the spec later
    adds its columns to the existing table in place (Iceberg schema evolution; old rows read null).

    Every job calls this first, in a JVM too fresh to run SQL fast: checking each table (create, load,
    properties) took ~10 s per job. A namespace whose tables all exist and whose fingerprint property
    matches these definitions is skipped after two cheap statements; any difference (a table dropped, a
    column or pipe added, an older release's tables) takes the full path, which then records the new
    fingerprint.
    """
    try:
        _ensure_tables(spark, settings, spec)
    except Exception as exc:  # noqa: BLE001 - retried once; the second failure propagates
        log.warning("ensure_tables: %s; once more (another job may be creating the same tables)", exc)
        _ensure_tables(spark, settings, spec)


def _ensure_tables(spark: SparkSession, settings: Settings, spec: PipelineSpec | None) -> None:
    cat = settings.catalog.name
    tables = [spec.silver_table() if spec and t.ident == SILVER.ident else t for t in ALL_TABLES]
    namespaces = {r["namespace"] for r in spark.sql(f"SHOW NAMESPACES IN {cat}").collect()}
    for layer in sorted({t.layer for t in tables}):
        mine = [t for t in tables if t.layer == layer]
        # The dedup index's keys depend on the spec's layout too: a changed layout takes the full path.
        layout = index_layout(spec) if spec and DEDUP_INDEX in mine else ""
        want = tables_fingerprint(mine, layout)
        if layer in namespaces and _recorded(spark, f"{cat}.{layer}", {t.name for t in mine}) == want:
            continue
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {cat}.{layer}")
        for t in mine:
            _ensure_table(spark, cat, t)
        if layout:
            _ensure_index_layout(spark, settings, spec, layout)
        spark.sql(f"ALTER NAMESPACE {cat}.{layer} SET PROPERTIES ('{FINGERPRINT_PROPERTY}' = '{want}')")


def tables_fingerprint(tables: list[Table], extra: str = "") -> str:
    text = "\n".join([*sorted(t.ddl("_") for t in tables), extra])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _ensure_index_layout(spark: SparkSession, settings: Settings, spec: PipelineSpec, layout: str) -> None:
    """Rebuilds silver.dedup_index when its rows were keyed with another layout (bands, rows, buckets) than the
    spec's: old keys would never meet new ones, and history would silently stop deduplicating."""
    fq = f"{settings.catalog.name}.{DEDUP_INDEX.ident}"
    recorded = spark.sql(f"SHOW TBLPROPERTIES {fq} ('{LAYOUT_PROPERTY}')").collect()
    if recorded and recorded[0]["value"] == layout:
        return
    if spark.table(fq).limit(1).count():
        log.warning(
            "silver.dedup_index was keyed %s; rebuilding it as %s", recorded or "without a layout", layout
        )
        rebuild_index(spark, settings, spec)
    else:
        spark.sql(f"ALTER TABLE {fq} SET TBLPROPERTIES ('{LAYOUT_PROPERTY}' = '{layout}')")


def _recorded(spark: SparkSession, namespace: str, names: set[str]) -> str | None:
    """The existing namespace's recorded fingerprint, or None when one of ``names`` is not in it."""
    if not names <= {r["tableName"] for r in spark.sql(f"SHOW TABLES IN {namespace}").collect()}:
        return None
    info = {
        r["info_name"]: r["info_value"]
        for r in spark.sql(f"DESCRIBE NAMESPACE EXTENDED {namespace}").collect()
    }
    found = re.search(rf"\({re.escape(FINGERPRINT_PROPERTY)},([0-9a-f]+)\)", info.get("Properties") or "")
    return found.group(1) if found else None


def _ensure_table(spark: SparkSession, cat: str, t: Table) -> None:
    spark.sql(t.ddl(cat))
    have = set(spark.table(f"{cat}.{t.ident}").columns)
    missing = [c for c in t.columns if c[0] not in have]
    if missing:
        spark.sql(f"ALTER TABLE {cat}.{t.ident} ADD COLUMNS ({', '.join(map(column_ddl, missing))})")
    # Tables created before write-audit-publish existed get the property that routes writes to branches.
    if (
        t.wap
        and not spark.sql(f"SHOW TBLPROPERTIES {cat}.{t.ident} ('{WAP_PROPERTY}')")
        .where("value = 'true'")
        .count()
    ):
        spark.sql(f"ALTER TABLE {cat}.{t.ident} SET TBLPROPERTIES ('{WAP_PROPERTY}'='true')")
