"""The acryl DataHub Airflow plugin: loaded, writing to the datahub-file connection under
LAKEHOUSE_HOME (conftest), and naming the DAG, its tasks and their assets exactly as the Spark jobs do, so
the plugin's runs and the jobs' schemas, column lineage and counts meet on the same DataHub entities."""

from __future__ import annotations

import json
from pathlib import Path

from airflow.models.dagbag import DagBag
from conftest import SETTINGS

from llm_lakehouse.core.settings import REPO_ROOT
from llm_lakehouse.core.spec import load_spec
from llm_lakehouse.core.stages import STAGES
from llm_lakehouse.datahub import mcps
from llm_lakehouse.datahub.config import LineageConfig


def test_plugin_writes_to_the_lakehouse_file_connection() -> None:
    from datahub.emitter.mcp import MetadataChangeProposalWrapper
    from datahub.emitter.synchronized_file_emitter import SynchronizedFileEmitter
    from datahub.metadata.schema_classes import StatusClass
    from datahub_airflow_plugin._config import get_lineage_config

    cfg = get_lineage_config()
    assert cfg.enabled and cfg.datahub_conn_id == "datahub_file_default" and cfg.cluster == "prod"
    emitter = cfg.make_emitter_hook().make_emitter()
    assert isinstance(emitter, SynchronizedFileEmitter)  # needs acryl-datahub[sync-file-emitter]
    target = LineageConfig.from_env(SETTINGS).airflow_file
    emitter.emit(
        MetadataChangeProposalWrapper(entityUrn="urn:li:tag:probe", aspect=StatusClass(removed=False))
    )
    assert "urn:li:tag:probe" in [r["entityUrn"] for r in json.loads(Path(target).read_text())]


def test_plugin_urns_equal_the_jobs_urns() -> None:
    from datahub_airflow_plugin._airflow_asset_adapter import translate_airflow_asset_to_urn
    from datahub_airflow_plugin._config import get_lineage_config
    from datahub_airflow_plugin.client.airflow_generator import AirflowGenerator

    spec = load_spec(REPO_ROOT / "pipelines" / "corpus_nightly.yaml")
    ours = LineageConfig.from_env(SETTINGS)
    dag = DagBag(str(REPO_ROOT / "dags")).dags[spec.name]
    cfg = get_lineage_config()
    assert str(AirflowGenerator.generate_dataflow(config=cfg, dag=dag).urn) == mcps.flow_urn(ours, spec)
    for task in dag.tasks:
        job = AirflowGenerator.generate_datajob(cfg.cluster, task, dag, config=cfg)
        assert str(job.urn) == mcps.job_urn(ours, spec, task.task_id)
        outlets = sorted(translate_airflow_asset_to_urn(o, env=cfg.cluster) for o in task.outlets)
        assert outlets == sorted(mcps.dataset_urn(ours, t) for t in STAGES[task.task_id].outputs)
        # Inlets too, or the plugin would overwrite the task's inputs with none in a real GMS.
        inlets = sorted(translate_airflow_asset_to_urn(i, env=cfg.cluster) for i in task.inlets)
        tables = [t for t in STAGES[task.task_id].inputs(spec) if not t.startswith("landing")]
        assert inlets == sorted(mcps.dataset_urn(ours, t) for t in tables)
    assert [i.uri.rstrip("/") for i in dag.get_task("gold").inlets] == [
        "iceberg://lakehouse.silver.documents"
    ]
