"""Lineage queries over the local store: DataHub Lite has no lineage query, so the edges are walked here.

Edges come from three aspects: a dataset's ``upstreamLineage`` (tables, and columns in its
``fineGrainedLineages``), and a DataJob's ``dataJobInputOutput`` (its input -> output tables and its own
``fineGrainedLineages``), which also names the task an edge runs through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.tree import Tree

FIELD = re.compile(r"^urn:li:schemaField:\((urn:li:dataset:\(.*\)),(.+)\)$")
DATASET = re.compile(r"^urn:li:dataset:\(urn:li:dataPlatform:([^,]+),(.+),([A-Z_]+)\)$")
JOB = re.compile(r"^urn:li:dataJob:\(urn:li:dataFlow:\(([^,]+),([^,]+),([^)]+)\),(.+)\)$")


@dataclass(frozen=True)
class Edge:
    upstream: str
    downstream: str
    via: str | None = None  # DataJob URN the edge runs through, when known
    op: str | None = None  # transformOperation of column edges


@dataclass
class Graph:
    edges: set[Edge] = field(default_factory=set)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)  # urn -> {aspect: value}
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_aspects(cls, sources: Iterable[Mapping[tuple[str, str], dict[str, Any]]]) -> Graph:
        g = cls()
        for aspects in sources:
            for (urn, name), value in aspects.items():
                if urn.startswith("urn:li:dataset:"):
                    g.datasets.setdefault(urn, {})[name] = value
                elif urn.startswith("urn:li:dataJob:"):
                    g.jobs.setdefault(urn, {})[name] = value
                if name == "upstreamLineage":
                    g.edges |= {Edge(u["dataset"], urn) for u in value.get("upstreams", [])}
                    g.edges |= set(_fine(value))
                elif name == "dataJobInputOutput":
                    ins, outs = value.get("inputDatasets", []), value.get("outputDatasets", [])
                    g.edges |= {Edge(i, o, urn) for i in ins for o in outs}
                    g.edges |= set(_fine(value, urn))
        return g

    def neighbours(self, node: str, upstream: bool) -> list[tuple[str, list[Edge]]]:
        """Adjacent nodes, each with the edges (several when tasks and datasets both declare it)."""
        near: dict[str, list[Edge]] = {}
        for e in self.edges:
            if (e.downstream if upstream else e.upstream) == node:
                near.setdefault(e.upstream if upstream else e.downstream, []).append(e)
        return sorted(near.items())

    def columns(self, dataset: str) -> list[str]:
        fields = self.datasets.get(dataset, {}).get("schemaMetadata", {}).get("fields", [])
        return [f["fieldPath"] for f in fields]

    def resolve(self, name: str, catalog: str) -> str:
        """A dataset URN from a URN, ``<layer>.<table>``, ``<catalog>.<layer>.<table>`` or ``landing.<source>``."""
        if name.startswith("urn:li:"):
            return name
        known = set(self.datasets) | {e.upstream for e in self.edges} | {e.downstream for e in self.edges}
        wanted = [name, f"{catalog}.{name}", name.replace("landing.", f"{catalog}/landing/", 1)]
        for urn in sorted(known):
            m = DATASET.match(urn)
            if m and m.group(2) in wanted:
                return urn
        raise KeyError(name)


def _fine(aspect: Mapping[str, Any], via: str | None = None) -> Iterable[Edge]:
    for fg in aspect.get("fineGrainedLineages", []) or []:
        for up in fg.get("upstreams", []) or []:
            for down in fg.get("downstreams", []) or []:
                yield Edge(up, down, via, fg.get("transformOperation"))


def label(urn: str, catalog: str) -> str:
    """Short display name: ``silver.documents.text``, ``landing/web.text (file)``, ``task silver``."""
    col = ""
    if m := FIELD.match(urn):
        urn, col = m.group(1), "." + m.group(2)
    if m := DATASET.match(urn):
        platform, name = m.group(1), m.group(2)
        for prefix in (f"{catalog}.", f"{catalog}/"):
            name = name.removeprefix(prefix)
        return f"{name}{col}" + ("" if platform == "iceberg" else f" ({platform})")
    if m := JOB.match(urn):
        return f"task {m.group(4)}"
    return urn


def walk(g: Graph, start: str, catalog: str, upstream: bool = True, depth: int = 10) -> dict[str, Any]:
    """The lineage of ``start`` (a dataset or schemaField URN), ``depth`` levels deep, as nested plain data:
    ``{"urn", "name", "via", "operations", "cycle", "next": [...]}``."""

    def node(urn: str, edges: list[Edge], level: int, path: frozenset[str]) -> dict[str, Any]:
        cycle = urn in path
        out: dict[str, Any] = {
            "urn": urn,
            "name": label(urn, catalog),
            "via": sorted({label(e.via, catalog) for e in edges if e.via}),
            "operations": sorted({e.op for e in edges if e.op}),
            "cycle": cycle,
            "next": [],
        }
        if not cycle and level < depth:
            out["next"] = [node(n, es, level + 1, path | {urn}) for n, es in g.neighbours(urn, upstream)]
        return out

    return node(start, [], 0, frozenset())


def tree(g: Graph, start: str, catalog: str, upstream: bool = True, depth: int = 10) -> Tree:
    """The lineage of ``start`` as a rich tree (what ``walk`` returns, drawn)."""
    arrow = "⬆ upstream" if upstream else "⬇ downstream"
    root = Tree(f"[bold]{label(start, catalog)}[/bold]  [dim]{arrow}[/dim]")

    def grow(children: list[dict[str, Any]], branch: Tree) -> None:
        for child in children:
            notes = ", ".join([*child["operations"], *(f"via {v}" for v in child["via"])])
            text = child["name"] + (f"  [dim]{notes}[/dim]" if notes else "")
            if child["cycle"]:
                branch.add(text + "  [dim](cycle)[/dim]")
                continue
            grow(child["next"], branch.add(text))

    grow(walk(g, start, catalog, upstream, depth)["next"], root)
    return root
