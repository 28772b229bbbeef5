"""The deployment files (docker-compose.yml, docker/, .env.example, helm/llm-lakehouse) agree with each other and
with the code that reads the environment they set.

Docker and Helm do not exist on the dev and CI machines, so nothing is started here: the files are parsed and
cross-checked. The compose file is validated against the compose spec's JSON Schema (tests/jobs/schemas, taken
from a PyPI package: nothing downloads at test time), values.yaml against values.schema.json with jsonschema, and
the chart is linted (templates rendered, values checked against the schema) by Helm's own Go engine from the
helm-sdkpy package that `make setup` installs.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from llm_lakehouse.core.leases import LeaseConfig
from llm_lakehouse.core.settings import (
    ICEBERG_AWS_JAR,
    ICEBERG_JAR,
    ICEBERG_VERSION,
    JDBC_JARS,
    REPO_ROOT,
    Settings,
)
from llm_lakehouse.core.spec import load_spec
from llm_lakehouse.datahub.config import LineageConfig

COMPOSE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
CHART = REPO_ROOT / "helm" / "llm-lakehouse"
# The compose spec's JSON Schema as docker-compose 1.29.2 ships it (compose/config/compose_spec.json in
# docker_compose-1.29.2-py2.py3-none-any.whl, Apache-2.0), the only copy a PyPI package carries.
COMPOSE_SCHEMA = REPO_ROOT / "tests" / "jobs" / "schemas" / "compose-spec.json"
SERVICES = {
    "postgres",
    "redis",
    "minio",
    "minio-init",
    "catalog-bootstrap",
    "iceberg-rest",
    "catalog-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-worker-gpu",
    "spark-master",
    "spark-worker",
    "spark-worker-gpu",
    "corpus-stream",
    "datahub-mysql",
    "datahub-opensearch",
    "datahub-kafka",
    "datahub-system-update",
    "datahub-gms",
    "datahub-frontend",
}
# Jobs that run once and exit (no healthcheck; waited for with service_completed_successfully).
ONE_SHOT = {"minio-init", "catalog-bootstrap", "catalog-init", "datahub-system-update"}
TEMPLATES = (
    "_helpers.tpl",
    "configmap.yaml",
    "spark-rbac.yaml",
    "airflow-gpu-worker.yaml",
    "corpus-stream.yaml",
    "networkpolicy.yaml",
    "airflow-roles.yaml",
    "NOTES.txt",
)
# Variables holding a secret (a *_FILE variable holds the path of one).
SECRET_NAME = re.compile(
    r"^(?!.*_FILE$).*(PASSWORD|SECRET|FERNET|TOKEN|SALT|SIGNING_KEY|ACCESS_KEY|CREDENTIAL)"
)
# Compose interpolation: $$ (a literal $), ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, $NAME.
COMPOSE_VAR = re.compile(r"\$\$|\$\{([A-Za-z_]\w*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_]\w*)")


# -- helpers -------------------------------------------------------------------------------------------------
def strings(node: Any) -> list[str]:
    """Every string in a parsed YAML document (keys and values); comments are not in it, as for compose."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in strings(k) + strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


def references(text: str, with_default: bool = False) -> list[tuple[str, ...]]:
    """(name, operator[, argument]) of each variable reference; the operator is '' for ${NAME} and $NAME."""
    refs = [(m[1] or m[4], m[2] or "", m[3] or "") for m in COMPOSE_VAR.finditer(text) if m[0] != "$$"]
    return refs if with_default else [r[:2] for r in refs]


def interpolate(node: Any, env: dict[str, str]) -> Any:
    def one(m: re.Match) -> str:
        if m[0] == "$$":
            return "$"
        name, op, arg = m[1] or m[4], m[2] or "", m[3] or ""
        value = env.get(name)
        if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
            raise KeyError(f"{name}: {arg}")
        if op in (":-", "-") and (value is None or (op == ":-" and value == "")):
            return arg
        return value or ""

    if isinstance(node, str):
        return COMPOSE_VAR.sub(one, node)
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    return node


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and key.strip() == key and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), line
            assert key not in pairs, f"{key} twice in .env.example"
            pairs[key] = value
    return pairs


def settings_vars() -> set[str]:
    """The LAKEHOUSE_* variables the project reads: settings.py, leases.py (the day leases), the lineage config."""
    package = REPO_ROOT / "src" / "llm_lakehouse"
    source = "".join(
        (package / f).read_text() for f in ("core/settings.py", "core/leases.py", "datahub/config.py")
    )
    return set(re.findall(r'"(LAKEHOUSE_[A-Z0-9_]+)"', source))


