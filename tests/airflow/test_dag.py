"""The DAG file: imports cleanly and lightly, is wired from the spec, and runs end to end with dag.test()."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import date, timedelta

import pendulum
import pytest
from conftest import SETTINGS, stats

from llm_lakehouse.core.reports import report_path
from llm_lakehouse.core.settings import REPO_ROOT
from llm_lakehouse.core.spec import load_spec

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
        assert task.conf[f"spark.sql.catalog.{SETTINGS.catalog.name}.uri"].startswith("jdbc:sqlite:")
        assert SPEC.spark.conf and SPEC.spark.conf.items() <= task.conf.items()  # the spec's Spark properties
        assert all(str(j).endswith(".jar") for j in task.jars.split(","))
    assert dag.get_task("silver").depends_on_past and not dag.get_task("bronze").depends_on_past
    # The spec wants a GPU for gold (tokens + embeddings): the gpu Celery queue; the rest the default one.
    assert [dag.get_task(t).queue for t in ("bronze", "silver", "gold")] == ["default", "default", "gpu"]
    assert dag.params["accept_quality_warnings"] is False
    # Every Spark task links to its day's corpus report, computed from the run's data interval.
    from llm_lakehouse.airflow.reports import CorpusReportLink

    class Ti:  # what the link reads on the worker: the task's template context
        def get_template_context(self):
            return {"data_interval_start": pendulum.datetime(2026, 11, 1, tz="UTC"), "logical_date": None}

    for task in dag.tasks:
        assert [link.name for link in task.operator_extra_links] == ["Corpus report"]
    link = CorpusReportLink().get_link(dag.get_task("gold"), ti_key=Ti())
    assert link == "/lakehouse-reports/2026-11-01/index.html"
    # Airflow normalizes the URI with a trailing slash.
    outlets = {o.uri.rstrip("/") for t in dag.tasks for o in t.outlets}
    assert "iceberg://lakehouse.gold.training_documents" in outlets


def test_maintenance_dag_is_one_spark_task_from_the_spec(dagbag):
    from types import SimpleNamespace

    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    dag = dagbag.dags["lakehouse_maintenance"]
    # The platform's lakehouse, then each domain pipeline's own.
    assert sorted(t.task_id for t in dag.tasks) == ["maintenance", "maintenance_docs", "maintenance_support"]
    assert "LAKEHOUSE_DOMAIN" not in dag.get_task("maintenance").env_vars
    assert dag.get_task("maintenance_support").env_vars["LAKEHOUSE_DOMAIN"] == "support"
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"
    assert dag.timetable.expression == SPEC.maintenance.schedule == "0 4 * * *"
    assert dag.catchup is False and dag.max_active_runs == 1 and "maintenance" in dag.tags
    task = dag.get_task("maintenance")
    assert isinstance(task, SparkSubmitOperator) and task.application.endswith(
        "spark_jobs/table_maintenance.py"
    )
    # The Spark pool: never beside a layer job on the embedded catalog. No outlets: it changes no row.
    assert task.pool == SPEC.spark.pool and task.outlets == [] and task.retries == SPEC.retries
    # Its audit day is the day it runs, also for a manual run without a logical date.
    day = task.application_args[task.application_args.index("--date") + 1]
    run_after = pendulum.datetime(2026, 10, 15, 4, tz="UTC")
    assert task.render_template(day, {"dag_run": SimpleNamespace(run_after=run_after)}) == "2026-10-15"


def test_each_domain_pipeline_is_its_own_dag_in_its_own_lakehouse(dagbag):
    """pipelines/domains/*.yaml: one DAG each, owned by the domain, writing the domain's catalog (its assets, its
    Spark catalog, LAKEHOUSE_DOMAIN for the job), never the platform's tables."""
    for name, domain in (("support_corpus", "support"), ("docs_corpus", "docs")):
        dag = dagbag.dags[name]
        assert [t.task_id for t in dag.topological_sort()] == ["bronze", "silver", "gold"]
        catalog = f"{SETTINGS.catalog.name}_{domain}"
        for task in dag.tasks:
            assert task.owner == f"{domain}-data@example.com"
            assert task.env_vars["LAKEHOUSE_DOMAIN"] == domain
            assert task.conf["spark.sql.defaultCatalog"] == catalog
            assert task.application_args[task.application_args.index("--spec") + 1].endswith(
                f"domains/{domain}.yaml"
            )
            assert {o.uri.rstrip("/").split(".", 1)[0] for o in task.outlets} == {f"iceberg://{catalog}"}
    # Only the owning domain's Airflow role sees and triggers a DAG (the FAB auth manager enforces it).
    roles = {dag_id: set(dag.access_control or {}) for dag_id, dag in dagbag.dags.items()}
    assert roles["support_corpus"] == {"support_domain"} and roles["docs_corpus"] == {"docs_domain"}
    assert all(r == {"platform"} for d, r in roles.items() if d not in ("support_corpus", "docs_corpus")), (
        roles
    )
    assert dagbag.dags["support_corpus"].access_control["support_domain"]["DAG Runs"] >= {"can_create"}


def test_dag_test_builds_one_day(dagbag, airflow_db):
    from llm_lakehouse.devtools.sample import generate

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
    check_lineage_store(got, run.run_id)
    # The gold job wrote the day's corpus report (its link is checked on a running standalone, test_e2e.py).
    page = SETTINGS.home / "reports" / day.isoformat() / "index.html"
    assert page.exists() and f"corpus of {day.isoformat()}" in page.read_text()


def test_the_rag_index_dag_runs_on_gold_and_syncs_the_index(dagbag, airflow_db):
    from airflow.providers.standard.operators.bash import BashOperator

    dag = dagbag.dags["rag_index"]
    assert [a.uri.rstrip("/") for a in dag.timetable.asset_condition.objects] == [
        "iceberg://lakehouse.gold.chunk_embeddings"
    ]
    task = dag.get_task("sync")
    assert isinstance(task, BashOperator) and task.bash_command.endswith("lakehouse index sync --json")
    assert task.env["LAKEHOUSE_HOME"] == str(SETTINGS.home) and dag.max_active_runs == 1
    # After test_dag_test_builds_one_day's gold: the index takes the day's chunks, read from their files.
    run = dag.test()
    assert run.state == "success"
    state = json.loads((SETTINGS.home / "serving" / "rag_index" / "state.json").read_text())
    assert state["snapshot_id"] and state["pending"] == []
    assert sum(state["files"].values()) == stats(date(2026, 10, 14))["gold_chunks"] > 0


def test_the_rag_freshness_dag_fails_when_landed_data_waits_past_the_slo(dagbag, airflow_db):
    from airflow.providers.standard.operators.bash import BashOperator

    dag = dagbag.dags["rag_freshness"]
    task = dag.get_task("check_lag")
    assert isinstance(task, BashOperator) and " stream status --check " in task.bash_command
    assert task.retries == 0 and dag.max_active_runs == 1
    # No stream has taken the days the nightly DAG built: one file aged past the SLO is the missed freshness.
    landed = sorted(
        p for p in SETTINGS.landing.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))
    )
    assert landed
    old = time.time() - 3600
    os.utime(landed[0], (old, old))
    assert dag.test().state == "failed"


def test_a_blocked_quality_gate_fails_the_task_once_without_retries(dagbag, airflow_db):
    """A day that is mostly junk: silver's quarantine_share (a warning-level rule) blocks the publish."""
    from llm_lakehouse.devtools.sample import generate

    day = date(2026, 10, 15)  # the day after test_dag_test_builds_one_day's: silver depends on the past
    generate(SETTINGS.landing, [day], docs_per_source=4, seed=11)  # seed 7 would repeat 10-14: all duplicates
    feed = next((SETTINGS.landing / day.isoformat() / "web").glob("*.jsonl"))
    with feed.open("a") as fh:
        fh.writelines(f'{{"id": "junk-{i}", "text": }}\n' for i in range(80))
    dag = dagbag.dags["corpus_nightly"]
    run_at = pendulum.datetime(2026, 10, 16, 2, tz="UTC")
    run = dag.test(logical_date=run_at)
    assert run.state == "failed"
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    # AirflowFailException: failed at the first try, its two retries not used; gold never ran.
    assert (tis["bronze"].state, tis["silver"].state, tis["gold"].state) == (
        "success",
        "failed",
        "upstream_failed",
    )
    assert tis["silver"].try_number == 1
    report = json.loads(report_path(SETTINGS, run.run_id, "silver").read_text())
    assert report["outcome"] == "blocked" and report["failed"] == ["quarantine_share"]
    assert "quarantine_share [warning] FAILED" in report["message"]
    assert stats(day)["silver"] == 0 and stats(day)["bronze"] > 100  # bronze published, silver not
    # DataHub: the jobs' run instances say so too (silver FAILURE, with the error's type only).
    events = journal()
    props = dict(run_instances(events, run.run_id))
    outcome = {
        props[e["entityUrn"]]["task_id"]: e["aspect"]["json"]["result"]["type"]
        for e in events
        if e["aspectName"] == "dataProcessInstanceRunEvent"
        and e["entityUrn"] in props
        and "result" in e["aspect"]["json"]
    }
    assert outcome == {"bronze": "SUCCESS", "silver": "FAILURE"}
    silver = next(p for p in props.values() if p["task_id"] == "silver")
    assert silver["error"] == "QualityGateFailed"

    # The DAG param reaches the job's command line (the job side of accepting: tests/jobs/test_quality_gate.py).
    args = dag.get_task("silver").application_args
    flag = args[args.index("--accept-warnings") + 1]
    assert flag == "{{ params.accept_quality_warnings }}"


def test_the_accept_warnings_flag_parses_what_airflow_renders():
    from llm_lakehouse.spark.runner import parse_args

    base = ["--spec", "x.yaml", "--date", "2026-10-15", "--run-id", "r"]
    assert parse_args([*base, "--accept-warnings", "True"]).accept_warnings is True
    assert parse_args([*base, "--accept-warnings", "False"]).accept_warnings is False
    assert parse_args([*base, "--accept-warnings"]).accept_warnings is True
    assert parse_args(base).accept_warnings is False


def journal() -> list[dict]:
    """The jobs' DataHub events as stored (the journal every sink appends to)."""
    lines = (SETTINGS.home / "datahub" / "journal.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def run_instances(events: list[dict], run_id: str) -> list[tuple[str, dict]]:
    """(run instance URN, its custom properties) per properties event of one Airflow run, as stored."""
    return [
        (e["entityUrn"], e["aspect"]["json"]["customProperties"])
        for e in events
        if e["aspectName"] == "dataProcessInstanceProperties"
        and e["aspect"]["json"]["customProperties"].get("run_id") == run_id
    ]


def check_lineage_store(got: dict, run_id: str) -> None:
    """What the jobs recorded for DataHub (file sink, read back as stored, not from the emitter)."""
    from llm_lakehouse.datahub import mcps, model
    from llm_lakehouse.datahub.config import LineageConfig

    events = journal()
    aspects = {(e["entityUrn"], e["aspectName"]): e["aspect"]["json"] for e in events}
    cfg = LineageConfig.from_env(SETTINGS)

    def urn(ident: str) -> str:
        return f"urn:li:dataset:(urn:li:dataPlatform:iceberg,{SETTINGS.catalog.name}.{ident},PROD)"

    for table in model.spec_tables(SPEC):
        fields = [f["fieldPath"] for f in aspects[(urn(table.ident), "schemaMetadata")]["fields"]]
        assert fields == table.column_names, table.ident
    gold = aspects[(urn("gold.training_documents"), "upstreamLineage")]["fineGrainedLineages"]
    assert any("silver.documents,PROD),text)" in u for fg in gold for u in fg["upstreams"])
    assert aspects[(urn("silver.documents"), "globalTags")]["tags"] == [{"tag": "urn:li:tag:pii"}]
    runs = {
        v["customProperties"]["task_id"]: v["customProperties"]
        for (_, name), v in aspects.items()
        if name == "dataProcessInstanceProperties"
    }
    assert set(runs) >= {"bronze", "silver", "gold"}
    assert runs["silver"]["silver"] == str(got["silver"]) and runs["gold"]["gold_tokens"] == str(
        got["gold_tokens"]
    )
    # Every column-level edge the spec implies (landing → bronze → silver → gold).
    stored = {
        (u, d)
        for (_, name), v in aspects.items()
        if name == "upstreamLineage"
        for fg in v.get("fineGrainedLineages", [])
        for u in fg["upstreams"]
        for d in fg["downstreams"]
    }
    implied = {
        (mcps.field_urn(cfg, e.upstream), mcps.field_urn(cfg, e.downstream)) for e in model.column_edges(SPEC)
    }
    assert implied and implied <= stored, sorted(implied - stored)[:5]
    # PII glossary terms on the scrubbed column, one per entity the policy detects.
    text = next(
        f for f in aspects[(urn("silver.documents"), "schemaMetadata")]["fields"] if f["fieldPath"] == "text"
    )
    terms = {t["urn"] for t in text["glossaryTerms"]["terms"]}
    want = {
        f"urn:li:glossaryTerm:PII.{p.entity}"
        for p in model.pii_columns(SPEC)
        if p.table == "silver.documents"
    }
    assert want and terms == want
    # The DAG and its tasks, as the plugin names them.
    flow = mcps.flow_urn(cfg, SPEC)
    assert aspects[(flow, "dataFlowInfo")]["name"] == "corpus_nightly"
    for task in ("bronze", "silver", "gold"):
        assert aspects[(mcps.job_urn(cfg, SPEC, task), "dataJobInfo")]["flowUrn"] == flow
    # One run instance per task of this run, each COMPLETE / SUCCESS.
    mine = run_instances(events, run_id)
    assert sorted(p["task_id"] for _, p in mine) == ["bronze", "gold", "silver"]
    for u, _ in mine:
        done = aspects[(u, "dataProcessInstanceRunEvent")]  # the last event stored for the instance
        assert done["status"] == "COMPLETE" and done["result"]["type"] == "SUCCESS"
    # Each quality rule of the spec ran for this run, as an assertion on its dataset.
    checked = {
        e["aspect"]["json"]["asserteeUrn"]
        for e in events
        if e["aspectName"] == "assertionRunEvent" and e["aspect"]["json"]["runId"] == run_id
    }
    assert checked == {urn(t) for t in SPEC.quality.tables}


def test_gpu_stages_route_to_the_gpu_queue_without_secrets():
    from llm_lakehouse.airflow.dags import spark_task
    from llm_lakehouse.core.settings import Settings
    from llm_lakehouse.core.spec import SparkStage

    spark = SPEC.spark.model_copy(update={"stages": {"gold": SparkStage(gpu=True)}})
    spec = SPEC.model_copy(update={"spark": spark})
    env = {
        "LAKEHOUSE_HOME": str(SETTINGS.home),
        "LAKEHOUSE_CATALOG_URI": "postgresql+psycopg2://lake:s3cret-pw@db:5432/lake",
        "LAKEHOUSE_SPARK_GPU_CONF": '{"spark.executor.resource.gpu.amount": "1"}',
    }
    settings = Settings.from_env(env)
    gold, silver = spark_task(spec, "gold", settings), spark_task(spec, "silver", settings)
    assert (gold.queue, silver.queue) == ("gpu", "default")
    assert gold.conf["spark.executor.resource.gpu.amount"] == "1"
    assert "spark.executor.resource.gpu.amount" not in silver.conf
    # The PostgreSQL password is not in what Airflow renders (conf, env_vars).
    rendered = json.dumps({"conf": gold.conf, "env": gold.env_vars}, default=str)
    assert "s3cret-pw" not in rendered


def test_a_pii_salt_never_reaches_rendered_templates_or_the_serialized_dag(monkeypatch):
    """The salt a hash policy reads (salt_env) lives in the worker's environment only: not in env_vars, not in
    the task's rendered fields, not in what the DAG processor stores."""
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    from llm_lakehouse.airflow.dags import dag_kwargs, day_tasks

    monkeypatch.setenv("LAKEHOUSE_PII_SALT", "salt-SECRET-0123456789")
    monkeypatch.setenv("LAKEHOUSE_SPARK_CONF", '{"spark.hadoop.fs.s3a.secret.key": "conf-SECRET"}')
    with DAG(**dag_kwargs(SPEC)) as dag:
        tasks = day_tasks(SPEC)
    serialized = json.dumps(DagSerialization.to_dict(dag), default=str)
    fields = json.dumps([{f: getattr(t, f, None) for f in t.template_fields} for t in tasks], default=str)
    assert "SECRET" not in serialized and "SECRET" not in fields
    assert all("LAKEHOUSE_HOME" in t.env_vars for t in tasks)
