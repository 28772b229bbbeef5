"""A stage of a day with nothing to process, settled without starting Spark.

A stage whose input holds nothing for the day (bronze: no file landed for any source; silver and gold: no row
of the day in the tables they read) and whose own tables hold no row of the day either would start a JVM
and a SparkSession only to write nothing: ~15 s a stage, plus Airflow's own start of each task. Here a plain
Python process settles it with pyiceberg, as a Spark run of the stage would have:

- under the same day lease and catalog lock;
- the stage's quality rules on zero rows: the row-count rules (``row_count``, ``row_count_vs_trailing`` from
  the same partition metadata, ``row_share``) get their bounds as the gate computes them (``gate.py``), so a
  feed that stopped still blocks the day; a rule on the rows' values holds on no rows, as it does in Great
  Expectations;
- ``ops.quality_results`` and the stage's ``ops.run_audit`` row, the gate report (a blocked day fails its
  Airflow task with the gate's message) and the run's lineage with its assertions.

Nothing else is written: a day with no rows reads the same with or without a publication row.

When there is something to do (a file landed, even one no reader takes; rows the day held before; a table
not created yet or with other columns than this release's), it exits with ``NEEDS_SPARK`` having written
nothing, and the caller submits the Spark job as usual. Usage, with a stage's own arguments::

    python -m llm_lakehouse.spark.empty_day STAGE --spec S --date D --run-id R [--attempt N]
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import And, EqualTo

from llm_lakehouse.core import rules as r
from llm_lakehouse.core.catalog import open_catalog
from llm_lakehouse.core.errors import QualityGateFailed
from llm_lakehouse.core.leases import day_lease
from llm_lakehouse.core.reports import report_path
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec, load_spec
from llm_lakehouse.core.stages import DAY_STAGES, LANDING, NEEDS_SPARK
from llm_lakehouse.core.tables import QUALITY_RESULTS, RUN_AUDIT, TABLES
from llm_lakehouse.datahub.mcps import RESULT_ROWS
from llm_lakehouse.spark.gate import Outcome, share_bounds, trailing_bounds
from llm_lakehouse.spark.ingest import landed
from llm_lakehouse.spark.runner import RESULT_PREFIX, catalog_lock, parse_args, run_lineage
from llm_lakehouse.spark.wap import Gate, gate_message, gate_report, result_rows

log = logging.getLogger(__name__)
# What the gate records as the check that ran, in ops.quality_results' gx_type.
CHECK = "lakehouse.empty_day"


def day_rows(catalog: Catalog, ident: str, day: date) -> int:
    """The table's rows of ``day`` on main, from its partition metadata (no data file read)."""
    return sum(_rows_per_day(catalog, ident, day, day + timedelta(days=1)).values())


def _rows_per_day(catalog: Catalog, ident: str, start: date, end: date) -> dict[date, int]:
    table = catalog.load_table(ident)
    if table.current_snapshot() is None:
        return {}
    parts = table.inspect.partitions().to_pylist()
    out: dict[date, int] = {}
    for p in parts:
        dt = p["partition"].get("dt")
        if dt is not None and start <= dt < end:
            out[dt] = out.get(dt, 0) + int(p["record_count"] or 0)
    return out


def work_to_do(catalog: Catalog, spec: PipelineSpec, settings: Settings, stage: str, day: date) -> str | None:
    """Why the stage's day needs Spark, or None when there is nothing to process and nothing to clear."""
    declared = DAY_STAGES[stage]
    why = landed(spec, settings, day) if declared.ingests else None
    if why:
        return why
    idents = [i for i in declared.inputs(spec) if not i.startswith(f"{LANDING}.")]
    for ident in [*idents, *declared.outputs, RUN_AUDIT.ident, QUALITY_RESULTS.ident]:
        if not catalog.table_exists(ident):
            return f"{ident} does not exist yet"
        have = [f.name for f in catalog.load_table(ident).schema().fields]
        want = TABLES[ident].column_names if ident in TABLES else have
        if ident in (RUN_AUDIT.ident, QUALITY_RESULTS.ident) and have != want:
            return f"{ident} has other columns than this release writes"
    for ident in [*idents, *declared.outputs]:
        n = day_rows(catalog, ident, day)
        if n:
            return f"{ident} holds {n} rows of {day}"
    return None


