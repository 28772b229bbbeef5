"""The lakehouse's lineage as plain data, derived from the spec and ``tables.py``; no DataHub import here.

Everything DataHub shows is computed from two declarations and nothing else: the tables with their columns
and ``LINEAGE`` (``tables.py``), and the pipeline spec (sources, pipes, owners). So adding a column, a pipe
or a source changes the lineage without touching this package. The module stays free of DataHub so the
Airflow env can use it too (e.g. for task inlets).

Names: an Iceberg column is ``"<layer>.<table>.<column>"``; a landing feed is the pseudo-table
``"landing.<source>"`` (files, not Iceberg) whose columns are the record fields the spec reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from llm_lakehouse.core.governance import Classification, level
from llm_lakehouse.core.pipes import REGISTRY
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.stages import DAY_STAGES, LANDING
from llm_lakehouse.core.tables import ALL_TABLES, LINEAGE, RUN_COLUMNS, SILVER, Table

IDENTITY = "IDENTITY"
TRANSFORM = "TRANSFORM"


@dataclass(frozen=True, order=True)
class ColumnEdge:
    upstream: str  # "<layer>.<table>.<column>" or "landing.<source>.<field>"
    downstream: str
    transform: str = IDENTITY


@dataclass(frozen=True, order=True)
class PiiColumn:
    table: str  # "<layer>.<table>"
    column: str
    entity: str  # Presidio entity type, e.g. EMAIL_ADDRESS; becomes the glossary term PII.<entity>


def split_column(ref: str) -> tuple[str, str]:
    """``"silver.documents.text"`` -> ``("silver.documents", "text")``."""
    ident, _, column = ref.rpartition(".")
    return ident, column


def spec_tables(spec: PipelineSpec) -> list[Table]:
    """Every table the spec's runs write, silver with the columns the spec's pipes add."""
    silver = spec.silver_table() if hasattr(spec, "silver_table") else SILVER
    return [silver if t.ident == SILVER.ident else t for t in ALL_TABLES]


def _pipe_columns(spec: PipelineSpec) -> dict[str, tuple[str, ...]]:
    """silver columns that the spec's pipes add -> their source columns (pipes read bronze rows)."""

    base = set(SILVER.column_names)
    out: dict[str, tuple[str, ...]] = {}
    for step in spec.silver.pipes:
        for name, _, _ in REGISTRY[step.pipe].columns:
            if name not in base and name not in out:
                out[name] = ("bronze.documents.text",)
    return out


def column_edges(spec: PipelineSpec) -> list[ColumnEdge]:
    """Every column-level edge the spec implies, sorted; references to absent columns are left out."""
    tables = {t.ident: t for t in spec_tables(spec)}
    known = {f"{i}.{c}" for i, t in tables.items() for c in t.column_names}
    pipe_cols = _pipe_columns(spec)
    edges: set[ColumnEdge] = set()
    for ident, decl in LINEAGE.items():
        table = tables.get(ident)
        if table is None:
            continue
        explicit = {**(pipe_cols if ident == SILVER.ident else {}), **decl.columns}
        for col in table.column_names:
            if col in RUN_COLUMNS:
                continue
            if col in explicit:
                for ref in explicit[col]:
                    if ref in known:
                        edges.add(ColumnEdge(ref, f"{ident}.{col}", TRANSFORM))
                continue
            if decl.upstream and f"{decl.upstream[0]}.{col}" in known:
                edges.add(ColumnEdge(f"{decl.upstream[0]}.{col}", f"{ident}.{col}", IDENTITY))
    # Landing -> bronze: the record fields the spec tells the ingest to read.
    for ident in (i for stage in DAY_STAGES.values() if stage.ingests for i in stage.outputs):
        cols = set(tables[ident].column_names) if ident in tables else set()
        for s in spec.sources:
            feed = f"{LANDING}.{s.name}"
            for field_name, col in ((s.id_field, "record_id"), (s.text_field, "text")):
                if col in cols:
                    edges.add(ColumnEdge(f"{feed}.{field_name}", f"{ident}.{col}", IDENTITY))
    return sorted(edges)


