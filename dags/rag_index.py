"""The RAG serving index, synced after every change to gold.chunk_embeddings (an Asset-scheduled DAG)."""

from pathlib import Path

from airflow.sdk import DAG

from llm_lakehouse.airflow.dags import rag_index_dag_kwargs, rag_index_task
from llm_lakehouse.core.spec import load_spec

SPEC = load_spec(Path(__file__).resolve().parents[1] / "pipelines" / "corpus_nightly.yaml")

with DAG(**rag_index_dag_kwargs(SPEC)) as dag:
    rag_index_task(SPEC)