def dockerfile_copies(dockerfile: Path) -> list[str]:
    """Sources of the COPY instructions (continuation lines joined), not counting COPY --from=<stage>."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    sources = []
    for line in text.splitlines():
        if line.strip().upper().startswith("COPY "):
            args = shlex.split(line.strip()[5:])
            if any(a.startswith("--from") for a in args):
                continue
            sources += [a for a in args if not a.startswith("--")][:-1]
    return sources


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def resolved(compose: dict) -> dict:
    """The compose file interpolated with the placeholders of .env.example, as `docker compose config` would."""
    return interpolate(compose, env_example())


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


# -- docker-compose.yml ----------------------------------------------------------------------------------------
def test_compose_has_the_stack_services(compose: dict) -> None:
    assert set(compose["services"]) == SERVICES
    assert "name" not in compose, "the 1.29 schema has no top-level name: the Makefile passes -p instead"


@pytest.mark.parametrize("stage", ["raw", "resolved"])
def test_compose_validates_against_the_compose_spec_schema(compose: dict, resolved: dict, stage: str) -> None:
    """The compose spec's JSON Schema, as docker-compose 1.29.2 (PyPI) ships it: every key known, every type right.

    It predates top-level `name:` and healthcheck `start_interval`, which the file therefore avoids.
    """
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(compose if stage == "raw" else resolved)
    ]
    assert errors == []
    # The validator does catch what it should.
    broken = json.loads(json.dumps(resolved))
    broken["services"]["redis"]["healthcheck"]["intervall"] = "5s"
    broken["services"]["minio"]["depends_on"] = {"redis": {"condition": "service_ok"}}
    assert len(list(validator.iter_errors(broken))) == 2


def test_every_service_has_a_healthcheck(compose: dict) -> None:
    for name, svc in compose["services"].items():
        if name in ONE_SHOT:
            # A job that exits: nothing to probe; dependents wait for its successful completion instead.
            assert svc.get("restart") == "no" and "healthcheck" not in svc, name
            continue
        check = svc.get("healthcheck") or {}
        assert not check.get("disable"), name
        assert isinstance(check.get("test"), list) and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert len(check["test"]) > 1, name


def test_images_are_pinned(compose: dict, resolved: dict) -> None:
    for name, svc in resolved["services"].items():
        if "build" in svc:
            continue
        image = svc["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest", f"{name}: {image} is not pinned"


def test_builds_use_existing_dockerfiles_and_sources(compose: dict) -> None:
    ignored = [p for p in DOCKERIGNORE.read_text().splitlines() if p and not p.startswith("#")]
    builds = {
        (svc["build"]["context"], svc["build"]["dockerfile"])
        for svc in compose["services"].values()
        if "build" in svc
    }
    # The REST catalog (Apache Polaris) runs from its pinned upstream image: nothing of ours to build.
    assert {dockerfile for _, dockerfile in builds} == {
        "docker/airflow.Dockerfile",
        "docker/spark.Dockerfile",
    }
    for context, dockerfile in builds:
        root = (REPO_ROOT / context).resolve()
        assert (root / dockerfile).is_file(), dockerfile
        for source in dockerfile_copies(root / dockerfile):
            path = root / source
            # A folder git does not track (empty) would be missing from a fresh clone.
            assert path.is_file() or (path.is_dir() and any(p.is_file() for p in path.rglob("*"))), source
            assert not any(fnmatch.fnmatch(source.split("/")[0], p) for p in ignored), (
                f"{source} is .dockerignored"
            )


def test_build_context_ignores_local_envs_and_secrets() -> None:
    ignored = set(DOCKERIGNORE.read_text().splitlines())
    assert {".venvs", ".env", "var", "build", ".git"} <= ignored
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().splitlines()


def test_every_variable_is_documented_in_env_example(compose: dict) -> None:
    used = {name for s in strings(compose) for name, _ in references(s)}
    documented = set(env_example())
    assert used - documented == set(), "referenced in docker-compose.yml, missing from .env.example"
    assert documented - used == set(), "documented in .env.example, unused in docker-compose.yml"


def test_no_secret_value_in_compose(compose: dict) -> None:
    refs = [(name, op, arg) for s in strings(compose) for name, op, arg in references(s, with_default=True)]
    secrets = {name for name, _, _ in refs if SECRET_NAME.search(name)}
    assert {
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "MINIO_ROOT_PASSWORD",
        "S3_JOBS_SECRET_KEY",
        "LAKEHOUSE_CATALOG_CREDENTIAL",
        "POLARIS_ROOT_CLIENT_SECRET",
        "DATAHUB_ADMIN_PASSWORD",
    } <= secrets
    # A secret is required (${X:?}), or optional with an empty default (${X:-}); never given a value here, and
    # .env.example holds placeholders (or nothing) only.
    for name, op, arg in refs:
        if name in secrets:
            assert op == ":?" or (op == ":-" and arg == ""), f"${{{name}{op}{arg}}}"
            assert env_example()[name] in ("CHANGE-ME", ""), name
    for svc in compose["services"].values():
        for key, value in (svc.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{\w+(:\?[^}]*|:-)\}", str(value)), key
            # Credentials inside URIs are variables too: user:password@ with a literal password is refused.
            bare = re.sub(r"\$\{[^}]*\}", "VAR", str(value))
            for password in re.findall(r"://[^:/@\s]*:([^@/\s]+)@", bare):
                assert password == "VAR", key


def test_required_variables_fail_without_env(compose: dict) -> None:
    with pytest.raises(KeyError, match="PASSWORD|FERNET|SECRET|ACCESS_KEY|CREDENTIAL|_USER"):
        interpolate(compose, {})


def test_host_ports_do_not_collide(resolved: dict) -> None:
    published = []
    for name, svc in resolved["services"].items():
        for port in svc.get("ports", []):
            if isinstance(port, dict):
                host = port.get("published")
            else:
                parts = str(port).split(":")
                host = parts[-2] if len(parts) > 1 else None
            if host:
                published.append((int(str(host).split("/")[0]), name))
    hosts = [p for p, _ in published]
    assert len(hosts) == len(set(hosts)), published
    assert {name for _, name in published} >= {
        "airflow-apiserver",
        "spark-master",
        "minio",
        "iceberg-rest",
        "datahub-gms",
        "datahub-frontend",
    }


def test_depends_on_waits_for_healthy_or_completed_services(compose: dict) -> None:
    graph = {}
    for name, svc in compose["services"].items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on needs the long form (conditions)"
        for dep, how in deps.items():
            assert dep in compose["services"] and dep != name, f"{name} -> {dep}"
            wanted = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert how == {"condition": wanted}, f"{name} -> {dep}: {how}"
        graph[name] = set(deps)

    def visit(node: str, stack: tuple[str, ...]) -> None:
        assert node not in stack, f"depends_on cycle: {' -> '.join((*stack, node))}"
        for dep in graph[node]:
            visit(dep, (*stack, node))

    for name in graph:
        visit(name, ())
    # Every Airflow service waits for the API server, which migrates the DB; the workers (Spark drivers) for
    # the cluster, the catalog and the bucket; the one-shot jobs are waited for by someone.
    airflow = {n for n in SERVICES if n.startswith("airflow-")} - {"airflow-apiserver"}
    assert all("airflow-apiserver" in graph[n] for n in airflow)
    for worker in ("airflow-worker", "airflow-worker-gpu"):
        assert {"spark-master", "iceberg-rest", "catalog-init", "minio-init", "redis", "postgres"} <= graph[
            worker
        ]
    assert all("spark-master" in graph[n] for n in ("spark-worker", "spark-worker-gpu"))
    assert {"postgres", "minio-init"} <= graph["iceberg-rest"]
    assert all(any(job in deps for deps in graph.values()) for job in ONE_SHOT)


def test_volumes_are_declared_or_exist(compose: dict) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO_ROOT / source).exists(), f"{name}: {source}"
            else:
                assert source in declared, f"{name}: undeclared volume {source}"
                used.add(source)
    assert used == declared


def test_celery_queues_and_gpu_reservations(resolved: dict) -> None:
    services = resolved["services"]
    for name in services:
        if name.startswith("airflow-"):
            assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
    assert services["airflow-worker"]["command"].endswith("--queues default")
    assert "--queues gpu" in services["airflow-worker-gpu"]["command"]
    assert services["airflow-worker"]["environment"]["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "default"
    dag_source = (REPO_ROOT / "src" / "llm_lakehouse" / "airflow/dags.py").read_text()
    assert 'DEFAULT_QUEUE = "default"' in dag_source and 'GPU_QUEUE = "gpu"' in dag_source

    def gpus(svc: dict) -> list[dict]:
        return svc.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])

    for name in ("airflow-worker-gpu", "spark-worker-gpu"):
        (device,) = gpus(services[name])
        assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"], name
    assert [n for n in services if gpus(services[n])] == ["airflow-worker-gpu", "spark-worker-gpu"]
    # The GPU Spark worker offers `gpu` resources found by the script the Spark image installs.
    opts = services["spark-worker-gpu"]["environment"]["SPARK_WORKER_OPTS"]
    script = re.search(r"-Dspark\.worker\.resource\.gpu\.discoveryScript=(\S+)", opts)[1]
    assert "-Dspark.worker.resource.gpu.amount=1" in opts
    assert (
        f"COPY docker/spark-gpu-discovery.sh {script}"
        in (REPO_ROOT / "docker" / "spark.Dockerfile").read_text()
    )
    assert (REPO_ROOT / "docker" / "spark-gpu-discovery.sh").stat().st_mode & 0o111


def test_gpu_discovery_script_prints_what_spark_expects(tmp_path: Path) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\nprintf '0\\n1\\n'\n")
    fake.chmod(0o755)
    script = str(REPO_ROOT / "docker" / "spark-gpu-discovery.sh")
    out = subprocess.run(
        [script], capture_output=True, text=True, check=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"}
    )
    assert json.loads(out.stdout) == {"name": "gpu", "addresses": ["0", "1"]}
    missing = subprocess.run([script], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert missing.returncode != 0 and "nvidia-smi not found" in missing.stderr


def test_project_is_configured_through_env_only(resolved: dict) -> None:
    """The compose environment, read by the project itself: REST catalog, s3 warehouse, cluster, DataHub."""
    services = resolved["services"]
    worker = services["airflow-worker"]
    env = {k: str(v) for k, v in worker["environment"].items()}
    assert {k for k in env if k.startswith("LAKEHOUSE_")} <= settings_vars()
    settings = Settings.from_env(env)
    assert settings.catalog.kind == "rest" and settings.catalog.uri == "http://iceberg-rest:8181/api/catalog"
    # The catalog authenticates: OAuth2 client credentials from .env, sent by Spark and pyiceberg alike.
    assert settings.catalog.credential == env_example()["LAKEHOUSE_CATALOG_CREDENTIAL"]
    assert settings.catalog.pyiceberg_properties()["credential"] == settings.catalog.credential
    assert (
        settings.catalog.warehouse == "s3://lakehouse/warehouse"
        and settings.catalog.s3_endpoint == "http://minio:9000"
    )
    assert settings.spark.master == "spark://spark-master:7077"
    lineage = LineageConfig.from_env(settings, env)
    assert lineage.sink == "rest" and lineage.gms_url == "http://datahub-gms:8080"
    conf = settings.submit_conf()
    assert conf["spark.sql.catalog.lakehouse.type"] == "rest"
    assert conf["spark.sql.catalog.lakehouse.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert conf["spark.sql.catalog.lakehouse.s3.endpoint"] == "http://minio:9000"
    assert settings.catalog.pyiceberg_properties()["type"] == "rest"
    # No value of .env reaches what Airflow renders: interpolate each secret with a recognisable value.
    marked = {
        k: (f"MARK{i}x" if SECRET_NAME.search(k) else v) for i, (k, v) in enumerate(env_example().items())
    }
    marked_env = {
        k: str(v)
        for k, v in interpolate(load_compose(), marked)["services"]["airflow-worker"]["environment"].items()
    }
    s = Settings.from_env(marked_env)
    assert "MARK" not in json.dumps([s.submit_conf(), s.spark_env()])
    assert marked_env["AWS_SECRET_ACCESS_KEY"].startswith(
        "MARK"
    )  # the SDK chain gets it from the environment
    # Spark's connection is the cluster, in client mode (the driver in the worker's task).
    conn = json.loads(env["AIRFLOW_CONN_SPARK_DEFAULT"])
    assert conn == {"conn_type": "spark", "host": settings.spark.master, "extra": {"deploy-mode": "client"}}
    # The REST catalog serves the bucket the lakehouse names, on the same MinIO (catalog-init creates it).
    init = services["catalog-init"]["environment"]
    assert (
        init["LAKEHOUSE_WAREHOUSE"] == settings.catalog.warehouse
        and init["S3_ENDPOINT"] == settings.catalog.s3_endpoint
    )
    assert init["LAKEHOUSE_CATALOG_CREDENTIAL"] == settings.catalog.credential
    assert settings.catalog.uri.startswith(init["POLARIS_URL"])
    # Drivers (Celery workers) and executors (Spark workers) see the landing zone at the same path, and the S3 keys.
    for name in ("airflow-worker", "airflow-worker-gpu", "spark-worker", "spark-worker-gpu"):
        targets = {v.split(":")[1] for v in services[name]["volumes"]}
        assert str(settings.home) in targets, name
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} <= set(
            services[name]["environment"]
        )
    assert settings.landing.is_relative_to(settings.home)
    # Each worker is a Spark driver the executors must reach by a name they resolve.
    for name in ("airflow-worker", "airflow-worker-gpu"):
        assert services[name]["environment"]["SPARK_LOCAL_HOSTNAME"] == name
    # Every Airflow service sees the same settings.
    per_service = {"AIRFLOW_ADMIN_PASSWORD", "SPARK_LOCAL_HOSTNAME", "NVIDIA_DRIVER_CAPABILITIES"}
    for name, svc in services.items():
        if name.startswith("airflow-"):
            same = {k: str(v) for k, v in svc["environment"].items() if k not in per_service}
            assert same == {k: v for k, v in env.items() if k not in per_service}, name


def test_datahub_plugin_env_is_what_the_lineage_code_derives(resolved: dict) -> None:
    """Compose spells out what `python -m llm_lakehouse.datahub.airflow_env` gives `make run` for a rest sink."""
    from llm_lakehouse.datahub import airflow_env

    env = {k: str(v) for k, v in resolved["services"]["airflow-worker"]["environment"].items()}
    # Only what the lineage code reads: the AIRFLOW__DATAHUB__* values compose spells out would win.
    inputs = {k: v for k, v in env.items() if k.startswith(("LAKEHOUSE_", "DATAHUB_GMS_"))}
    derived = airflow_env.plugin_env(Settings.from_env(env), inputs)
    conn = "AIRFLOW_CONN_DATAHUB_REST_DEFAULT"
    assert {k: v for k, v in derived.items() if k != conn} == {k: env[k] for k in derived if k != conn}
    ours = json.loads(env[conn])
    assert ours.pop("password") == ""  # .env's DATAHUB_GMS_TOKEN, empty while GMS auth is off
    assert ours == json.loads(derived[conn])


def test_postgres_init_creates_the_databases_the_uris_name(resolved: dict) -> None:
    sql = (REPO_ROOT / "docker" / "postgres-init.sql").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+)", sql))
    services = resolved["services"]
    named = {
        urlsplit(
            services["airflow-scheduler"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        ).path.lstrip("/"),
        urlsplit(
            services["iceberg-rest"]["environment"]["QUARKUS_DATASOURCE_JDBC_URL"].removeprefix("jdbc:")
        ).path.lstrip("/"),
    }
    assert created == named == {"airflow", "iceberg_catalog"}
    # Polaris's schema is made by catalog-bootstrap, in the same database, as the same role.
    bootstrap, server = services["catalog-bootstrap"]["environment"], services["iceberg-rest"]["environment"]
    for key in ("QUARKUS_DATASOURCE_JDBC_URL", "QUARKUS_DATASOURCE_USERNAME", "QUARKUS_DATASOURCE_PASSWORD"):
        assert bootstrap[key] == server[key], key
    assert server["QUARKUS_DATASOURCE_USERNAME"] == postgres_env_user(services)
    postgres = services["postgres"]
    assert set(re.findall(r"\\getenv \w+ (\w+)", sql)) <= set(postgres["environment"])
    assert any(v.endswith(":/docker-entrypoint-initdb.d/10-lakehouse.sql:ro") for v in postgres["volumes"])


def postgres_env_user(services: dict) -> str:
    """The role postgres-init.sql makes the owner of iceberg_catalog."""
    return services["postgres"]["environment"]["CATALOG_DB_USER"]


def test_spark_pool_is_the_specs(compose: dict, values: dict) -> None:
    pool = load_spec(REPO_ROOT / "pipelines" / "corpus_nightly.yaml").spark.pool
    command = "\n".join(compose["services"]["airflow-apiserver"]["command"])
    assert f"airflow pools set {pool} " in command
    (init,) = values["airflow"]["scheduler"]["extraInitContainers"]
    assert init["args"][:4] == ["airflow", "pools", "set", pool]


def test_images_hold_what_the_settings_expect(resolved: dict) -> None:
    env = resolved["services"]["airflow-worker"]["environment"]
    for name in ("airflow", "spark"):
        text = (REPO_ROOT / "docker" / f"{name}.Dockerfile").read_text()
        for needed in (ICEBERG_JAR, *JDBC_JARS, "snowpark_connect_deps_iceberg", "requirements/jobs.txt"):
            assert needed in text, f"{name}: {needed}"
        assert f"mkdir -p {env['LAKEHOUSE_JARS_DIR']}" in text
        assert env["LAKEHOUSE_JOBS_PYTHON"].removesuffix("/bin/python") in text
        assert "--uid 50000 --gid 0" in text
        # The AWS bundle (S3FileIO): the runtime jar's version, downloaded at build time and checked by sha.
        assert f"ARG ICEBERG_VERSION={ICEBERG_VERSION}" in text
        assert ICEBERG_AWS_JAR.replace(ICEBERG_VERSION, "${ICEBERG_VERSION}") in text
        assert re.search(r"^ARG ICEBERG_AWS_BUNDLE_SHA256=[0-9a-f]{64}$", text, re.M), name
        assert "sha256sum -c" in text and "sha1sum -c" in text
    airflow = (REPO_ROOT / "docker" / "airflow.Dockerfile").read_text()
    assert (
        "requirements/airflow.txt" in airflow
        and "ENV PATH=/opt/airflow-venv/bin:/opt/jobs-venv/bin:" in airflow
    )
    lock = (REPO_ROOT / "requirements" / "airflow.txt").read_text()
    for needed in ("apache-airflow-providers-celery", "celery", "redis", "psycopg2-binary", "asyncpg"):
        assert re.search(rf"^{needed}==", lock, re.M), needed
    assert (REPO_ROOT / "docker" / "spark-entrypoint.sh").stat().st_mode & 0o111
    # The REST catalog is Apache Polaris's own image, pinned, and its admin tool of the same version.
    services = resolved["services"]
    polaris = services["iceberg-rest"]["image"]
    assert polaris.startswith("apache/polaris:") and "build" not in services["iceberg-rest"]
    assert services["catalog-bootstrap"]["image"] == polaris.replace(
        "apache/polaris:", "apache/polaris-admin-tool:"
    )


def test_makefile_has_up_and_down() -> None:
    text = (REPO_ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", text, re.M)[1].split()
    assert {"up", "down"} <= set(phony)
    assert re.search(r"^up:.*\n\tdocker compose -p llm-lakehouse up -d --build$", text, re.M)
    assert re.search(r"^down:.*\n\tdocker compose -p llm-lakehouse down$", text, re.M)


# -- helm/llm-lakehouse ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads((CHART / "values.schema.json").read_text())


def schema_errors(values: dict, schema: dict) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(values)
    ]


def test_chart_yaml_depends_on_the_official_airflow_chart() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "llm-lakehouse" and chart["version"]
    (dep,) = chart["dependencies"]
    assert dep["name"] == "airflow" and dep["repository"] == "https://airflow.apache.org"
    assert dep["condition"] == "airflow.enabled" and re.fullmatch(r"1\.\d+\.\d+", dep["version"])


def test_schema_is_a_valid_draft07_schema(schema: dict) -> None:
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)


def test_values_satisfy_the_schema(values: dict, schema: dict) -> None:
    assert schema_errors(values, schema) == []
    assert set(schema["required"]) <= set(values)
    # Every value of this chart (not the subchart's) is described by the schema.
    assert set(values) - {"airflow"} == set(schema["properties"]) - {"airflow", "global"}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda v: v["lakehouse"].pop("warehouse"), "'warehouse' is a required property"),
        (lambda v: v["spark"]["executor"].update(instances="2"), "is not of type 'integer'"),
        (lambda v: v["spark"]["executor"].update(instances=0), "less than the minimum of 1"),
        (lambda v: v["images"]["spark"].update(pullPolicy="Sometimes"), "is not one of"),
        (lambda v: v["lakehouse"].update(warehouse="/no/scheme"), "does not match"),
        (lambda v: v.update(typo=1), "'typo' was unexpected"),
        (lambda v: v["spark"]["executor"].update(nodeSelector={"gpu": True}), "is not of type 'string'"),
        (lambda v: v["lakehouse"]["catalog"].update(uri="thrift://hms:9083"), "does not match"),
        (lambda v: v["lakehouse"]["datahub"].update(sink="kafka"), "is not one of"),
        (lambda v: v["lakehouse"]["datahub"].update(gmsUrl=""), "should be non-empty"),
        (lambda v: v["gpu"]["sparkExecutor"].update(gpus=0), "less than the minimum of 1"),
        (lambda v: v["lakehouse"]["s3"].update(pathStyle="yes"), "is not of type 'boolean'"),
    ],
)
def test_schema_rejects_bad_values(values: dict, schema: dict, change, error: str) -> None:
    broken = json.loads(json.dumps(values))
    change(broken)
    errors = schema_errors(broken, schema)
    assert any(error in e for e in errors), errors


def test_templates_exist_and_are_not_empty() -> None:
    for name in TEMPLATES:
        assert (CHART / "templates" / name).read_text().strip(), name


def test_chart_env_is_what_settings_reads(values: dict) -> None:
    configmap = (CHART / "templates" / "configmap.yaml").read_text()
    keys = set(re.findall(r"^  (LAKEHOUSE_[A-Z0-9_]+):", configmap, re.M))
    assert keys and keys <= settings_vars()
    assert {"LAKEHOUSE_CATALOG_URI", "LAKEHOUSE_WAREHOUSE", "LAKEHOUSE_S3_ENDPOINT", "LAKEHOUSE_DATAHUB_SINK", "LAKEHOUSE_SPARK_GPU_CONF"} <= keys  # fmt: skip
    for needed in ("AIRFLOW_CONN_SPARK_DEFAULT:", "SPARK_CONF_DIR:", "DATAHUB_GMS_URL:", "AWS_REGION:"):
        assert needed in configmap, needed
    # The chart's defaults, read by the project: REST catalog, s3 warehouse on an S3-compatible endpoint.
    lake = values["lakehouse"]
    settings = Settings.from_env(
        {
            "LAKEHOUSE_CATALOG_URI": lake["catalog"]["uri"],
            "LAKEHOUSE_WAREHOUSE": lake["warehouse"],
            "LAKEHOUSE_S3_ENDPOINT": lake["s3"]["endpoint"],
            "LAKEHOUSE_DATAHUB_SINK": lake["datahub"]["sink"],
            "DATAHUB_GMS_URL": lake["datahub"]["gmsUrl"],
        }
    )
    assert settings.catalog.kind == "rest" and settings.catalog.uses_s3
    # Several worker pods: the day leases in PostgreSQL, not the SQLite file on the shared volume.
    assert "LAKEHOUSE_LEASE_DB_URI" in keys
    leases = LeaseConfig.from_settings(settings, {"LAKEHOUSE_LEASE_DB_URI": lake["leases"]["dbUri"]})
    assert leases.uri == lake["leases"]["dbUri"] and leases.uri.startswith("postgresql://")


def test_gpu_work_lands_on_the_gpu_pool_with_gpu_limits(values: dict) -> None:
    worker = (CHART / "templates" / "airflow-gpu-worker.yaml").read_text()
    assert '"--queues", "gpu"' in worker and "nvidia.com/gpu: {{ .Values.gpu.celeryWorker.gpus }}" in worker
    assert ".Values.gpu.nodeSelector" in worker and ".Values.gpu.tolerations" in worker
    configmap = (CHART / "templates" / "configmap.yaml").read_text()
    template = configmap[configmap.index("gpu-executor-pod-template.yaml: |") :]
    assert "nvidia.com/gpu: {{ .Values.gpu.sparkExecutor.gpus }}" in template
    assert ".Values.gpu.nodeSelector" in template and ".Values.gpu.tolerations" in template
    assert (
        '"spark.kubernetes.executor.podTemplateFile" (printf "%s/gpu-executor-pod-template.yaml"' in configmap
    )
    assert '"spark.executor.resource.gpu.vendor" "nvidia.com"' in configmap
    gpu = values["gpu"]
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"]) and gpu["nodeSelector"]


def test_client_mode_drivers_are_reachable_by_pod_ip(values: dict) -> None:
    """Executor pods connect back to the driver; a Deployment pod's hostname resolves nowhere, its IP does."""
    configmap = (CHART / "templates" / "configmap.yaml").read_text()
    assert re.search(r"^\s+spark\.driver\.host\s+\$\{env:SPARK_DRIVER_HOST\}$", configmap, re.M)
    pod_ip = {"fieldRef": {"fieldPath": "status.podIP"}}
    (cpu,) = [e for e in yaml.safe_load(values["airflow"]["extraEnv"]) if e["name"] == "SPARK_DRIVER_HOST"]
    assert cpu["valueFrom"] == pod_ip
    worker = (CHART / "templates" / "airflow-gpu-worker.yaml").read_text()
    env = worker[worker.index("          env:") :]
    assert re.search(
        r"- name: SPARK_DRIVER_HOST.*\n\s+valueFrom: \{fieldRef: \{fieldPath: status.podIP\}\}", env
    )


