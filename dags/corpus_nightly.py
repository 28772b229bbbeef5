"""The nightly training-corpus build, bronze → silver → gold, declared in pipelines/corpus_nightly.yaml."""

from pathlib import Path

from airflow.sdk import DAG

from llm_lakehouse.airflow.dags import dag_kwargs, day_tasks
from llm_lakehouse.core.spec import load_spec

SPEC = load_spec(Path(__file__).resolve().parents[1] / "pipelines" / "corpus_nightly.yaml")

with DAG(**dag_kwargs(SPEC)) as dag:
    day_tasks(SPEC)
