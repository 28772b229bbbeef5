"""DataHub metadata change proposals (MCPs) for the lakehouse, built from the spec and ``datahub.model``.

- Datasets: ``urn:li:dataset:(urn:li:dataPlatform:iceberg,<catalog>.<layer>.<table>,<ENV>)`` with schema
  (types, comments, partition keys), description, owners from the spec, table- and column-level upstreams;
  landing feeds as ``file`` datasets.
- The DAG and its tasks as DataFlow/DataJob with the URNs the acryl Airflow plugin uses
  (``urn:li:dataFlow:(airflow,<dag_id>,<cluster>)``, ``urn:li:dataJob:(<flow>,<task_id>)``), inputs, outputs
  and column lineage per task.
- One DataProcessInstance per task run, with the same URN the plugin gives that task instance
  (guid of orchestrator, cluster and ``<dag_id>_<task_id>_<run_id>``), so the job's row counts and outcome
  land on the run the plugin records; a dataset profile (row count of the day) per written table.
- PII: a ``pii`` tag and ``PII.<Entity>`` glossary terms on columns (and the ``pii`` tag on their tables).
- Governance (``core/governance.py``): each domain of the spec (``urn:li:domain:<name>``, owner and steward),
  each data product (``urn:li:dataProduct:<name>``: its tables as assets, its domain, owners, classification,
  retention, consumers, sources), a ``classification:<level>`` tag and a ``Classification.<Level>`` glossary
  term per level; a table gets the term of the most sensitive product serving it, a landing feed its
  source's tag, term, domain and retention, and the tables of a one-domain (domain) pipeline that domain.
- Quality results as assertions (info + run event) on the datasets.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import datahub.emitter.mce_builder as builder
from datahub.api.entities.dataprocess.dataprocess_instance import DataProcessInstance, InstanceRunResult
from datahub.emitter.mcp import MetadataChangeProposalWrapper as MCP
from datahub.metadata import schema_classes as m
from datahub.utilities.urns.data_job_urn import DataJobUrn
from datahub.utilities.urns.dataset_urn import DatasetUrn

from llm_lakehouse.core.governance import CLASSIFICATIONS, Classification, Domain, Product, product_sources
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.stages import DAY_STAGES, LANDING, STAGES, STREAM, table_upstreams, writer_of
from llm_lakehouse.core.tables import Table
from llm_lakehouse.datahub.config import LineageConfig
from llm_lakehouse.datahub.model import (
    ColumnEdge,
    PiiColumn,
    column_edges,
    pii_columns,
    spec_domain,
    spec_tables,
    split_column,
    table_classifications,
)

PLATFORM = "iceberg"
ORCHESTRATOR = "airflow"
PII_TAG = "pii"
PII_NODE = "PII"
ACTOR = "urn:li:corpuser:datahub"
CLASSIFICATION_NODE = "Classification"
CLASSIFICATION_TAG = "classification"
# What each level means (core/governance.py: a role cleared for one level may read every level before it).
CLASSIFICATION_TEXT: dict[str, str] = {
    "public": "May be published: no harm if disclosed",
    "internal": "For people inside the company; not for publication",
    "confidential": "Business-sensitive or scrubbed personal data; only roles cleared for it may read it",
    "restricted": "Raw personal or regulated data; only roles cleared for restricted data may read it",
}


# --- URNs -----------------------------------------------------------------------------------------------


def dataset_urn(cfg: LineageConfig, ident: str) -> str:
    """``bronze.documents`` -> the Iceberg dataset; ``landing.<source>`` -> the landing feed (files)."""
    layer, _, name = ident.partition(".")
    if layer == LANDING:
        return builder.make_dataset_urn("file", f"{cfg.catalog}/{LANDING}/{name}", cfg.env)
    return builder.make_dataset_urn(PLATFORM, f"{cfg.catalog}.{ident}", cfg.env)


def field_urn(cfg: LineageConfig, ref: str) -> str:
    ident, column = split_column(ref)
    return builder.make_schema_field_urn(dataset_urn(cfg, ident), column)


def flow_urn(cfg: LineageConfig, spec: PipelineSpec) -> str:
    return builder.make_data_flow_urn(ORCHESTRATOR, spec.name, cfg.cluster)


def job_urn(cfg: LineageConfig, spec: PipelineSpec, stage: str) -> str:
    return builder.make_data_job_urn_with_flow(flow_urn(cfg, spec), stage)


def term_urn(entity: str) -> str:
    return builder.make_term_urn(f"{PII_NODE}.{entity}")


def domain_urn(name: str) -> str:
    return builder.make_domain_urn(name)


def product_urn(name: str) -> str:
    return builder.make_data_product_urn(name)


def classification_tag_urn(classification: str) -> str:
    """``restricted`` -> ``urn:li:tag:classification:restricted``."""
    return builder.make_tag_urn(f"{CLASSIFICATION_TAG}:{classification}")


def classification_term_urn(classification: str) -> str:
    """``restricted`` -> ``urn:li:glossaryTerm:Classification.Restricted``."""
    return builder.make_term_urn(f"{CLASSIFICATION_NODE}.{classification.capitalize()}")


def run_instance(cfg: LineageConfig, spec: PipelineSpec, stage: str, run_id: str) -> DataProcessInstance:
    """The task run, keyed exactly like the Airflow plugin's (``AirflowGenerator.complete_datajob``)."""
    return DataProcessInstance(
        id=f"{spec.name}_{stage}_{run_id}",
        orchestrator=ORCHESTRATOR,
        cluster=cfg.cluster,
        template_urn=DataJobUrn.from_string(job_urn(cfg, spec, stage)),
    )


