"""Gold: silver's day tokenized with the spec's tokenizer into ``gold.training_documents``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from llm_lakehouse.jobs.audit import Clock, write_audit
from llm_lakehouse.jobs.common import read_day, replace_day, stamp
from llm_lakehouse.pipes import build_pipe
from llm_lakehouse.settings import Settings
from llm_lakehouse.spec import PipelineSpec
from llm_lakehouse.tables import GOLD_TRAINING

TOKENIZED_SCHEMA = "doc_id STRING, source STRING, content_hash STRING, token_ids ARRAY<INT>, n_tokens INT"


def _tokenize(encoding: str, append_eos: bool):  # noqa: ANN202
    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pipe = build_pipe("tokenize", {"encoding": encoding, "append_eos": append_eos})
        for batch in batches:
            yield pipe(batch).select(["doc_id", "source", "content_hash", "token_ids", "n_tokens"])

    return apply


def tokenize_day(
    spark: SparkSession, spec: PipelineSpec, settings: Settings, day: date, run_id: str
) -> dict[str, Any]:
    clock = Clock()
    tok = spec.gold.tokenizer
    docs = read_day(spark, spec.silver_table(), settings, day).select(
        "doc_id", "source", "content_hash", "text"
    )
    tokens = docs.mapInArrow(_tokenize(tok.name, spec.gold.append_eos), TOKENIZED_SCHEMA)
    replace_day(
        stamp(tokens.withColumn("tokenizer", F.lit(tok.name)), day, run_id), GOLD_TRAINING, settings, day
    )
    row = (
        read_day(spark, GOLD_TRAINING, settings, day)
        .agg(F.count("*").alias("docs"), F.coalesce(F.sum("n_tokens"), F.lit(0)).alias("tokens"))
        .first()
    )
    audit = {"step": "*", "docs_in": row["docs"], "docs_out": row["docs"], "docs_dropped": 0}
    audit |= {"wall_s": clock.wall(), "detail": {"tokens": int(row["tokens"]), "tokenizer": tok.name}}
    write_audit(spark, settings, day, run_id, "gold", [audit])
    return {"gold_documents": row["docs"], "gold_tokens": int(row["tokens"])}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from llm_lakehouse.jobs.runner import run_job

    return run_job(
        "gold", lambda spark, spec, settings, a: tokenize_day(spark, spec, settings, a.date, a.run_id), argv
    )
