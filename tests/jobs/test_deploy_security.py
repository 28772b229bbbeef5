"""Security properties of the deployment files: docker-compose.yml, docker/minio/policies, helm/llm-lakehouse.

Nothing is started (Docker and Helm cannot run here). Compose is parsed and interpolated as
tests/jobs/test_deploy_files.py does; MinIO's policies are evaluated by a small IAM-style evaluator written below;
the chart is rendered by Helm's own Go engine (helm-sdkpy): an install against a fake Kubernetes API served from
this process, which answers discovery and captures the release Helm stores, whose manifest is `helm template`'s
output. Nothing is created anywhere. Each check also runs on a mutated copy it must reject.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import fnmatch
import gzip
import json
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.jobs.test_deploy_files import (
    CHART,
    COMPOSE,
    REPO_ROOT,
    env_example,
    interpolate,
    references,
    strings,
)

POLICIES = REPO_ROOT / "docker" / "minio" / "policies"
ROLES = ("ingest", "refine", "publish", "maintenance", "trainer", "catalog", "jobs")
BUCKET = "lakehouse"
LAYERS = ("bronze", "silver", "gold", "ops")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def resolved(compose: dict) -> dict:
    return interpolate(compose, env_example())


# -- 1. published ports ----------------------------------------------------------------------------------------
def host_ips(compose: dict) -> list[tuple[str, str]]:
    """(service, host IP as written) of every published port; '' when the entry binds all interfaces."""
    out = []
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            if isinstance(port, dict):
                out.append((name, str(port.get("host_ip", ""))))
                continue
            # [HOST_IP:]HOST_PORT:CONTAINER_PORT, the IP possibly a ${VAR:-default} reference (holding no ':').
            parts = re.sub(r"\$\{[^}]*\}", lambda m: m[0].replace(":", "\0"), str(port)).split(":")
            out.append((name, parts[0].replace("\0", ":") if len(parts) == 3 else ""))
    return out


def loopback_by_default(ip: str) -> bool:
    refs = references(ip, with_default=True)
    if refs:
        # One variable, whose default (when .env leaves it unset or empty) is loopback.
        return len(refs) == 1 and refs[0][1:] == (":-", "127.0.0.1") and ip == f"${{{refs[0][0]}:-127.0.0.1}}"
    return ip == "127.0.0.1"


def test_every_published_port_binds_loopback_by_default(compose: dict) -> None:
    ips = host_ips(compose)
    assert len(ips) >= 9 and {s for s, _ in ips} >= {
        "airflow-apiserver",
        "minio",
        "iceberg-rest",
        "datahub-gms",
    }
    assert [(s, ip) for s, ip in ips if not loopback_by_default(ip)] == []
    # One variable for all of them, documented with the same default.
    assert {references(ip)[0][0] for _, ip in ips} == {"LAKEHOUSE_BIND_ADDRESS"}
    assert env_example()["LAKEHOUSE_BIND_ADDRESS"] == "127.0.0.1"
    # Resolved without a .env, every port is on 127.0.0.1.
    bare = interpolate(compose, env_example() | {"LAKEHOUSE_BIND_ADDRESS": ""})
    assert {ip for _, ip in host_ips(bare)} == {"127.0.0.1"}


@pytest.mark.parametrize(
    "port",
    [
        "${AIRFLOW_UI_PORT:-8080}:8080",
        "0.0.0.0:8080:8080",
        "${LAKEHOUSE_BIND_ADDRESS:-0.0.0.0}:8080:8080",
        "8080",
    ],
)
def test_the_port_check_rejects_ports_open_to_all_interfaces(compose: dict, port: str) -> None:
    mutated = copy.deepcopy(compose)
    mutated["services"]["airflow-apiserver"]["ports"] = [port]
    (ip,) = [ip for s, ip in host_ips(mutated) if s == "airflow-apiserver"]
    assert not loopback_by_default(ip)


# -- 2. the REST catalog authenticates -------------------------------------------------------------------------
def test_the_rest_catalog_is_polaris_with_oauth2_client_credentials(compose: dict, resolved: dict) -> None:
    services = resolved["services"]
    polaris = services["iceberg-rest"]
    image = polaris["image"]
    assert re.fullmatch(r"apache/polaris:\d+\.\d+\.\d+(-incubating)?", image), image
    # Its metadata store is the compose PostgreSQL (not the in-memory default, lost on restart).
    env = polaris["environment"]
    assert env["POLARIS_PERSISTENCE_TYPE"] == "relational-jdbc"
    assert env["QUARKUS_DATASOURCE_JDBC_URL"] == "jdbc:postgresql://postgres:5432/iceberg_catalog"
    # Every Airflow/Spark-driver service sends the client credentials, a required .env variable.
    raw = compose["services"]
    for name, svc in services.items():
        if name.startswith("airflow-") or name == "corpus-stream":
            assert (
                svc["environment"]["LAKEHOUSE_CATALOG_CREDENTIAL"]
                == env_example()["LAKEHOUSE_CATALOG_CREDENTIAL"]
            )
            assert svc["environment"]["LAKEHOUSE_CATALOG_URI"] == "http://iceberg-rest:8181/api/catalog", name
    anchor = yaml.safe_load(COMPOSE.read_text().split("\nx-spark-env:")[0])["x-lakehouse-env"]
    assert anchor["LAKEHOUSE_CATALOG_CREDENTIAL"] == "${LAKEHOUSE_CATALOG_CREDENTIAL:?set in .env}"
    with pytest.raises(KeyError, match="LAKEHOUSE_CATALOG_CREDENTIAL"):
        interpolate(
            raw["airflow-worker"],
            {k: v for k, v in env_example().items() if k != "LAKEHOUSE_CATALOG_CREDENTIAL"},
        )
    # Bootstrapped by one-shot jobs: the realm (admin tool, same version) and the principal (catalog-init).
    assert services["catalog-bootstrap"]["image"] == image.replace("polaris:", "polaris-admin-tool:")
    assert services["catalog-init"]["environment"]["LAKEHOUSE_CATALOG_CREDENTIAL"] == anchor_value(resolved)
    script = (REPO_ROOT / "docker" / "polaris-init.sh").read_text()
    for needed in ("/principals/lakehouse/reset", "CATALOG_MANAGE_CONTENT", "grant_type=client_credentials", 'stsUnavailable'):  # fmt: skip
        assert needed in script, needed
    assert "./docker/polaris-init.sh:/polaris-init.sh:ro" in raw["catalog-init"]["volumes"]
    # The unauthenticated fixture is gone, and nothing refers to it.
    assert not (REPO_ROOT / "docker" / "iceberg-rest.Dockerfile").exists()
    assert "iceberg-rest-fixture" not in COMPOSE.read_text()


def anchor_value(resolved: dict) -> str:
    return resolved["services"]["airflow-worker"]["environment"]["LAKEHOUSE_CATALOG_CREDENTIAL"]


def test_polaris_init_never_passes_a_secret_on_a_command_line() -> None:
    """curl reads the secrets from its standard input (-K -) or a file, never from arguments (`ps` shows those)."""
    script = (REPO_ROOT / "docker" / "polaris-init.sh").read_text()
    secret_vars = ("POLARIS_ROOT_CLIENT_SECRET", "CLIENT_SECRET", "token")
    for line in script.splitlines():
        if re.search(r"\bcurl\b", line):
            assert not any(f"${v}" in line or f"${{{v}}}" in line for v in secret_vars), line


# -- 3. DataHub ------------------------------------------------------------------------------------------------
def test_datahub_authenticates_metadata_calls_and_logins(compose: dict, resolved: dict) -> None:
    services = resolved["services"]
    for name in ("datahub-gms", "datahub-frontend", "datahub-system-update"):
        assert services[name]["environment"]["METADATA_SERVICE_AUTH_ENABLED"] == "true", name
    # The frontend's root user gets the .env password, written to the user.props JaaS reads before it starts.
    front = compose["services"]["datahub-frontend"]
    assert front["environment"]["DATAHUB_ADMIN_PASSWORD"] == "${DATAHUB_ADMIN_PASSWORD:?set in .env}"
    command = "\n".join(front["command"])
    assert (
        "printf 'datahub:%s\\n' \"$${DATAHUB_ADMIN_PASSWORD}\" > /datahub-frontend/conf/user.props" in command
    )
    assert not any("datahub:datahub" in s for s in strings(compose))
    assert env_example()["DATAHUB_ADMIN_PASSWORD"] == "CHANGE-ME"
    # The lineage emitters and the Airflow plugin send DATAHUB_GMS_TOKEN (what datahub/config.py reads).
    config = (REPO_ROOT / "src" / "llm_lakehouse" / "datahub" / "config.py").read_text()
    assert 'env.get("DATAHUB_GMS_TOKEN")' in config
    merged = resolved["services"]["airflow-worker"]["environment"]
    assert "DATAHUB_GMS_TOKEN" in merged
    conn = next(s for s in strings(yaml.safe_load(COMPOSE.read_text())) if '"conn_type": "datahub-rest"' in s)
    assert '"password": "${DATAHUB_GMS_TOKEN:-}"' in conn
    marked = interpolate(
        yaml.safe_load(COMPOSE.read_text()), env_example() | {"DATAHUB_GMS_TOKEN": "TOKEN-X"}
    )
    env = marked["services"]["airflow-worker"]["environment"]
    assert env["DATAHUB_GMS_TOKEN"] == "TOKEN-X"
    assert json.loads(env["AIRFLOW_CONN_DATAHUB_REST_DEFAULT"])["password"] == "TOKEN-X"


def test_the_datahub_check_rejects_auth_off(resolved: dict) -> None:
    mutated = copy.deepcopy(resolved)
    mutated["services"]["datahub-gms"]["environment"]["METADATA_SERVICE_AUTH_ENABLED"] = "false"
    with pytest.raises(AssertionError):
        for name in ("datahub-gms", "datahub-frontend"):
            assert mutated["services"][name]["environment"]["METADATA_SERVICE_AUTH_ENABLED"] == "true"


# -- 4. MinIO: per-layer role policies ------------------------------------------------------------------------
def policy(role: str, bucket: str = BUCKET) -> dict:
    return json.loads((POLICIES / f"{role}.json").read_text().replace("@BUCKET@", bucket))


def as_list(v: str | list[str]) -> list[str]:
    return [v] if isinstance(v, str) else list(v)


def iam_match(pattern: str, value: str) -> bool:
    """IAM wildcards: * is any run of characters (across '/'), ? one character; case-sensitive."""
    return fnmatch.fnmatchcase(value, pattern)


def conditions_hold(statement: dict, context: dict[str, str]) -> bool:
    for op, tests in statement.get("Condition", {}).items():
        assert op in ("StringLike", "StringEquals"), f"evaluator knows no {op}"
        for key, wanted in tests.items():
            value = context.get(key)
            if value is None:
                return False
            match = iam_match if op == "StringLike" else str.__eq__
            if not any(match(w, value) for w in as_list(wanted)):
                return False
    return True


def allowed(doc: dict, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """IAM evaluation: an explicit Deny wins, then any Allow, else the implicit deny."""
    verdict = False
    for st in doc["Statement"]:
        assert set(st) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, st
        assert "NotAction" not in st and "NotResource" not in st
        if not any(iam_match(a, action) for a in as_list(st["Action"])):
            continue
        if not any(iam_match(r, resource) for r in as_list(st["Resource"])):
            continue
        if not conditions_hold(st, context or {}):
            continue
        if st["Effect"] == "Deny":
            return False
        assert st["Effect"] == "Allow"
        verdict = True
    return verdict


def obj(key: str) -> str:
    return f"arn:aws:s3:::{BUCKET}/{key}"


def table_file(layer: str, domain: str = "support", table: str = "documents") -> str:
    return obj(f"warehouse/{domain}/{layer}/{table}/data/dt=2026-11-01/x.parquet")


def can(role: str, what: str, layer: str) -> bool:
    actions = {"read": ["s3:GetObject"], "write": ["s3:PutObject"], "delete": ["s3:DeleteObject"]}[what]
    doc = policy(role)
    return all(allowed(doc, a, table_file(layer)) for a in actions)


def test_the_evaluator_follows_iam_rules() -> None:
    doc = {
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:Get*"], "Resource": ["arn:aws:s3:::b/*"]},
            {"Effect": "Deny", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/secret/*"]},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
             "Condition": {"StringLike": {"s3:prefix": ["pub/*"]}}},
        ]
    }  # fmt: skip
    assert allowed(doc, "s3:GetObject", "arn:aws:s3:::b/x/y")
    assert allowed(doc, "s3:GetObjectTagging", "arn:aws:s3:::b/x")
    assert not allowed(doc, "s3:GetObject", "arn:aws:s3:::b/secret/k")  # explicit Deny wins over the Allow
    assert not allowed(doc, "s3:PutObject", "arn:aws:s3:::b/x")  # implicit deny
    assert not allowed(doc, "s3:GetObject", "arn:aws:s3:::other/x")
    assert allowed(doc, "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "pub/a"})
    assert not allowed(doc, "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "priv/a"})
    assert not allowed(doc, "s3:ListBucket", "arn:aws:s3:::b")


def test_minio_roles_are_scoped_to_their_layers() -> None:
    assert {p.stem for p in POLICIES.glob("*.json")} == set(ROLES)
    expected = {
        # role: (readable, writable) layers
        "ingest": ({"bronze", "ops"}, {"bronze", "ops"}),
        "refine": ({"bronze", "silver", "ops"}, {"silver", "ops"}),
        "publish": ({"silver", "gold", "ops"}, {"gold", "ops"}),
        "maintenance": (set(LAYERS), set(LAYERS)),
        "trainer": ({"gold"}, set()),
        "jobs": (set(LAYERS), set(LAYERS)),
        "catalog": (set(), set()),
    }
    for role, (readable, writable) in expected.items():
        assert {lay for lay in LAYERS if can(role, "read", lay)} == readable, role
        assert {lay for lay in LAYERS if can(role, "write", lay)} == writable, role
        # Deleting table files (snapshot expiry, orphans) is maintenance's alone.
        assert {lay for lay in LAYERS if can(role, "delete", lay)} == (
            set(LAYERS) if role == "maintenance" else set()
        )
    # The review's cases.
    assert not can("trainer", "read", "bronze")
    assert not allowed(
        policy("trainer"), "s3:GetObject", obj("warehouse/support/bronze/documents/data/x.parquet")
    )
    assert allowed(
        policy("trainer"), "s3:GetObject", obj("warehouse/support/gold/training_documents/data/x.parquet")
    )
    assert not can("publish", "read", "bronze") and not can("ingest", "read", "gold")
    # The catalog server reads and writes table metadata, never data files.
    meta = obj("warehouse/support/silver/documents/metadata/00001-abc.metadata.json")
    assert all(allowed(policy("catalog"), a, meta) for a in ("s3:GetObject", "s3:PutObject"))
    assert not allowed(policy("catalog"), "s3:GetObject", table_file("silver"))
    # Listing: each role only under its own layers' prefixes.
    assert allowed(
        policy("trainer"),
        "s3:ListBucket",
        f"arn:aws:s3:::{BUCKET}",
        {"s3:prefix": "warehouse/support/gold/t/"},
    )
    assert not allowed(
        policy("trainer"), "s3:ListBucket", f"arn:aws:s3:::{BUCKET}", {"s3:prefix": "warehouse/"}
    )
    assert allowed(
        policy("maintenance"), "s3:ListBucket", f"arn:aws:s3:::{BUCKET}", {"s3:prefix": "warehouse/"}
    )


def test_jobs_is_exactly_ingest_refine_and_publish() -> None:
    actions = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")  # fmt: skip
    keys = [table_file(lay) for lay in LAYERS] + [
        obj("warehouse/x/gold/t/metadata/m.json"),
        obj("landing/a"),
        obj("x"),
    ]
    for action in actions:
        for key in keys:
            union = any(allowed(policy(r), action, key) for r in ("ingest", "refine", "publish"))
            assert allowed(policy("jobs"), action, key) == union, (action, key)


def test_no_policy_grants_everything() -> None:
    for role in ROLES:
        doc = policy(role)
        for st in doc["Statement"]:
            if st["Effect"] != "Allow":
                continue
            assert not {"s3:*", "*"} & set(as_list(st["Action"])), role
            assert not {f"arn:aws:s3:::{BUCKET}/*", "arn:aws:s3:::*", "*"} & set(as_list(st["Resource"])), (
                role
            )
        # Whatever the wildcards: no admin or bucket-wide action anywhere.
        for action in ("s3:DeleteBucket", "s3:PutBucketPolicy", "s3:CreateBucket", "admin:CreateUser"):
            assert not allowed(doc, action, f"arn:aws:s3:::{BUCKET}"), (role, action)
        assert not allowed(doc, "s3:GetObject", obj("landing/secret.txt")), role  # nothing outside warehouse/


def test_the_policy_checks_reject_a_bucket_wide_key() -> None:
    """The old single key (s3:* on the bucket) fails every check above."""
    old = {"Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}]}  # fmt: skip
    assert allowed(old, "s3:GetObject", table_file("bronze"))  # trainer-like reads would reach bronze
    st = old["Statement"][0]
    assert {"s3:*"} & set(st["Action"]) and f"arn:aws:s3:::{BUCKET}/*" in st["Resource"]
    # And a trainer policy widened to every layer is caught by the layer check.
    wide = policy("trainer")
    for st in wide["Statement"]:
        if st.get("Sid") == "ReadLayers":
            st["Resource"] = [obj("warehouse/*")]
    assert allowed(wide, "s3:GetObject", table_file("bronze"))


def test_minio_init_loads_one_policy_and_one_user_per_role(compose: dict) -> None:
    init = compose["services"]["minio-init"]
    assert "./docker/minio/policies:/policies:ro" in init["volumes"]
    script = "\n".join(init["command"])
    loop = re.search(r"for role in ([a-z ]+); do", script)
    assert loop and set(loop[1].split()) == set(ROLES)
    for needed in ('mc admin policy create local "lakehouse-$${role}"', 'mc admin user add local "$${key}" "$${secret}"',
                   'mc admin policy attach local "lakehouse-$${role}" --user "$${key}"', "@BUCKET@"):  # fmt: skip
        assert needed in script, needed
    for role in ROLES:
        for kind in ("ACCESS_KEY", "SECRET_KEY"):
            name = f"S3_{role.upper()}_{kind}"
            assert init["environment"][name] == f"${{{name}:?set in .env}}", name
            assert env_example()[name] == "CHANGE-ME", name
    # The services that run Spark hold the jobs keys; the catalog server its own; nobody else has S3 keys.
    holders = {}
    for name, svc in interpolate(compose, {**env_example(), **{f"S3_{r.upper()}_ACCESS_KEY": r for r in ROLES}})["services"].items():  # fmt: skip
        key = (svc.get("environment") or {}).get("AWS_ACCESS_KEY_ID")
        if key:
            holders[name] = key
    assert holders.pop("iceberg-rest") == "catalog"
    assert set(holders.values()) == {"jobs"}
    assert {
        "airflow-worker",
        "airflow-worker-gpu",
        "spark-worker",
        "spark-worker-gpu",
        "corpus-stream",
    } <= set(holders)
    assert "LAKEHOUSE_S3_ACCESS_KEY" not in COMPOSE.read_text()


# -- helm: rendered by Helm's engine ---------------------------------------------------------------------------
# Resources the fake API server offers: what the chart renders (Helm maps every kind through discovery).
API_RESOURCES = {
    "v1": [("configmaps", "ConfigMap"), ("secrets", "Secret"), ("serviceaccounts", "ServiceAccount"),
           ("pods", "Pod"), ("services", "Service")],
    "apps/v1": [("deployments", "Deployment")],
    "batch/v1": [("jobs", "Job")],
    "rbac.authorization.k8s.io/v1": [("roles", "Role"), ("rolebindings", "RoleBinding")],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy")],
}  # fmt: skip


class FakeKubeAPI(BaseHTTPRequestHandler):
    """Discovery answered, every object absent; the first create is Helm's release Secret, captured and refused."""

    releases: list[dict] = []

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        if path == "/version":
            return self.reply(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0"})
        if path == "/api":
            return self.reply(200, {"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            groups = [
                {"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                 "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}}
                for gv in API_RESOURCES if "/" in gv
            ]  # fmt: skip
            return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        for gv, resources in API_RESOURCES.items():
            if path == ("/api/v1" if gv == "v1" else f"/apis/{gv}"):
                listed = [{"name": n, "singularName": "", "namespaced": True, "kind": k, "verbs": ["get", "list", "create"]}
                          for n, k in resources]  # fmt: skip
                return self.reply(200, {"kind": "APIResourceList", "groupVersion": gv, "resources": listed})
        if path.endswith("/secrets"):
            return self.reply(200, {"kind": "SecretList", "apiVersion": "v1", "items": []})
        return self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})  # fmt: skip

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        # Helm's release: base64 of gzipped JSON, inside a Secret (protobuf or JSON).
        blob = re.search(rb"H4sI[A-Za-z0-9+/=]+", body)
        if blob:
            self.releases.append(json.loads(gzip.decompress(base64.b64decode(blob[0]))))
        self.reply(403, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
                         "message": "nothing is created by this test"})  # fmt: skip

    do_PUT = do_PATCH = do_POST