# --- Datasets -------------------------------------------------------------------------------------------


def _field_type(spark_type: str) -> m.SchemaFieldDataTypeClass:
    t = spark_type.upper()
    if t.startswith("ARRAY"):
        inner = t[6:-1]
        return m.SchemaFieldDataTypeClass(m.ArrayTypeClass(nestedType=[inner]))
    if t.startswith("MAP"):
        key, _, value = t[4:-1].partition(",")
        return m.SchemaFieldDataTypeClass(m.MapTypeClass(keyType=key.strip(), valueType=value.strip()))
    simple: dict[str, Any] = {
        "STRING": m.StringTypeClass,
        "BINARY": m.BytesTypeClass,
        "BOOLEAN": m.BooleanTypeClass,
        "DATE": m.DateTypeClass,
        "TIMESTAMP": m.TimeTypeClass,
    }
    cls = simple.get(t, m.NumberTypeClass if t in ("INT", "BIGINT", "FLOAT", "DOUBLE") else m.NullTypeClass)
    return m.SchemaFieldDataTypeClass(cls())


def _ownership(owners: Iterable[tuple[str, str]]) -> m.OwnershipClass:
    """``(email, OwnershipTypeClass.X)`` pairs as owners ``urn:li:corpuser:<email>``."""
    return m.OwnershipClass(owners=[m.OwnerClass(owner=builder.make_user_urn(o), type=t) for o, t in owners])


def _owners(spec: PipelineSpec) -> m.OwnershipClass:
    return _ownership((o, m.OwnershipTypeClass.TECHNICAL_OWNER) for o in spec.owners)


def _terms(urns: Iterable[str]) -> m.GlossaryTermsClass:
    return m.GlossaryTermsClass(
        terms=[m.GlossaryTermAssociationClass(u) for u in urns], auditStamp=m.AuditStampClass(0, ACTOR)
    )


def _tags(urns: Iterable[str]) -> m.GlobalTagsClass:
    return m.GlobalTagsClass([m.TagAssociationClass(u) for u in urns])


def _labels(tags: Sequence[str], terms: Sequence[str], domain: str | None) -> list[Any]:
    """A dataset's tags, terms and domain, one aspect each (a second aspect of a name would replace the first)."""
    out: list[Any] = []
    if tags:
        out.append(_tags(tags))
    if terms:
        out.append(_terms(terms))
    if domain:
        out.append(m.DomainsClass(domains=[domain_urn(domain)]))
    return out


