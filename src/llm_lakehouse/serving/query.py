"""Retrieval declared as pipes: ``pipelines/rag_query.yaml`` chains query pipes over the serving index.

A query pipe takes the query's state and returns it: ``filter`` narrows what the retrievers search (source,
dates), each retriever (``keyword``: BM25 over the chunks' text; ``vector``: nearest embeddings) adds its
ranked candidates, and ``fuse`` merges the candidate lists into one ranking (relative score or reciprocal rank fusion). Swapping
or adding a pipe is a change to the YAML; the spec is checked at load (order, parameters), naming file and key.

There is no ``rerank`` pipe: a cross-encoder would have to ship offline in a PyPI package, as the embedding
model does, and none does on this platform. A spec that asks for one fails at load saying so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from llm_lakehouse.core.errors import SpecError
from llm_lakehouse.core.models import NamedStep, StrictModel
from llm_lakehouse.core.spec import load_yaml_model

Encoder = Callable[[str], np.ndarray]
HIT_COLUMNS = ("chunk_id", "doc_id", "source", "dt", "chunk_index", "text")


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    doc_id: str
    source: str
    dt: date
    chunk_index: int
    text: str
    score: float
    # The hit's rank (from 1) in each retriever's list that holds it.
    ranks: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**{c: getattr(self, c) for c in HIT_COLUMNS}, "dt": self.dt.isoformat(), "score": self.score,
                "ranks": self.ranks}  # fmt: skip


@dataclass(frozen=True)
class Filters:
    """What a query narrows to (``lakehouse search --source/--since/--until``); the ``filter`` pipe applies it."""

    sources: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None

    def __bool__(self) -> bool:
        return bool(self.sources or self.since or self.until)


NO_FILTERS = Filters()


@dataclass(frozen=True)
class QueryState:
    text: str
    filters: Filters = NO_FILTERS
    where: tuple[str, ...] = ()  # SQL predicates over the index's columns, ANDed
    lists: dict[str, list[Hit]] = field(default_factory=dict)
    hits: list[Hit] | None = None  # the ranking so far: a fuse's, or else the one retriever's list


@dataclass(frozen=True)
class QueryContext:
    table: Any  # the LanceDB table of the serving index
    encode: Encoder


class QueryPipe(ABC):
    """One step of a query pipeline; ``Params`` checks its keys at spec load."""

    name: ClassVar[str]
    kind: ClassVar[Literal["filter", "retriever", "fuse"]]

    class Params(StrictModel):
        pass

    def __init__(self, params: Params) -> None:
        self.params = params

    @abstractmethod
    def __call__(self, state: QueryState, ctx: QueryContext) -> QueryState: ...


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Filter(QueryPipe):
    """Narrows the retrievers to sources and a date range: the spec's own, ANDed with the query's."""

    name, kind = "filter", "filter"

    class Params(StrictModel):
        sources: tuple[str, ...] = ()
        since: date | None = None
        until: date | None = None

    def __call__(self, state: QueryState, ctx: QueryContext) -> QueryState:
        where = list(state.where)
        for f in (self.params, state.filters):
            if f.sources:
                where.append(f"source IN ({', '.join(_sql_str(s) for s in f.sources)})")
            if f.since:
                where.append(f"dt >= date '{f.since.isoformat()}'")
            if f.until:
                where.append(f"dt <= date '{f.until.isoformat()}'")
        return replace(state, where=tuple(where))


class Retriever(QueryPipe):
    kind = "retriever"

    class Params(StrictModel):
        # Candidates this retriever hands to the fusion: more than the answer's k, so a chunk ranked low by
        # one retriever and high by the other can still win.
        k: int = Field(50, ge=1, le=10_000)

    def _run(self, query: Any, state: QueryState, score: Callable[[float], float], col: str) -> QueryState:
        if state.where:
            query = query.where(" AND ".join(f"({w})" for w in state.where), prefilter=True)
        got = query.limit(self.params.k).select([*HIT_COLUMNS, col]).to_arrow().to_pylist()
        hits = [
            Hit(**{c: r[c] for c in HIT_COLUMNS}, score=score(r[col]), ranks={self.name: i})
            for i, r in enumerate(got, 1)
        ]
        lists = {**state.lists, self.name: hits}
        return replace(state, lists=lists, hits=hits if len(lists) == 1 else state.hits)


class Keyword(Retriever):
    """BM25 over the chunks' text (LanceDB's full-text index: stemmed, stop words removed)."""

    name = "keyword"

    def __call__(self, state: QueryState, ctx: QueryContext) -> QueryState:
        return self._run(ctx.table.search(state.text, query_type="fts"), state, float, "_score")


class Vector(Retriever):
    """The chunks nearest to the query's embedding, by the model the index holds (cosine: normalized dot)."""

    name = "vector"

    def __call__(self, state: QueryState, ctx: QueryContext) -> QueryState:
        query = ctx.table.search(ctx.encode(state.text), vector_column_name="vector").distance_type("dot")
        # LanceDB's dot distance is 1 - dot product: the score is the cosine similarity.
        return self._run(query, state, lambda d: 1.0 - float(d), "_distance")