def test_values_repeated_for_the_airflow_subchart_agree(values: dict) -> None:
    """The subchart cannot read this chart's values: what it needs is repeated, and must stay equal."""
    airflow, lake = values["airflow"], values["lakehouse"]
    assert airflow["enabled"] is True and airflow["executor"] == "CeleryExecutor"
    assert airflow["config"]["operators"]["default_queue"] == "default"
    assert (airflow["defaultAirflowRepository"], airflow["defaultAirflowTag"]) == (
        values["images"]["airflow"]["repository"],
        values["images"]["airflow"]["tag"],
    )
    pinned = re.search(
        r"^apache-airflow==(\S+)$", (REPO_ROOT / "requirements" / "airflow.txt").read_text(), re.M
    )
    assert airflow["airflowVersion"] == pinned[1]
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert {"envName": key, "secretName": lake["s3"]["existingSecret"], "secretKey": key} in airflow[
            "secret"
        ]
    leases = {
        "envName": "PGPASSWORD",
        "secretName": lake["leases"]["passwordSecret"],
        "secretKey": "PGPASSWORD",
    }
    assert leases in airflow["secret"]
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    for suffix in ("-lakehouse-env", "-lakehouse-spark-conf"):
        assert f'"%s{suffix}" .Release.Name' in helpers
        assert any(f"{{{{ .Release.Name }}}}{suffix}" in s for s in strings(airflow)), suffix
    workers = airflow["workers"]
    volumes = {v["name"]: v for v in workers["extraVolumes"]}
    mounts = {m["mountPath"]: m["name"] for m in workers["extraVolumeMounts"]}
    assert (
        volumes[mounts[lake["home"]]]["persistentVolumeClaim"]["claimName"]
        == lake["storage"]["existingClaim"]
    )
    assert "configMap" in volumes[mounts[values["spark"]["confDir"]]]
    # A file:// warehouse and the landing zone must be on the shared volume, which is mounted at `home`.
    for path in (
        urlsplit(lake["warehouse"]).path if lake["warehouse"].startswith("file://") else lake["home"],
        lake["landing"],
    ):
        assert Path(path).is_relative_to(lake["home"]), path
    (init,) = airflow["scheduler"]["extraInitContainers"]
    (db,) = init["env"]
    assert db["valueFrom"]["secretKeyRef"] == {
        "name": airflow["data"]["metadataSecretName"],
        "key": "connection",
    }
    # spark-submit runs in the workers: their ServiceAccount gets the Spark Role.
    assert (
        'include "llm-lakehouse.airflowWorkerServiceAccount"'
        in (CHART / "templates" / "spark-rbac.yaml").read_text()
    )


