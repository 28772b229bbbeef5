"""Checks one day of a table against the spec's rules with Great Expectations on the Spark DataFrame.

Every rule becomes one GX expectation on the day's rows (as the job wrote them to its branch), run through a
GX checkpoint in a file context under ``$LAKEHOUSE_HOME/quality`` so that each run also updates the Data
Docs there. Rules GX has no expectation for are reduced to one it has, with the bounds computed here:
``row_count_vs_trailing`` and ``row_share`` become a row-count range (the computed bounds are kept in the
result's kwargs), ``no_structured_pii`` becomes "at most 0" on a per-row count of PII spans that the
``pii`` pipe's own detectors compute. Results keep counts only: GX copies offending values into its
results and Data Docs unless told not to (``partial_unexpected_count: 0``), and a PII check's offending
values are the PII itself.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StructField, StructType

from llm_lakehouse.core import rules as r
from llm_lakehouse.core.pii.scan import SCAN_ENTITIES, hits_per_row
from llm_lakehouse.core.reports import quality_dir
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.spark.common import day_filter
from llm_lakehouse.spark.context import RunContext

log = logging.getLogger(__name__)
# GX would otherwise try to send usage statistics (no network here; none wanted in production either).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# Counts only: no offending value in results, ops.quality_results or Data Docs.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
_VALUE_KEYS = re.compile(r"partial_unexpected|unexpected_list|unexpected_index|unexpected_rows|details")


@dataclass
class Outcome:
    """One rule's result on one table's day."""

    table: str
    rule: r.Rule
    gx_type: str
    success: bool
    observed: dict[str, Any]
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.rule.label

    @property
    def level(self) -> str:
        return self.rule.level

    @property
    def column(self) -> str | None:
        return getattr(self.rule, "column", None)

    def line(self) -> str:
        """``silver.documents no_structured_pii:text [blocking] FAILED: 3 of 151 rows ...`` for task logs."""
        o = self.observed
        if "error" in o:
            seen = f"error: {o['error']}"
        elif "unexpected_count" in o:
            seen = f"{o['unexpected_count']} of {o.get('element_count')} rows unexpected"
        else:
            seen = f"observed {o.get('observed_value')}"
        bounds = {
            k: v for k, v in self.kwargs.items() if k in ("min_value", "max_value", "value_set", "mostly")
        }
        context = {
            k: v
            for k, v in o.items()
            if k not in ("observed_value", "unexpected_count", "element_count", "error")
            and not k.startswith(("unexpected_percent", "missing_"))
        }
        extra = f"; expected {bounds}" if bounds else ""
        extra += f"; {context}" if context else ""
        status = "ok" if self.success else "FAILED"
        return f"{self.table} {self.name} [{self.level}] {status}: {seen}{extra}"

    def record(self) -> dict[str, Any]:
        """As the run's DataHub assertions (``emit_job_lineage``) take it."""
        return {
            "table": self.table,
            "expectation": self.name,
            "expect": self.rule.expect,
            "gx_type": self.gx_type,
            "column": self.column,
            "level": self.level,
            "success": self.success,
            "observed": self.observed,
            "kwargs": self.kwargs,
        }


def _pii_column(rule: r.NoStructuredPii) -> str:
    return "_pii_" + re.sub(r"[^a-z0-9_]", "_", rule.label.lower())


def _with_pii_counts(df: DataFrame, checks: list[r.NoStructuredPii]) -> DataFrame:
    """Adds one int column per PII rule: structured spans per row, found by the pii pipe's detectors."""
    if not checks:
        return df
    specs = [(c.column, _pii_column(c), tuple(c.entities) if c.entities else None) for c in checks]
    schema = StructType([*df.schema.fields, *(StructField(n, IntegerType(), False) for _, n, _ in specs)])

    def count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:

        for batch in batches:
            for column, name, entities in specs:
                hits = hits_per_row(batch.column(column), entities or SCAN_ENTITIES)
                batch = batch.append_column(name, hits)
            yield batch

    return df.mapInArrow(count, schema)


def _trailing_counts(spark: SparkSession, settings: Settings, table: str, day: date, days: int) -> list[int]:
    """Rows per earlier day (within ``days``) on main, from Iceberg's partition metadata (no data read)."""
    start = (day - timedelta(days=days)).isoformat()
    rows = (
        spark.table(f"{settings.catalog.name}.{table}.partitions")
        .where((F.col("partition.dt") >= F.lit(start).cast("date")) & (F.col("partition.dt") < F.lit(day)))
        .groupBy("partition.dt")
        .agg(F.sum("record_count").alias("n"))
        .collect()
    )
    return [int(x["n"]) for x in rows if x["n"]]