def render_chart(tmp_path: Path, values: dict | None = None, release: str = "rel") -> list[dict]:
    """`helm template`: the manifests Helm's engine renders (schema checked), as parsed YAML documents."""
    import helm_sdkpy  # installed by `make setup` (scripts/setup.sh)

    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta.pop("dependencies")  # the airflow subchart is not downloadable here
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    if values is not None:
        (chart / "values.yaml").write_text(yaml.safe_dump(values))
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeKubeAPI)
    FakeKubeAPI.releases = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
        "users": [{"name": "fake", "user": {"token": "fake"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": "lakehouse"}}],
    })  # fmt: skip
    try:
        config = helm_sdkpy.Configuration(namespace="lakehouse", kubeconfig=kubeconfig)
        with pytest.raises(helm_sdkpy.HelmError):
            asyncio.run(helm_sdkpy.Install(config).run(release, str(chart), wait=False, timeout=30))
    finally:
        server.shutdown()
    (stored,) = FakeKubeAPI.releases
    return [d for d in yaml.safe_load_all(stored["manifest"]) if d]


@pytest.fixture(scope="module")
def chart_values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    return render_chart(tmp_path_factory.mktemp("render"))


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_specs(docs: list[dict]) -> Iterator[tuple[str, dict, dict]]:
    """(where, pod spec, pod metadata) of every pod the chart defines: Deployments, Jobs and the executor pod
    templates."""
    for name, dep in [*by_kind(docs, "Deployment").items(), *by_kind(docs, "Job").items()]:
        yield name, dep["spec"]["template"]["spec"], dep["spec"]["template"]["metadata"]
    for name, cm in by_kind(docs, "ConfigMap").items():
        for key, text in cm["data"].items():
            if key.endswith("pod-template.yaml"):
                pod = yaml.safe_load(text)
                yield f"{name}/{key}", pod["spec"], pod.get("metadata", {})


def test_the_renderer_is_helms_own(rendered: list[dict]) -> None:
    kinds = {d["kind"] for d in rendered}
    assert {"ConfigMap", "Deployment", "Role", "RoleBinding", "ServiceAccount", "NetworkPolicy"} <= kinds
    # GPU worker, corpus-stream, the Airflow roles job, CPU and GPU executor templates
    assert len(list(pod_specs(rendered))) == 5


# -- 5. executors: their own ServiceAccount, no RBAC ----------------------------------------------------------
def executor_accounts(docs: list[dict]) -> tuple[str, dict[str, Any]]:
    conf = by_kind(docs, "ConfigMap")["rel-lakehouse-spark-conf"]["data"]["spark-defaults.conf"]
    name = re.search(r"^spark\.kubernetes\.authenticate\.executor\.serviceAccountName\s+(\S+)$", conf, re.M)[
        1
    ]
    return name, {
        where: spec.get("serviceAccountName") for where, spec, _ in pod_specs(docs) if "executor" in where
    }


def test_executors_have_their_own_account_without_rbac(rendered: list[dict]) -> None:
    accounts = by_kind(rendered, "ServiceAccount")
    executor, in_templates = executor_accounts(rendered)
    assert executor == "rel-llm-lakehouse-spark-executor" and set(in_templates.values()) == {executor}
    assert accounts[executor]["automountServiceAccountToken"] is False
    for _, spec, _ in pod_specs(rendered):
        if spec.get("serviceAccountName") == executor:
            assert spec["automountServiceAccountToken"] is False
    # No binding names the executors' account; the drivers' accounts hold the Role that creates pods.
    bound = {s["name"] for b in by_kind(rendered, "RoleBinding").values() for s in b["subjects"]}
    assert executor not in bound
    assert bound == {"rel-llm-lakehouse-spark", "rel-airflow-worker"}
    (role,) = by_kind(rendered, "Role").values()
    assert any("pods" in r["resources"] and "create" in r["verbs"] for r in role["rules"])
    drivers = {
        n: d["spec"]["template"]["spec"]["serviceAccountName"]
        for n, d in by_kind(rendered, "Deployment").items()
    }
    assert drivers == {"rel-llm-lakehouse-gpu-worker": "rel-llm-lakehouse-spark", "rel-llm-lakehouse-corpus-stream": "rel-llm-lakehouse-spark"}  # fmt: skip
    conf = by_kind(rendered, "ConfigMap")["rel-lakehouse-spark-conf"]["data"]["spark-defaults.conf"]
    assert re.search(
        r"^spark\.kubernetes\.authenticate\.driver\.serviceAccountName\s+rel-llm-lakehouse-spark$", conf, re.M
    )


def test_the_rbac_check_rejects_a_shared_account(rendered: list[dict]) -> None:
    """The chart as it was: executors on the drivers' account, which a RoleBinding names."""
    old = copy.deepcopy(rendered)
    cm = by_kind(old, "ConfigMap")["rel-lakehouse-spark-conf"]["data"]
    cm["spark-defaults.conf"] = cm["spark-defaults.conf"].replace("rel-llm-lakehouse-spark-executor", "rel-llm-lakehouse-spark")  # fmt: skip
    with pytest.raises(AssertionError):
        test_executors_have_their_own_account_without_rbac(old)


# -- 6. securityContext and resources --------------------------------------------------------------------------
def security_problems(docs: list[dict]) -> list[str]:
    problems = []
    for where, spec, _ in pod_specs(docs):
        pod = spec.get("securityContext") or {}
        if pod.get("runAsNonRoot") is not True or not pod.get("runAsUser"):
            problems.append(f"{where}: runAsNonRoot/runAsUser")
        if (pod.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: seccomp")
        if "fsGroup" not in pod:
            problems.append(f"{where}: fsGroup")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec["containers"]:
            sc = c.get("securityContext") or {}
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}/{c['name']}: allowPrivilegeEscalation")
            if (sc.get("capabilities") or {}).get("drop") != ["ALL"] or (sc.get("capabilities") or {}).get(
                "add"
            ):
                problems.append(f"{where}/{c['name']}: capabilities")
            if sc.get("privileged"):
                problems.append(f"{where}/{c['name']}: privileged")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}/{c['name']}: readOnlyRootFilesystem")
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
                problems.append(f"{where}/{c['name']}: no emptyDir at /tmp")
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(res.get(kind) or {}):
                    problems.append(f"{where}/{c['name']}: {kind}")
    return problems