def helm_lint(chart: Path) -> dict:
    """`helm lint` by Helm's own Go code (helm-sdkpy bundles it as a shared library; no binary, no cluster)."""
    import asyncio

    import helm_sdkpy  # installed by `make setup` (scripts/setup.sh)

    config = helm_sdkpy.Configuration(namespace="lakehouse", kubeconfig="/dev/null")
    return asyncio.run(helm_sdkpy.Lint(config).run(str(chart)))


def lintable_chart(tmp_path: Path, values: dict) -> Path:
    """The chart without its airflow dependency (not downloadable here), with the given values."""
    chart = tmp_path / "llm-lakehouse"
    shutil.copytree(CHART, chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta.pop("dependencies")
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    (chart / "values.yaml").write_text(yaml.safe_dump(values))
    return chart


@pytest.mark.parametrize("variant", ["defaults", "no-gpu-worker", "airflow-off", "datahub-token", "broken"])
def test_helm_lint_renders_the_templates(tmp_path: Path, values: dict, variant: str) -> None:
    """Helm's engine renders every template (Go templates, sprig, include/tpl) and checks values.schema.json."""
    values = json.loads(json.dumps(values))
    if variant == "no-gpu-worker":
        values["gpu"]["celeryWorker"]["enabled"] = False
    elif variant == "airflow-off":
        values["airflow"] = {"enabled": False, "data": {"metadataSecretName": "x"}}
    elif variant == "datahub-token":
        values["lakehouse"]["datahub"]["tokenSecret"] = "datahub-token"
    elif variant == "broken":
        values["spark"]["executor"]["instances"] = "two"
    result = helm_lint(lintable_chart(tmp_path, values))
    assert result["TotalChartsLinted"] == 1
    # Severity 3 = error (1 info, 2 warning); the library reports no message text, only where.
    errors = [m["Path"] for m in result["Messages"] if m["Severity"] >= 3]
    if variant == "broken":
        assert "values.yaml" in errors
    else:
        assert errors == [], errors


def test_helm_lint_catches_a_template_error(tmp_path: Path, values: dict) -> None:
    chart = lintable_chart(tmp_path, values)
    worker = chart / "templates" / "airflow-gpu-worker.yaml"
    worker.write_text(worker.read_text().replace(".Values.gpu.celeryWorker.gpus", ".Values.gpu.nope.gpus"))
    result = helm_lint(chart)
    assert [m["Path"] for m in result["Messages"] if m["Severity"] >= 3] == ["templates/"]


# -- make run-prod (src/llm_lakehouse/devtools/prod.py) ---------------------------------------------------------
def test_the_local_production_topology_selects_its_parts_as_compose_and_the_chart_do(
    resolved: dict, values: dict
) -> None:
    """`make run-prod` sets the variables compose sets for its Airflow services, with the same kinds of value;
    only the endpoints differ. The chart selects the same executor and queue, and its ConfigMap the same
    LAKEHOUSE_* settings."""
    from llm_lakehouse.devtools.prod import CATALOG_DB, Ports, production_env

    secret = dict.fromkeys(
        ("airflow_db_password", "lakehouse_db_password", "redis_password", "fernet_key", "jwt_secret", "api_secret_key"),
        "x",
    )  # fmt: skip
    ours = production_env(Ports(), secret, Path("/lakehouse"))
    services = resolved["services"]
    theirs = {k: str(v) for k, v in services["airflow-worker"]["environment"].items()}
    assert set(ours) <= set(theirs), set(ours) - set(theirs)
    for same in ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__OPERATORS__DEFAULT_QUEUE"):
        assert ours[same] == theirs[same], same
    for url in (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "LAKEHOUSE_SPARK_MASTER",
    ):
        a, b = urlsplit(ours[url]), urlsplit(theirs[url])
        assert (a.scheme, a.path) == (b.scheme, b.path), url
        assert a.hostname == "127.0.0.1", url  # bound to loopback only
    spark_ours, spark_theirs = (
        json.loads(ours["AIRFLOW_CONN_SPARK_DEFAULT"]),
        json.loads(theirs["AIRFLOW_CONN_SPARK_DEFAULT"]),
    )
    assert spark_ours["host"] == ours["LAKEHOUSE_SPARK_MASTER"] and spark_ours.keys() == spark_theirs.keys()
    assert spark_ours["extra"] == spark_theirs["extra"]
    # The catalog: compose reaches its JDBC tables through the REST server, the local topology directly; the
    # database is the same one postgres-init.sql creates.
    rest_db = urlsplit(
        services["iceberg-rest"]["environment"]["QUARKUS_DATASOURCE_JDBC_URL"].removeprefix("jdbc:")
    ).path
    assert urlsplit(ours["LAKEHOUSE_CATALOG_URI"]).path == rest_db == f"/{CATALOG_DB}"
    settings = Settings.from_env(ours)
    assert settings.catalog.kind == "jdbc" and not settings.catalog.embedded  # no catalog lock
    assert settings.spark.master == ours["LAKEHOUSE_SPARK_MASTER"]
    # A password in the catalog URI never reaches what Airflow renders.
    assert "LAKEHOUSE_CATALOG_URI" not in settings.spark_env() and "x@" not in json.dumps(
        settings.submit_conf()
    )
    assert {k for k in ours if k.startswith("LAKEHOUSE_")} <= settings_vars()
    # The chart: the same executor and default queue; its ConfigMap sets the same LAKEHOUSE_* names.
    airflow = values["airflow"]
    assert airflow["executor"] == ours["AIRFLOW__CORE__EXECUTOR"]
    assert airflow["config"]["operators"]["default_queue"] == ours["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]
    configmap = (CHART / "templates" / "configmap.yaml").read_text()
    assert {k for k in ours if k.startswith(("LAKEHOUSE_", "AIRFLOW_CONN_SPARK"))} <= set(
        re.findall(r"^  ([A-Z][A-Z0-9_]+):", configmap, re.M)
    )


def test_make_run_prod_and_stop() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^run-prod:.*\n\tbash scripts/run_prod.sh$", makefile, re.M)
    run_prod = (REPO_ROOT / "scripts" / "run_prod.sh").read_text()
    assert "llm_lakehouse.devtools.prod up" in run_prod.replace("$PROD", "llm_lakehouse.devtools.prod")
    assert "llm_lakehouse.devtools.prod down" in (REPO_ROOT / "scripts" / "stop.sh").read_text()
