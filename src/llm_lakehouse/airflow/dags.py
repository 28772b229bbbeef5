"""Builds the nightly DAG's tasks from a spec; imported by ``dags/`` in the Airflow env only.

Each layer is one ``SparkSubmitOperator`` on the ``spark_default`` connection (``local[*]`` by default, a
cluster master or ``k8s://`` by changing the connection alone), in a one-slot pool so Spark tasks never
write the embedded catalog at the same time. A stage the spec marks ``gpu: true`` goes to the Celery queue
``gpu`` (GPU workers) with the GPU Spark conf; every other to ``default``. The logical day processed is the start of the run's data
interval: the run that fires at 02:00 UTC on day D+1 builds day D.
"""

from __future__ import annotations

import shlex
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import Asset, CronDataIntervalTimetable, CronTriggerTimetable, Param
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from llm_lakehouse.airflow.reports import CorpusReportLink
from llm_lakehouse.core.errors import EmptyDayFailed
from llm_lakehouse.core.governance import airflow_role
from llm_lakehouse.core.reports import blocked_message
from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec, load_spec
from llm_lakehouse.core.stages import DAY_STAGES, MAINTENANCE, STAGES
from llm_lakehouse.core.tables import GOLD_CHUNKS, TABLES
from llm_lakehouse.spark.submit import application, application_args, settle_empty_day

DAY = "{{ data_interval_start | ds }}"
RUN_ID = "{{ run_id }}"
# Celery queues (docker-compose.yml and the Helm chart run a worker on each); LocalExecutor ignores them.
DEFAULT_QUEUE = "default"
GPU_QUEUE = "gpu"
# DAG param: publish a day whose only failed quality checks are warning-level ones (this run only).
ACCEPT_WARNINGS = "accept_quality_warnings"


class LakehouseSparkSubmitOperator(SparkSubmitOperator):
    """spark-submit of a layer job; a day with nothing to process is settled without Spark. When the job's
    quality gate blocked the day, the task fails with the gate's own message (each failed expectation and its
    observed value) and is not retried: the same input would fail the same checks. Any other failure is
    retried as usual. Each task links to the day's corpus report."""

    operator_extra_links = (CorpusReportLink(),)

    def execute(self, context: Any) -> None:
        started = time.time()
        try:
            if not self._settled_without_spark():
                super().execute(context)
        except AirflowException as exc:
            message = blocked_message(self._settings(), context["run_id"], self.task_id, started)
            if message:
                raise AirflowFailException(message) from exc
            raise

    def _args(self) -> list[str]:
        return [str(a) for a in self.application_args or []]

    def _settings(self) -> Settings:
        """The lakehouse this task's spec builds: its domain's, for a domain pipeline."""
        args = self._args()
        settings = Settings.from_env()
        return settings.for_spec(load_spec(args[args.index("--spec") + 1])) if "--spec" in args else settings

    def _settled_without_spark(self) -> bool:
        """A day nothing landed for is settled without starting Spark when its tables hold nothing either
        (``spark/empty_day.py``: same lease, gate on zero rows, audit, lineage); a day with files goes
        straight to spark-submit."""
        args = self._args()
        if self.task_id not in DAY_STAGES or "--spec" not in args or "--date" not in args:
            return False  # not a layer job of a day
        spec = load_spec(args[args.index("--spec") + 1])
        settings = Settings.from_env().for_spec(spec)
        day = date.fromisoformat(args[args.index("--date") + 1])
        try:
            settled, output = settle_empty_day(settings, spec, self.task_id, day, args)
        except EmptyDayFailed as exc:
            self.log.info("%s", exc.output)
            raise AirflowException(str(exc)) from exc
        self.log.info("%s", output)
        if settled:
            self.log.info("%s of %s: nothing to process, settled without Spark", self.task_id, day)
        return settled


def asset(settings: Settings, ident: str) -> Asset:
    # Maps to DataHub's urn:li:dataset:(urn:li:dataPlatform:iceberg,<catalog>.<layer>.<table>,PROD).
    return Asset(f"iceberg://{settings.catalog.name}.{ident}")


