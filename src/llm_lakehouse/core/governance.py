"""Governance as code: domains own sources, data products carry a classification, a retention and the roles
that may consume them, and one platform policy (``pipelines/governance.yaml``) says what each role is cleared
for and which columns no consumer may ever read.

A spec's governance keys are validated at load (a source naming an undeclared domain fails there); whether the
whole set of specs obeys the policy is ``check``, which ``lakehouse governance check`` runs in ``make lint`` and
CI. It fails closed: a source without a domain, classification or retention is a finding, not a default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import Field, model_validator

from llm_lakehouse.core.models import StrictModel
from llm_lakehouse.core.tables import TABLES

if TYPE_CHECKING:
    from llm_lakehouse.core.spec import PipelineSpec

NAME = r"^[a-z][a-z0-9_]*$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

Classification = Literal["public", "internal", "confidential", "restricted"]
# In order of sensitivity: a role cleared for one level may read every level before it.
CLASSIFICATIONS: tuple[Classification, ...] = ("public", "internal", "confidential", "restricted")


def level(classification: Classification) -> int:
    return CLASSIFICATIONS.index(classification)


class Domain(StrictModel):
    """A business domain: it owns sources and data products, and answers for them."""

    name: str = Field(pattern=NAME)
    owner: str = Field(pattern=EMAIL)  # accountable for the domain's data
    steward: str = Field(pattern=EMAIL)  # keeps its definitions, classifications and retention right
    contact: str = Field(min_length=1)  # where consumers ask: a list, a channel, an on-call rota
    description: str = ""


class Product(StrictModel):
    """A data product: tables (or a dataset, or the RAG index built from them) a domain serves to consumers."""

    name: str = Field(pattern=NAME)
    domain: str
    kind: Literal["tables", "dataset", "rag_index"] = "tables"
    tables: list[str] = Field(min_length=1)
    # The columns consumers read, per table; a table not named here is exposed whole.
    columns: dict[str, list[str]] = {}
    classification: Classification
    retention_days: int = Field(ge=1)
    consumers: list[str] = []
    # The sources whose rows it serves: its domain's sources by default, every source of the spec when the
    # domain owns none (a platform product such as the training datasets or the RAG index).
    sources: list[str] | None = None
    owner: str | None = Field(None, pattern=EMAIL)  # the domain's owner unless named
    description: str = ""

    @model_validator(mode="after")
    def _tables_and_columns_exist(self) -> Product:
        for i, ident in enumerate(self.tables):
            if ident not in TABLES:
                raise ValueError(f"tables.{i}: unknown table {ident!r}; expected one of {sorted(TABLES)}")
        for ident, cols in self.columns.items():
            if ident not in self.tables:
                raise ValueError(f"columns.{ident}: not one of the product's tables {self.tables}")
            unknown = sorted(set(cols) - set(TABLES[ident].column_names))
            if unknown:
                raise ValueError(f"columns.{ident}: {unknown} are not columns of {ident}")
        return self


class Role(StrictModel):
    """A consumer role (a group in the identity provider, an Airflow role, an S3 policy)."""

    clearance: Classification
    description: str = ""


class ClassificationRule(StrictModel):
    # Longest a source's records or a product's rows may be kept at this classification.
    max_retention_days: int | None = Field(None, ge=1)


class GovernancePolicy(StrictModel):
    """``pipelines/governance.yaml``: the platform's rules every domain's specs must obey."""

    roles: dict[str, Role] = Field(min_length=1)
    classifications: dict[Classification, ClassificationRule] = {}
    # Columns no consumer role may read, whatever its clearance: raw text before any PII scrubbing.
    restricted_columns: dict[str, list[str]] = {}
    # What a classification becomes in silver and gold, once the source's PII policy has scrubbed it.
    scrubbed: dict[Classification, Classification] = {}
    path: Path | None = None

    @model_validator(mode="after")
    def _restricted_columns_exist(self) -> GovernancePolicy:
        for ident, cols in self.restricted_columns.items():
            if ident not in TABLES:
                raise ValueError(
                    f"restricted_columns.{ident}: unknown table; expected one of {sorted(TABLES)}"
                )
            unknown = sorted(set(cols) - set(TABLES[ident].column_names))
            if unknown:
                raise ValueError(f"restricted_columns.{ident}: {unknown} are not columns of {ident}")
        return self

    def effective(self, classification: Classification, layer: str) -> Classification:
        """The classification of a source's rows in ``layer``: as ingested in bronze, scrubbed after it."""
        return classification if layer == "bronze" else self.scrubbed.get(classification, classification)

    def max_retention(self, classification: Classification) -> int | None:
        rule = self.classifications.get(classification)
        return rule.max_retention_days if rule else None


