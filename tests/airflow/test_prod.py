"""End to end on the production topology, run as local processes (``make run-prod``, devtools/prod.py):
PostgreSQL (Airflow's metadata and the Iceberg catalog), Redis, Airflow's CeleryExecutor with a ``default`` and
a ``gpu`` worker, a Spark standalone Master and Worker.

One topology serves the module: a REST backfill of two days runs with no catalog lock and no 503 retry, the
Celery worker running one of its tasks is killed with its whole process group (a lost node), and the tables
equal a serial build of the same days on the embedded SQLite catalog, record by record.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import date, datetime
from pathlib import Path

import psutil
import pytest
from conftest import BASE, lakehouse

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.datahub.airflow_env import plugin_env
from llm_lakehouse.devtools.prod import GPU_QUEUE, Ports, Topology, production_env, ready_dag
from llm_lakehouse.devtools.sample import default_days, generate
from llm_lakehouse.devtools.standalone import DAG_ID

pytestmark = pytest.mark.e2e
PORT = int(os.environ.get("LAKEHOUSE_TEST_PROD_PORT", "18280"))
DAYS = default_days(date(2026, 9, 1), 2)  # two days are enough to run side by side
HOME = BASE / "prod"
WORKER = "airflow-worker-default"
# Tables compared with the serial build, less the columns that name the run that wrote a row.
COMPARED = (
    "bronze.documents",
    "silver.documents",
    "silver.quarantine",
    "silver.dedup_index",
    "ops.pii_audit",
    "gold.training_documents",
    "gold.chunk_embeddings",
)
RUN_COLUMNS = {"run_id", "processed_at"}


@pytest.fixture(scope="module")
def prod():
    # PostgreSQL runs as the postgres user, which must reach its folder under the session's private BASE.
    BASE.chmod(0o711)
    home = HOME / "lakehouse"
    manifest = generate(home / "landing", DAYS, docs_per_source=6)
    topology = Topology(
        home,
        Ports.from_base(PORT),
        # A lost worker's task is failed (and retried) after 30 s without a heartbeat, not 5 minutes.
        overrides={
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        },
    )
    prod_env = production_env(topology.ports, topology.secrets(), home)
    # The plugin and the jobs' lineage go to this home's DataHub file sink, as in the other e2e module.
    outside = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__DATAHUB__", "AIRFLOW_CONN_DATAHUB"))
    }
    env = {"LAKEHOUSE_HOME": str(home)} | plugin_env(
        Settings.from_env(outside | prod_env), outside | prod_env
    )
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        started = time.monotonic()
        took = topology.up()
        af = ready_dag(topology, pool_slots=2)
        print(f"production topology up in {time.monotonic() - started:.0f} s: {took}")
        yield topology, af, manifest, prod_env
    finally:
        topology.down()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Placement(threading.Thread):
    """Polls the runs' task instances while they run and records, for each try, the topology service whose
    process the task's process descends from (each service's leader, as started) and that leader's pid."""

    def __init__(self, topology: Topology, run_ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.topology, self.run_ids = topology, run_ids
        self.names = [s.name for s in topology.services()]
        self.seen: dict[tuple[str, str, int], tuple[str, int]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        af = self.topology.client()
        while not self.stop.is_set():
            groups = {name: pgid for name in self.names if (pgid := self.topology.pid(name))}
            for run_id in self.run_ids:
                tis = af.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
                for ti in tis:
                    if ti["state"] != "running" or not ti.get("pid"):
                        continue
                    try:
                        task = psutil.Process(ti["pid"])
                        lineage = {task.pid, *(p.pid for p in task.parents())}
                    except psutil.Error:
                        continue
                    owner = next(((n, g) for n, g in groups.items() if g in lineage), ("none", 0))
                    self.seen.setdefault((run_id, ti["task_id"], ti["try_number"]), owner)
            time.sleep(1)


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:  # gone, or a zombie the JVM has not reaped yet: not the driver
        return ""


def spark_driver_running(run_id: str, stage: str) -> bool:
    """Whether ``stage`` of ``run_id`` has a Spark driver with its Python side started (its job is underway).
    Each child is looked at on its own: the JVM often has a short-lived child it has not reaped yet, whose
    cmdline raises, and that must not hide the Python driver beside it."""
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "org.apache.spark.deploy.SparkSubmit" in cmd and run_id in cmd and f"{DAG_ID}.{stage}" in cmd:
            try:
                children = proc.children()
            except psutil.Error:
                continue
            if any("spark_jobs" in _cmdline(c) for c in children):
                return True
    return False


def rows(table: str, day: date, env: dict[str, str], out: Path) -> list[str]:
    lakehouse("export", table, "--date", day.isoformat(), "--out", str(out), env=env)
    records = [json.loads(ln) for ln in out.read_text().splitlines() if ln.strip()]
    return sorted(
        json.dumps({k: v for k, v in r.items() if k not in RUN_COLUMNS}, sort_keys=True) for r in records
    )


def test_a_rest_backfill_on_postgres_and_celery_builds_days_in_parallel_though_a_worker_is_killed(
    prod, tmp_path
):
    """Two days through a REST backfill: no 503 retry (PostgreSQL), no catalog lock, days side by side where
    depends_on_past allows, gold on the gpu queue's worker. The worker running the second day's silver task is
    killed with its whole process group mid-run: the scheduler fails the task after its heartbeat timeout,
    Airflow retries it on the replacement worker, and each day ends built once, equal to a serial build."""
    topology, af, manifest, prod_env = prod
    assert Settings.from_env(os.environ | prod_env).catalog.kind == "jdbc"  # no catalog lock on this path
    af.backfill(DAYS[0], DAYS[-1], reprocess="completed")
    runs = {r["data_interval_start"][:10]: r["dag_run_id"] for r in af.runs_for(DAYS[0], DAYS[-1])}
    assert sorted(runs) == [d.isoformat() for d in DAYS]
    watcher = Placement(topology, list(runs.values()))
    watcher.start()
    second = runs[DAYS[1].isoformat()]
    deadline = time.monotonic() + 900
    while not spark_driver_running(second, "silver"):
        assert time.monotonic() < deadline, "no silver driver of the second day"
        time.sleep(1)
    time.sleep(5)
    silver = f"/api/v2/dags/{DAG_ID}/dagRuns/{second}/taskInstances/silver"
    killed_try = af.api("GET", silver)["try_number"]
    killed_group = topology.pid(WORKER)
    topology.stop(WORKER, signal.SIGKILL, timeout=10)
    replacement = next(s for s in topology.services() if s.name == WORKER)
    topology.start(replacement)
    try:
        states = af.wait_runs(list(runs.values()), timeout=1500)
    finally:
        watcher.stop.set()
        watcher.join()
    assert set(states.values()) == {"success"}, states
    assert af.locked_retries == 0
    retried = af.api("GET", silver)
    assert retried["try_number"] == killed_try + 1 and retried["state"] == "success"

    # Where each try ran: gold on the gpu worker; the killed try on the lost worker, its retry elsewhere.
    tis = {
        (run_id, ti["task_id"]): ti
        for run_id in runs.values()
        for ti in af.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
    }
    for (run_id, task), ti in tis.items():
        assert ti["queue"] == (GPU_QUEUE if task == "gold" else "default"), (run_id, task)
    placed = watcher.seen
    gold = [v for (_, task, _), v in placed.items() if task == "gold"]
    assert gold and {owner for owner, _ in gold} == {"airflow-worker-gpu"}, placed
    assert placed[(second, "silver", killed_try)] == (WORKER, killed_group), placed
    owner, group = placed[(second, "silver", killed_try + 1)]
    assert owner == WORKER and group != killed_group, placed
    # Days side by side: some task of one day ran while a task of another did.
    spans = [
        (run_id, datetime.fromisoformat(ti["start_date"]), datetime.fromisoformat(ti["end_date"]))
        for (run_id, _), ti in tis.items()
        if ti["start_date"] and ti["end_date"]
    ]
    assert any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in spans for b in spans), spans

    # Each day built once, as the manifest says, and record by record as a serial build on SQLite.
    jdbc = {k: v for k, v in prod_env.items() if k.startswith("LAKEHOUSE_")}
    serial = {
        "LAKEHOUSE_HOME": str(HOME / "serial"),
        "LAKEHOUSE_LANDING": str(topology.home / "landing"),
        "LAKEHOUSE_CATALOG_URI": "",
        "LAKEHOUSE_WAREHOUSE": "",
        "LAKEHOUSE_SPARK_MASTER": "local[*]",
        "LAKEHOUSE_SPARK_CONF": "",
    }
    for day in DAYS:
        got = json.loads(lakehouse("stats", "--date", day.isoformat(), "--json", env=jdbc))
        m = manifest["days"][day.isoformat()]
        assert (got["bronze"], got["silver"], got["quarantine"], got["duplicates"]) == (
            m["bronze"], m["silver"], m["quarantine"], m["duplicates"],
        ), day  # fmt: skip
        lakehouse("build", "--date", day.isoformat(), env=serial)
    for day in DAYS:
        for table in COMPARED:
            ours = rows(table, day, jdbc, tmp_path / "prod.jsonl")
            theirs = rows(table, day, serial, tmp_path / "serial.jsonl")
            assert ours == theirs, (table, day, len(ours), len(theirs))
