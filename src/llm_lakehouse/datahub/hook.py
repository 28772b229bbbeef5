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


# The static part of the lineage (datasets, the DAG, its tasks) already written by this process, per store
# and spec: the stages of one Spark application (``spark/day.py``) send it once, not once per stage.
_SPEC_SENT: set[tuple[str, str]] = set()


def emit_job_lineage(
    spec: PipelineSpec,
    settings: Settings,
    stage: str,
    result: Mapping[str, Any],
    outcome: str | None = None,
    assertions: Iterable[Mapping[str, Any]] = (),
) -> Any:
    """Datasets, DAG/tasks (from the spec, by each process's first run) and this task run with its counts,
    plus the run's quality results as assertions, in one write.

    ``outcome`` defaults to ``result["outcome"]``, else FAILURE when the result carries an ``error``,
    else SUCCESS. Returns the ``EmitReport`` (None if building the events failed).
    """
    try:
        from llm_lakehouse.datahub import mcps, store

        cfg = LineageConfig.from_env(settings)
        outcome = outcome or result.get("outcome") or ("FAILURE" if result.get("error") else "SUCCESS")
        sent = (str(cfg.journal), spec.digest())
        events = [] if sent in _SPEC_SENT else mcps.spec_mcps(spec, cfg)
        events += mcps.run_mcps(spec, cfg, stage, result, str(outcome))
        checks = list(assertions)
        if checks:
            now_ms = int(time.time() * 1000)
            events += mcps.assertion_mcps(spec, cfg, checks, str(result.get("run_id", "")), now_ms)
        report = store.emit(cfg, events)
        if report.delivered:
            _SPEC_SENT.add(sent)
        log.info("lineage: %d events for %s.%s -> %s", report.events, spec.name, stage, cfg.sink)
        return report
    except Exception as exc:
        log.warning("lineage for %s.%s not emitted: %s", spec.name, stage, exc, exc_info=True)
        return None