class Fuse(QueryPipe):
    """Merges the retrievers' lists into one ranking; a hit missing from a list gets nothing from it.

    - ``relative`` (relative score fusion): each list's scores min-max scaled to [0, 1] over its candidates,
      then summed with the lists' weights. A decisive match (a BM25 score far above the rest: the query's
      rare terms, a pasted line) keeps its lead, where ranks alone would put it level with a chunk both
      retrievers found middling.
    - ``rrf`` (reciprocal rank fusion): ``weight / (constant + rank)`` summed over the lists: ranks only, so
      nothing about the scores' scales is assumed.

    Ties keep the order of the first list.
    """

    name, kind = "fuse", "fuse"

    class Params(StrictModel):
        method: Literal["relative", "rrf"] = "relative"
        constant: int = Field(60, ge=1)  # rrf only
        weights: dict[str, float] = {}

    def __call__(self, state: QueryState, ctx: QueryContext) -> QueryState:
        scores: dict[str, float] = {}
        ranks: dict[str, dict[str, int]] = {}
        first: dict[str, Hit] = {}
        for name, hits in state.lists.items():
            weight = self.params.weights.get(name, 1.0)
            for rank, (hit, part) in enumerate(zip(hits, self._parts(hits), strict=True), 1):
                scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight * part
                ranks.setdefault(hit.chunk_id, {})[name] = rank
                first.setdefault(hit.chunk_id, hit)
        order = sorted(scores, key=lambda c: -scores[c])  # stable: first seen wins a tie
        fused = [replace(first[c], score=scores[c], ranks=ranks[c]) for c in order]
        return replace(state, hits=fused)

    def _parts(self, hits: list[Hit]) -> list[float]:
        if self.params.method == "rrf":
            return [1.0 / (self.params.constant + rank) for rank in range(1, len(hits) + 1)]
        if not hits:
            return []
        top, low = max(h.score for h in hits), min(h.score for h in hits)
        return [(h.score - low) / (top - low) if top > low else 1.0 for h in hits]


QUERY_PIPES: dict[str, type[QueryPipe]] = {p.name: p for p in (Filter, Keyword, Vector, Fuse)}
NOT_SHIPPED = {
    "rerank": "no cross-encoder ships offline in a PyPI package on this platform (models are never downloaded "
    "at run time), so there is no rerank pipe; rank with fuse"
}


class QueryStep(NamedStep):
    """A query pipe and its parameters, e.g. ``{pipe: keyword, k: 50}``."""

    @model_validator(mode="after")
    def _known(self) -> QueryStep:
        if self.pipe in NOT_SHIPPED:
            raise ValueError(f"{self.pipe!r} is not available: {NOT_SHIPPED[self.pipe]}")
        if self.pipe not in QUERY_PIPES:
            raise ValueError(f"unknown query pipe {self.pipe!r}; expected one of {sorted(QUERY_PIPES)}")
        QUERY_PIPES[self.pipe].Params(**self.params)
        return self


class QuerySpec(StrictModel):
    """``pipelines/rag_query.yaml``: the chain ``lakehouse search`` runs."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    k: int = Field(5, ge=1, le=1000)  # results returned, unless the query asks for another k
    pipes: tuple[QueryStep, ...] = Field(min_length=1)
    path: Path

    @model_validator(mode="after")
    def _order(self) -> QuerySpec:
        kinds = [QUERY_PIPES[s.pipe].kind for s in self.pipes]
        names = [s.pipe for s in self.pipes]
        retrievers = [i for i, k in enumerate(kinds) if k == "retriever"]
        if not retrievers:
            raise ValueError("pipes: no retriever; expected keyword, vector or both")
        for i, kind in enumerate(kinds):
            if names.count(names[i]) > 1:
                raise ValueError(f"pipes.{i}: {names[i]!r} appears twice; expected each pipe once")
            if kind == "filter" and i > retrievers[0]:
                raise ValueError(
                    f"pipes.{i}: filter comes after a retriever; expected it first (it narrows them)"
                )
            if kind == "fuse" and i < retrievers[-1]:
                raise ValueError(f"pipes.{i}: fuse comes before a retriever; expected it after all of them")
        if len(retrievers) > 1 and "fuse" not in kinds:
            raise ValueError("pipes: several retrievers and no fuse; expected a fuse after them")
        return self

    def chain(self) -> list[QueryPipe]:
        return [QUERY_PIPES[s.pipe](QUERY_PIPES[s.pipe].Params(**s.params)) for s in self.pipes]

    def with_pipes(self, names: Sequence[str]) -> QuerySpec:
        """This spec keeping only the named pipes (the evaluation compares keyword, vector and both)."""
        return self.model_validate({**self.model_dump(), "pipes": [s.model_dump() for s in self.pipes
                                                                    if s.pipe in names]})  # fmt: skip


def load_query_spec(path: str | Path) -> QuerySpec:
    return load_yaml_model(path, QuerySpec, "query spec")


def run_query(
    spec: QuerySpec, ctx: QueryContext, text: str, k: int | None = None, filters: Filters = NO_FILTERS
) -> list[Hit]:
    """The top ``k`` hits of ``text`` through the spec's chain."""
    if filters and not any(s.pipe == "filter" for s in spec.pipes):
        raise SpecError(f"{spec.path}: pipes: the query has filters but the pipeline has no filter pipe")
    state = QueryState(text=text, filters=filters)
    for pipe in spec.chain():
        state = pipe(state, ctx)
    return (state.hits or [])[: k or spec.k]
