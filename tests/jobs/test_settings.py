"""Configuration by environment only: the embedded default, a PostgreSQL catalog and the compose stack's REST
catalog on S3, without contacting any of them (the REST test answers pyiceberg's one call with a local stub)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.datahub.config import LineageConfig


def test_embedded_default_shares_one_catalog_between_spark_and_pyiceberg(tmp_path: Path):
    s = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path)})
    conf, props = s.spark_conf(), s.catalog.pyiceberg_properties()
    assert s.catalog.embedded and s.catalog.name == "lakehouse"
    assert conf["spark.sql.catalog.lakehouse.uri"] == f"jdbc:sqlite:{tmp_path}/catalog.db"
    assert props["uri"] == f"sqlite:///{tmp_path}/catalog.db"
    assert (
        conf["spark.sql.catalog.lakehouse.warehouse"]
        == props["warehouse"]
        == (tmp_path / "warehouse").as_uri()
    )
    assert conf["spark.sql.catalog.lakehouse.cache-enabled"] == "false"
    assert conf["spark.sql.defaultCatalog"] == "lakehouse"
    assert conf["spark.pyspark.python"] == s.spark.python


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
    assert not s.catalog.embedded
    assert conf["spark.sql.catalog.prod.uri"] == "jdbc:postgresql://db.internal:5433/iceberg_catalog"
    assert conf["spark.sql.catalog.prod.jdbc.user"] == "ice"
    assert conf["spark.sql.catalog.prod.warehouse"] == "s3://lake/warehouse"
    assert s.catalog.pyiceberg_properties()["uri"].startswith("postgresql+psycopg2://")


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


# -- the compose stack's switch: REST catalog, s3 warehouse, DataHub; no secret in the --conf list ----------
COMPOSE_ENV = {
    "LAKEHOUSE_CATALOG_URI": "http://iceberg-rest:8181",
    "LAKEHOUSE_WAREHOUSE": "s3://lakehouse/warehouse",
    "LAKEHOUSE_S3_ENDPOINT": "http://minio:9000",
    "LAKEHOUSE_S3_PATH_STYLE": "true",
    "LAKEHOUSE_SPARK_MASTER": "spark://spark-master:7077",
    "LAKEHOUSE_SPARK_GPU_CONF": '{"spark.executor.resource.gpu.amount": "1"}',
    "LAKEHOUSE_CATALOG_TOKEN": "tok-SECRET-1",
    "LAKEHOUSE_DATAHUB_SINK": "rest",
    "DATAHUB_GMS_URL": "http://datahub-gms:8080",
    "DATAHUB_GMS_TOKEN": "gms-SECRET-2",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "key-SECRET-3",
    "AWS_SECRET_ACCESS_KEY": "SECRET-4",
}


def test_rest_catalog_and_s3_warehouse_by_environment_only(tmp_path: Path):
    s = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path), **COMPOSE_ENV})
    assert s.catalog.kind == "rest" and not s.catalog.embedded and s.catalog.uses_s3
    assert s.spark.master == "spark://spark-master:7077"
    conf = s.submit_conf()
    p = "spark.sql.catalog.lakehouse"
    assert conf[p] == "org.apache.iceberg.spark.SparkCatalog"
    assert {k: v for k, v in conf.items() if k.startswith(p + ".")} == {
        f"{p}.type": "rest",
        f"{p}.uri": "http://iceberg-rest:8181",
        f"{p}.warehouse": "s3://lakehouse/warehouse",
        f"{p}.cache-enabled": "false",
        f"{p}.metrics-reporter-impl": "io.llmlakehouse.iceberg.CommitAttemptsReporter",
        f"{p}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{p}.s3.endpoint": "http://minio:9000",
        f"{p}.s3.path-style-access": "true",
        f"{p}.client.region": "us-east-1",
    }
    assert conf["spark.sql.defaultCatalog"] == "lakehouse"
    # S3FileIO needs the AWS bundle on the classpath.
    assert [j.name for j in s.jars()][-1] == "iceberg-aws-bundle-1.10.2.jar"
    assert s.catalog.pyiceberg_properties() == {
        "type": "rest",
        "uri": "http://iceberg-rest:8181",
        "warehouse": "s3://lakehouse/warehouse",
        "token": "tok-SECRET-1",
        "s3.endpoint": "http://minio:9000",
        "s3.region": "us-east-1",
        "s3.force-virtual-addressing": "false",
    }
    lineage = LineageConfig.from_env(s, COMPOSE_ENV)
    assert (lineage.sink, lineage.gms_url, lineage.token) == (
        "rest",
        "http://datahub-gms:8080",
        "gms-SECRET-2",
    )
    assert "SECRET" not in repr(s) + repr(lineage)
    assert s.spark.gpu_conf == {"spark.executor.resource.gpu.amount": "1"}


def test_no_secret_reaches_the_submit_conf_or_the_rendered_env(tmp_path: Path, monkeypatch):
    """What Airflow renders (conf, env_vars) and ps shows (--conf) holds no secret; the driver's session has them."""
    pg = "postgresql+psycopg2://ice:pg-SECRET-5@db:5432/iceberg_catalog"
    for env in (COMPOSE_ENV, {**COMPOSE_ENV, "LAKEHOUSE_CATALOG_URI": pg}):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        s = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path), **env})
        rendered = json.dumps([s.submit_conf(), s.spark_env()])
        assert "SECRET" not in rendered, rendered
        session = json.dumps(s.spark_conf())
        assert ("pg-SECRET-5" if s.catalog.kind == "jdbc" else "tok-SECRET-1") in session
        # S3 keys are no property anywhere: the AWS SDK chain reads them from the environment.
        assert "key-SECRET-3" not in session + json.dumps(s.catalog.pyiceberg_properties())
        assert "pg-SECRET-5" not in repr(s.catalog.redacted_uri)


