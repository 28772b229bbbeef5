"""Where the lakehouse lives, read from the environment: the one place a deployment is configured.

The embedded default (no variable set) keeps everything under ``<repo>/var``: a SQLite Iceberg catalog, a
``file://`` warehouse and the landing zone. A deployment sets ``LAKEHOUSE_*`` variables and nothing else
changes (the spec, the DAG and the jobs are the same):

- ``LAKEHOUSE_CATALOG_URI`` picks the catalog: ``sqlite:///...`` (embedded), ``postgresql+psycopg2://...``
  (Iceberg JDBC catalog) or ``http(s)://...`` (an Iceberg REST catalog, as in docker-compose.yml);
- an ``s3://`` ``LAKEHOUSE_WAREHOUSE`` switches Iceberg to S3FileIO, with ``LAKEHOUSE_S3_ENDPOINT`` for MinIO;
- ``LAKEHOUSE_SPARK_MASTER``, ``LAKEHOUSE_SPARK_CONF`` and ``LAKEHOUSE_SPARK_GPU_CONF`` shape the Spark jobs;
- ``LAKEHOUSE_DATAHUB_SINK`` (``lite``, ``file`` or ``rest`` with ``DATAHUB_GMS_URL``) says where lineage goes
  (read by the DataHub side, ``datahub/config.py``).

One class per concern: ``CatalogSettings`` (which Iceberg catalog, where the warehouse is, how to reach S3) and
``SparkRuntime`` (master, the jobs env's Python, jars, extra properties); ``Settings`` holds them with the home
and the landing zone, and derives what needs both (the spark-submit conf, a job's environment).

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
import re
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[3]
ICEBERG_VERSION = "1.10.2"
ICEBERG_JAR = f"iceberg-spark-runtime-3.5_2.12-{ICEBERG_VERSION}.jar"
# S3FileIO and the AWS SDK v2 it needs; not on PyPI, so only the images carry it (docker/*.Dockerfile).
ICEBERG_AWS_JAR = f"iceberg-aws-bundle-{ICEBERG_VERSION}.jar"
# The SQLite JDBC driver serves the embedded catalog, the PostgreSQL one production.
JDBC_JARS = ("sqlite-jdbc.jar", "postgresql.jar")
# The catalog's metrics reporter (jvm/, built by scripts/build_jvm.sh): each commit's attempts, for ops.run_audit.
COMMITS_JAR = "lakehouse-iceberg-commits.jar"
COMMIT_REPORTER = "io.llmlakehouse.iceberg.CommitAttemptsReporter"
S3_FILE_IO = "org.apache.iceberg.aws.s3.S3FileIO"
# The only variables a spark-submit's env_vars and a CLI task's env may carry: Airflow templates and renders
# them (Rendered Template, the serialized DAG) and turns them into --conf spark.kubernetes.driverEnv.* on
# Kubernetes, so an allow-list of configuration that is never secret. Everything else, secrets included (the
# PII salt a policy's salt_env names, catalog tokens, S3 keys, LAKEHOUSE_SPARK_CONF, which may hold keys), the
# child inherits from the worker's own environment, where the deployment's Secrets or a secrets backend put it.
SPARK_ENV_ALLOWED = (
    "LAKEHOUSE_HOME",
    "LAKEHOUSE_LANDING",
    "LAKEHOUSE_CATALOG_NAME",
    "LAKEHOUSE_DOMAIN",
    "LAKEHOUSE_CATALOG_URI",  # dropped when it holds a password
    "LAKEHOUSE_WAREHOUSE",
    "LAKEHOUSE_CATALOG_WAREHOUSE",
    "LAKEHOUSE_CATALOG_SCOPE",
    "LAKEHOUSE_S3_ENDPOINT",
    "LAKEHOUSE_S3_REGION",
    "LAKEHOUSE_S3_PATH_STYLE",
    "LAKEHOUSE_SPARK_MASTER",
    "LAKEHOUSE_JOBS_PYTHON",
    "LAKEHOUSE_JARS_DIR",
    "LAKEHOUSE_MODELS",
    "LAKEHOUSE_TORCH_THREADS",
    "LAKEHOUSE_DATAHUB_SINK",
    "LAKEHOUSE_DATAHUB_ENV",
    "LAKEHOUSE_DATAHUB_CONN_ID",
    "LAKEHOUSE_DATAHUB_TIMEOUT",
    "LAKEHOUSE_LEASE_TTL_S",
    "LAKEHOUSE_LEASE_WAIT_S",
    "LAKEHOUSE_FAULT",
    "LAKEHOUSE_FAULT_MODE",
)
# Selects a domain pipeline's own lakehouse (Settings.in_domain); set by its DAG's tasks and by `lakehouse
# --domain`, or by loading the domain's spec.
DOMAIN_ENV = "LAKEHOUSE_DOMAIN"
# Spark properties of LAKEHOUSE_SPARK_CONF that hold a secret by their name (fs.s3a.secret.key, a JDBC
# password, a token): never passed as --conf (rendered by Airflow, shown by ps), only set on the driver's session.
SECRET_PROPERTY = re.compile(r"secret|password|token|credential|access\.key|session\.key", re.IGNORECASE)
# Files the lakehouse writes are never world-readable (bronze holds raw PII): the processes' umask, and the
# Hadoop FileSystem's own umask for what Spark and Iceberg write (it applies its conf, not the process's).
UMASK = 0o027

CatalogKind = Literal["sqlite", "jdbc", "rest"]


def _default_home() -> Path:
    # An editable checkout keeps its state beside the code; an installed package under the user's home.
    if (REPO_ROOT / "pyproject.toml").exists():
        return REPO_ROOT / "var"
    return Path.home() / ".llm_lakehouse"


def _lakehouse(domain: str | None) -> str:
    return f"the lakehouse of domain {domain!r}" if domain else "the platform's lakehouse"


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
class CatalogSettings:
    name: str
    # sqlite:////abs/catalog.db, postgresql+psycopg2://u:p@h:5432/db, or http(s)://rest-catalog:8181
    uri: str = field(repr=False)  # may hold a password: repr shows redacted_uri
    warehouse: str  # file:///abs/warehouse or s3://bucket/prefix
    # S3 endpoint for MinIO and other S3-compatible stores; None: AWS's own endpoints.
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_path_style: bool = True
    # REST catalog auth: a bearer token, or an OAuth2 client credential "id:secret". Secrets.
    token: str | None = field(default=None, repr=False)
    credential: str | None = field(default=None, repr=False)
    # A REST catalog that names its catalogs (Apache Polaris): the ``warehouse`` the client asks for is the
    # catalog's name, not a location, and the OAuth2 scope it grants (Polaris: PRINCIPAL_ROLE:ALL). Neither is
    # secret. The location stays ``warehouse``, which also selects S3FileIO.
    rest_warehouse: str | None = None
    scope: str | None = None

    def __repr__(self) -> str:
        return f"CatalogSettings(name={self.name!r}, uri={self.redacted_uri!r}, warehouse={self.warehouse!r})"

    @property
    def kind(self) -> CatalogKind:
        scheme = urlsplit(self.uri).scheme.split("+", 1)[0]
        if scheme == "sqlite":
            return "sqlite"
        if scheme in ("postgresql", "postgres"):
            return "jdbc"
        if scheme in ("http", "https"):
            return "rest"
        raise ValueError(
            "LAKEHOUSE_CATALOG_URI: expected sqlite:///..., postgresql://... or http(s)://... (Iceberg REST), "
            f"got {self.redacted_uri!r}"
        )

    @property
    def embedded(self) -> bool:
        """SQLite catalog: one writer JVM at a time (see ``catalog_lock``)."""
        return self.kind == "sqlite"

    @property
    def redacted_uri(self) -> str:
        """The catalog URI without its password, for logs and messages."""
        parts = urlsplit(self.uri)
        if not parts.password:
            return self.uri
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def uses_s3(self) -> bool:
        return urlsplit(self.warehouse).scheme in ("s3", "s3a")

    def jdbc_uri(self) -> tuple[str, dict[str, str]]:
        """The catalog URI as Iceberg's JdbcCatalog wants it, with user/password split out."""
        kind = self.kind
        if kind == "sqlite":
            return "jdbc:sqlite:" + self.uri.split(":///", 1)[1], {}
        if kind != "jdbc":
            raise ValueError(f"LAKEHOUSE_CATALOG_URI: {self.redacted_uri!r} is not a JDBC catalog")
        parts = urlsplit(self.uri)
        port = f":{parts.port}" if parts.port else ""
        creds = {}
        if parts.username:
            creds["jdbc.user"] = parts.username
        if parts.password:
            creds["jdbc.password"] = parts.password
        return f"jdbc:postgresql://{parts.hostname}{port}{parts.path}", creds

    def _rest_public(self) -> dict[str, str]:
        props = {"warehouse": self.rest_warehouse, "scope": self.scope}
        return {k: v for k, v in props.items() if v}

    def _rest_auth(self) -> dict[str, str]:
        """A REST catalog's credentials, as both Spark's and pyiceberg's catalogs name them."""
        auth = {"token": self.token, "credential": self.credential}
        return {k: v for k, v in auth.items() if v}

    def spark_properties(self) -> tuple[dict[str, str], dict[str, str]]:
        """Iceberg catalog properties for Spark: (public, secret)."""
        public: dict[str, str] = {}
        secret: dict[str, str] = {}
        if self.kind == "rest":
            public |= {"type": "rest", "uri": self.uri, **self._rest_public()}
            secret |= self._rest_auth()
        else:
            uri, creds = self.jdbc_uri()
            public |= {"type": "jdbc", "uri": uri, "jdbc.schema-version": "V1"}
            if "jdbc.user" in creds:
                public["jdbc.user"] = creds["jdbc.user"]
            if "jdbc.password" in creds:
                secret["jdbc.password"] = creds["jdbc.password"]
        # A REST server may choose the location itself; the client still sends its warehouse.
        public.setdefault("warehouse", self.warehouse)
        # Without this Spark keeps serving table metadata it cached before pyiceberg's commits.
        public["cache-enabled"] = "false"
        public["metrics-reporter-impl"] = COMMIT_REPORTER
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

    def pyiceberg_properties(self) -> dict[str, str]:
        """Properties for ``pyiceberg.catalog.load_catalog(name, **props)`` (in-process: secrets included)."""
        if self.kind == "rest":
            props = {"type": "rest", "uri": self.uri, "warehouse": self.warehouse}
            props |= self._rest_public() | self._rest_auth()
        else:
            props = {"type": "sql", "uri": self.uri, "warehouse": self.warehouse}
        if self.uses_s3:
            # pyarrow's S3 filesystem: keys from the AWS default chain, as for Spark.
            if self.s3_endpoint:
                props["s3.endpoint"] = self.s3_endpoint
            if self.s3_region:
                props["s3.region"] = self.s3_region
            props["s3.force-virtual-addressing"] = str(not self.s3_path_style).lower()
        return props


