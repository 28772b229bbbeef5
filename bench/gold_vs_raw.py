"""Gold job throughput against its libraries called directly on the same text, in one run.

Usage: .venvs/jobs/bin/python bench/gold_vs_raw.py [--mb 100] [--chunks 1200]

1. Tokenization: a synthetic silver day of ``--mb`` MB of sample prose (100 MB by default: a job has
   ~0.5 s of Spark planning and Iceberg commit whatever the size, half the encoding time of a 20 MB day);
   the gold job's tokenize step (read silver, ``mapInArrow`` tokenize, write ``gold.training_documents``)
   against tiktoken's own ``encode_ordinary_batch`` over the same texts. Goal: job >= 0.8x raw.
2. Embeddings: a day of about ``--chunks`` chunks; the gold job's embed step (chunk, embed, write
   ``gold.chunk_embeddings``) against ``SentenceTransformer.encode`` of the same chunk texts. Goal: >= 0.9x.

Both on local[*] in a throwaway LAKEHOUSE_HOME, warm (a small day first loads tokenizer and model in the
Spark Python workers, as the raw runs warm up too); prints Markdown rows for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from datetime import date

DAY_TOK, DAY_EMB, DAY_WARM = date(2026, 6, 1), date(2026, 6, 2), date(2026, 5, 31)


def corpus(target_bytes: int, seed: int) -> list[str]:
    from llm_lakehouse.devtools.sample import _prose

    rng = random.Random(seed)
    texts, size = [], 0
    while size < target_bytes:
        t = _prose(rng, min_words=150, max_sentences=40)
        texts.append(t)
        size += len(t.encode())
    return texts


def silver_day(spark, spec, settings, day: date, texts: list[str]) -> None:
    """Writes ``texts`` as one day of silver.documents (other columns null), as the silver job would."""
    from pyspark.sql import functions as F

    from llm_lakehouse.spark.common import replace_day, stamp

    table = spec.silver_table()
    rows = [(f"bench/{i}", "bench", t, f"{i:064x}") for i, t in enumerate(texts)]
    df = spark.createDataFrame(rows, "doc_id STRING, source STRING, text STRING, content_hash STRING")
    for name, sql_type, _ in table.columns:
        if name not in df.columns and name not in ("dt", "run_id", "processed_at"):
            df = df.withColumn(name, F.lit(None).cast(sql_type))
    replace_day(stamp(df.repartition(2), day, "bench"), table, settings, day)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mb", type=float, default=100)
    p.add_argument("--chunks", type=int, default=1200)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["LAKEHOUSE_HOME"] = home
        from llm_lakehouse.core.catalog import open_catalog, read_day
        from llm_lakehouse.core.settings import REPO_ROOT, Settings
        from llm_lakehouse.core.spec import load_spec
        from llm_lakehouse.spark.context import RunContext
        from llm_lakehouse.spark.gold import _embed_day, _tokenize_day
        from llm_lakehouse.spark.session import ensure_tables, spark_session

        spec = load_spec(REPO_ROOT / "pipelines" / "corpus_nightly.yaml")
        settings = Settings.from_env()
        spark = spark_session(settings, "bench-gold")
        ensure_tables(spark, settings, spec)

        # 1. tokenization
        texts = corpus(int(args.mb * 1e6), 1)
        mb = sum(len(t.encode()) for t in texts) / 1e6
        silver_day(spark, spec, settings, DAY_TOK, texts)
        import tiktoken

        enc = tiktoken.get_encoding(spec.gold.tokenizer.name)
        enc.encode_ordinary_batch(texts[:100])
        started = time.perf_counter()
        raw_tokens = sum(len(x) for x in enc.encode_ordinary_batch(texts))
        raw_s = time.perf_counter() - started
        # Warm-up on a small day: Python workers started and the tokenizer and model loaded once per worker,
        # as in the raw runs below (Spark reuses its Python workers within the job).
        silver_day(spark, spec, settings, DAY_WARM, corpus(200_000, 3))
        _tokenize_day(RunContext(spark, spec, settings, DAY_WARM, "warm"), None)
        _embed_day(RunContext(spark, spec, settings, DAY_WARM, "warm"), None)
        started = time.perf_counter()
        out, _ = _tokenize_day(RunContext(spark, spec, settings, DAY_TOK, "bench"), None)
        job_s = time.perf_counter() - started
        assert out["gold_tokens"] == raw_tokens + len(texts), (out, raw_tokens)

        # 2. embeddings: ~chunks chunks of 200 tokens (about 150 words each)
        emb_texts = corpus(args.chunks * 900, 2)
        silver_day(spark, spec, settings, DAY_EMB, emb_texts)
        started = time.perf_counter()
        counts, audit = _embed_day(RunContext(spark, spec, settings, DAY_EMB, "bench"), None)
        emb_job_s = time.perf_counter() - started
        chunk_texts = read_day(open_catalog(settings), "gold.chunk_embeddings", DAY_EMB, ("text",)).column(
            "text"
        )
        from sentence_transformers import SentenceTransformer

        from llm_lakehouse.spark.embeddings import model_dir

        model = SentenceTransformer(str(model_dir(spec.gold.rag.embedding.model)), device="cpu")
        model.encode(chunk_texts.to_pylist()[:32])
        started = time.perf_counter()
        model.encode(chunk_texts.to_pylist(), batch_size=64, normalize_embeddings=True)
        emb_raw_s = time.perf_counter() - started
        spark.stop()

    n = counts["gold_chunks"]
    print(f"machine: {platform.node()} {os.cpu_count()} cores; {date.today()}")
    print("| measure | gold job | raw library | job / raw |")
    print("|---|---|---|---|")
    print(
        f"| tokenization, {mb:.1f} MB, {len(texts):,} docs, {raw_tokens:,} tokens (cl100k) | {mb / job_s:.2f} MB/s "
        f"({job_s:.1f} s, read silver + tokenize + Iceberg write) | {mb / raw_s:.2f} MB/s ({raw_s:.1f} s, "
        f"`encode_ordinary_batch`) | {raw_s / job_s:.2f}x |"
    )
    print(
        f"| embeddings, {n:,} chunks of <= 200 tokens (all-MiniLM-L6-v2, CPU) | {n / emb_job_s:.1f} chunks/s "
        f"({emb_job_s:.1f} s, chunk + embed + Iceberg write; {audit['detail']['embed_s']:.1f} s in encode) "
        f"| {n / emb_raw_s:.1f} chunks/s ({emb_raw_s:.1f} s, `SentenceTransformer.encode`) "
        f"| {emb_raw_s / emb_job_s:.2f}x |"
    )


if __name__ == "__main__":
    main()