def _fine(cfg: LineageConfig, edges: Iterable[ColumnEdge]) -> list[m.FineGrainedLineageClass]:
    by_down: dict[tuple[str, str], list[str]] = {}
    for e in edges:
        by_down.setdefault((e.downstream, e.transform), []).append(e.upstream)
    return [
        m.FineGrainedLineageClass(
            upstreamType=m.FineGrainedLineageUpstreamTypeClass.FIELD_SET,
            upstreams=[field_urn(cfg, u) for u in sorted(ups)],
            downstreamType=m.FineGrainedLineageDownstreamTypeClass.FIELD,
            downstreams=[field_urn(cfg, down)],
            transformOperation=op,
        )
        for (down, op), ups in sorted(by_down.items())
    ]


def _schema(cfg: LineageConfig, table: Table, pii: Sequence[PiiColumn]) -> m.SchemaMetadataClass:
    terms: dict[str, list[str]] = {}
    for p in pii:
        if p.table == table.ident:
            terms.setdefault(p.column, []).append(p.entity)
    fields = []
    for name, spark_type, comment in table.columns:
        ents = sorted(set(terms.get(name, ())))
        fields.append(
            m.SchemaFieldClass(
                fieldPath=name,
                type=_field_type(spark_type),
                nativeDataType=spark_type,
                description=comment,
                nullable=True,
                isPartitioningKey=name in table.partition_by,
                globalTags=m.GlobalTagsClass([m.TagAssociationClass(builder.make_tag_urn(PII_TAG))])
                if ents
                else None,
                glossaryTerms=m.GlossaryTermsClass(
                    terms=[m.GlossaryTermAssociationClass(term_urn(e)) for e in ents],
                    auditStamp=m.AuditStampClass(0, ACTOR),
                )
                if ents
                else None,
            )
        )
    return m.SchemaMetadataClass(
        schemaName=f"{cfg.catalog}.{table.ident}",
        platform=builder.make_data_platform_urn(PLATFORM),
        version=0,
        hash="",
        platformSchema=m.OtherSchemaClass(rawSchema=table.ddl(cfg.catalog)),
        fields=fields,
    )


def glossary_mcps(entities: Iterable[str]) -> list[MCP]:
    """The ``pii`` tag, the ``PII`` glossary node and one term per entity type."""
    out = [
        MCP(
            entityUrn=builder.make_tag_urn(PII_TAG),
            aspect=m.TagPropertiesClass(name=PII_TAG, description="Holds or is derived from personal data"),
        ),
        MCP(
            entityUrn=f"urn:li:glossaryNode:{PII_NODE}",
            aspect=m.GlossaryNodeInfoClass(definition="Personal data entity types (Presidio)", name=PII_NODE),
        ),
    ]
    for e in sorted(set(entities)):
        out.append(
            MCP(
                entityUrn=term_urn(e),
                aspect=m.GlossaryTermInfoClass(
                    definition=f"Personal data of type {e}",
                    termSource="INTERNAL",
                    name=e,
                    parentNode=f"urn:li:glossaryNode:{PII_NODE}",
                ),
            )
        )
    return out