@dataclass(frozen=True)
class SparkRuntime:
    master: str
    python: str  # the jobs env's interpreter: drivers and Python workers
    jars_dir: Path
    conf: dict[str, str] = field(default_factory=dict)  # LAKEHOUSE_SPARK_CONF
    # Added to the Spark conf of the stages the spec marks `gpu: true` (resource requests, pod template).
    gpu_conf: dict[str, str] = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        """The jobs env's ``bin/`` (holds ``spark-submit``), put on PATH of whoever submits Spark jobs."""
        return Path(self.python).parent


@dataclass(frozen=True)
class Settings:
    home: Path
    landing: Path
    catalog: CatalogSettings
    spark: SparkRuntime
    # A domain pipeline's own lakehouse (``in_domain``); ``root`` is the platform's, which it derives from.
    domain: str | None = None
    root: Settings | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        settings = cls._platform(env)
        domain = env.get(DOMAIN_ENV) or None
        return settings.in_domain(domain) if domain else settings

    def in_domain(self, domain: str) -> Settings:
        """The lakehouse of one domain's pipeline: its own catalog (``<name>_<domain>``), warehouse location
        (``<warehouse>/<domain>/<layer>/<table>``) and home (reports, leases, the embedded catalog file), so
        its days never replace another pipeline's; the landing zone stays shared (sources have one domain)."""
        if self.domain == domain:
            return self
        if self.domain is not None:
            raise ValueError(f"{DOMAIN_ENV}: already in domain {self.domain!r}, asked for {domain!r}")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", domain):
            raise ValueError(f"{DOMAIN_ENV}: expected a domain name ([a-z][a-z0-9_]*), got {domain!r}")
        home = self.home / "domains" / domain
        uri = self.catalog.uri
        if uri == f"sqlite:///{self.home / 'catalog.db'}":
            uri = f"sqlite:///{home / 'catalog.db'}"  # the embedded catalog: one file (and lock) per domain
        catalog = replace(
            self.catalog,
            name=f"{self.catalog.name}_{domain}",
            uri=uri,
            warehouse=f"{self.catalog.warehouse.rstrip('/')}/{domain}",
            # A catalog-naming REST server: the domain's own catalog there too.
            rest_warehouse=f"{self.catalog.rest_warehouse}_{domain}" if self.catalog.rest_warehouse else None,
        )
        return replace(self, home=home, catalog=catalog, domain=domain, root=self)

    def for_spec(self, spec: Any) -> Settings:
        """These settings for ``spec``'s jobs: its domain's lakehouse when it is a domain pipeline. A spec run
        against another domain's lakehouse (``LAKEHOUSE_DOMAIN`` set otherwise) is refused."""
        if spec.domain is not None and self.domain in (None, spec.domain):
            return self.in_domain(spec.domain)
        if spec.domain != self.domain:
            raise ValueError(
                f"{spec.path}: this spec builds {_lakehouse(spec.domain)}, but {DOMAIN_ENV} selects "
                f"{_lakehouse(self.domain)}; unset {DOMAIN_ENV} or use that domain's spec"
            )
        return self

    @classmethod
    def _platform(cls, env: dict[str, str]) -> Settings:
        home = Path(env.get("LAKEHOUSE_HOME") or _default_home()).resolve()
        catalog = CatalogSettings(
            name=env.get("LAKEHOUSE_CATALOG_NAME", "lakehouse"),
            uri=env.get("LAKEHOUSE_CATALOG_URI") or f"sqlite:///{home / 'catalog.db'}",
            warehouse=env.get("LAKEHOUSE_WAREHOUSE") or (home / "warehouse").as_uri(),
            s3_endpoint=env.get("LAKEHOUSE_S3_ENDPOINT") or None,
            # AWS_REGION is what both AWS SDKs read; LAKEHOUSE_S3_REGION wins where the two must differ.
            s3_region=env.get("LAKEHOUSE_S3_REGION") or env.get("AWS_REGION") or None,
            s3_path_style=_flag(env, "LAKEHOUSE_S3_PATH_STYLE", True),
            token=env.get("LAKEHOUSE_CATALOG_TOKEN") or None,
            credential=env.get("LAKEHOUSE_CATALOG_CREDENTIAL") or None,
            rest_warehouse=env.get("LAKEHOUSE_CATALOG_WAREHOUSE") or None,
            scope=env.get("LAKEHOUSE_CATALOG_SCOPE") or None,
        )
        _ = catalog.kind  # fails here, naming the variable, on a URI of no known catalog
        spark = SparkRuntime(
            master=env.get("LAKEHOUSE_SPARK_MASTER", "local[*]"),
            python=env.get("LAKEHOUSE_JOBS_PYTHON") or str(REPO_ROOT / ".venvs" / "jobs" / "bin" / "python"),
            jars_dir=Path(env.get("LAKEHOUSE_JARS_DIR") or REPO_ROOT / "build" / "jars").resolve(),
            conf=_json_object(env, "LAKEHOUSE_SPARK_CONF"),
            gpu_conf=_json_object(env, "LAKEHOUSE_SPARK_GPU_CONF"),
        )
        landing = Path(env.get("LAKEHOUSE_LANDING") or home / "landing").resolve()
        return cls(home=home, landing=landing, catalog=catalog, spark=spark)

    def prepare(self) -> None:
        """Creates the home folder and, for SQLite, switches the catalog to WAL journaling.

        Iceberg's JdbcCatalog leaves a read open on one pooled connection while another commits; in
        SQLite's default rollback-journal mode that read blocks the commit (``SQLITE_BUSY``) even inside a
        single JVM. In WAL mode readers never block the writer. The mode is stored in the database file.
        """
        os.umask(UMASK)  # inherited by every child: spark-submit, its JVM and Python workers
        self.home.mkdir(parents=True, exist_ok=True)
        if self.catalog.embedded:
            db = Path(self.catalog.uri.split(":///", 1)[1])
            db.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(db, timeout=60) as conn:
                conn.execute("PRAGMA journal_mode=WAL")

    @property
    def lock_path(self) -> Path:
        return self.home / "catalog.lock"

    def jars(self) -> list[Path]:
        jars_dir = self.spark.jars_dir
        jars = [jars_dir / ICEBERG_JAR, *(jars_dir / j for j in JDBC_JARS), jars_dir / COMMITS_JAR]
        if self.catalog.uses_s3:
            jars.append(jars_dir / ICEBERG_AWS_JAR)
        return jars

    def submit_conf(self) -> dict[str, str]:
        """Spark properties passed as ``--conf`` to spark-submit (Airflow renders them): no secret in them."""
        public, _ = self.catalog.spark_properties()
        prefix = f"spark.sql.catalog.{self.catalog.name}"
        conf = {
            "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
            prefix: "org.apache.iceberg.spark.SparkCatalog",
            **{f"{prefix}.{k}": v for k, v in public.items()},
            "spark.sql.defaultCatalog": self.catalog.name,
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.shuffle.partitions": "4",
            "spark.pyspark.python": self.spark.python,
            "spark.pyspark.driver.python": self.spark.python,
            "spark.ui.enabled": "false",
            "spark.sql.execution.arrow.maxRecordsPerBatch": "2000",
            "spark.hadoop.fs.permissions.umask-mode": f"{UMASK:03o}",
        }
        conf.update({k: v for k, v in self.spark.conf.items() if not SECRET_PROPERTY.search(k)})
        return conf

    def spark_conf(self) -> dict[str, str]:
        """Every Spark property of the catalog, secrets included, for a SparkSession built in-process.

        The job's driver builds its session with this (spark/session.py); under spark-submit the secrets it adds
        come from the driver's own environment. Never pass it as ``--conf``: use ``submit_conf``.
        """
        _, secret = self.catalog.spark_properties()
        prefix = f"spark.sql.catalog.{self.catalog.name}"
        return (
            self.submit_conf()
            | {k: v for k, v in self.spark.conf.items() if SECRET_PROPERTY.search(k)}
            | {f"{prefix}.{k}": v for k, v in secret.items()}
        )

    def spark_env(self) -> dict[str, str]:
        """Environment a spark-submit child needs so its job sees the same lakehouse.

        Airflow renders these (and turns them into --conf on Kubernetes), so only ``SPARK_ENV_ALLOWED`` is in
        them: a catalog URI with a password, tokens and salts stay in the parent's environment, which the child
        inherits.
        """
        # The platform's values plus the domain: the child derives the domain's lakehouse as this one did.
        base = self.root or self
        env = {k: v for k, v in os.environ.items() if k in SPARK_ENV_ALLOWED} | {
            "LAKEHOUSE_HOME": str(base.home),
            "LAKEHOUSE_CATALOG_NAME": base.catalog.name,
            "LAKEHOUSE_CATALOG_URI": base.catalog.uri,
            "LAKEHOUSE_WAREHOUSE": base.catalog.warehouse,
            **{
                k: v
                for k, v in (
                    ("LAKEHOUSE_CATALOG_WAREHOUSE", base.catalog.rest_warehouse),
                    ("LAKEHOUSE_CATALOG_SCOPE", base.catalog.scope),
                )
                if v
            },
            "LAKEHOUSE_LANDING": str(self.landing),
            "PYSPARK_PYTHON": self.spark.python,
        }
        env.pop(DOMAIN_ENV, None)
        if self.domain:
            env[DOMAIN_ENV] = self.domain
        if urlsplit(base.catalog.uri).password:
            del env["LAKEHOUSE_CATALOG_URI"]
        return env

    def describe(self) -> dict[str, Any]:
        """The settings in effect, secrets masked (``lakehouse config``)."""
        mask = "***"
        return {
            "domain": self.domain,
            "home": str(self.home),
            "landing": str(self.landing),
            "catalog": {
                "name": self.catalog.name,
                "kind": self.catalog.kind,
                "uri": self.catalog.redacted_uri,
                "warehouse": self.catalog.warehouse,
                "s3_endpoint": self.catalog.s3_endpoint,
                "s3_region": self.catalog.s3_region,
                "s3_path_style": self.catalog.s3_path_style,
                "token": mask if self.catalog.token else None,
                "credential": mask if self.catalog.credential else None,
            },
            "spark": {
                "master": self.spark.master,
                "python": self.spark.python,
                "jars": [str(j) for j in self.jars()],
                "conf": {k: mask if SECRET_PROPERTY.search(k) else v for k, v in self.spark.conf.items()},
                "gpu_conf": self.spark.gpu_conf,
            },
        }
