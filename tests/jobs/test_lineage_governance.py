"""DataHub governance from the spec: domains, data products, classification tags and terms, dataset domains.

Read the way test_lineage.py does: what ``spec_mcps`` produces, what a file or Lite store holds afterwards. No
real GMS (see test_lineage.py); no Spark.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from datahub.emitter.mcp import MetadataChangeProposalWrapper as MCP
from datahub.ingestion.source.file import read_metadata_file

from llm_lakehouse.core.governance import Product, product_sources
from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.core.spec import PipelineSpec, load_spec
from llm_lakehouse.datahub import emit_job_lineage, mcps, model, store
from llm_lakehouse.datahub.config import LineageConfig

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # DataHub Lite's own deprecated calls
PIPELINES = REPO_ROOT / "pipelines"
CFG = LineageConfig(sink="file", root=Path("/unused"), catalog="lakehouse", cluster="prod")
PII = [
    model.PiiColumn("silver.documents", "text", "EMAIL_ADDRESS"),
    model.PiiColumn("bronze.documents", "text", "PERSON"),
]
TECH, STEWARD = "TECHNICAL_OWNER", "DATA_STEWARD"


def ds(ident: str) -> str:
    return f"urn:li:dataset:(urn:li:dataPlatform:iceberg,lakehouse.{ident},PROD)"


def feed(source: str) -> str:
    return f"urn:li:dataset:(urn:li:dataPlatform:file,lakehouse/landing/{source},PROD)"


def user(email: str) -> str:
    return f"urn:li:corpuser:{email}"


def aspects_of(events: list[MCP]) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for e in events:
        assert e.validate(), e
        out[(e.entityUrn, e.aspectName)] = e.aspect.to_obj()
    return out


def owners(aspect: dict[str, Any]) -> list[tuple[str, str]]:
    return [(o["owner"], o["type"]) for o in aspect["owners"]]


@pytest.fixture(scope="module")
def support_spec() -> PipelineSpec:
    return load_spec(PIPELINES / "domains" / "support.yaml")


@pytest.fixture(scope="module")
def docs_spec() -> PipelineSpec:
    return load_spec(PIPELINES / "domains" / "docs.yaml")


# --- One aspect of a name per entity ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["corpus_nightly.yaml", "domains/support.yaml", "domains/docs.yaml"])
@pytest.mark.parametrize("pii", [None, PII, []], ids=["spec_pii", "given_pii", "no_pii"])
def test_spec_mcps_send_each_aspect_of_an_entity_once(path: str, pii: list[model.PiiColumn] | None) -> None:
    """A second aspect of the same name for the same URN replaces the first in every store: tags, terms and
    domains of a dataset are merged into one aspect each, never sent twice."""
    events = mcps.spec_mcps(load_spec(PIPELINES / path), CFG, pii)
    twice = [k for k, n in Counter((e.entityUrn, e.aspectName) for e in events).items() if n > 1]
    assert twice == []
    assert all(e.validate() for e in events)


# --- Domains ------------------------------------------------------------------------------------------------


def test_domains_with_owner_steward_and_contact(spec: PipelineSpec) -> None:
    aspects = aspects_of(mcps.spec_mcps(spec, CFG))
    domains = {u for u, n in aspects if u.startswith("urn:li:domain:") and n == "domainProperties"}
    assert domains == {f"urn:li:domain:{d}" for d in ("web", "support", "docs", "ml_platform")}
    support = aspects[("urn:li:domain:support", "domainProperties")]
    assert support["name"] == "support" and "#support-data" in support["description"]
    assert owners(aspects[("urn:li:domain:support", "ownership")]) == [
        (user("support-data@example.com"), TECH),
        (user("privacy-office@example.com"), STEWARD),
    ]
    for d in spec.domains:
        assert owners(aspects[(f"urn:li:domain:{d.name}", "ownership")]) == [
            (user(d.owner), TECH),
            (user(d.steward), STEWARD),
        ]


# --- Data products --------------------------------------------------------------------------------------


def test_data_products_with_assets_domain_owners_and_terms(spec: PipelineSpec) -> None:
    aspects = aspects_of(mcps.spec_mcps(spec, CFG))
    products = {u for u, n in aspects if n == "dataProductProperties"}
    assert products == {f"urn:li:dataProduct:{p.name}" for p in spec.products} and len(products) == 4
    emitted_datasets = {u for u, n in aspects if n == "schemaMetadata"}
    domains = {d.name: d for d in spec.domains}
    for p in spec.products:
        urn = f"urn:li:dataProduct:{p.name}"
        props = aspects[(urn, "dataProductProperties")]
        assets = [a["destinationUrn"] for a in props["assets"]]
        assert assets == [ds(t) for t in p.tables]
        assert set(assets) <= emitted_datasets  # each asset is a dataset the same events describe
        assert aspects[(urn, "domains")]["domains"] == [f"urn:li:domain:{p.domain}"]
        assert owners(aspects[(urn, "ownership")])[0] == (user(p.owner or domains[p.domain].owner), TECH)
        assert aspects[(urn, "globalTags")]["tags"] == [
            {"tag": f"urn:li:tag:classification:{p.classification}"}
        ]
        assert [t["urn"] for t in aspects[(urn, "glossaryTerms")]["terms"]] == [
            f"urn:li:glossaryTerm:Classification.{p.classification.capitalize()}"
        ]
        custom = props["customProperties"]
        assert custom["kind"] == p.kind and custom["classification"] == p.classification
        assert custom["retention_days"] == str(p.retention_days)
        assert custom["consumers"] == ",".join(p.consumers)
        assert custom["sources"] == ",".join(product_sources(spec, p))
    corpus = aspects[("urn:li:dataProduct:nightly_corpus", "dataProductProperties")]["customProperties"]
    assert corpus["consumers"] == "trainer"
    assert corpus["classification"] == "confidential" and corpus["retention_days"] == "730"
    # The shared spec's tables hold every feed: so does each of its products.
    rag = aspects[("urn:li:dataProduct:rag_index", "dataProductProperties")]
    assert rag["customProperties"]["sources"] == "web,support,docs"
    assert rag["customProperties"]["kind"] == "rag_index"
    assert [a["destinationUrn"] for a in rag["assets"]] == [ds("gold.chunk_embeddings")]
    assert owners(aspects[("urn:li:dataProduct:rag_index", "ownership")])[0] == (
        user("data-platform@example.com"),
        TECH,
    )


def test_a_products_own_owner_and_exposed_columns(spec: PipelineSpec) -> None:
    product = Product(
        name="web_urls",
        domain="web",
        tables=["silver.documents"],
        columns={"silver.documents": ["doc_id", "text"]},
        classification="internal",
        retention_days=30,
        consumers=["analyst"],
        owner="someone@example.com",
        description="Only ids and scrubbed text",
    )
    custom = spec.model_copy(update={"products": [product]})
    aspects = aspects_of(mcps.spec_mcps(custom, CFG))
    urn = "urn:li:dataProduct:web_urls"
    assert owners(aspects[(urn, "ownership")]) == [
        (user("someone@example.com"), TECH),
        (user("data-governance@example.com"), STEWARD),
    ]
    props = aspects[(urn, "dataProductProperties")]
    assert props["description"] == "Only ids and scrubbed text"
    assert props["assets"][0]["properties"] == {"columns": "doc_id,text"}
    # Only this product now: silver.documents is internal, bronze is in no product and gets no term.
    assert aspects[(ds("silver.documents"), "glossaryTerms")]["terms"] == [
        {"urn": "urn:li:glossaryTerm:Classification.Internal"}
    ]
    assert (ds("bronze.documents"), "glossaryTerms") not in aspects


# --- Classification -------------------------------------------------------------------------------------


def test_classification_tags_and_terms(spec: PipelineSpec) -> None:
    aspects = aspects_of(mcps.spec_mcps(spec, CFG))
    node = "urn:li:glossaryNode:Classification"
    assert aspects[(node, "glossaryNodeInfo")]["name"] == "Classification"
    for level in ("public", "internal", "confidential", "restricted"):
        term = aspects[(f"urn:li:glossaryTerm:Classification.{level.capitalize()}", "glossaryTermInfo")]
        assert term["parentNode"] == node and term["definition"]
        tag = aspects[(f"urn:li:tag:classification:{level}", "tagProperties")]
        assert tag["name"] == f"classification:{level}" and tag["description"]
    # Each table: the most sensitive classification of the products serving it.
    expected = {
        "bronze.documents": "Restricted",  # nightly_support_raw
        "silver.documents": "Confidential",  # nightly_support (web and docs: internal)
        "gold.training_documents": "Confidential",
        "gold.chunk_embeddings": "Confidential",
    }
    for ident, level in expected.items():
        assert aspects[(ds(ident), "glossaryTerms")]["terms"] == [
            {"urn": f"urn:li:glossaryTerm:Classification.{level}"}
        ]
    # In no product: no classification of its own.
    assert (ds("silver.quarantine"), "glossaryTerms") not in aspects


def test_pii_tags_stay_beside_the_classification_term(spec: PipelineSpec) -> None:
    aspects = aspects_of(mcps.spec_mcps(spec, CFG, PII))
    for ident, level in (("silver.documents", "Confidential"), ("bronze.documents", "Restricted")):
        assert aspects[(ds(ident), "globalTags")]["tags"] == [{"tag": "urn:li:tag:pii"}]
        assert aspects[(ds(ident), "glossaryTerms")]["terms"] == [
            {"urn": f"urn:li:glossaryTerm:Classification.{level}"}
        ]
        text = next(f for f in aspects[(ds(ident), "schemaMetadata")]["fields"] if f["fieldPath"] == "text")
        assert text["globalTags"]["tags"] == [{"tag": "urn:li:tag:pii"}]
        assert text["glossaryTerms"]["terms"]
    assert aspects[("urn:li:glossaryTerm:PII.PERSON", "glossaryTermInfo")]["parentNode"] == (
        "urn:li:glossaryNode:PII"
    )


def test_landing_feeds_carry_their_sources_classification_domain_and_retention(spec: PipelineSpec) -> None:
    aspects = aspects_of(mcps.spec_mcps(spec, CFG))
    for s in spec.sources:
        urn = feed(s.name)
        assert aspects[(urn, "globalTags")]["tags"] == [
            {"tag": f"urn:li:tag:classification:{s.classification}"}
        ]
        assert aspects[(urn, "domains")]["domains"] == [f"urn:li:domain:{s.domain}"]
        assert aspects[(urn, "datasetProperties")]["customProperties"]["retention_days"] == str(
            s.retention_days
        )
    assert aspects[(feed("support"), "globalTags")]["tags"] == [
        {"tag": "urn:li:tag:classification:restricted"}
    ]
    assert aspects[(feed("web"), "datasetProperties")]["customProperties"]["retention_days"] == "1825"


# --- Dataset domains -------------------------------------------------------------------------------------


def test_a_domain_pipelines_datasets_belong_to_its_domain(support_spec: PipelineSpec, docs_spec) -> None:
    for spec, domain in ((support_spec, "support"), (docs_spec, "docs")):
        aspects = aspects_of(mcps.spec_mcps(spec, CFG))
        tables = [t.ident for t in model.spec_tables(spec)]
        assert tables
        for ident in tables:
            assert aspects[(ds(ident), "domains")]["domains"] == [f"urn:li:domain:{domain}"], ident
        assert {u for u, n in aspects if n == "domainProperties"} == {f"urn:li:domain:{domain}"}
    support = aspects_of(mcps.spec_mcps(support_spec, CFG))
    # Its own products classify its tables: support_raw makes bronze restricted.
    assert support[(ds("bronze.documents"), "glossaryTerms")]["terms"] == [
        {"urn": "urn:li:glossaryTerm:Classification.Restricted"}
    ]


def test_a_shared_spec_leaves_its_tables_without_a_domain(spec: PipelineSpec) -> None:
    assert len({s.domain for s in spec.sources}) > 1
    aspects = aspects_of(mcps.spec_mcps(spec, CFG))
    assert [
        u
        for u, n in aspects
        if n == "domains" and u.startswith("urn:li:dataset:(urn:li:dataPlatform:iceberg")
    ] == []


# --- Stores and the job hook --------------------------------------------------------------------------------


def config(home: Path, sink: str) -> LineageConfig:
    return LineageConfig.from_env(
        Settings.from_env({"LAKEHOUSE_HOME": str(home)}), {"LAKEHOUSE_DATAHUB_SINK": sink}
    )


def test_lite_holds_the_domains_and_data_products(spec: PipelineSpec, tmp_path: Path) -> None:
    cfg = config(tmp_path, "lite")
    assert store.emit(cfg, mcps.spec_mcps(spec, cfg, PII)).delivered
    lite = store.open_lite(cfg, read_only=True)
    try:
        product = lite.get("urn:li:dataProduct:nightly_corpus", ["dataProductProperties", "domains"])
        domain = lite.get("urn:li:domain:support", ["domainProperties", "ownership"])
        silver = lite.get(ds("silver.documents"), ["globalTags", "glossaryTerms"])
    finally:
        lite.close()
    assert [a["destinationUrn"] for a in product["dataProductProperties"]["assets"]] == [
        ds("silver.documents"),
        ds("gold.training_documents"),
    ]
    assert product["domains"]["domains"] == ["urn:li:domain:ml_platform"]
    assert domain["domainProperties"]["name"] == "support"
    assert (user("privacy-office@example.com"), STEWARD) in owners(domain["ownership"])
    assert silver["globalTags"]["tags"] == [{"tag": "urn:li:tag:pii"}]
    assert silver["glossaryTerms"]["terms"][0]["urn"] == "urn:li:glossaryTerm:Classification.Confidential"


def test_the_job_hook_sends_the_governance_with_the_spec(
    support_spec: PipelineSpec, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("LAKEHOUSE_DATAHUB_SINK", "file")
    settings = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_DATAHUB_SINK": "file"})
    result = {"stage": "silver", "date": "2026-11-01", "run_id": "manual__x", "silver": 3, "seconds": 1.0}
    report = emit_job_lineage(support_spec, settings, "silver", result)
    assert report is not None and report.delivered
    got = aspects_of(list(read_metadata_file(settings.home / "datahub" / "mcps.json")))
    assert ("urn:li:dataProduct:support_corpus", "dataProductProperties") in got
    assert ("urn:li:domain:support", "ownership") in got
    catalog_ds = next(u for u, n in got if n == "schemaMetadata" and "silver.documents" in u)
    assert got[(catalog_ds, "domains")]["domains"] == ["urn:li:domain:support"]