def dataset_mcps(spec: PipelineSpec, cfg: LineageConfig, pii: Sequence[PiiColumn] | None = None) -> list[MCP]:
    """Every table of the spec and every landing feed, with schema, owners and upstream lineage."""
    pii = pii_columns(spec) if pii is None else pii
    edges = column_edges(spec)
    ups = table_upstreams(spec)
    classified = table_classifications(spec)
    domain = spec_domain(spec)
    out: list[MCP] = []
    for table in spec_tables(spec):
        urn = dataset_urn(cfg, table.ident)
        props = {
            "layer": table.layer,
            "partitioned_by": ",".join(table.partition_by),
            "format": "iceberg v2",
            "pipeline": spec.name,
            "spec_digest": spec.digest(),
        }
        if writer := writer_of(table.ident):
            props["written_by_task"] = writer.name
        aspects: list[Any] = [
            m.StatusClass(removed=False),
            m.SubTypesClass(typeNames=["Table"]),
            m.DatasetPropertiesClass(
                name=table.ident,
                qualifiedName=f"{cfg.catalog}.{table.ident}",
                description=table.comment,
                customProperties=props,
            ),
            _schema(cfg, table, pii),
            _owners(spec),
            m.BrowsePathsV2Class(
                path=[m.BrowsePathEntryClass(id=cfg.catalog), m.BrowsePathEntryClass(id=table.layer)]
            ),
        ]
        level = classified.get(table.ident)
        aspects += _labels(
            [builder.make_tag_urn(PII_TAG)] if any(p.table == table.ident for p in pii) else [],
            [classification_term_urn(level)] if level else [],
            domain,
        )
        if table.ident in ups:
            aspects.append(
                m.UpstreamLineageClass(
                    upstreams=[
                        m.UpstreamClass(
                            dataset=dataset_urn(cfg, u), type=m.DatasetLineageTypeClass.TRANSFORMED
                        )
                        for u in ups[table.ident]
                    ],
                    fineGrainedLineages=_fine(
                        cfg, [e for e in edges if e.downstream.startswith(f"{table.ident}.")]
                    ),
                )
            )
        out += [MCP(entityUrn=urn, aspect=a) for a in aspects]
    for s in spec.sources:
        urn = dataset_urn(cfg, f"{LANDING}.{s.name}")
        out += [
            MCP(entityUrn=urn, aspect=m.StatusClass(removed=False)),
            MCP(
                entityUrn=urn,
                aspect=m.DatasetPropertiesClass(
                    name=f"{LANDING}/{s.name}",
                    description=s.description or None,
                    customProperties={
                        "format": s.format,
                        "layout": f"<landing>/<YYYY-MM-DD>/{s.name}/*.{s.format}",
                        "id_field": s.id_field,
                        "text_field": s.text_field,
                        **({"retention_days": str(s.retention_days)} if s.retention_days else {}),
                    },
                ),
            ),
            MCP(entityUrn=urn, aspect=_owners(spec)),
        ]
        level = s.classification
        out += [
            MCP(entityUrn=urn, aspect=a)
            for a in _labels(
                [classification_tag_urn(level)] if level else [],
                [classification_term_urn(level)] if level else [],
                s.domain,
            )
        ]
    if pii:
        out += glossary_mcps(p.entity for p in pii)
    return out


# --- Governance -----------------------------------------------------------------------------------------


def classification_mcps() -> list[MCP]:
    """A ``classification:<level>`` tag and a ``Classification.<Level>`` term (under the ``Classification``
    node) per level, least sensitive first."""
    node = f"urn:li:glossaryNode:{CLASSIFICATION_NODE}"
    out = [
        MCP(
            entityUrn=node,
            aspect=m.GlossaryNodeInfoClass(
                definition="How sensitive data is, least to most: "
                + ", ".join(CLASSIFICATIONS)
                + " (pipelines/governance.yaml says which roles are cleared for each)",
                name=CLASSIFICATION_NODE,
            ),
        )
    ]
    for rank, c in enumerate(CLASSIFICATIONS):
        out += [
            MCP(
                entityUrn=classification_tag_urn(c),
                aspect=m.TagPropertiesClass(
                    name=f"{CLASSIFICATION_TAG}:{c}", description=f"Classified {c}: {CLASSIFICATION_TEXT[c]}"
                ),
            ),
            MCP(
                entityUrn=classification_term_urn(c),
                aspect=m.GlossaryTermInfoClass(
                    definition=CLASSIFICATION_TEXT[c],
                    termSource="INTERNAL",
                    name=c.capitalize(),
                    parentNode=node,
                    customProperties={"level": str(rank)},
                ),
            ),
        ]
    return out


