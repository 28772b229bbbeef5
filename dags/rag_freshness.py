"""The streaming path's freshness SLO, checked every few minutes (fails, and so alerts, when it is missed)."""

from pathlib import Path

from airflow.sdk import DAG

from llm_lakehouse.airflow.dags import rag_freshness_dag_kwargs, rag_freshness_task
from llm_lakehouse.core.spec import load_spec

SPEC = load_spec(Path(__file__).resolve().parents[1] / "pipelines" / "corpus_nightly.yaml")

with DAG(**rag_freshness_dag_kwargs(SPEC)) as dag:
    rag_freshness_task(SPEC)
