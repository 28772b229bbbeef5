"""What one run of a job knows about itself, passed to its steps, gates and audits as one value."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importable without starting anything: the CLI and the runner import it
    from pyspark.sql import SparkSession

    from llm_lakehouse.core.settings import Settings
    from llm_lakehouse.core.spec import PipelineSpec

log = logging.getLogger(__name__)


class Timings:
    """Wall seconds per phase of one run (start, write, gate, publish, ...), for the result line: where a
    job's fixed cost goes, per run, without a profiler."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            spent = time.monotonic() - started
            self.seconds[name] = round(self.seconds.get(name, 0.0) + spent, 2)
            log.info("phase %s: %.2f s", name, spent)


@dataclass(frozen=True)
class RunContext:
    spark: SparkSession
    spec: PipelineSpec
    settings: Settings
    day: date
    run_id: str
    # Airflow's try number (1 outside Airflow): a retry replaces what an earlier try wrote.
    attempt: int = 1
    # Publish a day whose only failed checks are warning-level ones (this run only).
    accept_warnings: bool = False
    timings: Timings = field(default_factory=Timings, compare=False)
    # The gate's results as DataHub assertions, sent with the run's lineage in one write.
    assertions: list[dict] = field(default_factory=list, compare=False)
    # The gate's Great Expectations checkpoint results, rendered into Data Docs in one build per gate.
    validations: list = field(default_factory=list, compare=False)
