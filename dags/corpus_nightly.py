"""The nightly training-corpus build, bronze → silver → gold, declared in pipelines/corpus_nightly.yaml."""

from pathlib import Path

from airflow.sdk import DAG

from llm_lakehouse.airflow_dag import dag_kwargs, spark_task
from llm_lakehouse.spec import load_spec

SPEC = load_spec(Path(__file__).resolve().parents[1] / "pipelines" / "corpus_nightly.yaml")

with DAG(**dag_kwargs(SPEC)) as dag:
    spark_task(SPEC, "bronze") >> spark_task(SPEC, "silver") >> spark_task(SPEC, "gold")