def domain_mcps(domain: Domain) -> list[MCP]:
    """The domain with its description and contact; its owner as technical owner, its steward as steward."""
    urn = domain_urn(domain.name)
    contact = f"Contact: {domain.contact}"
    return [
        MCP(
            entityUrn=urn,
            aspect=m.DomainPropertiesClass(
                name=domain.name,
                description=f"{domain.description}\n\n{contact}" if domain.description else contact,
                customProperties={"contact": domain.contact, "steward": domain.steward},
            ),
        ),
        MCP(
            entityUrn=urn,
            aspect=_ownership(
                [
                    (domain.owner, m.OwnershipTypeClass.TECHNICAL_OWNER),
                    (domain.steward, m.OwnershipTypeClass.DATA_STEWARD),
                ]
            ),
        ),
    ]


def product_mcps(spec: PipelineSpec, cfg: LineageConfig, product: Product) -> list[MCP]:
    """The data product: its tables as assets (with the columns it exposes, when limited), its domain,
    owners (its own owner, else the domain's; the domain's steward), classification and terms of use."""
    urn = product_urn(product.name)
    domain = next(d for d in spec.domains if d.name == product.domain)  # checked at load
    level: Classification = product.classification
    props = {
        "kind": product.kind,
        "classification": level,
        "retention_days": str(product.retention_days),
        "consumers": ",".join(product.consumers),
        "sources": ",".join(product_sources(spec, product)),
        "pipeline": spec.name,
    }
    assets = [
        m.DataProductAssociationClass(
            destinationUrn=dataset_urn(cfg, ident),
            properties={"columns": ",".join(product.columns[ident])} if ident in product.columns else None,
        )
        for ident in product.tables
    ]
    return [
        MCP(entityUrn=urn, aspect=m.StatusClass(removed=False)),
        MCP(
            entityUrn=urn,
            aspect=m.DataProductPropertiesClass(
                name=product.name,
                description=product.description or f"{product.kind} of the {product.domain} domain ({level})",
                assets=assets,
                customProperties=props,
            ),
        ),
        MCP(entityUrn=urn, aspect=m.DomainsClass(domains=[domain_urn(product.domain)])),
        MCP(
            entityUrn=urn,
            aspect=_ownership(
                [
                    (product.owner or domain.owner, m.OwnershipTypeClass.TECHNICAL_OWNER),
                    (domain.steward, m.OwnershipTypeClass.DATA_STEWARD),
                ]
            ),
        ),
        MCP(entityUrn=urn, aspect=_tags([classification_tag_urn(level)])),
        MCP(entityUrn=urn, aspect=_terms([classification_term_urn(level)])),
    ]


def governance_mcps(spec: PipelineSpec, cfg: LineageConfig) -> list[MCP]:
    """The spec's domains and data products, and the classification tags and terms when anything is
    classified. (What is classified, datasets and feeds, is labelled in ``dataset_mcps``.)"""
    out: list[MCP] = []
    if spec.products or any(s.classification for s in spec.sources):
        out += classification_mcps()
    for domain in spec.domains:
        out += domain_mcps(domain)
    for product in spec.products:
        out += product_mcps(spec, cfg, product)
    return out


# --- DAG and tasks --------------------------------------------------------------------------------------


