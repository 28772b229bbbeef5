"""The day's document profile (``ops.doc_profile``): what drift checks and the corpus report read instead of the
day's text.

From the rows the pipes marked (kept and dropped, every record of the day), per source:

- a deterministic sample of up to ``quality.drift.sample_size`` records (ordered by a hash of ``doc_id``, so a
  rerun samples the same records): their drop reason, language, length and every numeric pipe column (the
  quality signals) as one map, whatever pipes the spec has;
- up to ``quality.drift.examples`` example records per drop reason, for the report. A record dropped before
  the pii step was never scrubbed, so its excerpt goes through the spec's own PII policies first (the one that
  covers its source, as silver would have); duplicates were scrubbed on their way. Bronze text never leaves.

The marked rows are materialized already: this costs one pass over them and a PII scan of a few excerpts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from llm_lakehouse.core.pipes import build_chain, pipe_columns
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.tables import NUMERIC

EXCERPT_CHARS = 400
# A record of the day: its landing file and line (doc ids repeat when a day replaces a record).
KEY = ("source_file", "line_number")
# Read before scrubbing: enough context for NER at the excerpt's end, bounded work for a 1 MB record.
SCRUB_CHARS = 1200


def signal_columns(spec: PipelineSpec) -> list[str]:
    """The numeric columns the spec's pipes add (quality signals, language score, ...)."""
    return [n for n, sql, _ in pipe_columns([p.pipe for p in spec.silver.pipes]) if sql in NUMERIC]


def _signals(columns: list[str]):  # noqa: ANN202
    if not columns:
        return F.create_map().cast("map<string,double>")
    values = F.map_from_arrays(
        F.array(*(F.lit(c) for c in columns)), F.array(*(F.col(c).cast("double") for c in columns))
    )
    return F.map_filter(values, lambda _, v: v.isNotNull())


def profile_rows(spec: PipelineSpec, marked: DataFrame, duplicates: DataFrame) -> DataFrame:
    """The day's ``ops.doc_profile`` rows, less the run's stamp: the sample and the scrubbed examples.

    Nothing here sorts text: the sample carries no text, and examples are picked by key first, their text
    joined to the few picked (every dropped record's text through a sort cost more than all the rest)."""
    drift = spec.quality.drift
    order = F.xxhash64("doc_id", "source")
    lang = F.col("lang") if "lang" in marked.columns else F.lit(None).cast("string")
    sample = (
        marked.select(
            "source",
            "doc_id",
            F.col("drop_stage").alias("stage"),
            F.col("drop_reason").alias("reason"),
            lang.alias("lang"),
            F.length("text").alias("n_chars"),
            _signals([c for c in signal_columns(spec) if c in marked.columns]).alias("signals"),
            order.alias("_h"),
        )
        .withColumn("_n", F.row_number().over(Window.partitionBy("source").orderBy("_h")))
        .where(F.col("_n") <= drift.sample_size)
        .drop("_n", "_h")
        .withColumn("example", F.lit(False))
        .withColumn("excerpt", F.lit(None).cast("string"))
    )
    if not drift.examples:
        return sample
    # Dedup's duplicates passed the pii step: their text in ``marked`` is scrubbed already.
    picked = (
        marked.where(F.col("drop_reason").isNotNull())
        .select(
            "source", "doc_id", *KEY, F.col("drop_stage").alias("stage"), F.col("drop_reason").alias("reason")
        )
        .unionByName(
            duplicates.select("source", "doc_id", *KEY, "drop_stage", "drop_reason").toDF(
                "source", "doc_id", *KEY, "stage", "reason"
            )
        )
        .withColumn("_n", F.row_number().over(Window.partitionBy("source", "reason").orderBy(order)))
        .where(F.col("_n") <= drift.examples)
        .drop("_n")
    )
    text = marked.select(*KEY, "text")
    rows = (
        F.broadcast(picked)
        .join(text, list(KEY))
        .select(
            "source",
            "doc_id",
            "stage",
            "reason",
            F.lit(None).cast("string").alias("lang"),
            F.length("text").alias("n_chars"),
            F.create_map().cast("map<string,double>").alias("signals"),
            "text",
        )
    )
    examples = _scrubbed(spec, rows).withColumn("example", F.lit(True))
    return sample.unionByName(examples)


def _scrubbed(spec: PipelineSpec, rows: DataFrame) -> DataFrame:
    """``rows`` with ``excerpt``: the start of ``text`` after the spec's PII steps, ``text`` dropped."""
    steps = json.dumps([{"pipe": p.pipe, "params": p.params} for p in spec.silver.pipes if p.pipe == "pii"])
    out_cols = [c for c in rows.columns if c != "text"]
    pre = rows.withColumn("text", F.substring("text", 1, SCRUB_CHARS)).withColumn("metadata", F.lit("{}"))
    schema = rows.select(*out_cols).schema.add("excerpt", "string")

    def scrub(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        chain = build_chain([(s["pipe"], s["params"]) for s in json.loads(steps)])
        for batch in batches:
            # The examples were dropped: cleared marks let the PII steps see them as their sources' rows.
            blank = batch.drop_columns(["reason"]).append_column(
                "drop_reason", pa.nulls(batch.num_rows, pa.string())
            )
            text = chain(blank).column("text")
            excerpt = pa.array([t[:EXCERPT_CHARS] if t is not None else None for t in text.to_pylist()])
            yield batch.select(out_cols).append_column("excerpt", excerpt)

    return pre.mapInArrow(scrub, schema)
