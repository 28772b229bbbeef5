"""Deduplication of one day's kept documents: exact and near (MinHash LSH), within the day and against history.

What it drops, and which copy it keeps. **The published copy stays**: exactly one copy of a document stays
across all published days, whatever order days are built in (out of order, old backfills, reruns):
- ``exact_duplicate``: same ``content_hash`` as a document already published on any other day (earlier
  *or later*: an old backfill built after a newer day keeps nothing the newer day holds), or as a smaller
  ``doc_id`` among the documents this run publishes.
- ``near_duplicate``: Jaccard similarity of word shingles >= the minhash pipe's ``threshold`` with a published
  document of any other day, or with a smaller ``doc_id`` of this run (keep-first, as
  datatrove and NeMo Curator do, in one aggregation instead of iterative connected components).
  ``duplicate_of`` names the match (published days first); in a chain a~b~c where a and c differ, b and c
  are both dropped (c's match b is itself dropped), which is what cluster-level dedup would do too.

"Published" is every index row the run does not replace: all other days, and, for a one-source build
(``only_source``), the day's other sources too. A rerun of a day compares with the same published rows as
its first run, so it keeps the same copies. Silver runs of different days are serialized by the pipeline
(``depends_on_past``) and by the catalog lock on SQLite; two runs racing on a server catalog could each keep
a copy the other has not published yet.

History is probed through ``silver.dedup_index``: one row per kept document for its exact hash (band -1) and
one per MinHash band, partitioned by ``bucket = key mod index_buckets`` and ``dt``. A day reads only the
index buckets its own keys fall in, so the cost grows with the day's documents, not with the lake (a day of
a few documents reads a few buckets). Candidate pairs from band collisions are then verified: a pair whose
signature estimate is far above the threshold is merged, one far below is not, and the pairs between (the
estimate's standard error over 112 values is ~0.04) are verified on their texts, the exact Jaccard of their word
shingles (the pipe's words, lower-cased, ``ngram`` at a time). Verifying on the estimate alone lost a third of
the pairs just above the threshold and merged some below it (BENCHMARKS.md, near-duplicate layouts). Signatures
and texts of earlier documents are read only from the days the candidates come from.
Everything is a Spark join or aggregation; nothing is collected to the driver except the bucket and day
lists that drive partition pruning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from llm_lakehouse.core.errors import LakehouseError
from llm_lakehouse.core.pipes.minhash import MinHash, shingle_jaccard
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.tables import DEDUP_INDEX
from llm_lakehouse.spark.common import materialize
from llm_lakehouse.spark.context import RunContext

# A table property of silver.dedup_index: the layout its keys were computed with (``index_layout``).
LAYOUT_PROPERTY = "lakehouse.index-layout"
EXACT = "exact_duplicate"
NEAR = "near_duplicate"
# Candidate pairs whose signature estimate is this far under the threshold are not verified on their texts:
# at 112 values, a pair at the threshold estimates that low with probability < 1e-4.
SCREEN_MARGIN = 0.15
# ... nor those this far above it: merged on the estimate, since a pair under 0.7 estimates 0.9 or more with
# probability < 1e-6 (a pair at 0.79, ~0.2 %; BENCHMARKS.md shows what that costs).
ACCEPT_MARGIN = 0.1
# How a near duplicate's detail marks a similarity taken from the signatures rather than counted on the texts.
ESTIMATED = " (minhash estimate)"


def _verify_on_text(
    ngram: int, lowercase: bool, threshold: float, names: list[str]
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """mapInArrow: each candidate pair's exact shingle Jaccard from its two texts (``text``, ``o_text``) as
    ``sim``; pairs under ``threshold`` are dropped, and the texts with them.

    In Python on purpose: as Spark SQL (split, then an n-gram ``transform`` over the words) the words were
    recomputed for every shingle, quadratic in a text's length, and the filter ran inside the join: a day of
    man pages spent its silver job there."""

    def verify(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            sim = shingle_jaccard(batch.column("text"), batch.column("o_text"), ngram, lowercase)
            out = pa.RecordBatch.from_arrays(
                [pa.array(sim) if n == "sim" else batch.column(n) for n in names], names=names
            )
            yield out.filter(pa.array(sim >= threshold))

    return verify


@dataclass
class Dedup:
    docs: DataFrame  # the day's kept rows (doc_id unique) plus dup_reason, dup_detail, duplicate_of
    index: DataFrame  # index rows (without run columns) for every document that stays kept
    stats: dict[str, Any] = field(default_factory=dict)
    stored: list[DataFrame] = field(default_factory=list)  # what docs and index read: release after use


def _day(day: date) -> F.Column:
    return F.lit(day.isoformat()).cast("date")


def minhash_params(spec: PipelineSpec) -> MinHash.Params | None:
    step = spec.step("minhash")
    return MinHash.Params(**step.params) if step else None


def index_layout(spec: PipelineSpec) -> str:
    """What the index's keys depend on: a lake whose index was built with another layout is rebuilt."""
    p = minhash_params(spec)
    near = f"{p.bands}x{p.rows}" if spec.dedup.near and p is not None else "off"
    return f"exact={spec.dedup.exact};near={near};buckets={spec.dedup.index_buckets}".lower()


