"""Daily Iceberg table maintenance of the lakehouse, configured by pipelines/corpus_nightly.yaml's `maintenance:`."""

from pathlib import Path

from airflow.sdk import DAG

from llm_lakehouse.airflow.dags import maintenance_dag_kwargs, maintenance_task
from llm_lakehouse.core.spec import load_spec

SPEC = load_spec(Path(__file__).resolve().parents[1] / "pipelines" / "corpus_nightly.yaml")

with DAG(**maintenance_dag_kwargs(SPEC)) as dag:
    maintenance_task(SPEC)
