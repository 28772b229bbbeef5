"""A Spark task whose quality gate blocked the day fails at once with the gate's message, not with an exit code."""

from __future__ import annotations

import json
import textwrap
import time

import pytest
from conftest import SETTINGS

from llm_lakehouse.core.reports import report_path


def _app(tmp_path, outcome: str):
    """A spark-submit application standing in for a layer job: it leaves a gate report and exits 1."""
    report = report_path(SETTINGS, "manual__gate", "silver")
    body = {"outcome": outcome, "finished_at": "FINISHED", "message": "quality gate failed for silver: x"}
    app = tmp_path / "job.py"
    app.write_text(
        textwrap.dedent(f"""
        import json, pathlib, sys, time
        body = {json.dumps(body)!r}.replace('"FINISHED"', str(time.time()))
        path = pathlib.Path({str(report)!r})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        sys.exit(1)
        """)
    )
    return app


@pytest.mark.parametrize("outcome", ["blocked", "published"])
def test_a_blocked_gate_fails_the_task_without_retry(tmp_path, outcome):
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from llm_lakehouse.airflow.dags import LakehouseSparkSubmitOperator

    op = LakehouseSparkSubmitOperator(
        task_id="silver", conn_id="spark_default", application=str(_app(tmp_path, outcome)), retries=2
    )
    started = time.time()
    with pytest.raises(AirflowException) as failed:
        op.execute({"run_id": "manual__gate"})
    report = json.loads(report_path(SETTINGS, "manual__gate", "silver").read_text())
    assert report["finished_at"] >= started
    if outcome == "blocked":
        # AirflowFailException: Airflow fails the task without using its retries.
        assert type(failed.value) is AirflowFailException
        assert str(failed.value) == "quality gate failed for silver: x"
    else:
        # A job that failed for another reason keeps spark-submit's error, and its retries.
        assert type(failed.value) is AirflowException and "spark-submit" in str(failed.value)