def rebuild_index(spark: SparkSession, settings: Settings, spec: PipelineSpec) -> None:
    """Rewrites ``silver.dedup_index`` from the published ``silver.documents`` (their content hashes and stored
    signatures) under the spec's layout, and records the layout on the table. One commit to main."""
    cat = settings.catalog.name
    docs = spark.table(f"{cat}.{spec.silver_table().ident}").select("doc_id", "dt", "content_hash", "minhash")
    p = minhash_params(spec)
    if spec.dedup.near and p is not None:
        # Bands and rows may change; the signature's length may not: stored signatures would no longer compare.
        lengths = [r[0] for r in docs.select(F.size("minhash")).distinct().collect() if r[0] and r[0] > 0]
        if any(n != p.bands * p.rows for n in lengths):
            raise LakehouseError(
                f"silver.documents holds signatures of {sorted(lengths)} values; the spec's minhash makes "
                f"{p.bands * p.rows} ({p.bands} bands x {p.rows} rows): keep bands x rows at {lengths[0]}, or "
                "start a new lake"
            )
    layout = index_layout(spec)
    rows = (
        index_keys(docs, spec, carry=("dt",))
        .withColumn("run_id", F.lit(f"reindex {layout}"))
        .withColumn("processed_at", F.current_timestamp())
        .select(*DEDUP_INDEX.column_names)
    )
    rows.writeTo(f"{cat}.{DEDUP_INDEX.ident}").overwrite(F.lit(True))
    spark.sql(f"ALTER TABLE {cat}.{DEDUP_INDEX.ident} SET TBLPROPERTIES ('{LAYOUT_PROPERTY}' = '{layout}')")


def index_keys(docs: DataFrame, spec: PipelineSpec, carry: tuple[str, ...] = ()) -> DataFrame:
    """(doc_id, band, key, content_hash, bucket) rows: one exact row, and one per band if near is on; ``carry``
    names more columns of ``docs`` to keep on every row."""
    # 15 hex digits (60 bits) fit a signed BIGINT; the full content_hash confirms an exact match.
    exact = docs.select(
        "doc_id",
        *carry,
        F.lit(-1).alias("band"),
        F.conv(F.substring("content_hash", 1, 15), 16, 10).cast("bigint").alias("key"),
        "content_hash",
    )
    keys = exact if spec.dedup.exact else exact.limit(0)
    p = minhash_params(spec)
    if spec.dedup.near and p is not None:
        bands, rows = p.bands, p.rows
        per_band = F.array(
            *[
                F.struct(
                    F.lit(b).alias("band"), F.xxhash64(F.slice("minhash", b * rows + 1, rows)).alias("key")
                )
                for b in range(bands)
            ]
        )
        # A document without a single shingle has an all-max signature: it would collide with every other.
        has_shingles = ~F.forall("minhash", lambda v: v == F.lit(-1))
        near = (
            docs.where(F.col("minhash").isNotNull() & has_shingles)
            .select("doc_id", *carry, F.explode(per_band).alias("b"))
            .select("doc_id", *carry, "b.band", "b.key", F.lit(None).cast("string").alias("content_hash"))
        )
        keys = keys.unionByName(near)
    return keys.withColumn("bucket", F.pmod("key", F.lit(spec.dedup.index_buckets)).cast("int"))