def unresolved(spec: PipelineSpec) -> list[str]:
    """Declared lineage that points nowhere (unknown table or column): a test keeps this empty."""
    tables = {t.ident: t for t in spec_tables(spec)}
    known = {f"{i}.{c}" for i, t in tables.items() for c in t.column_names}
    problems = []
    for ident, decl in LINEAGE.items():
        if ident not in tables:
            problems.append(f"{ident}: not a table")
            continue
        problems += [f"{ident}: upstream {u} is not a table" for u in decl.upstream if u not in tables]
        for col, refs in decl.columns.items():
            if col not in tables[ident].column_names:
                problems.append(f"{ident}.{col}: not a column")
            problems += [f"{ident}.{col}: source {r} is not a column" for r in refs if r not in known]
    return problems


# --- PII ------------------------------------------------------------------------------------------------


def _entities(params: Mapping[str, Any]) -> list[str]:
    """Entity types named by a PII pipe's params: ``entities`` as a list, a mapping, or list of mappings,
    at the top level or under ``policy``."""
    for holder in (params, params.get("policy") or {}):
        if not isinstance(holder, Mapping) or "entities" not in holder:
            continue
        ents = holder["entities"]
        if isinstance(ents, Mapping):
            return [str(k) for k in ents]
        names = []
        for e in ents or ():
            if isinstance(e, Mapping):
                e = e.get("entity") or e.get("type") or e.get("name")
            if e:
                names.append(str(e))
        return names
    return []


def pii_columns(spec: PipelineSpec, extra: Iterable[tuple[str, str, str]] = ()) -> list[PiiColumn]:
    """Columns holding or derived from personal data, with their entity types.

    Derived from the spec: a pipe class may define ``pii_columns(params) -> [(column, entity), ...]``
    (silver columns it scrubs); failing that, a pipe whose name contains ``pii`` scrubs the columns of its
    ``text_columns`` (or ``columns``) param, default ``text``, for the entities its (validated) params name. The upstream Iceberg columns of a
    scrubbed column (bronze ``text``: the raw, unscrubbed copy) carry the same entities. ``extra`` adds
    ``(table, column, entity)`` triples declared elsewhere.
    """

    scrubbed: set[tuple[str, str]] = set()  # (column ref, entity)
    for step in spec.silver.pipes:
        cls = REGISTRY[step.pipe]
        hook = getattr(cls, "pii_columns", None)
        if callable(hook):
            pairs = list(hook(cls.Params(**step.params)))
        elif "pii" in step.pipe:
            params = cls.Params(**step.params)  # with the policy's defaults (e.g. its default entities)
            data = params.model_dump() if hasattr(params, "model_dump") else dict(step.params)
            cols = data.get("text_columns") or data.get("columns") or ["text"]
            pairs = [(c, e) for c in ([cols] if isinstance(cols, str) else cols) for e in _entities(data)]
        else:
            continue
        scrubbed |= {(f"{SILVER.ident}.{c}", e.upper()) for c, e in pairs}

    ups: dict[str, set[str]] = {}
    for e in column_edges(spec):
        ups.setdefault(e.downstream, set()).add(e.upstream)
    out = set()
    for ref, entity in scrubbed:
        todo, seen = [ref], set()
        while todo:
            cur = todo.pop()
            if cur in seen or cur.startswith(f"{LANDING}."):
                continue
            seen.add(cur)
            out.add(PiiColumn(*split_column(cur), entity))
            # Only follow columns that were copied or transformed into this one before scrubbing: upstream.
            todo += sorted(u for u in ups.get(cur, ()) if not u.startswith(f"{SILVER.ident}."))
    out |= {PiiColumn(t, c, e.upper()) for t, c, e in extra}
    return sorted(out)


# --- Governance -----------------------------------------------------------------------------------------


def table_classifications(spec: PipelineSpec) -> dict[str, Classification]:
    """Table -> the most sensitive classification among the spec's products that include it.

    A table no product serves (quarantine, ops tables) has none: it is not offered to any consumer.
    """
    out: dict[str, Classification] = {}
    for product in spec.products:
        for ident in product.tables:
            if ident not in out or level(product.classification) > level(out[ident]):
                out[ident] = product.classification
    return out


def spec_domain(spec: PipelineSpec) -> str | None:
    """The one domain every source of the spec belongs to (a domain pipeline), else None (a shared spec, or a
    source without a domain): only then do the spec's tables belong to a domain as a whole."""
    domains = {s.domain for s in spec.sources}
    return domains.pop() if len(domains) == 1 and None not in domains else None