def flow_mcps(spec: PipelineSpec, cfg: LineageConfig) -> list[MCP]:
    """The DAG and one DataJob per task, with inputs, outputs and column lineage per task."""
    flow = flow_urn(cfg, spec)
    tags = m.GlobalTagsClass(
        [m.TagAssociationClass(builder.make_tag_urn(t)) for t in [*spec.tags, "llm-lakehouse"]]
    )
    out = [
        MCP(entityUrn=flow, aspect=m.StatusClass(removed=False)),
        MCP(
            entityUrn=flow,
            aspect=m.DataFlowInfoClass(
                name=spec.name,
                description=spec.description,
                customProperties={
                    "schedule": spec.schedule,
                    "spec": str(spec.path),
                    "spec_digest": spec.digest(),
                },
            ),
        ),
        MCP(entityUrn=flow, aspect=_owners(spec)),
        MCP(entityUrn=flow, aspect=tags),
    ]
    edges = column_edges(spec)
    previous: str | None = None
    for stage in DAY_STAGES:
        urn = job_urn(cfg, spec, stage)
        out += _job_mcps(spec, cfg, flow, stage, edges, "SparkSubmitOperator", [previous] if previous else [])
        previous = urn
    # The streaming path: a job of the pipeline beside the DAG's tasks (``lakehouse stream start``).
    out += _job_mcps(spec, cfg, flow, STREAM.name, edges, "lakehouse stream start", [])
    return out


def _job_mcps(
    spec: PipelineSpec,
    cfg: LineageConfig,
    flow: str,
    stage: str,
    edges: list[Any],
    operator: str,
    upstream_jobs: list[str],
) -> list[MCP]:
    urn = job_urn(cfg, spec, stage)
    inputs, outputs = STAGES[stage].inputs(spec), STAGES[stage].outputs
    mine = [e for e in edges if split_column(e.downstream)[0] in outputs]
    return [
        MCP(entityUrn=urn, aspect=m.StatusClass(removed=False)),
        MCP(
            entityUrn=urn,
            aspect=m.DataJobInfoClass(
                name=stage,
                type=m.AzkabanJobTypeClass.COMMAND,
                flowUrn=flow,
                description=f"Spark job {stage}: {', '.join(inputs) or '-'} -> {', '.join(outputs)}",
                customProperties={"operator": operator, "writes": ",".join(outputs)},
            ),
        ),
        MCP(
            entityUrn=urn,
            aspect=m.DataJobInputOutputClass(
                inputDatasets=[dataset_urn(cfg, i) for i in inputs],
                outputDatasets=[dataset_urn(cfg, o) for o in outputs],
                inputDatajobs=upstream_jobs,
                fineGrainedLineages=_fine(cfg, mine),
            ),
        ),
        MCP(entityUrn=urn, aspect=_owners(spec)),
    ]


# --- Runs -----------------------------------------------------------------------------------------------