def dag_kwargs(spec: PipelineSpec) -> dict[str, Any]:
    return {
        "dag_id": spec.name,
        "description": spec.description,
        "schedule": CronDataIntervalTimetable(spec.schedule, timezone="UTC"),
        "start_date": pendulum.datetime(
            spec.start_date.year, spec.start_date.month, spec.start_date.day, tz="UTC"
        ),
        "catchup": False,
        "max_active_runs": spec.max_active_runs,
        "tags": [*spec.tags, "llm-lakehouse"],
        "doc_md": doc_md(spec),
        "params": {
            ACCEPT_WARNINGS: Param(
                False,
                type="boolean",
                title="Accept quality warnings",
                description="Publish days whose only failed quality checks are warning-level ones "
                "(this run only). Blocking checks can't be skipped: change the spec.",
            )
        },
        "default_args": default_args(spec),
        "access_control": access_control(spec),
    }


# What a domain's Airflow role may do on its own DAGs: see and trigger them, clear and mark their runs.
DOMAIN_PERMISSIONS = {"DAGs": {"can_read", "can_edit"}, "DAG Runs": {"can_read", "can_create", "can_edit"}}


def access_control(spec: PipelineSpec) -> dict[str, dict[str, set[str]]]:
    """DAG-level access from the spec: only the owning domain's role (besides Admin) sees and triggers its DAGs
    (``governance.airflow_role``). The FAB auth manager syncs it to the role when it parses the DAG; the role
    must exist (``airflow roles create $(lakehouse governance roles)``). The simple auth manager of `make run`
    has no per-DAG roles and ignores it."""
    return {airflow_role(spec): {k: set(v) for k, v in DOMAIN_PERMISSIONS.items()}}


def default_args(spec: PipelineSpec) -> dict[str, Any]:
    """Owner and retries of every task of the spec's DAGs."""
    return {
        "owner": spec.owner,
        "retries": spec.retries,
        "retry_delay": timedelta(minutes=spec.retry_delay_minutes),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    }


def submit_kwargs(spec: PipelineSpec, settings: Settings) -> dict[str, Any]:
    """What every spark-submit task of the spec shares: connection, jars, memory, environment, pool."""
    return {
        "conn_id": "spark_default",
        "jars": ",".join(str(j) for j in settings.jars()),
        "driver_memory": spec.spark.driver_memory,
        "executor_memory": spec.spark.executor_memory,
        "env_vars": settings.spark_env(),
        "pool": spec.spark.pool,
    }


def queue(spec: PipelineSpec, stage: str) -> str:
    return GPU_QUEUE if spec.spark.wants_gpu(stage) else DEFAULT_QUEUE


def day_tasks(spec: PipelineSpec, settings: Settings | None = None) -> list[SparkSubmitOperator]:
    """One task per stage of a day, chained in build order."""
    tasks = [spark_task(spec, stage, settings) for stage in DAY_STAGES]
    for upstream, downstream in zip(tasks, tasks[1:], strict=False):
        upstream >> downstream
    return tasks


def spark_task(spec: PipelineSpec, stage: str, settings: Settings | None = None) -> SparkSubmitOperator:
    settings = (settings or Settings.from_env()).for_spec(spec)
    declared = STAGES[stage]
    gpu = spec.spark.wants_gpu(stage)
    return LakehouseSparkSubmitOperator(
        task_id=stage,
        application=application(stage),
        application_args=application_args(
            spec,
            DAY,
            RUN_ID,
            ["--accept-warnings", f"{{{{ params.{ACCEPT_WARNINGS} }}}}", "--attempt", "{{ ti.try_number }}"],
        ),
        name=f"{spec.name}.{stage}",
        # conf is a templated field, shown as the task's Rendered Template: submit_conf holds no secret.
        conf=spec.spark.conf | settings.submit_conf() | (settings.spark.gpu_conf if gpu else {}),
        queue=queue(spec, stage),
        depends_on_past=declared.depends_on_past,
        outlets=[asset(settings, t) for t in declared.outputs],
        # The tables it reads: the DataHub plugin rewrites a task's inputs from its inlets.
        inlets=[asset(settings, t) for t in declared.inputs(spec) if t in TABLES],
        doc_md=f"Runs `spark_jobs/{declared.entry_point}` for the run's logical day: {declared.summary}; "
        f"writes {', '.join(declared.outputs)}.",
        **submit_kwargs(spec, settings),
    )


