"""One nightly DAG per domain pipeline under pipelines/domains/: the stages of corpus_nightly, in the domain's own
lakehouse (catalog, warehouse location, reports), owned by the domain."""

from pathlib import Path

from airflow.sdk import DAG

from llm_lakehouse.airflow.dags import dag_kwargs, day_tasks
from llm_lakehouse.core.spec import load_spec

for path in sorted((Path(__file__).resolve().parents[1] / "pipelines" / "domains").glob("*.yaml")):
    spec = load_spec(path)
    with DAG(**dag_kwargs(spec)) as dag:
        day_tasks(spec)
    globals()[spec.name] = dag