def load_policy(path: str | Path) -> GovernancePolicy:
    from llm_lakehouse.core.spec import load_yaml_model

    return load_yaml_model(path, GovernancePolicy, "governance policy")


@dataclass(frozen=True)
class Finding:
    """One broken rule: the file, the dotted key in it, and what is wrong."""

    file: Path | None
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


def pipeline_spec_files(folder: Path) -> list[Path]:
    """The pipeline specs under ``folder`` (YAML files with ``sources:``), not query specs or the policy."""
    found = []
    for path in sorted(folder.rglob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            found.append(path)  # load_spec reports it with its line
            continue
        if isinstance(raw, dict) and ("sources" in raw or "extends" in raw):
            found.append(path)
    return found


def check(specs: Iterable[PipelineSpec], policy: GovernancePolicy) -> list[Finding]:
    """Every way ``specs`` break ``policy`` or each other; empty when all holds."""
    findings: list[Finding] = []
    specs = list(specs)
    for spec in specs:
        findings += _check_spec(spec, policy)
    findings += _check_across(specs)
    return findings


def _check_spec(spec: PipelineSpec, policy: GovernancePolicy) -> list[Finding]:
    out: list[Finding] = []

    def bad(key: str, message: str) -> None:
        out.append(Finding(spec.path, key, message))

    domains = {d.name: d for d in spec.domains}
    for i, src in enumerate(spec.sources):
        key = f"sources.{i}"
        if src.domain is None:
            bad(
                f"{key}.domain",
                f"source {src.name!r} has no domain (so no owner); name one of {sorted(domains)}",
            )
        if spec.pii_policy_for(src.name) is None:
            bad(f"{key}", f"source {src.name!r} has no PII policy")
        if src.classification is None:
            bad(
                f"{key}.classification",
                f"source {src.name!r} has no classification; expected one of {list(CLASSIFICATIONS)}",
            )
        if src.retention_days is None:
            bad(f"{key}.retention_days", f"source {src.name!r} has no retention")
        elif src.classification is not None:
            cap = policy.max_retention(src.classification)
            if cap is not None and src.retention_days > cap:
                bad(
                    f"{key}.retention_days",
                    f"{src.retention_days} days is over the {cap} days "
                    f"{src.classification} data may be kept ({policy.path})",
                )
    for i, product in enumerate(spec.products):
        out += [Finding(spec.path, f"products.{i}.{k}", m) for k, m in _check_product(spec, product, policy)]
    return out


def _check_product(spec: PipelineSpec, product: Product, policy: GovernancePolicy) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    cap = policy.max_retention(product.classification)
    if cap is not None and product.retention_days > cap:
        out.append(
            (
                "retention_days",
                f"{product.retention_days} days is over the {cap} days "
                f"{product.classification} data may be kept ({policy.path})",
            )
        )
    for j, role in enumerate(product.consumers):
        if role not in policy.roles:
            out.append((f"consumers.{j}", f"unknown role {role!r}; expected one of {sorted(policy.roles)}"))
        elif level(policy.roles[role].clearance) < level(product.classification):
            out.append(
                (
                    f"consumers.{j}",
                    f"role {role!r} is cleared for {policy.roles[role].clearance} data, "
                    f"not {product.classification}",
                )
            )
    if product.consumers:
        for j, ident in enumerate(product.tables):
            leaked = sorted(policy.restricted_columns.get(ident, ()))
            if leaked:
                out.append(
                    (
                        f"tables.{j}",
                        f"exposes restricted column(s) {leaked} of {ident} to {product.consumers}: a consumer reads "
                        "a table's whole data files, so no consumer may have a table with restricted columns",
                    )
                )
    # A product is at least as sensitive as the most sensitive rows it serves, layer by layer.
    served = [s for s in spec.sources if s.name in product_sources(spec, product) and s.classification]
    for ident in product.tables:
        layer = TABLES[ident].layer
        for src in served:
            needed = policy.effective(src.classification, layer)  # type: ignore[arg-type]
            if level(product.classification) < level(needed):
                out.append(
                    (
                        "classification",
                        f"{product.classification} is below the {needed} rows of source "
                        f"{src.name!r} ({src.classification}) that {ident} holds",
                    )
                )
                return out
    return out


def product_sources(spec: PipelineSpec, product: Product) -> list[str]:
    """The sources whose rows ``product`` serves: every source of its spec, since the spec's tables hold them
    all and access is granted on whole tables. A domain that must serve only its own rows builds them in its own
    pipeline (``domain:``), whose tables hold nothing else."""
    return [s.name for s in spec.sources]


def _check_across(specs: list[PipelineSpec]) -> list[Finding]:
    """A source belongs to one domain, and a domain is declared the same way, in every spec."""
    out: list[Finding] = []
    source_domain: dict[str, tuple[str | None, Path | None]] = {}
    domain_decl: dict[str, tuple[Domain, Path | None]] = {}
    products: dict[str, Path | None] = {}
    for spec in specs:
        for i, src in enumerate(spec.sources):
            seen = source_domain.setdefault(src.name, (src.domain, spec.path))
            if seen[0] != src.domain:
                out.append(
                    Finding(
                        spec.path,
                        f"sources.{i}.domain",
                        f"source {src.name!r} is in domain "
                        f"{src.domain!r} here but {seen[0]!r} in {seen[1]}; a source has one domain",
                    )
                )
        for i, dom in enumerate(spec.domains):
            first = domain_decl.setdefault(dom.name, (dom, spec.path))
            if first[0] != dom:
                out.append(
                    Finding(
                        spec.path,
                        f"domains.{i}",
                        f"domain {dom.name!r} is declared differently "
                        f"in {first[1]}; declare it once the same way",
                    )
                )
        for i, product in enumerate(spec.products):
            if products.setdefault(product.name, spec.path) != spec.path:
                out.append(
                    Finding(
                        spec.path,
                        f"products.{i}.name",
                        f"product {product.name!r} is also declared in {products[product.name]}",
                    )
                )
    return out


# Where the object store keeps a lakehouse's tables: <warehouse>/<lakehouse>/<layer>/<table>/, the lakehouse being
# a domain pipeline's domain, or "platform" for the shared pipeline (the REST catalog's layout, compose and Helm).
PLATFORM_LAKEHOUSE = "platform"
BUCKET_PLACEHOLDER = "@BUCKET@"


def table_prefix(spec: PipelineSpec, ident: str, warehouse: str = "warehouse") -> str:
    layer, name = ident.split(".", 1)
    return f"{warehouse}/{spec.domain or PLATFORM_LAKEHOUSE}/{layer}/{name}/"


def consumer_policies(
    specs: Iterable[PipelineSpec], bucket: str = BUCKET_PLACEHOLDER, warehouse: str = "warehouse"
) -> dict[str, dict]:
    """One S3 (IAM / MinIO) policy per consumer role: read-only on exactly the tables of the products that list
    it, and nothing else. Named after the role, for the identity provider's group of that name."""
    grants: dict[str, set[str]] = {}
    for spec in specs:
        for product in spec.products:
            for role in product.consumers:
                grants.setdefault(role, set()).update(
                    table_prefix(spec, t, warehouse) for t in product.tables
                )
    return {role: _read_only(bucket, sorted(prefixes)) for role, prefixes in sorted(grants.items())}


def _read_only(bucket: str, prefixes: list[str]) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListProductTables",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}},
            },
            {
                "Sid": "ReadProductTables",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/{p}*" for p in prefixes],
            },
        ],
    }


