"""Bronze: the day's landing files, one row per input record, into ``bronze.documents``.

Files are read inside Spark tasks (one task per file at most), so a cluster reads landing data in
parallel and the driver never holds it. Nothing is filtered here: bronze is the record of what arrived
(``ingest.py`` says how hostile records and unreadable files are kept). Files no reader takes are listed in
``ops.run_audit`` as ``skipped_file`` rows, one per file, with the reason.

A nightly build replaces the whole day; ``lakehouse build --source DIR`` replaces only that source's
partition of the day and leaves the other sources' rows as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import functions as F

from llm_lakehouse.core.spec import PipelineSpec, Source, adhoc_source
from llm_lakehouse.core.tables import BRONZE, RUN_COLUMNS
from llm_lakehouse.spark.audit import Clock, skipped_file_rows, write_audit
from llm_lakehouse.spark.common import read_day, replace_day, stamp
from llm_lakehouse.spark.context import RunContext
from llm_lakehouse.spark.ingest import Listing, landing_files, read_file, survey
from llm_lakehouse.spark.runner import run_job


def read_files(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        for source_json, uri in zip(
            batch.column("source").to_pylist(), batch.column("uri").to_pylist(), strict=True
        ):
            yield from read_file(Source.model_validate_json(source_json), uri)


def dir_files(spec: PipelineSpec, input_dir: Path, source_name: str | None) -> tuple[Source, Listing]:
    """``lakehouse build --source DIR``: the JSON Lines files under DIR as one ad-hoc source. Fails closed
    before any file is read (and so before anything is written) when the source resolves to no PII policy."""
    source = adhoc_source(input_dir, source_name)
    spec.require_pii_policy(source.name)
    return source, survey(str(input_dir.resolve()), source)


def ingest_day(
    ctx: RunContext, input_dir: Path | None = None, source_name: str | None = None
) -> dict[str, Any]:
    spark, spec, settings, day, run_id = ctx.spark, ctx.spec, ctx.settings, ctx.day, ctx.run_id
    clock = Clock()
    only = None
    if input_dir:
        adhoc, listing = dir_files(spec, input_dir, source_name)
        listings = [(adhoc, listing)]
        only = adhoc.name
    else:
        listings = landing_files(spec, settings, day)
    files = [(s, uri) for s, listing in listings for uri in listing.files]
    skipped = [(s.name, *entry) for s, listing in listings for entry in listing.skipped]
    tasks = spark.createDataFrame(
        [(s.model_dump_json(), uri) for s, uri in files], "source STRING, uri STRING"
    ).repartition(max(1, len(files)))
    rows = tasks.mapInArrow(read_files, BRONZE.spark_schema(exclude=RUN_COLUMNS))
    replace_day(stamp(rows, day, run_id), BRONZE, settings, day, source=only)
    counts = (
        read_day(spark, BRONZE, settings, day, source=only)
        .groupBy("source")
        .agg(
            F.count("*").alias("n"),
            F.sum(F.col("parse_error").isNotNull().cast("int")).alias("failed"),
            F.sum("raw_length").alias("bytes"),
        )
        .collect()
    )
    by_source = {r["source"]: r["n"] for r in counts}
    total = sum(by_source.values())
    failed = sum(r["failed"] for r in counts)
    audit = [
        {
            "step": f"source:{r['source']}",
            "docs_in": r["n"],
            "docs_out": r["n"],
            "docs_dropped": 0,
            "bytes_in": r["bytes"],
        }
        for r in counts
    ]
    audit.append(
        {
            "step": "*",
            "docs_in": total,
            "docs_out": total,
            "docs_dropped": 0,
            "bytes_in": sum(r["bytes"] or 0 for r in counts),
            "wall_s": clock.wall(),
            "detail": {
                "files": len(files),
                "unparseable_kept_in_bronze": failed,
                "skipped_files": len(skipped),
            },
        }
    )
    audit += skipped_file_rows(skipped)
    write_audit(ctx, "bronze", audit)
    return {"files": len(files), "skipped_files": len(skipped), "bronze": total, "by_source": by_source}


def main(argv: list[str] | None = None) -> dict[str, Any]:

    def extra(p) -> None:
        p.add_argument("--input", type=Path, help="a directory of *.jsonl files instead of the landing zone")
        p.add_argument("--source-name", help="source name for --input (default: the directory's name)")

    def body(ctx: RunContext, args) -> dict[str, Any]:  # noqa: ANN001
        return ingest_day(ctx, args.input, args.source_name)

    return run_job("bronze", body, argv, extra)
