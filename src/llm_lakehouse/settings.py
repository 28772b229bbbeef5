"""Where the lakehouse lives, read from the environment: the one place a deployment is configured.

The embedded default (no variable set) keeps everything under ``<repo>/var``: a SQLite Iceberg catalog, a
``file://`` warehouse and the landing zone. Production sets the ``LAKEHOUSE_*`` variables (a PostgreSQL
catalog, an ``s3://`` warehouse) and nothing else changes: the spec, the DAG and the jobs are the same.

Both Spark (``spark_conf``) and pyiceberg (``pyiceberg_properties``) are configured from the same
``Settings``, so they always share one catalog under one name (a mismatch makes pyiceberg silently see
nothing).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
ICEBERG_JAR = "iceberg-spark-runtime-3.5_2.12-1.10.2.jar"
# The SQLite JDBC driver serves the embedded catalog, the PostgreSQL one production.
JDBC_JARS = ("sqlite-jdbc.jar", "postgresql.jar")


def _default_home() -> Path:
    # An editable checkout keeps its state beside the code; an installed package under the user's home.
    if (REPO_ROOT / "pyproject.toml").exists():
        return REPO_ROOT / "var"
    return Path.home() / ".llm_lakehouse"


@dataclass(frozen=True)
class Settings:
    home: Path
    catalog_name: str
    catalog_uri: str  # SQLAlchemy form: sqlite:////abs/catalog.db or postgresql+psycopg2://u:p@h:5432/db
    warehouse: str  # file:///abs/warehouse or s3://bucket/prefix
    landing: Path
    jars_dir: Path
    jobs_python: str
    spark_master: str
    spark_extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("LAKEHOUSE_HOME") or _default_home()).resolve()
        jobs_python = env.get("LAKEHOUSE_JOBS_PYTHON") or str(
            REPO_ROOT / ".venvs" / "jobs" / "bin" / "python"
        )
        try:
            extra = json.loads(env.get("LAKEHOUSE_SPARK_CONF") or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"LAKEHOUSE_SPARK_CONF: expected a JSON object of Spark properties: {exc}"
            ) from None
        if not isinstance(extra, dict):
            raise ValueError("LAKEHOUSE_SPARK_CONF: expected a JSON object of Spark properties")
        return cls(
            home=home,
            catalog_name=env.get("LAKEHOUSE_CATALOG_NAME", "lakehouse"),
            catalog_uri=env.get("LAKEHOUSE_CATALOG_URI") or f"sqlite:///{home / 'catalog.db'}",
            warehouse=env.get("LAKEHOUSE_WAREHOUSE") or (home / "warehouse").as_uri(),
            landing=Path(env.get("LAKEHOUSE_LANDING") or home / "landing").resolve(),
            jars_dir=Path(env.get("LAKEHOUSE_JARS_DIR") or REPO_ROOT / "build" / "jars").resolve(),
            jobs_python=jobs_python,
            spark_master=env.get("LAKEHOUSE_SPARK_MASTER", "local[*]"),
            spark_extra={str(k): str(v) for k, v in extra.items()},
        )

    @property
    def embedded(self) -> bool:
        """SQLite catalog: one writer JVM at a time (see ``catalog_lock``)."""
        return self.catalog_uri.startswith("sqlite")

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
        if self.embedded:
            return "jdbc:sqlite:" + self.catalog_uri.split(":///", 1)[1], {}
        parts = urlsplit(self.catalog_uri)
        scheme = parts.scheme.split("+", 1)[0]
        if scheme not in ("postgresql", "postgres"):
            raise ValueError(
                f"LAKEHOUSE_CATALOG_URI: expected sqlite:///... or postgresql://..., got {self.catalog_uri!r}"
            )
        port = f":{parts.port}" if parts.port else ""
        creds = {}
        if parts.username:
            creds["jdbc.user"] = parts.username
        if parts.password:
            creds["jdbc.password"] = parts.password
        return f"jdbc:postgresql://{parts.hostname}{port}{parts.path}", creds

    def jars(self) -> list[Path]:
        return [self.jars_dir / ICEBERG_JAR, *(self.jars_dir / j for j in JDBC_JARS)]

    def spark_conf(self) -> dict[str, str]:
        """Spark properties for the shared Iceberg catalog; passed as ``--conf`` to every spark-submit."""
        uri, creds = self.jdbc_uri()
        prefix = f"spark.sql.catalog.{self.catalog_name}"
        conf = {
            "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
            prefix: "org.apache.iceberg.spark.SparkCatalog",
            f"{prefix}.type": "jdbc",
            f"{prefix}.uri": uri,
            f"{prefix}.warehouse": self.warehouse,
            f"{prefix}.jdbc.schema-version": "V1",
            # Without this Spark keeps serving table metadata it cached before pyiceberg's commits.
            f"{prefix}.cache-enabled": "false",
            **{f"{prefix}.{k}": v for k, v in creds.items()},
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

    def pyiceberg_properties(self) -> dict[str, str]:
        return {"type": "sql", "uri": self.catalog_uri, "warehouse": self.warehouse}

    def spark_env(self) -> dict[str, str]:
        """Environment a spark-submit child needs so its job sees the same lakehouse."""
        return {k: v for k, v in os.environ.items() if k.startswith("LAKEHOUSE_")} | {
            "LAKEHOUSE_HOME": str(self.home),
            "LAKEHOUSE_CATALOG_URI": self.catalog_uri,
            "LAKEHOUSE_WAREHOUSE": self.warehouse,
            "LAKEHOUSE_LANDING": str(self.landing),
            "PYSPARK_PYTHON": self.jobs_python,
        }


def jobs_bin(settings: Settings) -> str:
    """The jobs env's ``bin/`` (holds ``spark-submit``), put on PATH of whoever submits Spark jobs."""
    return str(Path(settings.jobs_python).parent)
