"""corpus_stream: the landing zone (or Kafka) as a stream, upserted into silver and gold by ``doc_id``.

**One code path (Kappa).** Each micro-batch runs what the nightly build runs on a day: the files are read by
ingest's readers (``read_files``: the same hostile-input handling), the records go through the spec's pipes in
one ``mapInArrow`` stage (``silver.mark_rows``), the kept ones through ``dedup.deduplicate`` (exact and near,
against all history), and the survivors through gold's chunking and embedding (``gold.embedded_chunks``).
Replaying a landed day through the stream (``--available-now``) gives the nightly build's silver rows.

**Upserts, not days.** A micro-batch decides, per ``doc_id`` it touches, the document's last state: the latest
record (file modification time, then file, then line) wins. A kept document is upserted (``MERGE INTO``
silver.documents, its chunks replaced in gold.chunk_embeddings, its keys in silver.dedup_index); a tombstone
(``{"id": ..., "deleted": true}``) or a latest record that the pipes or dedup reject removes the document
from all three (and so from the serving index at its next sync). Every input record is accounted for:
``records = upserted + quarantined`` per batch, where quarantine holds what the pipes dropped, duplicates,
records a later one of the batch replaced (``duplicate_doc_id``, as in a nightly day) and tombstones (``tombstone``).

**Exactly once.** Spark's checkpoint runs a batch that did not commit again, on the same files or offsets.
Every write is idempotent for a replay, and one commit per table: bronze, quarantine and the audit take only
rows whose key they do not hold (insert-only ``MERGE``); silver, the dedup index and gold each take one ``MERGE``
that upserts the batch's rows and deletes the rows of its documents that are no longer theirs. A ``kill -9`` at any point and a restart leave no duplicate and lose nothing.

Micro-batches commit to ``main`` directly: the quality gates judge whole days (volume, drop rates), which a
stream never has. A later nightly build of a day replaces that day's rows, as a rerun does. On the embedded
SQLite catalog a batch holds the catalog lock while it writes, as a job does.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from llm_lakehouse.core import faults
from llm_lakehouse.core.errors import LakehouseError
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec, Source, Stream, load_spec
from llm_lakehouse.core.stages import STREAM
from llm_lakehouse.core.streaming import StreamPaths, local_path, read_json, write_json
from llm_lakehouse.core.tables import (
    BRONZE,
    DEDUP_INDEX,
    GOLD_CHUNKS,
    QUARANTINE,
    RUN_AUDIT,
    RUN_COLUMNS,
    Table,
)
from llm_lakehouse.spark.audit import (
    Clock,
    audit_frame,
    recorder,
    skipped_file_rows,
    step_accumulator,
    step_rows,
)
from llm_lakehouse.spark.bronze import read_files
from llm_lakehouse.spark.common import aligned, materialize, release
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.dedup import deduplicate
from llm_lakehouse.spark.gold import check_chunking, embedded_chunks
from llm_lakehouse.spark.ingest import jsonl_rows, record_row, row_batches, skip_reason
from llm_lakehouse.spark.runner import RESULT_PREFIX, catalog_lock, run_lineage
from llm_lakehouse.spark.silver import CLASH, REPLACED, mark_rows, quarantined, split_duplicates

log = logging.getLogger(__name__)

TOMBSTONE = "tombstone"
# A file the stream never reads a record of: an own lifetime of the landing zone is kept, whatever its age
# (Spark's file source ignores files a week older than the newest by default: that would lose them).
MAX_FILE_AGE = "36500d"
# Columns every record carries through a batch: its logical day (the landing folder's, or the Kafka record's
# date) and its arrival time (file modification time, or the Kafka timestamp) in milliseconds.
EV_DT, EV_MS = "ev_dt", "ev_ms"


# --- input ---------------------------------------------------------------------------------------------------


def place(
    spec: PipelineSpec, landing: Path, path: str, size: int
) -> tuple[Source | None, date | None, str | None]:
    """A landed file's source and day from its folder (``<landing>/<YYYY-MM-DD>/<source>/...``), or why it is
    not read (the same reasons as the nightly ingest's, plus where the layout does not name a day or source)."""
    try:
        parts = Path(path).relative_to(landing).parts
    except ValueError:
        return None, None, "outside_landing"
    if len(parts) < 3:
        return None, None, "outside_layout"
    try:
        day = date.fromisoformat(parts[0])
    except ValueError:
        return None, None, "outside_layout"
    source = next((s for s in spec.sources if s.name == parts[1]), None)
    if source is None:
        return None, day, f"undeclared_source:{parts[1]}"
    folder = os.path.realpath(landing / parts[0] / parts[1])
    if not os.path.realpath(path).startswith(folder.rstrip("/") + "/"):
        # Following a link out of the source's folder would copy any readable file into bronze.
        return source, day, "symlink_outside_source"
    return source, day, skip_reason(source, Path(path).name, size)


def file_records(
    spark: SparkSession, spec: PipelineSpec, landing: Path, files: list[Any]
) -> tuple[DataFrame, list]:
    """Bronze rows (plus ``ev_dt``, ``ev_ms``) of the files of one micro-batch, and the files not read,
    as ``(source, path, reason, bytes)``."""

    tasks, placed, skipped = [], [], []
    for f in files:
        path = local_path(f["path"])
        source, day, reason = place(spec, landing, path, f["length"] or 0)
        if reason or source is None or day is None:
            skipped.append((source.name if source else None, path, reason, f["length"] or 0))
            continue
        tasks.append((source.model_dump_json(), path))
        placed.append((path, day, int(f["ms"])))
    schema = BRONZE.spark_schema(exclude=RUN_COLUMNS)
    rows = spark.createDataFrame(tasks, "source STRING, uri STRING").repartition(max(1, len(tasks)))
    where = spark.createDataFrame(placed, f"source_file STRING, {EV_DT} DATE, {EV_MS} BIGINT")
    return rows.mapInArrow(read_files, schema).join(F.broadcast(where), "source_file"), skipped


def kafka_options(stream: Stream) -> dict[str, str]:
    """The Kafka source's options: every topic of the spec, bounded micro-batches, and a failure (never a
    silent skip) when offsets were lost to retention."""
    if stream.kafka is None:
        raise LakehouseError("stream.kafka: not set in the spec")
    k = stream.kafka
    options = {
        "kafka.bootstrap.servers": k.bootstrap_servers,
        "subscribe": ",".join(sorted(set(k.topics.values()))),
        "startingOffsets": k.starting_offsets,
        "maxOffsetsPerTrigger": str(stream.max_records_per_trigger),
        "failOnDataLoss": "true",
    }
    for key, value in k.options.items():
        options[key if key.startswith("kafka.") else f"kafka.{key}"] = value
    return options


def kafka_records(spec: PipelineSpec, messages: DataFrame) -> DataFrame:
    """Bronze rows (plus ``ev_dt``, ``ev_ms``) of Kafka messages (the source's ``topic``, ``partition``,
    ``offset``, ``value``, ``timestamp``): each value is read as one JSON Lines line is, by the same code,
    with ``kafka://<topic>/<partition>/<offset>`` as its file."""
    assert spec.stream.kafka is not None
    by_topic = {t: spec.source(name).model_dump_json() for name, t in spec.stream.kafka.topics.items()}
    keyed = messages.select(
        "topic",
        "value",
        F.format_string("kafka://%s/%d/%d", "topic", "partition", "offset").alias("source_file"),
        F.to_date("timestamp").alias(EV_DT),
        F.expr("unix_millis(timestamp)").alias(EV_MS),
    )

    def convert(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        sources = {t: Source.model_validate_json(s) for t, s in by_topic.items()}
        for batch in batches:
            rows: list[dict[str, Any]] = []
            for topic, value, file in zip(
                batch.column("topic").to_pylist(),
                batch.column("value").to_pylist(),
                batch.column("source_file").to_pylist(),
                strict=True,
            ):
                got = list(jsonl_rows(sources[topic], [value or b""], file))
                if not got:  # an empty message is a record too: accounted for, never skipped
                    row = record_row(sources[topic], None, value or b"", file, 1)
                    row["parse_error"] = "empty_record"
                    got = [row]
                rows += got
            yield from row_batches(iter(rows))

    schema = BRONZE.spark_schema(exclude=RUN_COLUMNS)
    rows = keyed.select("topic", "value", "source_file").mapInArrow(convert, schema)
    return rows.join(keyed.select("source_file", EV_DT, EV_MS), "source_file")


# --- one micro-batch -------------------------------------------------------------------------------------------


def _tombstones(spec: PipelineSpec, bronze: DataFrame) -> DataFrame:
    """Marks tombstones (``{"<id_field>": ..., "deleted": true}``, with or without a text): ``_tomb``, with the
    document's id restored and ``parse_error = 'tombstone'`` on those ingest could not take as a record."""
    raw = F.col("raw").cast("string")
    tomb_id = F.lit(None).cast("string")
    for s in spec.sources:
        tomb_id = F.when(F.col("source") == s.name, F.get_json_object(raw, f"$.{s.id_field}")).otherwise(
            tomb_id
        )
    bare = (
        F.col("parse_error").startswith("missing_field:")
        & (F.get_json_object(raw, "$.deleted") == F.lit("true"))
        & tomb_id.isNotNull()
    )
    full = F.col("parse_error").isNull() & (F.get_json_object("metadata", "$.deleted") == F.lit("true"))
    return (
        bronze.withColumn("_bare", F.coalesce(bare, F.lit(False)))
        .withColumn("_tomb", F.col("_bare") | F.coalesce(full, F.lit(False)))
        .withColumn("record_id", F.when(F.col("_bare"), tomb_id).otherwise(F.col("record_id")))
        .withColumn(
            "doc_id",
            F.when(F.col("_bare"), F.concat("source", F.lit("/"), tomb_id)).otherwise(F.col("doc_id")),
        )
        .withColumn("parse_error", F.when(F.col("_bare"), F.lit(TOMBSTONE)).otherwise(F.col("parse_error")))
        .drop("_bare")
    )


def _stamped(df: DataFrame, run_id: str, now: str) -> DataFrame:
    """Run columns, with each row's own day (a micro-batch spans days)."""
    return (
        df.withColumn("dt", F.col(EV_DT))
        .withColumn("run_id", F.lit(run_id))
        .withColumn("processed_at", F.lit(now).cast("timestamp"))
    )


class Laps:
    """Wall seconds between marks, per phase: where a micro-batch's time goes (in its audit row and status)."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def __call__(self, phase: str) -> None:
        now = time.monotonic()
        self.seconds[phase] = round(now - self.last, 2)
        self.last = now


class Writer:
    """The batch's idempotent writes to one catalog."""

    def __init__(self, spark: SparkSession, settings: Settings, batch_id: int) -> None:
        self.spark, self.cat, self.batch_id = spark, settings.catalog.name, batch_id

    def name(self, table: Table) -> str:
        return f"{self.cat}.{table.ident}"

    def rows(self, df: DataFrame, table: Table) -> DataFrame:
        return aligned(df, table, self.spark.table(self.name(table)))

    def view(self, df: DataFrame, what: str) -> str:
        name = f"stream_{what}_{self.batch_id}"
        df.createOrReplaceTempView(name)
        return name

    def insert_new(self, df: DataFrame, table: Table, keys: tuple[str, ...], also: str = "") -> None:
        """Inserts the rows whose key (``keys``, and the condition ``also``) the table does not hold: a replayed
        batch adds nothing twice."""
        view = self.view(self.rows(df, table), table.ident.replace(".", "_"))
        on = " AND ".join([f"t.{k} <=> s.{k}" for k in keys] + ([f"({also})"] if also else []))
        self.spark.sql(
            f"MERGE INTO {self.name(table)} t USING {view} s ON {on} WHEN NOT MATCHED THEN INSERT *"
        )

    def upsert(self, df: DataFrame, table: Table, keys: tuple[str, ...], gone: DataFrame) -> None:
        """One ``MERGE`` on ``keys``, one commit: rows of ``df`` replace or add theirs, rows whose key is in
        ``gone`` are removed."""
        rows = self.rows(df, table).withColumn("_op", F.lit("upsert"))
        deletes = gone.select(
            *[
                F.col(f.name) if f.name in keys else F.lit(None).cast(f.dataType).alias(f.name)
                for f in rows.schema.fields
                if f.name != "_op"
            ],
            F.lit("delete").alias("_op"),
        )
        view = self.view(rows.unionByName(deletes), f"{table.ident.replace('.', '_')}_upsert")
        on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        self.spark.sql(
            f"MERGE INTO {self.name(table)} t USING {view} s ON {on} "
            "WHEN MATCHED AND s._op = 'delete' THEN DELETE "
            "WHEN MATCHED THEN UPDATE SET * "
            "WHEN NOT MATCHED AND s._op = 'upsert' THEN INSERT *"
        )

    def replace_docs(self, df: DataFrame, ids: DataFrame, table: Table, keys: tuple[str, ...]) -> None:
        """The rows of the batch's documents (``ids``) become ``df``'s, in one ``MERGE`` on ``keys``: rows of
        theirs that ``df`` does not hold are removed (an edited document's old chunks, a deleted one's all)."""
        held = self.spark.table(self.name(table)).join(ids, "doc_id").select(*keys)
        self.upsert(df, table, keys, held.join(df.select(*keys), list(keys), "left_anti"))


def upsert_batch(
    spark: SparkSession,
    spec: PipelineSpec,
    settings: Settings,
    records: DataFrame,
    batch_id: int,
    skipped: list | None = None,
) -> dict[str, Any]:
    """One micro-batch: ``records`` (bronze rows with ``ev_dt``, ``ev_ms``) into every table. Returns its
    counts."""
    clock, lap = Clock(), Laps()
    skipped = skipped or []
    run_id = f"stream:{batch_id}"
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    ctx = RunContext(spark, spec, settings, datetime.now(UTC).date(), run_id)
    w = Writer(spark, settings, batch_id)
    acc = step_accumulator(spark)
    bronze = materialize(_tombstones(spec, records))
    stored = [bronze]
    try:
        tombs = bronze.where("_tomb")
        marked = mark_rows(spec, bronze.where(~F.col("_tomb")), recorder(acc)).join(
            bronze.select("source_file", "line_number", EV_DT, EV_MS), ["source_file", "line_number"]
        )
        marked = materialize(marked)
        stored.append(marked)
        lap("read and pipes")
        # Each document's last state in this batch: its latest record, tombstones included.
        order = Window.partitionBy("doc_id").orderBy(
            F.desc(EV_MS), F.desc("source_file"), F.desc("line_number")
        )
        key = ["doc_id", "source_file", "line_number"]
        latest = (
            marked.select(*key, EV_MS)
            .unionByName(tombs.select(*key, EV_MS))
            .withColumn("_rank", F.row_number().over(order))
            .where(F.col("_rank") == 1)
            .select(*key, F.lit(True).alias("_latest"))
        )
        latest = materialize(latest)
        stored.append(latest)
        flagged = marked.join(latest, key, "left").withColumn("_latest", F.coalesce("_latest", F.lit(False)))
        kept = flagged.where(F.col("drop_reason").isNull())
        superseded = quarantined(kept.where(~F.col("_latest")), "dedup", CLASH, F.lit(REPLACED)).withColumn(
            "duplicate_of", F.col("doc_id")
        )
        dropped = flagged.where(F.col("drop_reason").isNotNull()).select(
            *[c for c in flagged.columns if not c.startswith("_")]
        )
        ids = latest.select("doc_id")
        # History for dedup: every indexed document but the ones this batch decides anew (an edited document
        # is no duplicate of its own earlier version).
        dd = deduplicate(
            ctx,
            kept.where(F.col("_latest")).drop("_latest"),
            history=lambda h: h.join(ids, "doc_id", "left_anti"),
        )
        checked, duplicates = split_duplicates(dd, stored)
        survivors = materialize(
            checked.where(F.col("duplicate_of").isNull()).withColumn("n_chars", F.length("text"))
        )
        stored.append(survivors)
        tomb_rows = tombs.select(
            "doc_id",
            "source",
            "source_file",
            "line_number",
            "raw_hash",
            EV_DT,
            F.lit("stream").alias("drop_stage"),
            F.lit(TOMBSTONE).alias("drop_reason"),
            F.lit("deletes the document from silver, gold and the serving index").alias("drop_detail"),
        )
        quarantine = (
            dropped.unionByName(superseded, allowMissingColumns=True)
            .unionByName(duplicates, allowMissingColumns=True)
            .unionByName(tomb_rows, allowMissingColumns=True)
            .withColumnRenamed("drop_stage", "stage")
            .withColumnRenamed("drop_reason", "reason")
            .withColumnRenamed("drop_detail", "detail")
        )
        quarantine = materialize(quarantine)
        stored.append(quarantine)
        deleted = ids.join(survivors.select("doc_id"), "doc_id", "left_anti")
        index = dd.index.drop("dt").join(survivors.select("doc_id", F.col(EV_DT).alias("dt")), "doc_id")
        counts = {
            "records": bronze.count(),
            "tombstones": tombs.count(),
            "upserted": survivors.count(),
            "quarantined": quarantine.count(),
            "superseded": superseded.count(),
            "removed": deleted.count(),
        }
        lap("dedup and counts")
        rag = spec.gold.rag
        chunks = None
        if rag.enabled:
            # Before the lock: embedding is the long part, and it only reads gold (the vectors to reuse).
            check_chunking(rag)
            previous = materialize(
                spark.table(w.name(GOLD_CHUNKS))
                .join(ids, "doc_id")
                .where(F.col("model") == rag.embedding.model_id)
                .groupBy("text_hash")
                .agg(F.first("embedding").alias("embedding"))
            )
            stored.append(previous)
            docs = survivors.select("doc_id", "source", "text")
            with embedded_chunks(spark, rag, docs, previous) as (rows, new):
                chunks = materialize(
                    _stamped(rows.join(survivors.select("doc_id", EV_DT), "doc_id"), run_id, now)
                )
                stored.append(chunks)
                counts["embedded"] = int(new["n"])
            counts["chunks"] = chunks.count()
            lap("chunk and embed")
        with catalog_lock(settings):
            lap("catalog lock")
            w.insert_new(
                _stamped(bronze, run_id, now), BRONZE, ("dt", "source", "source_file", "line_number")
            )
            w.insert_new(
                _stamped(quarantine, run_id, now), QUARANTINE, ("source_file", "line_number", "reason")
            )
            lap("write bronze and quarantine")
            w.upsert(_stamped(survivors, run_id, now), spec.silver_table(), ("doc_id",), deleted)
            lap("write silver")
            stamped_index = index.withColumn("run_id", F.lit(run_id)).withColumn(
                "processed_at", F.lit(now).cast("timestamp")
            )
            w.replace_docs(stamped_index, ids, DEDUP_INDEX, ("doc_id", "band"))
            lap("write dedup index")
            if chunks is not None:
                w.replace_docs(chunks, ids, GOLD_CHUNKS, ("chunk_id",))
                lap("write gold")
            audit = step_rows([p.pipe for p in spec.silver.pipes], acc.value)
            audit.append(
                {
                    "step": "*",
                    "docs_in": counts["records"],
                    "docs_out": counts["upserted"],
                    "docs_dropped": counts["quarantined"],
                    "wall_s": clock.wall(),
                    "detail": {
                        "batch_id": batch_id,
                        **counts,
                        "skipped_files": len(skipped),
                        "seconds": lap.seconds,
                    },
                }
            )
            audit += skipped_file_rows(skipped)
            frame = audit_frame(spark, STREAM.name, audit).withColumn(
                EV_DT, F.lit(ctx.day.isoformat()).cast("date")
            )
            # A replayed batch's rows differ in timings and commit counts (the '*' row), not in their keys.
            w.insert_new(
                _stamped(frame, run_id, now),
                RUN_AUDIT,
                ("job", "run_id", "step", "reason"),
                "s.step = '*' OR t.detail <=> s.detail",
            )
            # Everything is written; Spark has not committed the batch yet (a restart runs it again).
            faults.point("stream:written")
    finally:
        release(*stored)
    return counts | {
        "batch_id": batch_id,
        "skipped_files": len(skipped),
        "wall_s": clock.wall(),
        "seconds": lap.seconds,
    }


# --- the query -------------------------------------------------------------------------------------------------


def _record_status(paths: StreamPaths, out: dict[str, Any], oldest_ms: int | None) -> None:
    """``status.json``: the last batch and running totals (a replayed batch is not counted twice)."""
    state = read_json(paths.status) or {}
    totals: dict[str, int] = state.get("totals", {})
    previous = (state.get("last_batch") or {}).get("batch_id", -1)
    if out["batch_id"] > previous:
        for k in ("records", "upserted", "quarantined", "removed", "tombstones", "chunks", "embedded"):
            totals[k] = totals.get(k, 0) + int(out.get(k, 0))
        totals["batches"] = totals.get("batches", 0) + 1
    finished = time.time()
    last = out | {"finished_at": datetime.fromtimestamp(finished, UTC).isoformat()}
    if oldest_ms is not None:
        # How long the oldest input of the batch waited until its rows were in gold.
        last["lag_s"] = round(finished - oldest_ms / 1000, 2)
    write_json(paths.status, {"last_batch": last, "totals": totals})


def start_query(
    spark: SparkSession,
    spec: PipelineSpec,
    settings: Settings,
    paths: StreamPaths,
    available_now: bool = False,
    on_batch: Callable[[dict[str, Any]], None] | None = None,
) -> StreamingQuery:
    """Starts the stream over the spec's source with its checkpoint under ``paths``. ``available_now``
    works off what is there and stops (a replay, a catch-up, the tests); otherwise a batch starts every
    ``stream.trigger_seconds`` while data waits."""
    cfg = spec.stream
    paths.root.mkdir(parents=True, exist_ok=True)
    landing = settings.landing

    if cfg.source == "files":
        landing.mkdir(parents=True, exist_ok=True)
        # Only the listing: ingest's readers open the files (binaryFile reads no content it is not asked for).
        source = (
            spark.readStream.format("binaryFile")
            .schema("path STRING, modificationTime TIMESTAMP, length BIGINT, content BINARY")
            .option("recursiveFileLookup", "true")
            .option("maxFilesPerTrigger", str(cfg.max_files_per_trigger))
            .option("maxFileAge", MAX_FILE_AGE)
            .load(str(landing))
            .select("path", "length", F.expr("unix_millis(modificationTime)").alias("ms"))
        )

        def handle(df: DataFrame, batch_id: int) -> None:
            files = df.collect()
            records, skipped = file_records(df.sparkSession, spec, landing, files)
            out = upsert_batch(df.sparkSession, spec, settings, records, batch_id, skipped)
            out["files"] = len(files)
            _record_status(paths, out, min((f["ms"] for f in files), default=None))
            log.info("stream batch %d: %s", batch_id, json.dumps(out, sort_keys=True))
            if on_batch:
                on_batch(out)
    else:
        try:
            source = spark.readStream.format("kafka").options(**kafka_options(cfg)).load()
        except Exception as exc:
            if "kafka" in str(exc).lower() and "find data source" in str(exc).lower():
                raise LakehouseError(
                    "stream.source: kafka needs Spark's Kafka connector (org.apache.spark:spark-sql-kafka-0-10) on "
                    "the classpath: add its jar to LAKEHOUSE_SPARK_JARS"
                ) from exc
            raise

        def handle(df: DataFrame, batch_id: int) -> None:
            oldest = df.agg(F.min(F.expr("unix_millis(timestamp)"))).first()[0]
            out = upsert_batch(df.sparkSession, spec, settings, kafka_records(spec, df), batch_id)
            _record_status(paths, out, oldest)
            if on_batch:
                on_batch(out)

    writer = (
        source.writeStream.foreachBatch(handle)
        .option("checkpointLocation", str(paths.checkpoint))
        .queryName(f"{spec.name}_stream")
    )
    writer = (
        writer.trigger(availableNow=True)
        if available_now
        else writer.trigger(processingTime=f"{cfg.trigger_seconds} seconds")
    )
    return writer.start()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser()
    p.add_argument("--spec", required=True, type=Path)
    p.add_argument("--available-now", action="store_true", help="work off what has landed, then stop")
    args = p.parse_args(argv)
    spec = load_spec(args.spec)
    settings = Settings.from_env().for_spec(spec)
    from llm_lakehouse.spark.session import ensure_tables, spark_session

    started = time.monotonic()
    paths = StreamPaths.of(settings.home, spec.name)
    paths.stop.unlink(missing_ok=True)
    spark = spark_session(settings, f"{spec.name}.{STREAM.name}")
    with catalog_lock(settings):
        ensure_tables(spark, settings, spec)
    query = start_query(spark, spec, settings, paths, args.available_now)
    log.info("stream %s started (checkpoint %s)", query.name, paths.checkpoint)
    try:
        while query.isActive:
            try:
                query.awaitTermination(1)
            except Exception:  # the query failed: query.exception() below says how
                break
            if paths.stop.exists():
                log.info("stop requested: stopping between batches")
                query.stop()
    finally:
        paths.stop.unlink(missing_ok=True)
    error = query.exception()
    totals = (read_json(paths.status) or {}).get("totals", {})
    result = {
        "stage": STREAM.name,
        "date": datetime.now(UTC).date().isoformat(),
        "run_id": query.name,
    } | totals
    run_lineage(
        spec,
        settings,
        STREAM.name,
        result | ({"error": "StreamingQueryException"} if error else {}),
        started,
        [],
    )
    if error:
        raise LakehouseError(f"the stream failed: {error}")
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)
    sys.stdout.flush()
    return result
