"""Corpus reports inside Airflow: the task's "Corpus report" link and the API server route that serves the page.

The link is computed on the worker when the task ends (Airflow 3 stores it as the task's XCom) from the run's
logical day; it points at ``/lakehouse-reports/<day>/index.html`` on the API server, where the
``lakehouse_reports`` plugin (``plugins/lakehouse_reports.py``) mounts ``app``. The route asks for the same
login as the UI (the ``_token`` cookie or a bearer token): a report shows scrubbed excerpts of the corpus.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperatorLink

URL_PREFIX = "/lakehouse-reports"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FILE = re.compile(r"^[a-z_]+\.(html|png|json)$")


class CorpusReportLink(BaseOperatorLink):
    """The day's corpus report (``lakehouse report``), written by the silver and gold jobs."""

    name = "Corpus report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:  # noqa: ANN401
        context = ti_key.get_template_context() if hasattr(ti_key, "get_template_context") else {}
        day = context.get("data_interval_start") or context.get("logical_date")
        return f"{URL_PREFIX}/{day:%Y-%m-%d}/index.html" if day is not None else ""


def reports_app(root: Path):  # noqa: ANN201 - fastapi.FastAPI, imported here: only the API server needs it
    """A FastAPI app serving ``root/<day>/<file>`` to logged-in users."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse

    app = FastAPI(title="Corpus reports")

    # No annotations FastAPI would have to resolve: this module's annotations are strings, and the
    # dependency's type is imported here, not at module level (FastAPI took ``user`` for a query parameter).
    @app.get("/{day}/{name}", response_model=None)
    def report_file(day: str, name: str, _user: object = Depends(get_user)) -> Any:  # noqa: ANN401
        path = root / day / name
        if not (_DAY.match(day) and _FILE.match(name)) or not path.is_file():
            raise HTTPException(status_code=404, detail="no such report file")
        return FileResponse(path)

    return app