def _expectation(
    spark: SparkSession, settings: Settings, table: str, day: date, rule: r.Rule
) -> tuple[Any, dict[str, Any]]:
    """The GX expectation for ``rule`` and context worth keeping with its result (computed bounds)."""
    import great_expectations.expectations as gxe

    meta = {"rule": rule.label, "level": rule.level}
    common = {"meta": meta, "result_format": RESULT_FORMAT}
    if isinstance(rule, r.NotNull):
        return gxe.ExpectColumnValuesToNotBeNull(column=rule.column, mostly=rule.mostly, **common), {}
    if isinstance(rule, r.Unique):
        return gxe.ExpectColumnValuesToBeUnique(column=rule.column, mostly=rule.mostly, **common), {}
    if isinstance(rule, r.InSet):
        return gxe.ExpectColumnValuesToBeInSet(
            column=rule.column, value_set=rule.values, mostly=rule.mostly, **common
        ), {}
    if isinstance(rule, r.Between):
        return gxe.ExpectColumnValuesToBeBetween(
            column=rule.column, min_value=rule.min, max_value=rule.max, mostly=rule.mostly, **common
        ), {}
    if isinstance(rule, r.NoStructuredPii):
        return gxe.ExpectColumnValuesToBeBetween(
            column=_pii_column(rule), max_value=0, mostly=rule.mostly, **common
        ), {"pii_spans_column": rule.column}
    if isinstance(rule, r.RowCount):
        return gxe.ExpectTableRowCountToBeBetween(min_value=rule.min, max_value=rule.max, **common), {}
    if isinstance(rule, r.RowCountVsTrailing):
        lo, hi, context = trailing_bounds(rule, _trailing_counts(spark, settings, table, day, rule.days))
        return gxe.ExpectTableRowCountToBeBetween(min_value=lo, max_value=hi, **common), context
    if isinstance(rule, r.RowShare):
        # Under a WAP branch this reads the branch when the job wrote `of` too, else main.
        other = spark.table(f"{settings.catalog.name}.{rule.of}").where(day_filter(day)).count()
        lo, hi, context = share_bounds(rule, other)
        return gxe.ExpectTableRowCountToBeBetween(min_value=lo, max_value=hi, **common), context
    raise TypeError(f"no expectation for rule {rule!r}")


Bounds = tuple[int | None, int | None, dict[str, Any]]


def trailing_bounds(rule: r.RowCountVsTrailing, history: list[int]) -> Bounds:
    """The day's row-count range for ``row_count_vs_trailing`` from the earlier days' counts, and context."""
    context: dict[str, Any] = {"history_days": len(history)}
    lo = hi = None
    if len(history) >= rule.min_history:
        mean = sum(history) / len(history)
        context["trailing_mean"] = round(mean, 1)
        lo = math.ceil(mean * rule.min_ratio) if rule.min_ratio is not None else None
        hi = math.floor(mean * rule.max_ratio) if rule.max_ratio is not None else None
    else:
        context["note"] = f"fewer than {rule.min_history} earlier days with rows: not enforced yet"
    if lo is None and hi is None:
        lo = 0
    return lo, hi, context


def share_bounds(rule: r.RowShare, other: int) -> Bounds:
    """The day's row-count range for ``row_share`` from the day's rows of ``rule.of``, and context."""
    context: dict[str, Any] = {"of_rows": other}
    lo = math.ceil(other * rule.min) if rule.min is not None else None
    hi = math.floor(other * rule.max) if rule.max is not None else None
    if other < rule.min_rows:
        lo, hi = 0, None
        context["note"] = f"{rule.of} has fewer than {rule.min_rows} rows: not enforced"
    return lo, hi, context


