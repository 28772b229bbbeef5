"""What one run of a job knows about itself, passed to its steps, gates and audits as one value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importable without starting anything: the CLI and the runner import it
    from pyspark.sql import SparkSession

    from llm_lakehouse.core.settings import Settings
    from llm_lakehouse.core.spec import PipelineSpec


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