def test_postgres_password_stays_out_of_the_submit_conf(tmp_path: Path):
    s = Settings.from_env(
        {
            "LAKEHOUSE_HOME": str(tmp_path),
            "LAKEHOUSE_CATALOG_URI": "postgresql+psycopg2://ice:s3cret@db.internal:5433/iceberg_catalog",
        }
    )
    assert "spark.sql.catalog.lakehouse.jdbc.password" not in s.submit_conf()
    assert s.submit_conf()["spark.sql.catalog.lakehouse.jdbc.user"] == "ice"
    assert s.spark_conf()["spark.sql.catalog.lakehouse.jdbc.password"] == "s3cret"
    assert "LAKEHOUSE_CATALOG_URI" not in s.spark_env()
    assert s.catalog.redacted_uri == "postgresql+psycopg2://ice:***@db.internal:5433/iceberg_catalog"


def test_embedded_default_is_unchanged(tmp_path: Path):
    """No variable set: the same conf as before the deployment switch (SQLite JDBC, file warehouse, no S3)."""
    s = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path)})
    assert s.spark_conf() == s.submit_conf()
    assert not any("s3" in k or "io-impl" in k for k in s.spark_conf())
    assert [j.name for j in s.jars()] == [
        "iceberg-spark-runtime-3.5_2.12-1.10.2.jar",
        "sqlite-jdbc.jar",
        "postgresql.jar",
        "lakehouse-iceberg-commits.jar",
    ]
    assert s.catalog.pyiceberg_properties() == {
        "type": "sql",
        "uri": f"sqlite:///{tmp_path}/catalog.db",
        "warehouse": (tmp_path / "warehouse").as_uri(),
    }
    assert s.spark.gpu_conf == {} and LineageConfig.from_env(s, {}).sink == "lite"
    assert s.spark_env()["LAKEHOUSE_CATALOG_URI"] == f"sqlite:///{tmp_path}/catalog.db"


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"LAKEHOUSE_S3_PATH_STYLE": "maybe"}, "LAKEHOUSE_S3_PATH_STYLE"),
        ({"LAKEHOUSE_SPARK_GPU_CONF": "[1]"}, "LAKEHOUSE_SPARK_GPU_CONF"),
        ({"LAKEHOUSE_CATALOG_URI": "thrift://hms:9083"}, "LAKEHOUSE_CATALOG_URI"),
    ],
)
def test_bad_deployment_variables_fail_clearly(env: dict[str, str], error: str):
    with pytest.raises(ValueError, match=error):
        Settings.from_env(env)


