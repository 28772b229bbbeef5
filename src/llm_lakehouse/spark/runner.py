"""What every spark-submit entry point shares: arguments, the day's lease, the catalog lock, the session and the
result line.

A job prints exactly one ``LAKEHOUSE_RESULT {json}`` line on success; ``lakehouse build`` reads it to show
per-stage counts, and the Airflow task log shows it too.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from llm_lakehouse.core.errors import QualityGateFailed
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec, load_spec
from llm_lakehouse.core.stages import STAGES
from llm_lakehouse.datahub import emit_job_lineage
from llm_lakehouse.spark.context import RunContext, Timings

RESULT_PREFIX = "LAKEHOUSE_RESULT "
# The corpus report is written at the end of a day's build (gold), and by any gate that holds a day.
REPORTED_STAGE = "gold"
log = logging.getLogger("llm_lakehouse")


@contextmanager
def catalog_lock(settings: Settings) -> Iterator[None]:
    """One writer JVM at a time on the embedded SQLite catalog; a no-op on PostgreSQL.

    Iceberg's JdbcCatalog holds a SQLite read open for the JVM's life, so a second JVM writing at the same
    time fails with ``database is locked``. Airflow serializes its Spark tasks with a one-slot pool; this
    lock also covers a ``lakehouse build`` started by hand while Airflow runs.
    """
    if not settings.catalog.embedded:
        yield
        return
    settings.lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(settings.lock_path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for the catalog lock %s (another Spark job is writing)", settings.lock_path)
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def parse_args(argv: list[str] | None, extra: Callable[[argparse.ArgumentParser], None] | None = None):
    p = argparse.ArgumentParser()
    p.add_argument("--spec", required=True, type=Path)
    p.add_argument("--date", required=True, type=date.fromisoformat)
    p.add_argument("--run-id", required=True)
    # Airflow's try number of the task; a retry is a new attempt of the same run.
    p.add_argument("--attempt", type=int, default=1)
    # An earlier stage of the same application (spark/day.py) ensured the tables for this spec already.
    p.add_argument("--tables-ensured", action="store_true", help=argparse.SUPPRESS)
    # Publish a day whose only failed checks are warning-level ones (Airflow passes the run's param).
    p.add_argument(
        "--accept-warnings",
        nargs="?",
        const=True,
        default=False,
        type=lambda v: v.strip().lower() in ("1", "true", "yes"),
    )
    if extra:
        extra(p)
    return p.parse_args(argv)


def run_job(
    stage: str,
    body: Callable[[RunContext, argparse.Namespace], dict[str, Any]],
    argv: list[str] | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> dict[str, Any]:
    """Entry point body: parse args, take the day's lease and the catalog lock, start Spark, run ``body``,
    print the result line."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv, extra)
    spec = load_spec(args.spec)
    settings = Settings.from_env().for_spec(spec)
    from llm_lakehouse.core.leases import day_lease
    from llm_lakehouse.spark.session import ensure_tables, spark_session
    from llm_lakehouse.spark.wap import write_audit_publish

    started = time.monotonic()
    run = {"stage": stage, "date": args.date.isoformat(), "run_id": args.run_id, "attempt": args.attempt}
    if any(spec.quality.rules(t) for t in STAGES[stage].outputs):
        warm_up_gate()
    timings = Timings()
    # The lease first: a run waiting for its day must not hold the embedded catalog's lock meanwhile (the
    # holder of the day may be queued on that lock), and every entry point takes them in this order.
    with day_lease(settings, stage, args.date, args.run_id) as lease, catalog_lock(settings):
        with timings.phase("start"):
            # The running session when stages share one JVM (``spark/day.py``), else a new one.
            spark = spark_session(settings, f"{spec.name}.{stage}")
            if not args.tables_ensured:
                ensure_tables(spark, settings, spec)
        ctx = RunContext(
            spark,
            spec,
            settings,
            args.date,
            args.run_id,
            args.attempt,
            accept_warnings=args.accept_warnings,
            timings=timings,
        )

        def leased_body() -> dict[str, Any]:
            out = body(ctx, args)
            # The body is the long part. Had the lease expired meanwhile (heartbeats failing past the TTL) and
            # another run taken the day, this run must not go on to the gate and publish over it.
            lease.check()
            return out

        # Writes go to a branch; main moves only if the day passes the spec's quality rules (spark/wap.py).
        try:
            result = write_audit_publish(ctx, stage, list(STAGES[stage].outputs), leased_body)
        except Exception as exc:
            # The run instance says FAILURE in DataHub too; only the exception's type: its message can
            # carry data (the gate's own message is in the task log and ops.quality_results).
            run_lineage(spec, settings, stage, run | {"error": type(exc).__name__}, started, ctx.assertions)
            if isinstance(exc, QualityGateFailed):
                corpus_report(ctx)  # a held day's drift and failed checks are what to look at
            raise
        if stage == REPORTED_STAGE:
            with timings.phase("report"):
                result["report"] = corpus_report(ctx)
    result = run | result | {"timings": timings.seconds}
    run_lineage(spec, settings, stage, result, started, ctx.assertions)
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)
    sys.stdout.flush()
    return result


def corpus_report(ctx: RunContext) -> str | None:
    """The day's corpus report (``report/corpus.py``); it never fails a job."""
    # Imported here: the Airflow env imports this module (``parse_args``) without pyiceberg or matplotlib.
    from llm_lakehouse.report import write_report

    try:
        return str(write_report(ctx.spec, ctx.settings, ctx.day))
    except Exception as exc:
        log.warning("corpus report not written: %s", exc)
        return None


def warm_up_gate() -> None:
    """Imports Great Expectations on a background thread while Spark starts and the job writes: the import
    alone takes ~5 s of one core, and the gate is the first to need it. The gate's own import waits for this
    one (the module lock) and repeats it if it failed."""

    def load() -> None:
        try:
            import great_expectations  # noqa: F401
        except Exception as exc:  # the gate's import raises it again, where it belongs
            log.debug("great_expectations warm-up import failed: %s", exc)

    if "great_expectations" not in sys.modules:
        threading.Thread(target=load, name="gx-import", daemon=True).start()


def run_lineage(
    spec: PipelineSpec,
    settings: Settings,
    stage: str,
    result: dict[str, Any],
    started: float,
    assertions: list[dict[str, Any]],
) -> None:
    """DataHub lineage of this task run and its gate's results; it never fails a job: errors are logged
    only."""
    result["seconds"] = round(time.monotonic() - started, 2)
    try:
        emit_job_lineage(spec, settings, stage, result, assertions=assertions)
    except Exception as exc:
        log.warning("lineage not emitted: %s", exc)