@dataclass(frozen=True)
class Retention:
    """Rows of ``table`` (of ``source`` only, when set) are kept ``days`` days after their day, then deleted."""

    table: str
    days: int
    source: str | None = None
    why: str = ""


# Tables that hold a source's records as they arrived (or pointers to them): kept as long as the source's own
# retention says, per source.
RAW_TABLES = ("bronze.documents", "silver.quarantine")


def retention_rules(spec: PipelineSpec) -> list[Retention]:
    """What the maintenance run expires: each source's raw records after the source's retention, and each
    product's tables after the longest retention of the products serving them (a table no product serves and
    that holds no raw records keeps its rows: operational tables, the dedup index)."""
    rules = [
        Retention(table, src.retention_days, src.name, f"sources.{i}.retention_days")
        for i, src in enumerate(spec.sources)
        if src.retention_days is not None
        for table in RAW_TABLES
    ]
    longest: dict[str, tuple[int, str]] = {}
    for i, product in enumerate(spec.products):
        for ident in product.tables:
            if ident not in RAW_TABLES and product.retention_days > longest.get(ident, (0, ""))[0]:
                longest[ident] = (product.retention_days, f"products.{i}.retention_days")
    rules += [Retention(ident, days, None, why) for ident, (days, why) in sorted(longest.items())]
    return rules


# The Airflow role of the shared pipeline's DAGs (the domain pipelines' are ``<domain>_domain``).
PLATFORM_ROLE = "platform"


def airflow_role(spec: PipelineSpec) -> str:
    """The Airflow role whose users see and trigger the spec's DAGs: ``<domain>_domain`` for a domain pipeline,
    ``platform`` for the shared one (the DAGs' ``access_control``; the FAB auth manager enforces it)."""
    return f"{spec.domain}_domain" if spec.domain else PLATFORM_ROLE


def airflow_roles(specs: Iterable[PipelineSpec]) -> list[str]:
    """Every role the specs' DAGs name: what ``airflow roles create`` must have made before they are parsed."""
    return sorted({airflow_role(s) for s in specs})
