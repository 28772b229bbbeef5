"""The DAG file: imports cleanly and lightly, is wired from the spec, and runs end to end with dag.test()."""

from __future__ import annotations

import sys
from datetime import date, timedelta

import pendulum
import pytest
from conftest import SETTINGS, stats

from llm_lakehouse.settings import REPO_ROOT
from llm_lakehouse.spec import load_spec

SPEC = load_spec(REPO_ROOT / "pipelines" / "corpus_nightly.yaml")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(REPO_ROOT / "dags"))


def test_dag_imports_without_errors_and_without_work(dagbag):
    assert dagbag.import_errors == {}
    assert "corpus_nightly" in dagbag.dags
    # Parsing touches no catalog, no warehouse and no Spark: the dag-processor parses this file every 30 s.
    # (conftest made only the DataHub plugin's file-sink folder, LAKEHOUSE_HOME/datahub.)
    made = {p.name for p in SETTINGS.home.iterdir()} if SETTINGS.home.exists() else set()
    assert made <= {"datahub"}, made
    assert "pyspark" not in sys.modules and "pyiceberg" not in sys.modules


def test_dag_is_derived_from_the_spec(dagbag):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    dag = dagbag.dags["corpus_nightly"]
    assert [t.task_id for t in dag.topological_sort()] == ["bronze", "silver", "gold"]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == SPEC.schedule == "0 2 * * *"
    assert dag.catchup is False and dag.max_active_runs == SPEC.max_active_runs
    assert set(SPEC.tags) <= set(dag.tags) and dag.doc_md and "bronze.documents" in dag.doc_md
    for task in dag.tasks:
        assert isinstance(task, SparkSubmitOperator)
        assert task.owner == SPEC.owner and task.retries == SPEC.retries and task.retry_exponential_backoff
        assert task.pool == SPEC.spark.pool and task._conn_id == "spark_default"
        assert task.application.endswith(".py") and "--date" in task.application_args
        assert task.conf[f"spark.sql.catalog.{SETTINGS.catalog_name}.uri"].startswith("jdbc:sqlite:")
        assert all(str(j).endswith(".jar") for j in task.jars.split(","))
    assert dag.get_task("silver").depends_on_past and not dag.get_task("bronze").depends_on_past
    # Airflow normalizes the URI with a trailing slash.
    outlets = {o.uri.rstrip("/") for t in dag.tasks for o in t.outlets}
    assert "iceberg://lakehouse.gold.training_documents" in outlets


def test_dag_test_builds_one_day(dagbag, airflow_db):
    from llm_lakehouse.sample import generate

    day = date(2026, 10, 14)  # after the spec start_date: earlier runs get no task instances
    manifest = generate(SETTINGS.landing, [day], docs_per_source=4)["days"][day.isoformat()]
    dag = dagbag.dags["corpus_nightly"]
    # A run at logical date L covers the interval that ends at L: the previous day.
    run_at = day + timedelta(days=1)
    run = dag.test(logical_date=pendulum.datetime(run_at.year, run_at.month, run_at.day, 2, tz="UTC"))
    assert run.state == "success"
    assert run.data_interval_start.date() == day
    got = stats(day)
    assert (got["bronze"], got["silver"], got["duplicates"], got["quarantine"]) == (
        manifest["bronze"],
        manifest["silver"],
        manifest["duplicates"],
        manifest["quarantine"],
    )
    assert got["gold_documents"] == got["silver"] and got["gold_tokens"] > 0