def published(day: date, only_source: str | None = None) -> F.Column:
    """Index rows a run of ``day`` (of ``only_source``) does not replace: the copies already published."""
    other_days = F.col("dt") != _day(day)
    return other_days if only_source is None else other_days | ~F.col("doc_id").startswith(f"{only_source}/")


def _history_index(
    spark: SparkSession,
    settings: Settings,
    keys: DataFrame,
    day: date,
    only_source: str | None,
    stats: dict[str, Any],
    stored: list[DataFrame],
    history: Callable[[DataFrame], DataFrame] | None = None,
) -> DataFrame:
    """Published index rows in the buckets this run's keys fall in (partition-pruned scan). ``history``, when
    given, says which index rows count as published instead of the day rule (the stream: every row but those
    of the documents its micro-batch replaces)."""
    buckets = sorted(r["bucket"] for r in keys.select("bucket").distinct().collect())
    name = f"{settings.catalog.name}.{DEDUP_INDEX.ident}"
    # Files and rows the scan below reads, from Iceberg's metadata (no data file is opened for this). A
    # one-source run also reads its own day's files (its other sources are published).
    files_read = (
        F.col("partition.dt") != _day(day) if only_source is None and history is None else F.lit(True)
    )
    read = F.col("partition.bucket").isin(buckets) if buckets else F.lit(False)
    files = (
        spark.table(f"{name}.files")
        .where(files_read)
        .agg(
            F.count("*").alias("files_total"),
            F.coalesce(F.sum("record_count"), F.lit(0)).alias("rows_total"),
            F.coalesce(F.sum(read.cast("int")), F.lit(0)).alias("files_read"),
            F.coalesce(F.sum(F.when(read, F.col("record_count"))), F.lit(0)).alias("rows_read"),
        )
        .first()
    )
    stats.update(
        index_buckets_read=len(buckets),
        index_files_total=int(files["files_total"]),
        index_files_read=int(files["files_read"]),
        index_rows_total=int(files["rows_total"]),
        index_rows_read=int(files["rows_read"]),
    )
    if not buckets:
        return spark.table(name).limit(0)
    # Read once: the exact join, the near pairs and their day list each probe it.
    in_buckets = spark.table(name).where(F.col("bucket").isin(buckets))
    rows = history(in_buckets) if history else in_buckets.where(published(day, only_source))
    hist = materialize(rows)
    stored.append(hist)
    return hist


