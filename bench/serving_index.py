"""The RAG serving index at 100k chunks: query latency, the cost of an incremental sync, retrieval quality.

One lake (a fresh ``LAKEHOUSE_HOME``; Spark creates the tables, pyiceberg writes ``gold.chunk_embeddings``):

- **real days**: English man pages from this machine (section 1, roff stripped; bench/realtext_corpus.py), cut
  at 3,000 characters, chunked with the embedding model's tokenizer as the gold job does, and embedded for real
  (ONNX float32 all-MiniLM-L6-v2: the shipped model's vectors);
- **filler days**, up to 100,000 chunks in all: chunks of other real text on the machine (package docs,
  changelogs, copyright files, READMEs; then mixes of their paragraphs), 1,000 per day. Their vectors are random unit vectors, not embeddings:
  embedding 100k chunks takes about an hour on this machine's two cores, and a flat vector scan costs the same
  whatever the values. Random vectors sit near no query, so they never outrank a real chunk: retrieval quality
  is measured on the real days only (``filter`` to their dates).

Measured:

- **full rebuild** of the index (``lakehouse index rebuild``) against an **incremental sync** after one more day
  of 1 % new chunks lands (``lakehouse index sync``: a snapshot diff);
- **query latency**, p50 and p95 over the queries below, keyword-only, vector-only and hybrid (the shipped
  ``pipelines/rag_query.yaml``), end to end through ``run_query`` (the query's embedding included);
- **quality** on the man pages: recall@5 and MRR for each chain; queries known by construction
  (``llm_lakehouse.devtools.rag_eval``): each page's NAME line without the command's name (``list directory
  contents``), and six-word runs copied from a page that occur in no other.

Usage: .venvs/jobs/bin/python bench/serving_index.py [--chunks 100000] [--pages 400]
Prints a Markdown section for bench/results/<date>.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from realtext_corpus import MAN, _man_text, _read, corpus_texts, records  # noqa: E402

MODEL = "all-MiniLM-L6-v2"
FIRST = date(2025, 1, 1)
PER_DAY = 1_000


def man_pages(limit: int) -> dict[str, str]:
    """English section-1 man pages with a NAME line, by command: id -> text (cut at 3,000 characters)."""
    from llm_lakehouse.devtools.rag_eval import man_description

    pages: dict[str, str] = {}
    for path in sorted((MAN / "man1").glob("*.gz")):
        if path.is_symlink():
            continue
        text = _man_text(_read(path) or "")[:3000]
        if len(text) >= 600 and man_description(text):
            pages[path.name.split(".")[0]] = text
        if len(pages) == limit:
            break
    return pages


def chunk(docs: dict[str, str], source: str) -> pa.Table:
    from llm_lakehouse.spark.chunking import chunk_batch
    from llm_lakehouse.spark.embeddings import chunk_tokenizer

    batch = pa.RecordBatch.from_pydict(
        {
            "doc_id": [f"{source}/{k}" for k in docs],
            "source": [source] * len(docs),
            "text": list(docs.values()),
        }
    )
    return pa.Table.from_batches([chunk_batch(batch, chunk_tokenizer(MODEL), 200, 40)])


def gold_rows(chunks: pa.Table, vectors: np.ndarray, days: list[date], schema: pa.Schema) -> pa.Table:
    n = chunks.num_rows
    cols = {name: chunks.column(name) for name in chunks.column_names}
    cols |= {
        "model": pa.array([MODEL] * n),
        "dim": pa.array([vectors.shape[1]] * n, pa.int32()),
        "embedding": pa.array(list(vectors.astype(np.float32)), pa.list_(pa.float32())),
        "dt": pa.array(days, pa.date32()),
        "run_id": pa.array(["bench"] * n),
        "processed_at": pa.array([None] * n, pa.timestamp("us", tz="UTC")),
    }
    return pa.table({f.name: cols[f.name] for f in schema}).cast(schema)


def percentiles(samples: list[float]) -> tuple[float, float]:
    a = np.array(samples) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--pages", type=int, default=400)
    a = p.parse_args()
    home = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    os.environ["LAKEHOUSE_HOME"] = str(home)

    from llm_lakehouse.cli.search import encoder, query_spec_path
    from llm_lakehouse.core.catalog import load, open_catalog
    from llm_lakehouse.core.settings import Settings
    from llm_lakehouse.core.spec import load_spec
    from llm_lakehouse.core.tables import GOLD_CHUNKS
    from llm_lakehouse.devtools.rag_eval import (
        described_queries,
        evaluate,
        man_description,
        phrase_queries,
        variants,
    )
    from llm_lakehouse.serving.index import ServingIndex
    from llm_lakehouse.serving.query import Filters, QueryContext, load_query_spec, run_query
    from llm_lakehouse.spark.embeddings import get_backend
    from llm_lakehouse.spark.session import ensure_tables, spark_session

    settings = Settings.from_env()
    spec = load_spec(BENCH.parent / "pipelines" / "corpus_nightly.yaml")
    spark = spark_session(settings, "serving-bench")
    ensure_tables(spark, settings, spec)
    spark.stop()
    catalog = open_catalog(settings)
    table = load(catalog, GOLD_CHUNKS.ident)
    schema = table.schema().as_arrow()

    pages = man_pages(a.pages)
    real = chunk(pages, "man")
    t0 = time.perf_counter()
    vectors = get_backend("onnx", MODEL, "cpu").encode(real.column("text").to_pylist())
    embed_s = time.perf_counter() - t0
    real_days = [FIRST + timedelta(days=i // PER_DAY) for i in range(real.num_rows)]
    last_real = real_days[-1]
    table.append(gold_rows(real, vectors, real_days, schema))

    want = a.chunks - real.num_rows
    # Other real text: every document but the man pages once, then mixes of their paragraphs (the real-text
    # corpus generator's), to ~1,200 bytes a chunk with margin.
    texts = [(origin, text) for origin, text in corpus_texts() if origin != "man_page"]
    others = {r["id"]: r["text"] for r in records(texts, (want + PER_DAY) * 1200, seed=0)}
    filler = chunk(others, "docs")
    # One more day than the 100k: the 1 % that lands after the full build.
    filler = filler.slice(0, min(filler.num_rows, want + PER_DAY))
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((filler.num_rows, vectors.shape[1])).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    start = last_real + timedelta(days=1)
    filler_days = [start + timedelta(days=i // PER_DAY) for i in range(filler.num_rows)]
    base_n = min(want, filler.num_rows - PER_DAY)
    table.append(gold_rows(filler.slice(0, base_n), noise[:base_n], filler_days[:base_n], schema))

    index = ServingIndex(home / "serving" / "rag_index")
    t0 = time.perf_counter()
    full = index.rebuild(open_catalog(settings))
    rebuild_s = time.perf_counter() - t0
    load(catalog, GOLD_CHUNKS.ident).append(
        gold_rows(
            filler.slice(base_n, PER_DAY), noise[base_n : base_n + PER_DAY], filler_days[base_n:], schema
        )
    )
    t0 = time.perf_counter()
    inc = index.sync(open_catalog(settings))
    sync_s = time.perf_counter() - t0

    texts = {f"man/{k}": v for k, v in pages.items()}
    described = {d: man_description(t) for d, t in texts.items()}
    queries = described_queries(described, n=150, seed=0) + phrase_queries(texts, n=100, seed=0)
    qspec = load_query_spec(query_spec_path("rag_query"))
    ctx = QueryContext(index.table(), encoder(spec, index.state()["model"]))
    chains = variants(qspec)
    for q in queries[:5]:  # warm: the model's first call, LanceDB's caches
        run_query(qspec, ctx, q.text)
    took: dict[str, list[float]] = {name: [] for name in chains}
    for q in queries:  # the chains in turn on each query: a busy moment of the machine hits all three
        for name, chain in chains.items():
            t0 = time.perf_counter()
            run_query(chain, ctx, q.text)
            took[name].append(time.perf_counter() - t0)
    latency = {name: percentiles(samples) for name, samples in took.items()}
    # Quality on the real days only: every chain's filter pipe narrows to their dates.
    scores = evaluate(qspec, ctx, queries, filters=Filters(since=FIRST, until=last_real))

    print(f"machine: {platform.node()}, {os.cpu_count()} cores")
    print(f"command: .venvs/jobs/bin/python bench/serving_index.py --chunks {a.chunks} --pages {a.pages}")
    print()
    print(
        f"Index: {full.rows:,} chunks ({real.num_rows:,} of {len(pages)} man pages, embedded in {embed_s:.0f} s; "
        f"{base_n:,} filler chunks of other real text), {full.files_added} data files."
    )
    print()
    print("| operation | wall | chunks read |")
    print("|---|---|---|")
    print(f"| full rebuild (`lakehouse index rebuild`) | {rebuild_s:.2f} s | {full.rows_added:,} |")
    print(
        f"| incremental sync after 1 % new chunks (`lakehouse index sync`) | {sync_s:.2f} s "
        f"(**{100 * sync_s / rebuild_s:.1f} %** of the rebuild) | {inc.rows_added:,} |"
    )
    print()
    print(
        f"Query latency over {len(queries)} queries at {inc.rows:,} chunks (end to end, the query's embedding included):"
    )
    print()
    print("| chain | p50 | p95 |")
    print("|---|---|---|")
    for name, (p50, p95) in latency.items():
        print(f"| {name} | {p50:.1f} ms | {p95:.1f} ms |")
    print()
    kinds = sorted({q.kind for q in queries})
    print(f"Quality on the man pages ({len(queries)} queries: {', '.join(kinds)}), recall@5 / MRR:")
    print()
    print(f"| chain | all | {' | '.join(kinds)} |")
    print("|---|---|" + "---|" * len(kinds))
    for name, s in scores.items():
        cells = [f"{s[kind].recall:.3f} / {s[kind].mrr:.3f}" for kind in ["all", *kinds]]
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
