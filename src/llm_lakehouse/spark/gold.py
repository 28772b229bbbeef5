"""Gold: silver's day for the two consumers, in one job (Spark costs ~15 s per task: few, fat tasks).

- ``gold.training_documents``: the day tokenized with the spec's tokenizer (tiktoken or an HF
  ``tokenizer.json``), separator appended; ``lakehouse dataset create`` packs it into training shards.
- ``gold.chunk_embeddings``: the day cut into token windows of the embedding model (``chunking.py``) and
  embedded (``embeddings.py``). Incremental: a chunk whose text the day's previous version already embedded
  with the same model keeps that vector (joined on ``text_hash``), so a rerun of a day embeds nothing and an
  edited document re-embeds only its changed chunks.

The stage runs on GPU workers when the spec says ``spark.stages.gold.gpu: true`` (the Airflow ``gpu`` queue
and executor GPU resources) and on the CPU otherwise, through the same code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from llm_lakehouse.core.pipes import build_pipe
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import Embedding, Rag
from llm_lakehouse.core.tables import GOLD_CHUNKS, GOLD_TRAINING, RUN_COLUMNS
from llm_lakehouse.spark.audit import Clock, write_audit
from llm_lakehouse.spark.chunking import EMBEDDING_COLUMNS, chunk_batches
from llm_lakehouse.spark.chunking import SCHEMA as CHUNK_SCHEMA
from llm_lakehouse.spark.common import only_source_arg, read_day, replace_day, stamp
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.embeddings import get_backend, max_chunk_tokens
from llm_lakehouse.spark.publications import read_published
from llm_lakehouse.spark.runner import run_job

TOKENIZED_SCHEMA = "doc_id STRING, source STRING, content_hash STRING, token_ids ARRAY<INT>, n_tokens INT"
EMBEDDED_SCHEMA = "text_hash STRING, embedding ARRAY<FLOAT>, embed_s DOUBLE"


def _tokenize(params: dict[str, Any]):  # noqa: ANN202
    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pipe = build_pipe("tokenize", params)
        for batch in batches:
            yield pipe(batch).select(["doc_id", "source", "content_hash", "token_ids", "n_tokens"])

    return apply


def _tokenize_day(ctx: RunContext, only: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    spark, spec, settings, day, run_id = ctx.spark, ctx.spec, ctx.settings, ctx.day, ctx.run_id
    clock = Clock()
    params = spec.tokenizer_params()
    docs = read_published(spark, spec.silver_table(), settings, day, only).select(
        "doc_id", "source", "content_hash", "text"
    )
    # Counted while written (observed metrics of the write's own tasks, each applied once): reading the
    # day back cost as much as a tenth of the encoding.
    written = Observation("tokenized")
    tokens = docs.mapInArrow(_tokenize(params), TOKENIZED_SCHEMA).observe(
        written, F.count(F.lit(1)).alias("docs"), F.coalesce(F.sum("n_tokens"), F.lit(0)).alias("tokens")
    )
    name = spec.gold.tokenizer.name
    replace_day(
        stamp(tokens.withColumn("tokenizer", F.lit(name)), day, run_id), GOLD_TRAINING, settings, day, only
    )
    # An empty day (a scheduled run over a day nothing landed for) runs no task: nothing is observed.
    row = written.get
    n_docs, n_tokens = int(row.get("docs", 0)), int(row.get("tokens", 0))
    audit = {"step": "tokenize", "docs_in": n_docs, "docs_out": n_docs, "docs_dropped": 0}
    audit |= {"wall_s": clock.wall(), "detail": {"tokens": n_tokens, "tokenizer": name}}
    return {"gold_documents": n_docs, "gold_tokens": n_tokens}, audit


def _embed(cfg: Embedding):  # noqa: ANN202
    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:

        if cfg.backend == "sentence-transformers":
            _share_cores()
        backend = get_backend(cfg.backend, cfg.model, cfg.device, cfg.batch_size, cfg.quantize)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            started = time.perf_counter()
            vectors = backend.encode(batch.column("text").to_pylist())
            flat = pa.array(vectors.reshape(-1), pa.float32())
            offsets = pa.array(np.arange(0, len(flat) + 1, backend.dim, dtype=np.int32))
            lists = pa.ListArray.from_arrays(offsets, flat)
            seconds = pa.array([time.perf_counter() - started] + [0.0] * (batch.num_rows - 1), pa.float64())
            yield pa.RecordBatch.from_arrays(
                [batch.column("text_hash"), lists, seconds], ["text_hash", "embedding", "embed_s"]
            )

    return apply


def _share_cores() -> None:
    """torch uses every core per process by default; Spark runs one Python worker per core: one thread each."""
    import torch

    cores = int(os.environ.get("LAKEHOUSE_TORCH_THREADS", "0")) or 1
    if torch.get_num_threads() != cores:
        torch.set_num_threads(cores)


def _previous(spark: SparkSession, settings: Settings, day: date, model: str) -> DataFrame:
    """Embeddings the day already has for this model, one per text_hash (what a rerun reuses)."""
    return (
        read_day(spark, GOLD_CHUNKS, settings, day)
        .where(F.col("model") == model)
        .groupBy("text_hash")
        .agg(F.first("embedding").alias("embedding"))
    )


def check_chunking(rag: Rag) -> None:
    limit = max_chunk_tokens(rag.embedding.model)
    if rag.chunking.tokens > limit:
        raise ValueError(
            f"gold.rag.chunking.tokens: {rag.chunking.tokens} exceeds what {rag.embedding.model} embeds whole "
            f"({limit} tokens)"
        )


@contextmanager
def embedded_chunks(
    spark: SparkSession, rag: Rag, docs: DataFrame, previous: DataFrame
) -> Iterator[tuple[DataFrame, Any]]:
    """``docs`` (doc_id, source, text) cut into chunks and embedded: yields the chunk rows (without run
    columns) and the count and seconds of the embeddings computed. A chunk whose ``text_hash`` is in
    ``previous`` (text_hash, embedding) keeps that vector instead. The nightly day and each micro-batch of
    the stream run this; the rows are readable until the block exits."""
    cfg, size, overlap = rag.embedding, rag.chunking.tokens, rag.chunking.overlap
    schema = GOLD_CHUNKS.spark_schema(exclude=(*EMBEDDING_COLUMNS, *RUN_COLUMNS))
    chunks = docs.mapInArrow(lambda it: chunk_batches(it, cfg.model, size, overlap), schema).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    previous = previous.persist(StorageLevel.MEMORY_AND_DISK)
    embedded = None
    try:
        todo = (
            chunks.select("text_hash", "text")
            .dropDuplicates(["text_hash"])
            .join(previous, "text_hash", "left_anti")
        )
        partitions = cfg.partitions or spark.sparkContext.defaultParallelism
        embedded = (
            todo.repartition(partitions, "text_hash")
            .mapInArrow(_embed(cfg), EMBEDDED_SCHEMA)
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        new = embedded.agg(
            F.count("*").alias("n"), F.coalesce(F.sum("embed_s"), F.lit(0.0)).alias("s")
        ).first()
        vectors = embedded.drop("embed_s").unionByName(previous)
        dim = F.size("embedding")
        rows = chunks.join(vectors, "text_hash", "left").select(
            *CHUNK_SCHEMA.names, F.lit(cfg.model_id).alias("model"), dim.alias("dim"), "embedding"
        )
        yield rows, new
    finally:
        for df in (embedded, previous, chunks):
            if df is not None:
                df.unpersist()


def _embed_day(ctx: RunContext, only: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Chunks and embeds the day into ``gold.chunk_embeddings``; returns counts (new vs reused)."""
    spark, spec, settings, day, run_id = ctx.spark, ctx.spec, ctx.settings, ctx.day, ctx.run_id

    clock = Clock()
    rag = spec.gold.rag
    cfg = rag.embedding
    check_chunking(rag)
    docs = read_published(spark, spec.silver_table(), settings, day, only).select("doc_id", "source", "text")
    with embedded_chunks(spark, rag, docs, _previous(spark, settings, day, cfg.model_id)) as (rows, new):
        replace_day(stamp(rows, day, run_id), GOLD_CHUNKS, settings, day, only)
    row = (
        read_day(spark, GOLD_CHUNKS, settings, day, only)
        .agg(
            F.count("*").alias("chunks"),
            F.countDistinct("doc_id").alias("docs"),
            F.coalesce(F.sum("n_tokens"), F.lit(0)).alias("tokens"),
            F.max("dim").alias("dim"),
        )
        .first()
    )
    detail = {
        "model": cfg.model_id,
        "backend": cfg.backend,
        "dim": row["dim"],
        "chunk_tokens": int(row["tokens"]),
        "embedded": int(new["n"]),
        "reused": int(row["chunks"]) - int(new["n"]),
        "embed_s": round(float(new["s"]), 2),
    }
    audit = {"step": "embed", "docs_in": row["docs"], "docs_out": row["chunks"], "docs_dropped": 0}
    counts = {
        "gold_chunks": row["chunks"],
        "gold_embedded": int(new["n"]),
        "gold_embeddings_reused": detail["reused"],
    }
    return counts, audit | {"wall_s": clock.wall(), "detail": detail}


