"""Governance as code: the spec's domains, sources and products against pipelines/governance.yaml. Each broken
rule is planted in a copy of a shipped spec and must come back as a finding naming the file and the key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from llm_lakehouse.cli.app import app
from llm_lakehouse.core.errors import SpecError
from llm_lakehouse.core.governance import (
    check,
    consumer_policies,
    load_policy,
    pipeline_spec_files,
    table_prefix,
)
from llm_lakehouse.core.settings import REPO_ROOT
from llm_lakehouse.core.spec import load_spec

PIPELINES = REPO_ROOT / "pipelines"
POLICY = load_policy(PIPELINES / "governance.yaml")
runner = CliRunner()


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """A copy of pipelines/ to break."""
    shutil.copytree(PIPELINES, tmp_path / "pipelines")
    return tmp_path / "pipelines"


def edit(path: Path, change) -> Path:  # noqa: ANN001
    raw: dict[str, Any] = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def findings(lake: Path) -> list[str]:
    specs = [load_spec(f) for f in pipeline_spec_files(lake)]
    return [str(f) for f in check(specs, load_policy(lake / "governance.yaml"))]


def test_the_shipped_specs_obey_the_policy():
    result = runner.invoke(app, ["governance", "check", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["findings"] == []
    assert {Path(p).name for p in body["specs"]} == {"corpus_nightly.yaml", "support.yaml", "docs.yaml"}


def test_domain_pipelines_extend_the_shared_spec():
    base, support = (
        load_spec(PIPELINES / "corpus_nightly.yaml"),
        load_spec(PIPELINES / "domains" / "support.yaml"),
    )
    assert support.name == "support_corpus" and [s.name for s in support.sources] == ["support"]
    assert {s.domain for s in support.sources} == {d.name for d in support.domains} == {"support"}
    # Not set in the domain's file: the shared spec's, key by key inside mappings.
    assert support.gold == base.gold and support.quality == base.quality and support.schedule == base.schedule
    assert support.pii_policy_for("support") == "support_chat"


@pytest.mark.parametrize(
    ("change", "key", "says"),
    [
        (lambda r: r["sources"][1].pop("classification"), "sources.1.classification", "no classification"),
        (lambda r: r["sources"][1].pop("retention_days"), "sources.1.retention_days", "no retention"),
        (lambda r: r["sources"][0].pop("domain"), "sources.0.domain", "no domain"),
        (
            lambda r: r["sources"][1].update(retention_days=3650),
            "sources.1.retention_days",
            "over the 365 days",
        ),
        # the corpus (confidential: support's scrubbed chats) served to a role cleared for internal data
        (
            lambda r: r["products"][0]["consumers"].append("analyst"),
            "products.0.consumers.1",
            "cleared for internal",
        ),
        (lambda r: r["products"][0]["consumers"].append("intern"), "products.0.consumers.1", "unknown role"),
        # raw records (bronze text) served to a consumer, even one cleared for restricted data
        (
            lambda r: r["products"][1]["consumers"].append("privacy_officer"),
            "products.1.tables.0",
            "restricted column",
        ),
        # raw records classified below the restricted feed they hold
        (
            lambda r: r["products"][1].update(classification="confidential"),
            "products.1.classification",
            "below",
        ),
        # the RAG index holds support's scrubbed chunks: internal is too low
        (lambda r: r["products"][3].update(classification="internal"), "products.3.classification", "below"),
        # a "web only" product of the shared tables: they hold support's rows too, and access is per table
        (
            lambda r: r["products"].append(
                {
                    "name": "web_only",
                    "domain": "web",
                    "tables": ["silver.documents"],
                    "classification": "internal",
                    "retention_days": 30,
                    "consumers": ["analyst"],
                }
            ),
            "products.4.classification",
            "below the confidential rows of source 'support'",
        ),
    ],
)
def test_each_broken_rule_is_a_finding_with_file_and_key(lake: Path, change, key: str, says: str):
    spec = edit(lake / "corpus_nightly.yaml", change)
    found = findings(lake)
    assert any(f.startswith(f"{spec}: {key}: ") and says in f for f in found), found


def test_listing_columns_does_not_make_a_restricted_table_servable(lake: Path):
    """Consumers read whole data files: naming only harmless columns exposes the restricted ones all the same."""

    def serve_ids(raw: dict) -> None:
        raw["products"][1].update(
            consumers=["privacy_officer"], columns={"bronze.documents": ["doc_id", "dt"]}
        )

    edit(lake / "corpus_nightly.yaml", serve_ids)
    assert any("products.1.tables.0: exposes restricted column(s)" in f for f in findings(lake))


def test_a_source_has_one_domain_across_specs(lake: Path):
    def move(raw: dict) -> None:
        raw["domains"].append({**raw["domains"][0], "name": "helpdesk"})
        raw["sources"][0]["domain"] = raw["domain"] = "helpdesk"
        for p in raw["products"]:
            p["domain"] = "helpdesk"

    spec = edit(lake / "domains" / "support.yaml", move)
    assert any(f.startswith(f"{spec}: sources.0.domain: ") and "one domain" in f for f in findings(lake))


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda r: r["sources"][0].update(domain="sales"), "sources.0.domain: unknown domain 'sales'"),
        (lambda r: r["products"][0].update(domain="sales"), "products.0.domain: unknown domain 'sales'"),
        (lambda r: r["products"][0].update(tables=["gold.nothing"]), "products.0.tables.0: unknown table"),
        (lambda r: r["domains"][0].update(owner="nobody"), "domains.0.owner"),
        (lambda r: r["sources"][0].update(classification="secret"), "sources.0.classification"),
    ],
)
def test_a_spec_that_names_what_does_not_exist_fails_at_load_with_its_key(lake: Path, change, says: str):
    spec = edit(lake / "corpus_nightly.yaml", change)
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    assert str(spec) in str(err.value) and says in str(err.value), str(err.value)


def test_extends_that_loops_or_misses_fails_at_load(lake: Path):
    edit(lake / "domains" / "docs.yaml", lambda r: r.update(extends="support.yaml"))
    edit(lake / "domains" / "support.yaml", lambda r: r.update(extends="docs.yaml"))
    with pytest.raises(SpecError, match="extends itself"):
        load_spec(lake / "domains" / "docs.yaml")
    edit(lake / "domains" / "docs.yaml", lambda r: r.update(extends="../nothing.yaml"))
    with pytest.raises(SpecError, match="extends: no such pipeline spec"):
        load_spec(lake / "domains" / "docs.yaml")


def test_the_cli_fails_with_every_finding(lake: Path):
    spec = edit(lake / "corpus_nightly.yaml", lambda r: r["sources"][1].pop("classification"))
    result = runner.invoke(app, ["governance", "check", str(lake), "--policy", str(lake / "governance.yaml")])
    assert result.exit_code == 1
    assert (
        f"{spec}: sources.1.classification: " in result.output
        and "1 finding(s) in 3 spec(s)" in result.output
    )
    bad = runner.invoke(app, ["governance", "check", str(lake / "nothing.yaml")])
    assert bad.exit_code == 2 and "no such pipeline spec" in bad.output


CONSUMERS = PIPELINES.parent / "docker" / "minio" / "policies" / "consumers"


def readable(doc: dict, key: str) -> bool:
    """Whether an S3 policy lets its holder GetObject ``key`` (Allow matched, no Deny matched; IAM wildcards)."""
    from fnmatch import fnmatchcase

    arn = f"arn:aws:s3:::lakehouse/{key}"
    hits = [
        st["Effect"]
        for st in doc["Statement"]
        if any(fnmatchcase("s3:GetObject", a) for a in st["Action"])
        and any(fnmatchcase(arn, r.replace("@BUCKET@", "lakehouse")) for r in st["Resource"])
    ]
    return "Allow" in hits and "Deny" not in hits


def test_consumer_policies_are_generated_from_the_products_and_committed():
    specs = [load_spec(f) for f in pipeline_spec_files(PIPELINES)]
    generated = consumer_policies(specs)
    committed = {p.stem: json.loads(p.read_text()) for p in CONSUMERS.glob("*.json")}
    assert committed == generated, "run: lakehouse governance policies --out docker/minio/policies/consumers"


def test_a_role_outside_a_products_consumers_cannot_read_it():
    """For every table of every lakehouse: exactly the roles some product of it lists can read its files."""
    specs = [load_spec(f) for f in pipeline_spec_files(PIPELINES)]
    policies = consumer_policies(specs)
    checked = 0
    for spec in specs:
        for ident in (
            "bronze.documents",
            "silver.documents",
            "gold.training_documents",
            "gold.chunk_embeddings",
        ):
            key = table_prefix(spec, ident) + "data/dt=2026-10-01/part-0.parquet"
            allowed = {r for p in spec.products if ident in p.tables for r in p.consumers}
            for role in POLICY.roles:
                assert readable(policies.get(role, {"Statement": []}), key) == (role in allowed), (role, key)
                checked += 1
    assert checked == 3 * 4 * len(POLICY.roles)
    # The issue's case: support's scrubbed corpus is not for analysts, docs' is; raw records are for no one.
    assert not readable(policies["analyst"], "warehouse/support/silver/documents/data/x.parquet")
    assert readable(policies["analyst"], "warehouse/docs/silver/documents/data/x.parquet")
    assert readable(policies["support_analyst"], "warehouse/support/silver/documents/data/x.parquet")
    assert not any(
        readable(p, "warehouse/support/bronze/documents/data/x.parquet") for p in policies.values()
    )
