"""Where the quality gate leaves its verdict and Data Docs, readable without Spark or GX (the Airflow env).

The Spark job writes ``$LAKEHOUSE_HOME/quality/reports/<run id>/<stage>.json`` after every gate; when the
job fails, the Airflow task and ``lakehouse build`` quote its message instead of spark-submit's exit code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from llm_lakehouse.core.settings import Settings


def quality_dir(settings: Settings) -> Path:
    """The GX project (suites, validation results, Data Docs) and the gate reports."""
    return settings.home / "quality"


def data_docs_index(settings: Settings) -> Path:
    return quality_dir(settings) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def safe_run_id(run_id: str) -> str:
    """A run id as a path segment and Iceberg branch name part: ``scheduled__2026_11_01T02_00_00_00_00``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", run_id).strip("_")[:80]


def report_path(settings: Settings, run_id: str, stage: str) -> Path:
    return quality_dir(settings) / "reports" / safe_run_id(run_id) / f"{stage}.json"


def blocked_message(settings: Settings, run_id: str, stage: str, since: float) -> str | None:
    """The gate's failure message if this run's ``stage`` was blocked by its gate after ``since`` (epoch s)."""
    path = report_path(settings, run_id, stage)
    try:
        report: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if report.get("outcome") != "blocked" or report.get("finished_at", 0) < since:
        return None
    return report.get("message")
