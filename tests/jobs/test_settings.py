"""Configuration by environment only: the embedded default and a PostgreSQL catalog, without contacting either."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llm_lakehouse.settings import Settings


def test_embedded_default_shares_one_catalog_between_spark_and_pyiceberg(tmp_path: Path):
    s = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path)})
    conf, props = s.spark_conf(), s.pyiceberg_properties()
    assert s.embedded and s.catalog_name == "lakehouse"
    assert conf["spark.sql.catalog.lakehouse.uri"] == f"jdbc:sqlite:{tmp_path}/catalog.db"
    assert props["uri"] == f"sqlite:///{tmp_path}/catalog.db"
    assert (
        conf["spark.sql.catalog.lakehouse.warehouse"]
        == props["warehouse"]
        == (tmp_path / "warehouse").as_uri()
    )
    assert conf["spark.sql.catalog.lakehouse.cache-enabled"] == "false"
    assert conf["spark.sql.defaultCatalog"] == "lakehouse"
    assert conf["spark.pyspark.python"] == s.jobs_python


def test_prepare_switches_sqlite_to_wal(tmp_path: Path):
    s = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path)})
    s.prepare()
    with sqlite3.connect(tmp_path / "catalog.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_postgres_catalog_by_environment_only(tmp_path: Path):
    s = Settings.from_env(
        {
            "LAKEHOUSE_HOME": str(tmp_path),
            "LAKEHOUSE_CATALOG_URI": "postgresql+psycopg2://ice:s3cret@db.internal:5433/iceberg_catalog",
            "LAKEHOUSE_WAREHOUSE": "s3://lake/warehouse",
            "LAKEHOUSE_CATALOG_NAME": "prod",
        }
    )
    conf = s.spark_conf()
    assert not s.embedded
    assert conf["spark.sql.catalog.prod.uri"] == "jdbc:postgresql://db.internal:5433/iceberg_catalog"
    assert conf["spark.sql.catalog.prod.jdbc.user"] == "ice"
    assert conf["spark.sql.catalog.prod.warehouse"] == "s3://lake/warehouse"
    assert s.pyiceberg_properties()["uri"].startswith("postgresql+psycopg2://")


def test_bad_catalog_uri_and_spark_conf_fail_clearly(tmp_path: Path):
    with pytest.raises(ValueError, match="LAKEHOUSE_CATALOG_URI"):
        Settings.from_env(
            {"LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_CATALOG_URI": "mysql://x/y"}
        ).spark_conf()
    with pytest.raises(ValueError, match="LAKEHOUSE_SPARK_CONF"):
        Settings.from_env({"LAKEHOUSE_SPARK_CONF": "spark.x=1"})


def test_extra_spark_conf_keeps_key_case():
    s = Settings.from_env(
        {"LAKEHOUSE_SPARK_CONF": '{"spark.kubernetes.executor.podTemplateFile": "/t.yaml"}'}
    )
    assert s.spark_conf()["spark.kubernetes.executor.podTemplateFile"] == "/t.yaml"
