"""The deployment files (docker-compose.yml, docker/, .env.example, helm/llm-lakehouse) agree with each other and
with the code that reads the environment they set.

Docker and Helm do not exist on the dev and CI machines, so nothing is started or rendered here: the files are
parsed and cross-checked. values.schema.json is checked by a small validator for exactly the JSON Schema
keywords the schema uses (jsonschema is not in the jobs env); a test keeps the schema within them.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from llm_lakehouse.settings import ICEBERG_JAR, JDBC_JARS, REPO_ROOT, Settings
from llm_lakehouse.spec import load_spec

COMPOSE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
CHART = REPO_ROOT / "helm" / "llm-lakehouse"
SERVICES = {
    "postgres",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "spark-master",
    "spark-worker",
}
TEMPLATES = ("_helpers.tpl", "configmap.yaml", "spark-rbac.yaml", "NOTES.txt")
# Variables holding a secret (a *_FILE variable holds the path of one).
SECRET_NAME = re.compile(r"^(?!.*_FILE$).*(PASSWORD|SECRET|FERNET)")
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


def references(text: str) -> list[tuple[str, str]]:
    """(name, operator) of each variable reference; the operator is '' for ${NAME} and $NAME."""
    return [(m[1] or m[4], m[2] or "") for m in COMPOSE_VAR.finditer(text) if m[0] != "$$"]


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
    """The LAKEHOUSE_* variables settings.py reads."""
    source = (REPO_ROOT / "src" / "llm_lakehouse" / "settings.py").read_text()
    return set(re.findall(r'"(LAKEHOUSE_[A-Z_]+)"', source))


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


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


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


def test_every_service_has_a_healthcheck(compose: dict) -> None:
    for name, svc in compose["services"].items():
        check = svc.get("healthcheck") or {}
        assert not check.get("disable"), name
        assert isinstance(check.get("test"), list) and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert len(check["test"]) > 1, name


def test_builds_use_existing_dockerfiles_and_sources(compose: dict) -> None:
    ignored = [p for p in DOCKERIGNORE.read_text().splitlines() if p and not p.startswith("#")]
    builds = {
        (svc["build"]["context"], svc["build"]["dockerfile"])
        for svc in compose["services"].values()
        if "build" in svc
    }
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
    refs = [ref for s in strings(compose) for ref in references(s)]
    secrets = {name for name, _ in refs if SECRET_NAME.search(name)}
    assert secrets, "expected the passwords and keys as variables"
    # Secrets are required (${X:?}), never defaulted; .env.example holds placeholders only.
    assert {op for name, op in refs if name in secrets} == {":?"}
    assert all(env_example()[name] == "CHANGE-ME" for name in secrets)
    for svc in compose["services"].values():
        for key, value in (svc.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)), key
            for user, password in re.findall(r"://([^:/@\s]+):([^@/\s]+)@", str(value)):
                assert user.startswith("${") and password.startswith("${"), key


def test_required_variables_fail_without_env(compose: dict) -> None:
    with pytest.raises(KeyError, match="AIRFLOW_FERNET_KEY|CATALOG_DB|AIRFLOW_DB|POSTGRES"):
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
    assert {name for _, name in published} >= {"airflow-apiserver", "spark-master"}


def test_depends_on_waits_for_healthy_existing_services(compose: dict) -> None:
    graph = {}
    for name, svc in compose["services"].items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on needs the long form (conditions)"
        for dep, how in deps.items():
            assert dep in compose["services"] and dep != name, f"{name} -> {dep}"
            assert how == {"condition": "service_healthy"}, f"{name} -> {dep}: {how}"
        graph[name] = set(deps)

    def visit(node: str, stack: tuple[str, ...]) -> None:
        assert node not in stack, f"depends_on cycle: {' -> '.join((*stack, node))}"
        for dep in graph[node]:
            visit(dep, (*stack, node))

    for name in graph:
        visit(name, ())
    # Everything Airflow waits for the API server, which migrates the DB; the scheduler (Spark driver) for Spark.
    airflow = {n for n in SERVICES if n.startswith("airflow-")} - {"airflow-apiserver"}
    assert all("airflow-apiserver" in graph[n] for n in airflow)
    assert "spark-master" in graph["airflow-scheduler"] and "spark-master" in graph["spark-worker"]


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


def test_project_is_configured_through_env_only(resolved: dict) -> None:
    services = resolved["services"]
    scheduler = services["airflow-scheduler"]
    env = {k: str(v) for k, v in scheduler["environment"].items()}
    assert {k for k in env if k.startswith("LAKEHOUSE_")} <= settings_vars()
    # The project's own reading of that environment: a PostgreSQL catalog on the postgres service, the cluster.
    settings = Settings.from_env(env)
    uri, creds = settings.jdbc_uri()
    assert uri == "jdbc:postgresql://postgres:5432/iceberg_catalog" and set(creds) == {
        "jdbc.user",
        "jdbc.password",
    }
    assert settings.spark_master == "spark://spark-master:7077"
    assert settings.warehouse == "file:///warehouse"
    conn = json.loads(env["AIRFLOW_CONN_SPARK_DEFAULT"])
    assert conn == {"conn_type": "spark", "host": settings.spark_master}
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    # The driver (scheduler) and the executors (worker) see the warehouse and landing zone at the same paths.
    for name in ("airflow-scheduler", "spark-worker"):
        targets = {v.split(":")[1] for v in services[name]["volumes"]}
        assert {urlsplit(settings.warehouse).path, str(settings.home)} <= targets, name
        assert settings.landing.is_relative_to(settings.home)
    # Every Airflow service sees the same settings.
    for name, svc in services.items():
        if name.startswith("airflow-"):
            assert {k: v for k, v in svc["environment"].items() if k != "AIRFLOW_ADMIN_PASSWORD"} == env, name


def test_postgres_init_creates_the_databases_the_uris_name(resolved: dict) -> None:
    sql = (REPO_ROOT / "docker" / "postgres-init.sql").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+)", sql))
    env = resolved["services"]["airflow-scheduler"]["environment"]
    named = {
        urlsplit(env[k]).path.lstrip("/")
        for k in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "LAKEHOUSE_CATALOG_URI")
    }
    assert created == named == {"airflow", "iceberg_catalog"}
    postgres = resolved["services"]["postgres"]
    assert set(re.findall(r"\\getenv \w+ (\w+)", sql)) <= set(postgres["environment"])
    assert any(v.endswith(":/docker-entrypoint-initdb.d/10-lakehouse.sql:ro") for v in postgres["volumes"])


def test_spark_pool_is_the_specs(compose: dict, values: dict) -> None:
    pool = load_spec(REPO_ROOT / "pipelines" / "corpus_nightly.yaml").spark.pool
    command = "\n".join(compose["services"]["airflow-apiserver"]["command"])
    assert f"airflow pools set {pool} " in command
    (init,) = values["airflow"]["scheduler"]["extraInitContainers"]
    assert init["args"][:4] == ["airflow", "pools", "set", pool]


def test_images_hold_what_the_settings_expect(resolved: dict) -> None:
    env = resolved["services"]["airflow-scheduler"]["environment"]
    for name in ("airflow", "spark"):
        text = (REPO_ROOT / "docker" / f"{name}.Dockerfile").read_text()
        for needed in (ICEBERG_JAR, *JDBC_JARS, "snowpark_connect_deps_iceberg", "requirements/jobs.txt"):
            assert needed in text, f"{name}: {needed}"
        assert f"mkdir -p {env['LAKEHOUSE_JARS_DIR']}" in text
        assert env["LAKEHOUSE_JOBS_PYTHON"].removesuffix("/bin/python") in text
        assert "--uid 50000 --gid 0" in text
    airflow = (REPO_ROOT / "docker" / "airflow.Dockerfile").read_text()
    assert (
        "requirements/airflow.txt" in airflow
        and "ENV PATH=/opt/airflow-venv/bin:/opt/jobs-venv/bin:" in airflow
    )
    assert (REPO_ROOT / "docker" / "spark-entrypoint.sh").stat().st_mode & 0o111


def test_makefile_has_up_and_down() -> None:
    text = (REPO_ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", text, re.M)[1].split()
    assert {"up", "down"} <= set(phony)
    assert re.search(r"^up:.*\n\tdocker compose up -d --build$", text, re.M)
    assert re.search(r"^down:.*\n\tdocker compose down$", text, re.M)


# -- helm/llm-lakehouse ----------------------------------------------------------------------------------------
SCHEMA_KEYWORDS = {
    "$schema", "title", "description", "definitions", "$ref", "type", "required", "properties",
    "additionalProperties", "items", "enum", "pattern", "minimum", "minLength",
}  # fmt: skip
JSON_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def schema_keywords(schema: dict) -> set[str]:
    found = set(schema)
    for key in ("properties", "definitions"):
        for sub in schema.get(key, {}).values():
            found |= schema_keywords(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found |= schema_keywords(schema[key])
    return found


def validate(value: Any, schema: dict, root: dict, path: str = "") -> list[str]:
    """Errors of ``value`` against ``schema`` for SCHEMA_KEYWORDS, with draft-07 semantics."""
    where = path or "<root>"
    if "$ref" in schema:  # draft-07: a $ref's siblings are ignored
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return validate(value, target, root, path)
    if "type" in schema:
        types = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        # bool is an int in Python, not in JSON.
        matches = [t for t in types if isinstance(value, JSON_TYPES[t])]
        if not matches or (isinstance(value, bool) and "boolean" not in matches):
            return [f"{where}: expected {'/'.join(types)}, got {type(value).__name__}"]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{where}: shorter than {schema['minLength']}")
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value < schema.get("minimum", value)
    ):
        errors.append(f"{where}: {value} < {schema['minimum']}")
    if isinstance(value, dict):
        errors += [f"{where}: {key} is required" for key in schema.get("required", []) if key not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in schema.get("properties", {}):
                errors += validate(item, schema["properties"][key], root, f"{path}.{key}")
            elif extra is False:
                errors.append(f"{where}: {key} is not allowed")
            elif isinstance(extra, dict):
                errors += validate(item, extra, root, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += validate(item, schema["items"], root, f"{path}[{i}]")
    return errors


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads((CHART / "values.schema.json").read_text())


def test_chart_yaml_depends_on_the_official_airflow_chart() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "llm-lakehouse" and chart["version"]
    (dep,) = chart["dependencies"]
    assert dep["name"] == "airflow" and dep["repository"] == "https://airflow.apache.org"
    assert dep["condition"] == "airflow.enabled" and re.fullmatch(r"1\.\d+\.\d+", dep["version"])


def test_schema_is_draft07_and_within_the_validator(schema: dict) -> None:
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema_keywords(schema) <= SCHEMA_KEYWORDS


def test_values_satisfy_the_schema(values: dict, schema: dict) -> None:
    assert validate(values, schema, schema) == []
    assert set(schema["required"]) <= set(values)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda v: v["lakehouse"].pop("warehouse"), "lakehouse: warehouse is required"),
        (lambda v: v["spark"]["executor"].update(instances="2"), "expected integer"),
        (lambda v: v["spark"]["executor"].update(instances=0), "0 < 1"),
        (lambda v: v["images"]["spark"].update(pullPolicy="Sometimes"), "not in"),
        (lambda v: v["lakehouse"].update(warehouse="/no/scheme"), "does not match"),
        (lambda v: v.update(typo=1), "typo is not allowed"),
        (lambda v: v["spark"]["executor"].update(nodeSelector={"gpu": True}), "expected string"),
    ],
)
def test_validator_rejects_bad_values(values: dict, schema: dict, change, error: str) -> None:
    broken = json.loads(json.dumps(values))
    change(broken)
    assert any(error in e for e in validate(broken, schema, schema)), validate(broken, schema, schema)


def test_templates_exist_and_are_not_empty() -> None:
    for name in TEMPLATES:
        assert (CHART / "templates" / name).read_text().strip(), name


def test_chart_env_is_what_settings_reads() -> None:
    configmap = (CHART / "templates" / "configmap.yaml").read_text()
    keys = set(re.findall(r"^  (LAKEHOUSE_[A-Z_]+):", configmap, re.M))
    assert keys and keys <= settings_vars()
    assert "AIRFLOW_CONN_SPARK_DEFAULT:" in configmap and "SPARK_CONF_DIR:" in configmap


def test_values_repeated_for_the_airflow_subchart_agree(values: dict) -> None:
    """The subchart cannot read this chart's values: what it needs is repeated, and must stay equal."""
    airflow, lake = values["airflow"], values["lakehouse"]
    assert airflow["enabled"] is True and airflow["executor"] == "LocalExecutor"
    assert (airflow["defaultAirflowRepository"], airflow["defaultAirflowTag"]) == (
        values["images"]["airflow"]["repository"],
        values["images"]["airflow"]["tag"],
    )
    pinned = re.search(
        r"^apache-airflow==(\S+)$", (REPO_ROOT / "requirements" / "airflow.txt").read_text(), re.M
    )
    assert airflow["airflowVersion"] == pinned[1]
    assert {"envName": "LAKEHOUSE_CATALOG_URI", "secretName": lake["catalog"]["existingSecret"], "secretKey": lake["catalog"]["uriKey"]} in airflow["secret"]  # fmt: skip
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    for suffix in ("-lakehouse-env", "-lakehouse-spark-conf"):
        assert f'"%s{suffix}" .Release.Name' in helpers
        assert any(f"{{{{ .Release.Name }}}}{suffix}" in s for s in strings(airflow)), suffix
    scheduler = airflow["scheduler"]
    volumes = {v["name"]: v for v in scheduler["extraVolumes"]}
    mounts = {m["mountPath"]: m["name"] for m in scheduler["extraVolumeMounts"]}
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
    (init,) = scheduler["extraInitContainers"]
    (db,) = init["env"]
    assert db["valueFrom"]["secretKeyRef"] == {
        "name": airflow["data"]["metadataSecretName"],
        "key": "connection",
    }
