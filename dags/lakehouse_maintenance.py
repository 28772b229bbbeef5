"""Daily Iceberg table maintenance of every lakehouse: the platform's (pipelines/corpus_nightly.yaml's
`maintenance:`) and each domain pipeline's under pipelines/domains/."""

from pathlib import Path

from airflow.sdk import DAG

from llm_lakehouse.airflow.dags import maintenance_dag_kwargs, maintenance_task
from llm_lakehouse.core.spec import load_spec

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
SPEC = load_spec(PIPELINES / "corpus_nightly.yaml")

with DAG(**maintenance_dag_kwargs(SPEC)) as dag:
    maintenance_task(SPEC)
    for path in sorted((PIPELINES / "domains").glob("*.yaml")):
        maintenance_task(load_spec(path))