def test_datahub_file_sink_writes_under_home(tmp_path: Path):
    env = {"LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_DATAHUB_SINK": "file"}
    lineage = LineageConfig.from_env(Settings.from_env(env), env)
    assert lineage.sink == "file" and lineage.file_path == tmp_path / "datahub" / "mcps.json"
    with pytest.raises(ValueError, match="LAKEHOUSE_DATAHUB_SINK"):
        LineageConfig.from_env(Settings.from_env(env), {**env, "LAKEHOUSE_DATAHUB_SINK": "kafka"})


def test_open_catalog_loads_a_rest_catalog(tmp_path: Path):
    """open_catalog goes through pyiceberg's load_catalog for REST; a stub answers the one call it makes."""
    from llm_lakehouse.core.catalog import open_catalog

    seen: list[str] = []

    class Config(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = json.dumps({"defaults": {}, "overrides": {}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Config)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        uri = f"http://127.0.0.1:{server.server_port}"
        env = {**COMPOSE_ENV, "LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_CATALOG_URI": uri}
        cat = open_catalog(Settings.from_env(env))
    finally:
        server.shutdown()
    assert type(cat).__name__ == "RestCatalog" and cat.name == "lakehouse"
    assert cat.properties["s3.endpoint"] == "http://minio:9000" and cat.properties["uri"] == uri
    assert seen and seen[0].startswith("/v1/config")


def test_spec_marks_gpu_stages():
    from llm_lakehouse.core.spec import SparkSettings

    spark = SparkSettings.model_validate({"stages": {"gold": {"gpu": True}, "silver": {}}})
    assert spark.wants_gpu("gold") and not spark.wants_gpu("silver") and not spark.wants_gpu("bronze")
    with pytest.raises(ValueError):
        SparkSettings.model_validate({"stages": {"gold": {"gpus": 1}}})
    # A stage name that no stage declares (a typo) would silently route nothing to the GPU workers.
    with pytest.raises(ValueError, match=r"unknown stage\(s\) \['glod'\]"):
        SparkSettings.model_validate({"stages": {"glod": {"gpu": True}}})


def test_only_allowed_variables_are_handed_to_spark_tasks(tmp_path: Path, monkeypatch):
    """env_vars are rendered by Airflow: a salt, a key in LAKEHOUSE_SPARK_CONF or any unknown LAKEHOUSE_*
    variable stays in the worker's environment (inherited by the child) and out of the allow-listed env."""
    from llm_lakehouse.core.settings import SPARK_ENV_ALLOWED

    monkeypatch.setenv("LAKEHOUSE_PII_SALT", "salt-SECRET-0123456789")
    monkeypatch.setenv("LAKEHOUSE_SPARK_CONF", '{"spark.hadoop.fs.s3a.secret.key": "conf-SECRET"}')
    monkeypatch.setenv("LAKEHOUSE_SOMETHING_NEW", "x")
    monkeypatch.setenv("LAKEHOUSE_DATAHUB_SINK", "lite")
    env = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path)}).spark_env()
    assert "SECRET" not in json.dumps(env)
    assert set(env) - {"PYSPARK_PYTHON"} <= set(SPARK_ENV_ALLOWED)
    assert env["LAKEHOUSE_DATAHUB_SINK"] == "lite" and "LAKEHOUSE_SOMETHING_NEW" not in env
    # A secret Spark property reaches the driver's own session only, and `lakehouse config` masks it.
    s = Settings.from_env(
        {"LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_SPARK_CONF": os.environ["LAKEHOUSE_SPARK_CONF"]}
    )
    assert "conf-SECRET" not in json.dumps([s.submit_conf(), s.describe()])
    assert s.spark_conf()["spark.hadoop.fs.s3a.secret.key"] == "conf-SECRET"


def test_spark_writes_with_the_lakehouse_umask(tmp_path: Path):
    from llm_lakehouse.core.settings import UMASK

    s = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path)})
    assert s.submit_conf()["spark.hadoop.fs.permissions.umask-mode"] == "027" == f"{UMASK:03o}"