def deduplicate(
    ctx: RunContext,
    docs: DataFrame,
    only_source: str | None = None,
    history: Callable[[DataFrame], DataFrame] | None = None,
) -> Dedup:
    spark, spec, settings, day = ctx.spark, ctx.spec, ctx.settings, ctx.day
    stats: dict[str, Any] = {}
    docs = docs.withColumn("_node", F.concat(F.lit("1|"), "doc_id"))
    keys = materialize(index_keys(docs, spec))
    stored = [keys]
    hist = (
        _history_index(spark, settings, keys, day, only_source, stats, stored, history)
        if spec.dedup.scope == "history"
        else None
    )

    # Exact: same content_hash already published, else the smallest doc_id of the run wins.
    exact_hist = (
        keys.where(F.col("band") == -1)
        .alias("k")
        .join(hist.where(F.col("band") == -1).alias("h"), ["bucket", "band", "key", "content_hash"])
        .groupBy("k.doc_id")
        .agg(F.min("h.doc_id").alias("exact_history"))
        if hist is not None and spec.dedup.exact
        else spark.createDataFrame([], "doc_id STRING, exact_history STRING")
    )
    first = F.min("doc_id").over(Window.partitionBy("content_hash"))
    out = docs.withColumn("_first", first).join(exact_hist, "doc_id", "left")
    exact_of = F.coalesce("exact_history", F.when(F.col("_first") != F.col("doc_id"), F.col("_first")))
    out = out.withColumn("_exact_of", exact_of if spec.dedup.exact else F.lit(None).cast("string"))
    # The near step reads these rows several times (bands, both sides' signatures).
    out = materialize(out)
    stored.append(out)

    near = (
        _near(spark, out.where(F.col("_exact_of").isNull()), keys, hist, spec, settings, stats, stored)
        if spec.dedup.near and minhash_params(spec)
        else None
    )
    if near is not None:
        out = out.join(near, "doc_id", "left")
    else:
        out = out.withColumn("_near_of", F.lit(None).cast("string")).withColumn(
            "_near_detail", F.lit(None).cast("string")
        )
    out = (
        out.withColumn("duplicate_of", F.coalesce("_exact_of", "_near_of"))
        .withColumn(
            "dup_reason",
            F.when(F.col("_exact_of").isNotNull(), F.lit(EXACT)).when(
                F.col("_near_of").isNotNull(), F.lit(NEAR)
            ),
        )
        .withColumn(
            "dup_detail",
            F.when(
                F.col("_exact_of").isNotNull(), F.concat(F.lit("same content_hash as "), F.col("_exact_of"))
            ).otherwise(F.col("_near_detail")),
        )
        .drop("_first", "exact_history", "_exact_of", "_near_of", "_near_detail", "_node")
    )
    survivors = out.where(F.col("duplicate_of").isNull()).select("doc_id")
    index = keys.join(survivors, "doc_id").withColumn("dt", _day(day))
    return Dedup(out, index, stats, stored)