# Where a job's result dict counts the rows it wrote for the day, per table (summed).
RESULT_ROWS: dict[str, tuple[str, ...]] = {
    "bronze.documents": ("bronze",),
    "silver.documents": ("silver",),
    "silver.quarantine": ("quarantine", "duplicates"),
    "gold.training_documents": ("gold_documents",),
}


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out |= _flatten(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = str(v)
    return out


def run_mcps(
    spec: PipelineSpec,
    cfg: LineageConfig,
    stage: str,
    result: Mapping[str, Any],
    outcome: str = "SUCCESS",
    end_ms: int | None = None,
) -> list[MCP]:
    """The task run (DataProcessInstance) with the job's counts and outcome, and a day profile per table."""
    end_ms = end_ms or int(time.time() * 1000)
    duration = int(float(result.get("seconds", 0)) * 1000)
    run_id = str(result.get("run_id", "unknown"))
    dpi = run_instance(cfg, spec, stage, run_id)
    inputs, outputs = STAGES[stage].inputs(spec), STAGES[stage].outputs
    dpi.inlets = [DatasetUrn.from_string(dataset_urn(cfg, i)) for i in inputs]
    dpi.outlets = [DatasetUrn.from_string(dataset_urn(cfg, o)) for o in outputs]
    if not run_id.startswith(("scheduled__", "backfill__")):
        dpi.type = m.DataProcessTypeClass.BATCH_AD_HOC
    dpi.properties = {
        "orchestrator": ORCHESTRATOR,
        "dag_id": spec.name,
        "task_id": stage,
        **_flatten({k: v for k, v in result.items() if k != "stage"}),
    }
    out = list(dpi.generate_mcp(created_ts_millis=end_ms - duration, materialize_iolets=False))
    out += dpi.start_event_mcp(end_ms - duration)
    out += dpi.end_event_mcp(
        end_timestamp_millis=end_ms,
        result=InstanceRunResult(outcome.upper()),
        result_type="lakehouse",
        start_timestamp_millis=end_ms - duration,
    )
    day = result.get("date")
    for ident in outputs:
        keys = RESULT_ROWS.get(ident, ())
        if not keys or not all(isinstance(result.get(k), int) for k in keys):
            continue
        out.append(
            MCP(
                entityUrn=dataset_urn(cfg, ident),
                aspect=m.DatasetProfileClass(
                    timestampMillis=end_ms,
                    rowCount=sum(result[k] for k in keys),
                    partitionSpec=m.PartitionSpecClass(
                        partition=f"dt={day}", type=m.PartitionTypeClass.PARTITION
                    )
                    if day
                    else None,
                ),
            )
        )
    return out


# --- Quality --------------------------------------------------------------------------------------------


def assertion_urn(cfg: LineageConfig, table: str, expectation: str, column: str | None = None) -> str:
    return builder.make_assertion_urn(
        builder.datahub_guid(
            {
                "platform": "great-expectations",
                "dataset": dataset_urn(cfg, table),
                "expectation": expectation,
                "column": column or "",
            }
        )
    )


def assertion_mcps(
    spec: PipelineSpec,
    cfg: LineageConfig,
    results: Iterable[Mapping[str, Any]],
    run_id: str,
    ts_ms: int | None = None,
) -> list[MCP]:
    """Quality results ``{table, expectation, success, observed[, column, kwargs]}`` as DataHub assertions.

    ``observed`` is stored as text: pass counts and aggregates, never raw values of PII checks.
    """
    ts_ms = ts_ms or int(time.time() * 1000)
    out: list[MCP] = []
    for r in results:
        table, expectation, column = r["table"], r["expectation"], r.get("column")
        ds = dataset_urn(cfg, table)
        urn = assertion_urn(cfg, table, expectation, column)
        info = m.AssertionInfoClass(
            type=m.AssertionTypeClass.DATASET,
            datasetAssertion=m.DatasetAssertionInfoClass(
                dataset=ds,
                scope=m.DatasetAssertionScopeClass.DATASET_COLUMN
                if column
                else m.DatasetAssertionScopeClass.DATASET_ROWS,
                fields=[builder.make_schema_field_urn(ds, column)] if column else None,
                operator=m.AssertionStdOperatorClass._NATIVE_,
                nativeType=expectation,
                nativeParameters={k: str(v) for k, v in (r.get("kwargs") or {}).items()},
            ),
            description=f"{expectation} on {table}{'.' + column if column else ''} ({spec.name})",
        )
        result = m.AssertionResultClass(
            type=m.AssertionResultTypeClass.SUCCESS if r["success"] else m.AssertionResultTypeClass.FAILURE,
            nativeResults={"observed_value": str(r.get("observed"))},
        )
        out += [
            MCP(entityUrn=urn, aspect=info),
            MCP(
                entityUrn=urn,
                aspect=m.DataPlatformInstanceClass(
                    platform=builder.make_data_platform_urn("great-expectations")
                ),
            ),
            MCP(
                entityUrn=urn,
                aspect=m.AssertionRunEventClass(
                    timestampMillis=ts_ms,
                    runId=run_id,
                    asserteeUrn=ds,
                    assertionUrn=urn,
                    status=m.AssertionRunStatusClass.COMPLETE,
                    result=result,
                ),
            ),
        ]
    return out


def spec_mcps(spec: PipelineSpec, cfg: LineageConfig, pii: Sequence[PiiColumn] | None = None) -> list[MCP]:
    """Everything static about the pipeline: datasets, the DAG and its tasks, its domains and data products."""
    return dataset_mcps(spec, cfg, pii) + flow_mcps(spec, cfg) + governance_mcps(spec, cfg)