def test_every_pod_is_hardened_and_bounded(rendered: list[dict], chart_values: dict) -> None:
    assert security_problems(rendered) == []
    for _, spec, _ in pod_specs(rendered):
        assert spec["securityContext"]["runAsUser"] == chart_values["security"]["runAsUser"]
        assert spec["securityContext"]["fsGroup"] == chart_values["security"]["fsGroup"]
    gpu = by_kind(rendered, "Deployment")["rel-llm-lakehouse-gpu-worker"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == chart_values["gpu"]["celeryWorker"]["gpus"]
    assert "--pid" in gpu["args"] and gpu["args"][gpu["args"].index("--pid") + 1].startswith("/tmp/")


def test_the_hardening_check_rejects_an_unhardened_pod(rendered: list[dict]) -> None:
    old = copy.deepcopy(rendered)
    spec = by_kind(old, "Deployment")["rel-llm-lakehouse-corpus-stream"]["spec"]["template"]["spec"]
    spec["securityContext"] = {"runAsUser": 50000, "runAsGroup": 0, "fsGroup": 0}
    spec["containers"][0].pop("securityContext")
    spec["containers"][0]["resources"]["limits"].pop("cpu")
    problems = security_problems(old)
    assert len(problems) == 6 and all("corpus-stream" in p for p in problems), problems


def test_values_can_relax_only_what_they_should(tmp_path: Path, chart_values: dict) -> None:
    """readOnlyRootFilesystem can be turned off; runAsUser 0 (root) is refused by the schema."""
    from tests.jobs.test_deploy_files import schema_errors

    schema = json.loads((CHART / "values.schema.json").read_text())
    root = copy.deepcopy(chart_values)
    root["security"]["runAsUser"] = 0
    assert any("security.runAsUser" in e for e in schema_errors(root, schema))
    unbounded = copy.deepcopy(chart_values)
    unbounded["stream"]["resources"].pop("limits")
    assert any("'limits' is a required property" in e for e in schema_errors(unbounded, schema))
    relaxed = copy.deepcopy(chart_values)
    relaxed["security"]["readOnlyRootFilesystem"] = False
    assert {p.split(": ")[1] for p in security_problems(render_chart(tmp_path, relaxed))} == {
        "readOnlyRootFilesystem"
    }


# -- 7. NetworkPolicies ----------------------------------------------------------------------------------------
def selects(selector: dict, labels: dict[str, str]) -> bool:
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        value = labels.get(e["key"])
        ok = {"In": value in e.get("values", []), "NotIn": value not in e.get("values", []),
              "Exists": value is not None, "DoesNotExist": value is None}[e["operator"]]  # fmt: skip
        if not ok:
            return False
    return True


def ingress_allowed(docs: list[dict], src: dict[str, str], dst: dict[str, str], port: int) -> bool:
    """Kubernetes semantics, one namespace: a pod selected by no Ingress policy takes everything; otherwise the
    union of the selecting policies' rules."""
    policies = [
        p["spec"] for p in by_kind(docs, "NetworkPolicy").values() if selects(p["spec"]["podSelector"], dst)
    ]
    policies = [p for p in policies if "Ingress" in p.get("policyTypes", ["Ingress"])]
    if not policies:
        return True
    for p in policies:
        for rule in p.get("ingress", []):
            peers_ok = "from" not in rule or any("podSelector" in peer and selects(peer["podSelector"], src) for peer in rule["from"])  # fmt: skip
            ports_ok = "ports" not in rule or any(pt.get("port") == port for pt in rule["ports"])
            if peers_ok and ports_ok:
                return True
    return False


POD = {
    "executor": {
        "app.kubernetes.io/instance": "rel",
        "app.kubernetes.io/component": "spark-executor",
        "spark-role": "executor",
    },  # fmt: skip
    "gpu-worker": {"app.kubernetes.io/instance": "rel", "app.kubernetes.io/component": "gpu-worker"},
    "stream": {"app.kubernetes.io/instance": "rel", "app.kubernetes.io/component": "corpus-stream"},
    "airflow-worker": {"release": "rel", "tier": "airflow", "component": "worker"},
    "api-server": {"release": "rel", "tier": "airflow", "component": "api-server"},
    "scheduler": {"release": "rel", "tier": "airflow", "component": "scheduler"},
    "stranger": {"app": "something-else"},
}


def test_network_policies_deny_by_default_and_allow_the_spark_paths(rendered: list[dict]) -> None:
    ok = lambda s, d, port=7078: ingress_allowed(rendered, POD[s], POD[d], port)  # noqa: E731
    # Executors <-> drivers, executor <-> executor.
    for driver in ("gpu-worker", "stream", "airflow-worker"):
        assert ok(driver, "executor") and ok("executor", driver, 40000)
    assert ok("executor", "executor")
    # Everything else into the chart's pods is refused.
    for dst in ("executor", "gpu-worker", "stream"):
        assert not ok("stranger", dst) and not ok("scheduler", dst, 7078)
    # The API server: from the release (workers' execution API), not from elsewhere; log serving from Airflow.
    assert ok("airflow-worker", "api-server", 8080) and ok("executor", "api-server", 8080)
    assert not ok("stranger", "api-server", 8080)
    assert ok("api-server", "gpu-worker", 8793) and ok("api-server", "airflow-worker", 8793)
    assert not ok("api-server", "gpu-worker", 22)
    (deny,) = [p for n, p in by_kind(rendered, "NetworkPolicy").items() if n.endswith("default-deny-ingress")]
    assert deny["spec"]["policyTypes"] == ["Ingress"] and not deny["spec"].get("ingress")
    # The executor pod templates carry the labels the policies select.
    for where, _, meta in pod_specs(rendered):
        if "executor" in where:
            assert selects(
                {"matchLabels": {k: v for k, v in POD["executor"].items() if k != "spark-role"}},
                meta["labels"],
            )


def test_network_policies_are_switchable_and_the_check_fails_without_them(
    tmp_path: Path, chart_values: dict
) -> None:
    off = copy.deepcopy(chart_values)
    off["networkPolicy"]["enabled"] = False
    docs = render_chart(tmp_path, off)
    assert by_kind(docs, "NetworkPolicy") == {}
    assert ingress_allowed(docs, POD["stranger"], POD["executor"], 7078)  # what the test above would reject
    assert chart_values["networkPolicy"]["enabled"] is True


# -- 8. images by digest ---------------------------------------------------------------------------------------
DIGEST_REF = re.compile(r"^[^\s@]+:[^\s@:/]+@sha256:[0-9a-f]{64}$")


def image_refs(docs: list[dict]) -> list[tuple[str, str]]:
    refs = [
        (where, c["image"]) for where, spec, _ in pod_specs(docs) for c in spec["containers"] if "image" in c
    ]
    conf = by_kind(docs, "ConfigMap")["rel-lakehouse-spark-conf"]["data"]["spark-defaults.conf"]
    refs += [
        ("spark-defaults.conf", m)
        for m in re.findall(r"^spark\.kubernetes\.container\.image\s+(\S+)$", conf, re.M)
    ]
    return refs


def test_every_rendered_image_is_pinned_by_digest(rendered: list[dict], chart_values: dict) -> None:
    refs = image_refs(rendered)
    assert len(refs) >= 3 and {w for w, _ in refs} >= {"spark-defaults.conf", "rel-llm-lakehouse-gpu-worker"}
    assert [(w, r) for w, r in refs if not DIGEST_REF.match(r) or "@sha256:" not in r] == []
    for name, image in chart_values["images"].items():
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", image["digest"]), name
    # The subchart pulls the same digest, and its init container too.
    airflow = chart_values["airflow"]
    assert airflow["images"]["airflow"] == {k: chart_values["images"]["airflow"][k] for k in ("repository", "tag", "digest")}  # fmt: skip
    (init,) = airflow["scheduler"]["extraInitContainers"]
    assert init["image"].endswith("@{{ .Values.images.airflow.digest }}")


def test_the_digest_check_rejects_tag_only_images(rendered: list[dict], chart_values: dict) -> None:
    from tests.jobs.test_deploy_files import schema_errors

    schema = json.loads((CHART / "values.schema.json").read_text())
    for broken in ("", "latest", "sha256:abc", "sha256:" + "G" * 64):
        values = copy.deepcopy(chart_values)
        values["images"]["spark"]["digest"] = broken
        assert any("images.spark.digest" in e for e in schema_errors(values, schema)), broken
    values = copy.deepcopy(chart_values)
    values["images"]["airflow"].pop("digest")
    assert any("'digest' is a required property" in e for e in schema_errors(values, schema))
    tag_only = copy.deepcopy(rendered)
    dep = by_kind(tag_only, "Deployment")["rel-llm-lakehouse-gpu-worker"]
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = (
        "registry.example.com/llm-lakehouse/airflow:0.1.0"
    )
    assert [w for w, r in image_refs(tag_only) if not DIGEST_REF.match(r)] == ["rel-llm-lakehouse-gpu-worker"]


def test_a_domains_airflow_users_see_only_its_dags_roles_come_from_the_specs(
    rendered: list[dict], chart_values: dict, resolved: dict
) -> None:
    """Compose and the chart run the FAB auth manager (each DAG's access_control is enforced) and create exactly
    the roles the specs' DAGs name before the DAGs are parsed."""
    from llm_lakehouse.core.governance import airflow_roles, pipeline_spec_files
    from llm_lakehouse.core.spec import load_spec

    roles = airflow_roles(load_spec(f) for f in pipeline_spec_files(REPO_ROOT / "pipelines"))
    assert roles == ["docs_domain", "platform", "support_domain"]
    fab = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
    assert chart_values["airflow"]["config"]["core"]["auth_manager"] == fab
    assert chart_values["governance"]["airflowRoles"] == roles
    (job,) = [j for n, j in by_kind(rendered, "Job").items() if "airflow-roles" in n]
    command = job["spec"]["template"]["spec"]["containers"][0]["args"][-1]
    assert command.endswith("airflow roles create " + " ".join(roles)) and "check-migrations" in command
    for name in ("airflow-apiserver", "airflow-dag-processor", "airflow-worker"):
        assert resolved["services"][name]["environment"]["AIRFLOW__CORE__AUTH_MANAGER"] == fab
    start = resolved["services"]["airflow-apiserver"]["command"][-1]
    assert start.index("airflow roles create $(/opt/jobs-venv/bin/lakehouse governance roles)") < start.index(
        "exec airflow api-server"
    )