def _observed(result: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in (result or {}).items() if not _VALUE_KEYS.search(k)}
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def _context(settings: Settings):  # noqa: ANN202
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="file", project_root_dir=str(quality_dir(settings)))
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def check_table(run: RunContext, table: str, df: DataFrame | None = None) -> list[Outcome]:
    """Validates the day of ``table`` (or ``df``, that day's rows) against the spec's rules for it.

    The checkpoint result waits in ``run.validations`` for ``update_data_docs``."""
    spark, spec, settings, day, run_id = run.spark, run.spec, run.settings, run.day, run.run_id
    rules = spec.quality.rules(table)
    if df is None:
        df = spark.table(f"{settings.catalog.name}.{table}").where(day_filter(day))
    own = [
        pii_canaries(spark, spec, settings, table, day, run_id, rule, df)
        for rule in rules
        if isinstance(rule, r.PiiCanaries)
    ]
    rules = [x for x in rules if not isinstance(x, r.PiiCanaries)]
    if not rules:
        return own
    import great_expectations as gx

    pii = [x for x in rules if isinstance(x, r.NoStructuredPii)]
    # Only the columns the expectations read are cached: a day's whole text and raw bytes (1 GB in bronze)
    # would not fit the columnar cache's buffers of a 1 GB driver.
    kept = dict.fromkeys(c for x in rules if not isinstance(x, r.NoStructuredPii) for c in x.columns)
    df = _with_pii_counts(df, pii).select(*kept, *(_pii_column(x) for x in pii)).persist()
    try:
        ctx = _context(settings)
        name = f"{spec.name}.{table}"
        source = ctx.data_sources.add_or_update_spark(name="lakehouse")
        asset = next((a for a in source.assets if a.name == table), None) or source.add_dataframe_asset(table)
        batch = next(iter(asset.batch_definitions), None) or asset.add_batch_definition_whole_dataframe("day")
        suite = gx.ExpectationSuite(name=name)
        contexts: dict[str, dict[str, Any]] = {}
        for rule in rules:
            expectation, contexts[rule.label] = _expectation(spark, settings, table, day, rule)
            suite.add_expectation(expectation)
        suite = ctx.suites.add_or_update(suite)
        definition = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        checkpoint = ctx.checkpoints.add_or_update(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                # No Data Docs action: ``update_data_docs`` renders the whole gate's results in one build.
                actions=[],
                result_format=RESULT_FORMAT,
            )
        )
        identifier = gx.RunIdentifier(run_name=f"{run_id} {day.isoformat()}")
        result = checkpoint.run(batch_parameters={"dataframe": df}, run_id=identifier)
        run.validations.append(result)
    finally:
        df.unpersist()
    by_rule = {x.label: x for x in rules}
    outcomes = []
    for validation in result.run_results.values():
        for res in validation.results:
            d = res.to_json_dict()
            config = d["expectation_config"]
            rule = by_rule[config["meta"]["rule"]]
            observed = _observed(d.get("result") or {})
            if (d.get("exception_info") or {}).get("raised_exception"):
                observed["error"] = str(d["exception_info"].get("exception_message"))[:300]
            kwargs = {k: v for k, v in config["kwargs"].items() if k not in ("result_format", "batch_id")}
            outcomes.append(
                Outcome(
                    table=table,
                    rule=rule,
                    gx_type=config["type"],
                    success=bool(d["success"]),
                    observed=observed | contexts[rule.label],
                    kwargs=kwargs,
                )
            )
    order = {x.label: i for i, x in enumerate(spec.quality.rules(table))}
    return sorted(outcomes + own, key=lambda o: order[o.name])


def update_data_docs(run: RunContext) -> None:
    """Renders the Data Docs pages of the gate's validations (``check_table``) and the index in one build:
    each build renders the index page again, and a page per table took ~0.6 s."""
    if not run.validations:
        return
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    ids: list[Any] = []
    for result in run.validations:
        for identifier, validation in result.run_results.items():
            ids += [identifier, ExpectationSuiteIdentifier(name=validation.suite_name)]
    run.validations.clear()
    try:
        _context(run.settings).build_data_docs(resource_identifiers=ids, build_index=True)
    except Exception as exc:  # pages for people; the gate's decision and records do not depend on them
        log.warning("Data Docs not updated: %s", exc)


def pii_canaries(
    spark: SparkSession,
    spec: PipelineSpec,
    settings: Settings,
    table: str,
    day: date,
    run_id: str,
    rule: r.PiiCanaries,
    df: DataFrame,
) -> Outcome:
    """The ``pii_canaries`` rule, from this run's ``kind = 'canary'`` rows of ``ops.pii_audit``."""
    rows = (
        spark.table(f"{settings.catalog.name}.ops.pii_audit")
        .where(day_filter(day) & (F.col("run_id") == run_id) & (F.col("kind") == "canary"))
        .groupBy("policy")
        .agg(
            F.sum("docs_with_entity").alias("records"),
            F.sum("count").alias("planted"),
            F.sum("survived").alias("survived"),
        )
        .collect()
    )
    checked = {x["policy"]: x for x in rows if x["planted"]}
    policies = [p.policy for _, p in spec.pii_steps()]
    missing = [p for p in policies if p not in checked]
    survived = sum(int(x["survived"] or 0) for x in rows)
    observed: dict[str, Any] = {
        "observed_value": survived,
        "canary_records": sum(int(x["records"] or 0) for x in rows),
        "values_planted": sum(int(x["planted"] or 0) for x in rows),
        "survived_by_policy": {x["policy"]: int(x["survived"] or 0) for x in rows},
    }
    if missing:
        observed["policies_not_checked"] = missing
    has_rows = bool(df.limit(1).count())
    if not has_rows and missing:
        observed["note"] = "no rows this day: policies without canaries not enforced"
    success = survived == 0 and (not missing or not has_rows)
    return Outcome(table, rule, "lakehouse.pii_canaries", success, observed, {"max_survived": 0})


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
