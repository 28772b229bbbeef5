"""``ensure_tables`` on a real Iceberg catalog of its own: the cheap path when nothing changed, the full one when
anything did."""

from __future__ import annotations

import os

import pytest

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.tables import ALL_TABLES, SILVER
from llm_lakehouse.spark.session import FINGERPRINT_PROPERTY, ensure_tables


@pytest.fixture
def scratch(spark, tmp_path) -> Settings:
    """A second catalog in the tests' session (Spark loads catalogs by name on first use)."""
    settings = Settings.from_env(
        {**os.environ, "LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_CATALOG_NAME": f"scratch_{tmp_path.name}"}
    )
    prefix = f"spark.sql.catalog.{settings.catalog.name}"
    for key, value in settings.spark_conf().items():
        if key == prefix or key.startswith(prefix + "."):
            spark.conf.set(key, value)
    return settings


def _tables(spark, cat: str) -> set[str]:
    return {
        f"{layer}.{r['tableName']}"
        for layer in {t.layer for t in ALL_TABLES}
        for r in spark.sql(f"SHOW TABLES IN {cat}.{layer}").collect()
    }


def test_unchanged_tables_cost_three_statements_a_namespace_and_changes_take_the_full_path(
    spark, spec, scratch, monkeypatch
):
    cat = scratch.catalog.name
    ensure_tables(spark, scratch)  # no spec: silver.documents without the spec's pipe columns
    assert _tables(spark, cat) == {t.ident for t in ALL_TABLES}
    base = set(spark.table(f"{cat}.{SILVER.ident}").columns)

    statements: list[str] = []
    real_sql = spark.sql
    monkeypatch.setattr(spark, "sql", lambda q, *a, **k: statements.append(q) or real_sql(q, *a, **k))

    # The spec's pipes add columns: only silver's namespace takes the full path, and records it.
    ensure_tables(spark, scratch, spec)
    added = set(spark.table(f"{cat}.{SILVER.ident}").columns) - base
    assert added and added == {c[0] for c in spec.silver_table().columns} - base
    assert any(q.startswith(f"ALTER TABLE {cat}.silver.documents ADD COLUMNS") for q in statements)
    assert not any(f"{cat}.bronze." in q or f"{cat}.ops." in q for q in statements if "CREATE TABLE" in q)
    assert any(
        f"ALTER NAMESPACE {cat}.silver SET PROPERTIES ('{FINGERPRINT_PROPERTY}'" in q for q in statements
    )

    # Nothing changed: one listing of namespaces, then a listing and a describe per namespace.
    statements.clear()
    ensure_tables(spark, scratch, spec)
    layers = {t.layer for t in ALL_TABLES}
    assert len(statements) == 1 + 2 * len(layers), statements
    assert not any(q.startswith(("CREATE", "ALTER")) for q in statements)

    # A table dropped by hand is recreated.
    real_sql(f"DROP TABLE {cat}.ops.pii_audit")
    ensure_tables(spark, scratch, spec)
    assert "ops.pii_audit" in _tables(spark, cat)