def build_day(ctx: RunContext, rag: bool | None = None, only_source: str | None = None) -> dict[str, Any]:
    """The gold job: tokens, then (when ``gold.rag.enabled``) chunks and embeddings; one audit per run.
    With ``only_source``, only that source's rows of the day are rebuilt (``lakehouse build --source``)."""
    clock = Clock()
    out, tokenized = _tokenize_day(ctx, only_source)
    steps = [tokenized]
    if ctx.spec.gold.rag.enabled if rag is None else rag:
        counts, embedded = _embed_day(ctx, only_source)
        out |= counts
        steps.append(embedded)
    docs = out["gold_documents"]
    steps.append({"step": "*", "docs_in": docs, "docs_out": docs, "docs_dropped": 0, "wall_s": clock.wall()})
    write_audit(ctx, "gold", steps)
    return out


def tokenize_day(ctx: RunContext) -> dict[str, Any]:
    """Only ``gold.training_documents`` (what tests of tokenization and datasets need)."""
    return build_day(ctx, rag=False)


def main(argv: list[str] | None = None) -> dict[str, Any]:

    def body(ctx: RunContext, a) -> dict[str, Any]:  # noqa: ANN001
        return build_day(ctx, only_source=a.only_source)

    return run_job("gold", body, argv, only_source_arg)