def _near(
    spark: SparkSession,
    docs: DataFrame,
    keys: DataFrame,
    hist: DataFrame | None,
    spec: PipelineSpec,
    settings: Settings,
    stats: dict[str, Any],
    stored: list[DataFrame],
) -> DataFrame:
    """(doc_id, _near_of, _near_detail) for the day's documents that are near-duplicates."""
    p = minhash_params(spec)
    threshold, n_perm = p.threshold, p.bands * p.rows
    bands = keys.where(F.col("band") >= 0).join(docs.select("doc_id"), "doc_id")  # exact-unique docs only
    sigs = docs.select("doc_id", "_node", "minhash")

    a, b = bands.alias("a"), bands.alias("b")
    day_pairs = (
        a.join(b, ["bucket", "band", "key"])
        .where(F.col("a.doc_id") < F.col("b.doc_id"))
        .select(F.col("a.doc_id").alias("doc_id"), F.col("b.doc_id").alias("other"))
        .distinct()
        .join(sigs, "doc_id")
        .join(
            sigs.select(
                F.col("doc_id").alias("other"),
                F.col("_node").alias("o_node"),
                F.col("minhash").alias("o_sig"),
            ),
            "other",
        )
        .select(
            "doc_id", "_node", "minhash", "other", "o_node", "o_sig", F.lit(None).cast("date").alias("o_dt")
        )
    )
    pairs = day_pairs
    silver = f"{settings.catalog.name}.{spec.silver_table().ident}"
    if hist is not None:
        hist_pairs = materialize(
            bands.alias("k")
            .join(hist.where(F.col("band") >= 0).alias("h"), ["bucket", "band", "key"])
            .select("k.doc_id", F.col("h.doc_id").alias("other"), F.col("h.dt").alias("o_dt"))
            .distinct()
        )
        stored.append(hist_pairs)
        days = [r["o_dt"] for r in hist_pairs.select("o_dt").distinct().collect()]
        if days:
            o_sigs = (
                spark.table(silver)
                .where(F.col("dt").isin(days))
                .select(
                    F.col("doc_id").alias("other"), F.col("dt").alias("o_dt"), F.col("minhash").alias("o_sig")
                )
            )
            pairs = pairs.unionByName(
                hist_pairs.join(o_sigs, ["other", "o_dt"])
                .join(sigs, "doc_id")
                .select(
                    "doc_id",
                    "_node",
                    "minhash",
                    "other",
                    F.concat(F.lit("0|"), F.col("o_dt").cast("string"), F.lit("|"), "other").alias("o_node"),
                    "o_sig",
                    "o_dt",
                )
            )
    equal = F.aggregate(
        F.zip_with("minhash", "o_sig", lambda x, y: (x == y).cast("int")), F.lit(0), lambda acc, v: acc + v
    )
    estimated = pairs.withColumn("sim", equal / F.lit(n_perm)).drop("minhash", "o_sig")
    # A pair this sure is merged on its signatures; one far below is dropped; only the pairs between are read
    # and verified on their texts, so a history day's texts are read only when it holds such a pair.
    sure = estimated.where(F.col("sim") >= threshold + ACCEPT_MARGIN).withColumn("by", F.lit(ESTIMATED))
    unsure = materialize(
        estimated.where(
            (F.col("sim") >= threshold - SCREEN_MARGIN) & (F.col("sim") < threshold + ACCEPT_MARGIN)
        )
    )
    stored.append(unsure)
    per_day = unsure.groupBy("o_dt").count().collect()  # o_dt None: pairs within the day
    stats["near_verified_on_text"] = sum(r["count"] for r in per_day)
    texts = docs.select("doc_id", "text")
    verify = unsure.join(texts, "doc_id")
    verified = verify.where(F.col("o_dt").isNull()).join(
        texts.select(F.col("doc_id").alias("other"), F.col("text").alias("o_text")), "other"
    )
    text_days = [r["o_dt"] for r in per_day if r["o_dt"] is not None]
    if text_days:
        published_texts = (
            spark.table(silver)
            .where(F.col("dt").isin(text_days))
            .select(F.col("doc_id").alias("other"), F.col("dt").alias("o_dt"), F.col("text").alias("o_text"))
        )
        verified = verified.unionByName(
            verify.where(F.col("o_dt").isNotNull()).join(published_texts, ["other", "o_dt"])
        )
    names = unsure.columns
    verified = verified.select(*names, "text", "o_text").mapInArrow(
        _verify_on_text(p.ngram, p.lowercase, threshold, names), unsure.schema
    )
    verified = verified.withColumn("by", F.lit(""))
    scored = sure.unionByName(verified)
    # Keep-first: a document is dropped when it matches a published one (any other day), or a smaller doc_id
    # of this run. Same-day pairs have doc_id < other, so there the later document is ``other``.
    later = scored.where(F.col("o_node").startswith("1|")).select(
        F.col("other").alias("doc_id"),
        F.col("_node").alias("match"),
        F.col("doc_id").alias("match_id"),
        "sim",
        "by",
    )
    earlier = scored.where(F.col("o_node").startswith("0|")).select(
        "doc_id", F.col("o_node").alias("match"), F.col("other").alias("match_id"), "sim", "by"
    )
    # Labels sort published documents (0|<dt>|<doc_id>) before the run's own (1|<doc_id>).
    first = F.min(F.struct("match", "match_id", "sim", "by"))
    dropped = (
        later.unionByName(earlier)
        .groupBy("doc_id")
        .agg(first.alias("m"), F.max("sim").alias("best_sim"), F.count("*").alias("n"))
    )
    dropped = materialize(dropped)
    stored.append(dropped)
    stats["near_verified_pairs"] = dropped.agg(F.coalesce(F.sum("n"), F.lit(0))).first()[0]
    match_dt = F.when(F.col("m.match").startswith("0|"), F.element_at(F.split("m.match", r"\|"), 2))
    detail = F.format_string(
        "shingle jaccard %.2f%s >= %.2f with %s%s",
        "m.sim",
        "m.by",
        F.lit(threshold),
        "m.match_id",
        F.when(match_dt.isNotNull(), F.concat(F.lit(" of "), match_dt)).otherwise(F.lit("")),
    )
    return dropped.select("doc_id", F.col("m.match_id").alias("_near_of"), detail.alias("_near_detail"))