def zero_row_outcomes(catalog: Catalog, spec: PipelineSpec, stage: str, day: date) -> list[Outcome]:
    """The stage's rules on a day with no rows, each as the gate would decide it."""
    outcomes = []
    for table in DAY_STAGES[stage].outputs:
        for rule in spec.quality.rules(table):
            lo, hi, context = _bounds(catalog, table, day, rule)
            if lo is None and hi is None:
                # A rule on the rows' values: no row breaks it.
                observed = {"element_count": 0, "unexpected_count": 0, **context}
                outcomes.append(Outcome(table, rule, CHECK, True, observed))
                continue
            success = (lo is None or lo <= 0) and (hi is None or hi >= 0)
            kwargs = {"min_value": lo, "max_value": hi}
            outcomes.append(Outcome(table, rule, CHECK, success, {"observed_value": 0, **context}, kwargs))
    return outcomes


def _bounds(catalog: Catalog, table: str, day: date, rule: r.Rule) -> tuple[int | None, int | None, dict]:
    if isinstance(rule, r.RowCount):
        return (rule.min if rule.min is not None else 0), rule.max, {}
    if isinstance(rule, r.RowCountVsTrailing):
        history = _rows_per_day(catalog, table, day - timedelta(days=rule.days), day)
        return trailing_bounds(rule, [n for n in history.values() if n])
    if isinstance(rule, r.RowShare):
        return share_bounds(rule, day_rows(catalog, rule.of, day))
    if isinstance(rule, r.PiiCanaries):
        return None, None, {"note": "no rows this day: policies without canaries not enforced"}
    return None, None, {}


def settle(
    catalog: Catalog, settings: Settings, stage: str, day: date, run_id: str, gate: Gate
) -> dict[str, Any]:
    """Writes what a Spark run of the empty day writes, given its gate; raises ``QualityGateFailed`` when
    the gate blocks (after recording its results and report, as the Spark path does)."""
    started = time.monotonic()
    stamp = {"dt": day, "run_id": run_id, "processed_at": datetime.now(UTC)}
    for o in gate.outcomes:
        (log.info if o.success else log.warning)("quality: %s", o.line())
    rows = [row | stamp for row in result_rows(stage, None, gate)]
    if rows:
        results = pa.Table.from_pylist(rows, QUALITY_RESULTS.arrow_schema())
        catalog.load_table(QUALITY_RESULTS.ident).append(results)
    report = gate_report(stage, day, run_id, None, gate)
    path = report_path(settings, run_id, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gate.outcome == "blocked":
        text = gate_message(stage, day, None, gate, settings, list(DAY_STAGES[stage].outputs))
        path.write_text(json.dumps(report | {"message": text}, indent=2))
        raise QualityGateFailed(text)
    audit = {
        "job": stage,
        "step": "*",
        "reason": None,
        **dict.fromkeys(("docs_in", "docs_out", "docs_dropped", "bytes_in", "bytes_out"), 0),
        "wall_s": round(time.monotonic() - started, 3),
        "cpu_s": round(time.process_time(), 3),
        "detail": json.dumps({"settled": "without Spark: nothing to process"}),
    } | stamp
    catalog.load_table(RUN_AUDIT.ident).overwrite(
        pa.Table.from_pylist([audit], RUN_AUDIT.arrow_schema()),
        overwrite_filter=And(EqualTo("dt", day.isoformat()), EqualTo("job", stage)),
    )
    path.write_text(json.dumps(report | {"published": {}}, indent=2))
    # The counts a Spark run's result line carries for its tables (zero), so lineage profiles the day too.
    counts = {k: 0 for t in DAY_STAGES[stage].outputs for k in RESULT_ROWS.get(t, ())}
    return counts | {"settled_without_spark": True, "quality": gate.summary()}


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in DAY_STAGES:
        raise SystemExit(f"usage: empty_day STAGE ARGS...; STAGE one of {', '.join(DAY_STAGES)}")
    stage, args = argv[0], parse_args(argv[1:])
    spec = load_spec(args.spec)
    settings = Settings.from_env().for_spec(spec)
    started = time.monotonic()
    run = {"stage": stage, "date": args.date.isoformat(), "run_id": args.run_id, "attempt": args.attempt}
    with day_lease(settings, stage, args.date, args.run_id), catalog_lock(settings):
        catalog = open_catalog(settings)
        why = work_to_do(catalog, spec, settings, stage, args.date)
        if why:
            print(f"{stage} {args.date}: {why}: the Spark job runs", flush=True)
            raise SystemExit(NEEDS_SPARK)
        gate = Gate(zero_row_outcomes(catalog, spec, stage, args.date), args.accept_warnings)
        assertions = [o.record() for o in gate.outcomes]
        try:
            result = run | settle(catalog, settings, stage, args.date, args.run_id, gate)
        except QualityGateFailed as exc:
            run_lineage(spec, settings, stage, run | {"error": type(exc).__name__}, started, assertions)
            raise
    run_lineage(spec, settings, stage, result, started, assertions)
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