MAINTENANCE_DAG_ID = "lakehouse_maintenance"
# The day a maintenance run files its ops.run_audit rows under: the day it runs (a trigger timetable has no
# data interval to speak of, and a manual run may have no logical date at all).
RUN_DAY = "{{ dag_run.run_after | ds }}"


def maintenance_dag_kwargs(spec: PipelineSpec) -> dict[str, Any]:
    m = spec.maintenance
    return side_dag_kwargs(
        spec,
        MAINTENANCE_DAG_ID,
        f"Iceberg table maintenance of {spec.name}'s lakehouse tables.",
        # Fires at the cron time itself: nothing to build for an interval, only tables to tidy.
        CronTriggerTimetable(m.schedule, timezone="UTC"),
        "maintenance",
        f"""### {MAINTENANCE_DAG_ID}
Iceberg maintenance of every lakehouse table, from `{spec.path}` (`maintenance:`): compact small data files
(target {m.target_file_size_mb} MB), rewrite manifests, expire snapshots older than
{m.snapshot_retention_days:g} days (main's last {m.retain_last} stay; dataset tags and write-audit-publish
branches keep theirs), remove orphan files older than {m.orphan_min_age_hours:g} hours. Files and bytes removed
per table: `ops.run_audit`, job `maintenance`, the run's day. Same as `lakehouse maintain`.
""",
    )


def side_dag_kwargs(
    spec: PipelineSpec, dag_id: str, description: str, schedule: Any, tag: str, doc: str
) -> dict[str, Any]:
    """A DAG beside the nightly one: one run at a time, no catchup, the spec's owner, retries and tags."""
    return {
        "dag_id": dag_id,
        "description": description,
        "schedule": schedule,
        "start_date": pendulum.datetime(
            spec.start_date.year, spec.start_date.month, spec.start_date.day, tz="UTC"
        ),
        "catchup": False,
        "max_active_runs": 1,
        "tags": [*spec.tags, "llm-lakehouse", tag],
        "doc_md": doc,
        "default_args": default_args(spec),
        "access_control": access_control(spec),
    }


def maintenance_task(spec: PipelineSpec, settings: Settings | None = None) -> SparkSubmitOperator:
    """spark-submit of ``spark_jobs/table_maintenance.py``; in the Spark pool, so it never runs beside a
    layer job on the embedded catalog. No outlets: it only deletes days past their retention, and a compaction's
    rewritten files would make every asset consumer (the serving index) re-read unchanged rows."""
    settings = (settings or Settings.from_env()).for_spec(spec)
    return SparkSubmitOperator(
        # One task per lakehouse: the platform's, then each domain pipeline's own.
        task_id=f"{MAINTENANCE.name}_{spec.domain}" if spec.domain else MAINTENANCE.name,
        application=application(MAINTENANCE.name),
        application_args=application_args(spec, RUN_DAY, RUN_ID),
        name=f"{spec.name}.maintenance",
        conf=spec.spark.conf | settings.submit_conf(),
        queue=DEFAULT_QUEUE,
        doc_md=f"Runs `spark_jobs/{MAINTENANCE.entry_point}`: {MAINTENANCE.summary}.",
        **submit_kwargs(spec, settings),
    )


RAG_INDEX_DAG_ID = "rag_index"


def rag_index_dag_kwargs(spec: PipelineSpec, settings: Settings | None = None) -> dict[str, Any]:
    """The serving index's DAG: scheduled on ``gold.chunk_embeddings``, so it runs after every gold task that
    changed it (nightly runs, backfills, reruns), and only then. One run at a time (the index also takes a
    file lock); a sync reads every change since the last."""
    settings = settings or Settings.from_env()
    return side_dag_kwargs(
        spec,
        RAG_INDEX_DAG_ID,
        "Keeps the RAG serving index in step with gold.chunk_embeddings (snapshot diffs).",
        [asset(settings, GOLD_CHUNKS.ident)],
        "rag",
        f"""### {RAG_INDEX_DAG_ID}
Runs `lakehouse index sync` whenever a task publishes `{GOLD_CHUNKS.ident}`: the LanceDB serving index under
`$LAKEHOUSE_HOME/serving/rag_index` reads only the data files that changed since the snapshot it mirrors
(a rebuilt day's files leave, new ones arrive). `lakehouse search` answers from it.
""",
    )


