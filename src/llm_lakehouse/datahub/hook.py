"""The calls the pipeline makes: after each Spark job, and (later) after each quality gate.

Both build their MCPs from the spec and send them through ``store.emit``; neither ever raises, so lineage
can never fail a run (the runner wraps the call as well).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.datahub.config import LineageConfig

log = logging.getLogger("llm_lakehouse.datahub")


def emit_job_lineage(
    spec: PipelineSpec,
    settings: Settings,
    stage: str,
    result: Mapping[str, Any],
    outcome: str | None = None,
) -> Any:
    """Datasets, DAG/tasks (refreshed from the spec on every run) and this task run with its counts.

    ``outcome`` defaults to ``result["outcome"]``, else FAILURE when the result carries an ``error``,
    else SUCCESS. Returns the ``EmitReport`` (None if building the events failed).
    """
    try:
        from llm_lakehouse.datahub import mcps, store

        cfg = LineageConfig.from_env(settings)
        outcome = outcome or result.get("outcome") or ("FAILURE" if result.get("error") else "SUCCESS")
        events = mcps.spec_mcps(spec, cfg) + mcps.run_mcps(spec, cfg, stage, result, str(outcome))
        report = store.emit(cfg, events)
        log.info("lineage: %d events for %s.%s -> %s", report.events, spec.name, stage, cfg.sink)
        return report
    except Exception as exc:
        log.warning("lineage for %s.%s not emitted: %s", spec.name, stage, exc, exc_info=True)
        return None


def emit_quality_results(
    spec: PipelineSpec,
    settings: Settings,
    results: Iterable[Mapping[str, Any]],
    run_id: str,
) -> Any:
    """Quality gate results ``[{table, expectation, success, observed[, column, kwargs]}]`` as assertions."""
    try:
        from llm_lakehouse.datahub import mcps, store

        cfg = LineageConfig.from_env(settings)
        return store.emit(cfg, mcps.assertion_mcps(spec, cfg, list(results), run_id, int(time.time() * 1000)))
    except Exception as exc:
        log.warning("quality results of %s not emitted to DataHub: %s", run_id, exc, exc_info=True)
        return None
