"""Where the lakehouse lives, read from the environment: the one place a deployment is configured.

The embedded default (no variable set) keeps everything under ``<repo>/var``: a SQLite Iceberg catalog, a
``file://`` warehouse and the landing zone. A deployment sets ``LAKEHOUSE_*`` variables and nothing else
changes (the spec, the DAG and the jobs are the same):

- ``LAKEHOUSE_CATALOG_URI`` picks the catalog: ``sqlite:///...`` (embedded), ``postgresql+psycopg2://...``
  (Iceberg JDBC catalog) or ``http(s)://...`` (an Iceberg REST catalog, as in docker-compose.yml);
- an ``s3://`` ``LAKEHOUSE_WAREHOUSE`` switches Iceberg to S3FileIO, with ``LAKEHOUSE_S3_ENDPOINT`` for MinIO;
- ``LAKEHOUSE_SPARK_MASTER``, ``LAKEHOUSE_SPARK_CONF`` and ``LAKEHOUSE_SPARK_GPU_CONF`` shape the Spark jobs;
- ``LAKEHOUSE_DATAHUB_SINK`` (``lite``, ``file`` or ``rest`` with ``DATAHUB_GMS_URL``) says where lineage goes.

Both Spark (``spark_conf``) and pyiceberg (``pyiceberg_properties``) are configured from the same
``Settings``, so they always share one catalog under one name (a mismatch makes pyiceberg silently see
nothing).

Secrets (the JDBC catalog password, a REST catalog token, S3 keys, the DataHub token) never reach the
``--conf`` list of a spark-submit, which Airflow shows as the task's Rendered Template and ``ps`` shows to
anyone on the host: ``submit_conf()`` leaves them out, the spark-submit child inherits them as environment
variables, and the job's driver adds them when it builds its SparkSession (``spark_conf()``). S3 keys are
never properties at all: S3FileIO (JVM) and pyarrow (pyiceberg) read ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` through the AWS SDKs' default credential chain, on the driver and executors alike.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
ICEBERG_VERSION = "1.10.2"
ICEBERG_JAR = f"iceberg-spark-runtime-3.5_2.12-{ICEBERG_VERSION}.jar"
# S3FileIO and the AWS SDK v2 it needs; not on PyPI, so only the images carry it (docker/*.Dockerfile).
ICEBERG_AWS_JAR = f"iceberg-aws-bundle-{ICEBERG_VERSION}.jar"
# The SQLite JDBC driver serves the embedded catalog, the PostgreSQL one production.
JDBC_JARS = ("sqlite-jdbc.jar", "postgresql.jar")
S3_FILE_IO = "org.apache.iceberg.aws.s3.S3FileIO"
DATAHUB_SINKS = ("lite", "file", "rest")
# Variables whose value is, or holds, a secret: never copied into a spark-submit's env_vars (templated and
# rendered by Airflow, and turned into --conf spark.kubernetes.driverEnv.* on Kubernetes).
SECRET_ENV = ("LAKEHOUSE_CATALOG_TOKEN", "LAKEHOUSE_CATALOG_CREDENTIAL")

CatalogKind = Literal["sqlite", "jdbc", "rest"]


def _default_home() -> Path:
    # An editable checkout keeps its state beside the code; an installed package under the user's home.
    if (REPO_ROOT / "pyproject.toml").exists():
        return REPO_ROOT / "var"
    return Path.home() / ".llm_lakehouse"


def _json_object(env: dict[str, str], name: str) -> dict[str, str]:
    try:
        value = json.loads(env.get(name) or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}: expected a JSON object of Spark properties: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name}: expected a JSON object of Spark properties")
    return {str(k): str(v) for k, v in value.items()}


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}: expected true or false, got {value!r}")


@dataclass(frozen=True)
class Settings:
    home: Path
    catalog_name: str
    # sqlite:////abs/catalog.db, postgresql+psycopg2://u:p@h:5432/db, or http(s)://rest-catalog:8181
    catalog_uri: str
    warehouse: str  # file:///abs/warehouse or s3://bucket/prefix
    landing: Path
    jars_dir: Path
    jobs_python: str
    spark_master: str
    spark_extra: dict[str, str] = field(default_factory=dict)
    # Added to the Spark conf of the stages the spec marks `gpu: true` (resource requests, pod template).
    spark_gpu_extra: dict[str, str] = field(default_factory=dict)
    # S3 endpoint for MinIO and other S3-compatible stores; None: AWS's own endpoints.
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_path_style: bool = True
    # REST catalog auth: a bearer token, or an OAuth2 client credential "id:secret". Secrets.
    catalog_token: str | None = field(default=None, repr=False)
    catalog_credential: str | None = field(default=None, repr=False)
    # Where lineage goes (read by the lineage emitters): DataHub Lite, a file of MCPs, or a DataHub GMS.
    datahub_sink: str = "lite"
    datahub_gms_url: str | None = None
    datahub_token: str | None = field(default=None, repr=False)
    datahub_env: str = "PROD"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("LAKEHOUSE_HOME") or _default_home()).resolve()
        jobs_python = env.get("LAKEHOUSE_JOBS_PYTHON") or str(
            REPO_ROOT / ".venvs" / "jobs" / "bin" / "python"
        )
        sink = (env.get("LAKEHOUSE_DATAHUB_SINK") or "lite").lower()
        if sink not in DATAHUB_SINKS:
            raise ValueError(
                f"LAKEHOUSE_DATAHUB_SINK: expected one of {', '.join(DATAHUB_SINKS)}, got {sink!r}"
            )
        # sink=rest without DATAHUB_GMS_URL: the lineage code falls back to an Airflow connection's URL.
        gms_url = env.get("DATAHUB_GMS_URL") or None
        settings = cls(
            home=home,
            catalog_name=env.get("LAKEHOUSE_CATALOG_NAME", "lakehouse"),
            catalog_uri=env.get("LAKEHOUSE_CATALOG_URI") or f"sqlite:///{home / 'catalog.db'}",
            warehouse=env.get("LAKEHOUSE_WAREHOUSE") or (home / "warehouse").as_uri(),
            landing=Path(env.get("LAKEHOUSE_LANDING") or home / "landing").resolve(),
            jars_dir=Path(env.get("LAKEHOUSE_JARS_DIR") or REPO_ROOT / "build" / "jars").resolve(),
            jobs_python=jobs_python,
            spark_master=env.get("LAKEHOUSE_SPARK_MASTER", "local[*]"),
            spark_extra=_json_object(env, "LAKEHOUSE_SPARK_CONF"),
            spark_gpu_extra=_json_object(env, "LAKEHOUSE_SPARK_GPU_CONF"),
            s3_endpoint=env.get("LAKEHOUSE_S3_ENDPOINT") or None,
            # AWS_REGION is what both AWS SDKs read; LAKEHOUSE_S3_REGION wins where the two must differ.
            s3_region=env.get("LAKEHOUSE_S3_REGION") or env.get("AWS_REGION") or None,
            s3_path_style=_flag(env, "LAKEHOUSE_S3_PATH_STYLE", True),
            catalog_token=env.get("LAKEHOUSE_CATALOG_TOKEN") or None,
            catalog_credential=env.get("LAKEHOUSE_CATALOG_CREDENTIAL") or None,
            datahub_sink=sink,
            datahub_gms_url=gms_url,
            datahub_token=env.get("DATAHUB_GMS_TOKEN") or None,
            datahub_env=env.get("LAKEHOUSE_DATAHUB_ENV") or "PROD",
        )
        _ = settings.catalog_kind  # fails here, naming the variable, on a URI of no known catalog
        return settings

    # -- catalog ---------------------------------------------------------------------------------------
    @property
    def catalog_kind(self) -> CatalogKind:
        scheme = urlsplit(self.catalog_uri).scheme.split("+", 1)[0]
        if scheme == "sqlite":
            return "sqlite"
        if scheme in ("postgresql", "postgres"):
            return "jdbc"
        if scheme in ("http", "https"):
            return "rest"
        raise ValueError(
            "LAKEHOUSE_CATALOG_URI: expected sqlite:///..., postgresql://... or http(s)://... (Iceberg REST), "
            f"got {self.redacted_catalog_uri!r}"
        )

    @property
    def embedded(self) -> bool:
        """SQLite catalog: one writer JVM at a time (see ``catalog_lock``)."""
        return self.catalog_kind == "sqlite"

    @property
    def redacted_catalog_uri(self) -> str:
        """The catalog URI without its password, for logs and messages."""
        parts = urlsplit(self.catalog_uri)
        if not parts.password:
            return self.catalog_uri
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def uses_s3(self) -> bool:
        return urlsplit(self.warehouse).scheme in ("s3", "s3a")

    def prepare(self) -> None:
        """Creates the home folder and, for SQLite, switches the catalog to WAL journaling.

        Iceberg's JdbcCatalog leaves a read open on one pooled connection while another commits; in
        SQLite's default rollback-journal mode that read blocks the commit (``SQLITE_BUSY``) even inside a
        single JVM. In WAL mode readers never block the writer. The mode is stored in the database file.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        if self.embedded:
            import sqlite3

            db = Path(self.catalog_uri.split(":///", 1)[1])
            db.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(db, timeout=60) as conn:
                conn.execute("PRAGMA journal_mode=WAL")

    @property
    def lock_path(self) -> Path:
        return self.home / "catalog.lock"

    def jdbc_uri(self) -> tuple[str, dict[str, str]]:
        """The catalog URI as Iceberg's JdbcCatalog wants it, with user/password split out."""
        kind = self.catalog_kind
        if kind == "sqlite":
            return "jdbc:sqlite:" + self.catalog_uri.split(":///", 1)[1], {}
        if kind != "jdbc":
            raise ValueError(f"LAKEHOUSE_CATALOG_URI: {self.catalog_uri!r} is not a JDBC catalog")
        parts = urlsplit(self.catalog_uri)
        port = f":{parts.port}" if parts.port else ""
        creds = {}
        if parts.username:
            creds["jdbc.user"] = parts.username
        if parts.password:
            creds["jdbc.password"] = parts.password
        return f"jdbc:postgresql://{parts.hostname}{port}{parts.path}", creds

    def jars(self) -> list[Path]:
        jars = [self.jars_dir / ICEBERG_JAR, *(self.jars_dir / j for j in JDBC_JARS)]
        if self.uses_s3:
            jars.append(self.jars_dir / ICEBERG_AWS_JAR)
        return jars

    # -- Spark -----------------------------------------------------------------------------------------
    def _catalog_properties(self) -> tuple[dict[str, str], dict[str, str]]:
        """Iceberg catalog properties for Spark: (public, secret)."""
        public: dict[str, str] = {}
        secret: dict[str, str] = {}
        if self.catalog_kind == "rest":
            public |= {"type": "rest", "uri": self.catalog_uri}
            if self.catalog_token:
                secret["token"] = self.catalog_token
            if self.catalog_credential:
                secret["credential"] = self.catalog_credential
        else:
            uri, creds = self.jdbc_uri()
            public |= {"type": "jdbc", "uri": uri, "jdbc.schema-version": "V1"}
            if "jdbc.user" in creds:
                public["jdbc.user"] = creds["jdbc.user"]
            if "jdbc.password" in creds:
                secret["jdbc.password"] = creds["jdbc.password"]
        # A REST server may choose the location itself; the client still sends its warehouse.
        public["warehouse"] = self.warehouse
        # Without this Spark keeps serving table metadata it cached before pyiceberg's commits.
        public["cache-enabled"] = "false"
        if self.uses_s3:
            # Keys come from the AWS SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), which the
            # executors see too; only where to reach S3 is a property.
            public["io-impl"] = S3_FILE_IO
            if self.s3_endpoint:
                public["s3.endpoint"] = self.s3_endpoint
            public["s3.path-style-access"] = str(self.s3_path_style).lower()
            if self.s3_region:
                public["client.region"] = self.s3_region
        return public, secret

    def submit_conf(self) -> dict[str, str]:
        """Spark properties passed as ``--conf`` to spark-submit (Airflow renders them): no secret in them."""
        public, _ = self._catalog_properties()
        prefix = f"spark.sql.catalog.{self.catalog_name}"
        conf = {
            "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
            prefix: "org.apache.iceberg.spark.SparkCatalog",
            **{f"{prefix}.{k}": v for k, v in public.items()},
            "spark.sql.defaultCatalog": self.catalog_name,
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.shuffle.partitions": "4",
            "spark.pyspark.python": self.jobs_python,
            "spark.pyspark.driver.python": self.jobs_python,
            "spark.ui.enabled": "false",
            "spark.sql.execution.arrow.maxRecordsPerBatch": "2000",
        }
        conf.update(self.spark_extra)
        return conf

    def spark_conf(self) -> dict[str, str]:
        """Every Spark property of the catalog, secrets included, for a SparkSession built in-process.

        The job's driver builds its session with this (jobs/session.py); under spark-submit the secrets it adds
        come from the driver's own environment. Never pass it as ``--conf``: use ``submit_conf``.
        """
        _, secret = self._catalog_properties()
        prefix = f"spark.sql.catalog.{self.catalog_name}"
        return self.submit_conf() | {f"{prefix}.{k}": v for k, v in secret.items()}

    def gpu_conf(self) -> dict[str, str]:
        """Extra Spark properties of a stage that wants a GPU (``LAKEHOUSE_SPARK_GPU_CONF``; none locally)."""
        return dict(self.spark_gpu_extra)

    # -- pyiceberg -------------------------------------------------------------------------------------
    def pyiceberg_properties(self) -> dict[str, str]:
        """Properties for ``pyiceberg.catalog.load_catalog(catalog_name, **props)`` (in-process: secrets included)."""
        if self.catalog_kind == "rest":
            props = {"type": "rest", "uri": self.catalog_uri, "warehouse": self.warehouse}
            if self.catalog_token:
                props["token"] = self.catalog_token
            if self.catalog_credential:
                props["credential"] = self.catalog_credential
        else:
            props = {"type": "sql", "uri": self.catalog_uri, "warehouse": self.warehouse}
        if self.uses_s3:
            # pyarrow's S3 filesystem: keys from the AWS default chain, as for Spark.
            if self.s3_endpoint:
                props["s3.endpoint"] = self.s3_endpoint
            if self.s3_region:
                props["s3.region"] = self.s3_region
            props["s3.force-virtual-addressing"] = str(not self.s3_path_style).lower()
        return props

    # -- subprocesses ----------------------------------------------------------------------------------
    def spark_env(self) -> dict[str, str]:
        """Environment a spark-submit child needs so its job sees the same lakehouse.

        Airflow renders these (and turns them into --conf on Kubernetes), so nothing secret is in them: a
        catalog URI with a password and the tokens stay in the parent's environment, which the child inherits.
        """
        env = {k: v for k, v in os.environ.items() if k.startswith("LAKEHOUSE_") and k not in SECRET_ENV} | {
            "LAKEHOUSE_HOME": str(self.home),
            "LAKEHOUSE_CATALOG_URI": self.catalog_uri,
            "LAKEHOUSE_WAREHOUSE": self.warehouse,
            "LAKEHOUSE_LANDING": str(self.landing),
            "PYSPARK_PYTHON": self.jobs_python,
        }
        if urlsplit(self.catalog_uri).password:
            del env["LAKEHOUSE_CATALOG_URI"]
        return env

    # -- lineage ---------------------------------------------------------------------------------------
    @property
    def datahub_dir(self) -> Path:
        """Local lineage store: the file sink's MCPs and DataHub Lite's database live here."""
        return self.home / "datahub"

    def datahub_sink_config(self) -> dict[str, Any]:
        """The DataHub sink as a recipe's ``sink:`` block (in-process: the token is included)."""
        if self.datahub_sink == "rest":
            config: dict[str, Any] = {"server": self.datahub_gms_url}
            if self.datahub_token:
                config["token"] = self.datahub_token
            return {"type": "datahub-rest", "config": config}
        if self.datahub_sink == "file":
            return {"type": "file", "config": {"filename": str(self.datahub_dir / "mcps.json")}}
        # DataHub Lite's own default store; the lineage emitters may point it into datahub_dir.
        return {"type": "datahub-lite"}


def jobs_bin(settings: Settings) -> str:
    """The jobs env's ``bin/`` (holds ``spark-submit``), put on PATH of whoever submits Spark jobs."""
    return str(Path(settings.jobs_python).parent)