def rag_index_task(spec: PipelineSpec, settings: Settings | None = None) -> BashOperator:
    """``lakehouse index sync`` from the jobs env (pyiceberg and LanceDB live there, not in Airflow's)."""
    return _cli_task(
        settings,
        "sync",
        "index sync --json",
        "Brings the serving index to the published snapshot of gold.chunk_embeddings.",
    )


def _cli_task(settings: Settings | None, task_id: str, args: str, doc: str) -> BashOperator:
    """A ``lakehouse`` command of the jobs env as a task on the default queue."""
    settings = settings or Settings.from_env()
    cli = Path(settings.spark.python).parent / "lakehouse"
    return BashOperator(
        task_id=task_id,
        bash_command=f"{shlex.quote(str(cli))} {args}",
        # The child sees the same lakehouse; secrets come from the worker's own environment (append_env).
        env=settings.spark_env(),
        append_env=True,
        queue=DEFAULT_QUEUE,
        doc_md=doc,
    )


RAG_FRESHNESS_DAG_ID = "rag_freshness"


def rag_freshness_dag_kwargs(spec: PipelineSpec) -> dict[str, Any]:
    """The freshness check of the streaming path, every ``stream.freshness_check_minutes``."""
    minutes = spec.stream.freshness_check_minutes
    kwargs = side_dag_kwargs(
        spec,
        RAG_FRESHNESS_DAG_ID,
        "Fails (and alerts) when landed data waits longer than the spec's freshness SLO for the stream.",
        timedelta(minutes=minutes),
        "rag",
        f"""### {RAG_FRESHNESS_DAG_ID}
Every {minutes} minute(s), `lakehouse stream status --check`: the lag is how long the oldest landed file that no
committed micro-batch of the stream has taken yet has been waiting (read from the stream's checkpoint, so a
stream that died or hangs shows it). Over `stream.freshness_slo_seconds` ({spec.stream.freshness_slo_seconds:g} s)
the task fails, with no retry: the failed task is the alert (Airflow's failure notifications and callbacks).
""",
    )
    # A retry would hold the alert back by the retry delay; the next scheduled check comes soon anyway.
    kwargs["default_args"] = kwargs["default_args"] | {"retries": 0}
    return kwargs


def rag_freshness_task(spec: PipelineSpec, settings: Settings | None = None) -> BashOperator:
    """``lakehouse stream status --check`` from the jobs env: exit 1 (the task fails) over the SLO."""
    return _cli_task(
        settings,
        "check_lag",
        f"stream status --check --json --spec {shlex.quote(str(spec.path))}",
        "Fails when the stream's lag is over the spec's freshness SLO.",
    )


def doc_md(spec: PipelineSpec) -> str:
    sources = "\n".join(f"- `{s.name}` ({s.format}) {s.description}" for s in spec.sources)
    pipes = " → ".join(p.pipe for p in spec.silver.pipes)
    return f"""### {spec.name}
{spec.description}

Built from `{spec.path}` (spec digest `{spec.digest()}`); owners: {", ".join(spec.owners)}.

Each run builds the day of its data interval's start: landing `<landing>/<day>/<source>/` →
`bronze.documents` → `silver.documents` (+ `silver.quarantine`) → `gold.training_documents`.
Every write replaces exactly that day, so reruns and backfills (Trigger → Backfill) are idempotent.
Each job writes to an Iceberg branch and publishes to `main` only when the spec's quality checks pass
(write-audit-publish); a blocked day fails its task with the failed checks, and main keeps its snapshot.
Trigger with `{ACCEPT_WARNINGS}: true` to publish a day whose only failures are warning-level ones.
`silver` depends on the previous run (dedup against history needs day order): in a backfill choose
**Missing and Errored Runs** or **All Runs**. A manual run at logical date L builds the day before L.

**Sources**

{sources}

**Silver pipes**: {pipes}; exact dedup ({spec.dedup.scope}).
**Gold tokenizer**: `{spec.gold.tokenizer.name}`.
"""
