"""The RAG serving index and the query pipeline: a LanceDB mirror of gold.chunk_embeddings synced from Iceberg
snapshot diffs, and retrieval declared as pipes (``pipelines/rag_query.yaml``)."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest
from conftest import FACTS, GOLD_DAYS, TOPICS, build_through_gold

from llm_lakehouse.cli.search import encoder, query_spec_path, search
from llm_lakehouse.core.catalog import load, open_catalog, published_snapshot
from llm_lakehouse.core.errors import ServingIndexError, SpecError
from llm_lakehouse.devtools.rag_eval import described_queries, evaluate, package_documents, phrase_queries
from llm_lakehouse.serving.index import ServingIndex
from llm_lakehouse.serving.query import (
    Filters,
    Fuse,
    Hit,
    QueryContext,
    QueryState,
    load_query_spec,
)
from llm_lakehouse.spark import publications
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.gold import build_day

SHIPPED = query_spec_path("rag_query")
PACKAGES_DAY = date(2026, 8, 20)

# --- the query spec and the pipes: no Spark -------------------------------------------------------------


def test_the_shipped_query_pipeline_loads_as_hybrid():
    spec = load_query_spec(SHIPPED)
    assert [s.pipe for s in spec.pipes] == ["filter", "keyword", "vector", "fuse"]


@pytest.mark.parametrize(
    ("pipes", "message"),
    [
        ([{"pipe": "keyword"}, {"pipe": "rerank"}], "pipes.1: .*'rerank' is not available: no cross-encoder"),
        ([{"pipe": "keyword"}, {"pipe": "vector"}], "several retrievers and no fuse"),
        ([{"pipe": "fuse"}, {"pipe": "keyword"}], "pipes.0: fuse comes before a retriever"),
        ([{"pipe": "keyword"}, {"pipe": "filter"}], "pipes.1: filter comes after a retriever"),
        ([{"pipe": "keyword", "top": 3}], "pipes.0.top: Extra inputs are not permitted"),
        (
            [{"pipe": "fuse", "method": "borda"}, {"pipe": "keyword"}],
            "pipes.0.method: Input should be 'relative' or 'rrf'",
        ),
        ([{"pipe": "filter"}], "no retriever"),
    ],
)
def test_a_bad_query_spec_fails_at_load_with_file_and_key(tmp_path, pipes, message):
    import yaml

    path = tmp_path / "q.yaml"
    path.write_text(yaml.safe_dump({"name": "q", "pipes": pipes}))
    with pytest.raises(SpecError, match=message) as err:
        load_query_spec(path)
    assert str(path) in str(err.value)


def _hit(chunk_id: str) -> Hit:
    return Hit(chunk_id, f"d/{chunk_id}", "web", FACTS, 0, chunk_id, 0.0)


def test_fuse_is_reciprocal_rank_fusion_of_the_lists():
    state = QueryState(
        "q", lists={"keyword": [_hit("a"), _hit("b"), _hit("c")], "vector": [_hit("c"), _hit("d"), _hit("a")]}
    )
    fuse = Fuse(Fuse.Params(method="rrf", constant=60))
    fused = fuse(state, QueryContext(None, None)).hits
    expected = {"a": 1 / 61 + 1 / 63, "b": 1 / 62, "c": 1 / 63 + 1 / 61, "d": 1 / 62}
    assert [h.chunk_id for h in fused] == ["a", "c", "b", "d"]  # a and c tie: the first list's order
    assert {h.chunk_id: h.score for h in fused} == pytest.approx(expected)
    assert fused[1].ranks == {"keyword": 3, "vector": 1}
    weighted = Fuse(Fuse.Params(method="rrf", weights={"vector": 3.0}))(state, QueryContext(None, None)).hits
    assert weighted[0].chunk_id == "c"


# --- the index and retrieval on gold: Spark builds the days ------------------------------------------------


def _gold_ids(catalog, snapshot_id: int) -> list[str]:
    t = load(catalog, "gold.chunk_embeddings")
    return (
        t.scan(snapshot_id=snapshot_id, selected_fields=("chunk_id",))
        .to_arrow()
        .column("chunk_id")
        .to_pylist()
    )


def _index_ids(index: ServingIndex) -> list[str]:
    return index.table().to_arrow().column("chunk_id").to_pylist()


def test_the_index_follows_gold_by_snapshot_diffs(gold, spark, spec, settings, tmp_path, monkeypatch):
    cat = open_catalog(settings)
    index = ServingIndex(tmp_path / "index")
    first = index.sync(cat)
    assert first.snapshot_id == published_snapshot(cat, "gold.chunk_embeddings")
    assert sorted(_index_ids(index)) == sorted(_gold_ids(cat, first.snapshot_id))
    assert first.rows_added == first.rows > 0 and first.files_removed == 0
    assert index.sync(cat).changed is False  # nothing new: a snapshot id compared

    # A rerun of one day replaces that day's files: only they leave and arrive, and only its chunks are read.
    facts_files = {k for k in index.state()["files"] if "dt=2026-08-10" in k}
    facts_chunks = gold[FACTS]["gold_chunks"]
    build_day(RunContext(spark, spec, settings, FACTS, "serving__rerun"))
    second = index.sync(cat)
    assert second.files_removed == len(facts_files) > 0
    assert second.rows_added == facts_chunks < second.rows == first.rows
    assert not facts_files & set(index.state()["files"])
    assert sorted(_index_ids(index)) == sorted(_gold_ids(cat, second.snapshot_id))

    # A sync killed after LanceDB took the rows but before it recorded them is finished by the next one,
    # without duplicates.
    index.rebuild(cat, first.snapshot_id)

    def killed(self, state):
        raise KeyboardInterrupt("killed after LanceDB took the rows, before the state recorded them")

    monkeypatch.setattr(ServingIndex, "_commit", killed)
    with pytest.raises(KeyboardInterrupt):
        index.sync(cat)
    monkeypatch.undo()
    pending = index.state()["pending"]
    assert pending and index.table().count_rows(f"file = '{pending[0]}'") > 0  # in LanceDB, unrecorded
    assert index.state()["snapshot_id"] == first.snapshot_id
    again = index.sync(cat)
    ids = _index_ids(index)
    assert again.snapshot_id == second.snapshot_id and len(ids) == len(set(ids))
    assert sorted(ids) == sorted(_gold_ids(cat, second.snapshot_id))

    # Rebuildable at any snapshot.
    index.rebuild(cat, first.snapshot_id)
    assert sorted(_index_ids(index)) == sorted(_gold_ids(cat, first.snapshot_id))
    # Rows whose files nobody recorded (the state deleted) are not kept beside a fresh load of them.
    (index.path / "state.json").unlink()
    index.sync(cat, first.snapshot_id)
    assert sorted(_index_ids(index)) == sorted(_gold_ids(cat, first.snapshot_id))


def test_a_day_killed_before_publishing_holds_the_index_before_it(gold, spark, spec, settings, tmp_path):
    """A first gold run of day A is killed after its writes reached main (its ``started`` row pins the state
    before it); day B publishes afterwards. No snapshot since is free of A's rows, so the index stays on A's
    pin until A publishes, however many days publish in between."""
    cat = open_catalog(settings)
    ident = "gold.chunk_embeddings"
    killed_day = date(2026, 8, 25)  # never built: its first run's started row is its only row
    pinned = load(cat, ident).current_snapshot().snapshot_id
    publications.record(spark, settings, "gold", killed_day, "killed", [ident], "started")
    build_day(RunContext(spark, spec, settings, FACTS, "serving__after_kill"))  # day B: newer snapshots
    cat = open_catalog(settings)
    assert load(cat, ident).current_snapshot().snapshot_id != pinned
    index = ServingIndex(tmp_path / "index")
    assert published_snapshot(cat, ident) == pinned == index.sync(cat).snapshot_id
    # Day A's retry publishes: everything published is served again.
    publications.record(spark, settings, "gold", killed_day, "retry", [ident])
    cat = open_catalog(settings)
    current = load(cat, ident).current_snapshot().snapshot_id
    assert published_snapshot(cat, ident) == current == index.sync(cat).snapshot_id


def test_search_finds_the_planted_answers_and_filters(gold, spec, settings, tmp_path):
    cat = open_catalog(settings)
    qspec = load_query_spec(SHIPPED)
    index = ServingIndex(tmp_path / "index")
    for topic, (question, _) in TOPICS.items():
        hits = search(cat, spec, qspec, index, question, k=3)
        assert hits[0].doc_id.endswith(f"/{topic}"), (question, hits)
        assert set(hits[0].ranks) == {"keyword", "vector"}
    sample = Filters(since=GOLD_DAYS[0], until=GOLD_DAYS[1])
    hits = search(cat, spec, qspec, index, TOPICS["bees"][0], k=20, filters=sample)
    assert hits and {h.dt for h in hits} <= set(GOLD_DAYS[:2])
    web = search(cat, spec, qspec, index, "the team", k=20, filters=Filters(sources=("web",)))
    assert web and {h.source for h in web} == {"web"}
    keyword_only = qspec.with_pipes(["keyword"])
    with pytest.raises(SpecError, match="no filter pipe"):
        search(cat, spec, keyword_only, index, "the team", filters=Filters(sources=("web",)))


@pytest.fixture(scope="module")
def packages(gold, spark, spec, settings, tmp_path_factory) -> dict[str, tuple[str, str]]:
    """A day of real text no one here wrote: the long descriptions of the packages installed in this env,
    each with its METADATA Summary (not part of the text) for a query whose answer is known."""
    feed = tmp_path_factory.mktemp("serving") / "packages"
    feed.mkdir()
    site = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    records, described = package_documents(site, limit=80)
    (feed / "part-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    build_through_gold(spark, spec, settings, PACKAGES_DAY, "serving__packages", input_dir=feed)
    return {f"packages/{k}": v for k, v in described.items()}


def test_hybrid_retrieval_is_at_least_as_good_as_keyword_or_vector(packages, spec, settings, tmp_path):
    index = ServingIndex(tmp_path / "index")
    index.sync(open_catalog(settings))
    table = index.table()
    chunks: dict[str, list[tuple[int, str]]] = defaultdict(list)
    rows = table.to_arrow().filter(pc.field("dt") == PACKAGES_DAY).select(["doc_id", "chunk_index", "text"])
    for r in rows.to_pylist():
        chunks[r["doc_id"]].append((r["chunk_index"], r["text"]))
    texts = {d: " ".join(t for _, t in sorted(c)) for d, c in chunks.items()}
    queries = described_queries({d: packages[d] for d in texts}, n=60, seed=1)
    queries += phrase_queries(texts, n=40, seed=1)
    assert len(queries) >= 60
    ctx = QueryContext(table, encoder(spec, index.state()["model"]))
    got = evaluate(load_query_spec(SHIPPED), ctx, queries)
    print({v: {kind: (round(s.recall, 3), round(s.mrr, 3)) for kind, s in r.items()} for v, r in got.items()})
    hybrid, keyword, vector = got["hybrid"]["all"], got["keyword"]["all"], got["vector"]["all"]
    assert hybrid.recall >= max(keyword.recall, vector.recall)
    assert hybrid.mrr >= max(keyword.mrr, vector.mrr)


def test_an_index_holds_one_model(gold, settings, tmp_path):
    cat = open_catalog(settings)
    index = ServingIndex(tmp_path / "index")
    state = index.state() | {"model": "another-model", "dim": 384}
    index.path.mkdir(parents=True)
    index._write_state(state)
    with pytest.raises(ServingIndexError, match="holds another-model"):
        index.sync(cat)
    assert index.state()["files"] == {}  # nothing recorded from the refused file
