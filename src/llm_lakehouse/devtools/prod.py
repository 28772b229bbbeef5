"""The production topology on one machine, as plain processes: ``make run-prod`` starts it, ``make stop`` ends it.

The same software ``docker-compose.yml`` and the Helm chart run, without containers: a PostgreSQL cluster
(Airflow's metadata and the Iceberg JDBC catalog, two databases), Redis (the Celery broker), Airflow with the
CeleryExecutor (api-server, scheduler, dag-processor, triggerer, a worker on the ``default`` queue and one on
``gpu``) and a Spark standalone cluster (a Master and one Worker, from the jobs env's pyspark). Every port is
bound to 127.0.0.1; data, logs and pid files live under ``$LAKEHOUSE_HOME/prod``.

What the topology selects (executor, metadata database, broker, catalog, Spark master) is set by the
environment variables ``production_env`` returns, the names the compose file and the chart set
(``tests/jobs/test_deploy_files.py`` checks them against both); the jobs read their side through
``Settings.from_env`` as everywhere else. Secrets (database and Redis passwords, Fernet, JWT and API keys, the
admin password) are generated on the first start into ``prod/secrets.json`` (mode 0600) and never printed.

Run in the Airflow env (it starts Airflow's commands from there, Spark's from the jobs env)::

    python -m llm_lakehouse.devtools.prod up|down|status|env|build --date D [--days N]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import logging
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.core.spec import load_spec
from llm_lakehouse.devtools.standalone import DAG_ID, USER, AirflowClient, airflow_env

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
AIRFLOW_DB, CATALOG_DB = "airflow", "iceberg_catalog"
# The database roles: Airflow's and the lakehouse's (catalog and day leases), as in docker/postgres-init.sql.
AIRFLOW_ROLE, LAKEHOUSE_ROLE = "airflow", "lakehouse"
DEFAULT_QUEUE, GPU_QUEUE = "default", "gpu"


@dataclass(frozen=True)
class Ports:
    """Where each service listens on 127.0.0.1 (each a compose service's port, moved off the usual ones so a
    system PostgreSQL or Redis can run beside it)."""

    airflow: int = 8080
    postgres: int = 15432
    redis: int = 16379
    spark_master: int = 17077
    spark_master_ui: int = 18090
    spark_worker_ui: int = 18091
    # Each Celery worker serves its task logs to the api-server on a port of its own.
    worker_logs: tuple[int, int] = (18793, 18794)

    @classmethod
    def from_base(cls, airflow: int) -> Ports:
        """Ports for a second topology on the same machine (the tests): each offset by ``airflow``'s."""
        off = airflow - 8080
        return cls(
            airflow,
            15432 + off,
            16379 + off,
            17077 + off,
            18090 + off,
            18091 + off,
            (18793 + off, 18794 + off),
        )


def production_env(ports: Ports, secret: dict[str, str], settings_home: Path) -> dict[str, str]:
    """The variables that select the production parts: the same names ``docker-compose.yml`` sets for its
    Airflow services and the chart sets through its values and ConfigMap. Only the endpoints differ (here
    127.0.0.1 and the ports above). Secrets appear in values only where compose interpolates them too."""
    pg = f"{LOOPBACK}:{ports.postgres}"
    spark_master = f"spark://{LOOPBACK}:{ports.spark_master}"
    airflow_db = f"{AIRFLOW_ROLE}:{secret['airflow_db_password']}@{pg}/{AIRFLOW_DB}"
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{airflow_db}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://:{secret['redis_password']}@{LOOPBACK}:{ports.redis}/0",
        # The driver named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed.
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{airflow_db}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": DEFAULT_QUEUE,
        "AIRFLOW__CORE__FERNET_KEY": secret["fernet_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": secret["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": secret["api_secret_key"],
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{LOOPBACK}:{ports.airflow}/execution/",
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps(
            {"conn_type": "spark", "host": spark_master, "extra": {"deploy-mode": "client"}}
        ),
        # The Iceberg JDBC catalog on PostgreSQL (Settings: kind "jdbc", so no catalog lock). Its password
        # reaches the driver from the environment, never a --conf (Settings.spark_env drops this variable
        # from what Airflow renders).
        "LAKEHOUSE_CATALOG_URI": (
            f"postgresql+psycopg2://{LAKEHOUSE_ROLE}:{secret['lakehouse_db_password']}@{pg}/{CATALOG_DB}"
        ),
        "LAKEHOUSE_HOME": str(settings_home),
        # Its own warehouse beside the embedded one's: a home may hold both (make run, make run-prod).
        "LAKEHOUSE_WAREHOUSE": (settings_home / "prod" / "warehouse").as_uri(),
        "LAKEHOUSE_SPARK_MASTER": spark_master,
    }


@dataclass
class Service:
    """One long-running process of the topology: how to start it and when it is ready."""

    name: str
    command: list[str]
    env: dict[str, str]
    ready: Callable[[], bool]
    # The compose service and the chart's resource it stands for (README, ``status``).
    compose: str
    helm: str
    cwd: Path | None = None


@dataclass
class Topology:
    home: Path  # LAKEHOUSE_HOME
    ports: Ports = field(default_factory=Ports)
    # Extra Airflow settings (the tests shorten the heartbeat timeout, for instance).
    overrides: dict[str, str] = field(default_factory=dict)
    _log_start: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def root(self) -> Path:
        return self.home / "prod"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.airflow}"

    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def secrets(self) -> dict[str, str]:
        """Generated on the first start, kept in a 0600 file: every start of the same home uses the same."""
        path = self.path("secrets.json")
        if path.exists():
            return json.loads(path.read_text())
        from cryptography.fernet import Fernet

        value = {
            "airflow_db_password": secrets.token_urlsafe(18),
            "lakehouse_db_password": secrets.token_urlsafe(18),
            "redis_password": secrets.token_urlsafe(18),
            "fernet_key": Fernet.generate_key().decode(),
            "jwt_secret": secrets.token_urlsafe(32),
            "api_secret_key": secrets.token_urlsafe(32),
            "admin_password": secrets.token_urlsafe(12),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(value, f)
        return value

    def client(self) -> AirflowClient:
        return AirflowClient(self.url, password=self.secrets()["admin_password"], retry_locked=False)

    def env(self) -> dict[str, str]:
        """Every Airflow process's environment: ``airflow_env`` (DAGs, plugins, auth, PATH, the jobs' settings)
        with the production parts over it."""
        secret = self.secrets()
        prod = production_env(self.ports, secret, self.home)
        settings = Settings.from_env(os.environ | prod)
        env = airflow_env(self.root / "airflow", self.ports.airflow, settings) | prod
        passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
        passwords.write_text(json.dumps({USER: secret["admin_password"]}))
        passwords.chmod(0o600)
        return env | {
            "AIRFLOW__API__BASE_URL": self.url,
            # The Spark drivers (in the workers' task processes) bind where the executors reach them.
            "SPARK_LOCAL_IP": LOOPBACK,
            # A standalone application takes every core it is offered unless capped: two days' drivers then
            # run side by side on the Worker's cores instead of one waiting for the other to end.
            "LAKEHOUSE_SPARK_CONF": json.dumps({"spark.cores.max": "2"}),
            # Three runs' tasks at a time: what max_active_runs and the Spark pool allow.
            "AIRFLOW__CORE__PARALLELISM": "6",
            **self.overrides,
        }

    # -- the services --------------------------------------------------------------------------------
    def services(self) -> list[Service]:
        env, p = self.env(), self.ports
        airflow = str(Path(sys.executable).parent / "airflow")
        jobs_bin = Settings.from_env(env).spark.bin
        spark_class = str(jobs_bin / "spark-class")
        master = f"spark://{LOOPBACK}:{p.spark_master}"
        # spark-class finds Spark in the jobs env's pyspark, through whichever python3 is first on PATH unless
        # SPARK_HOME says where: from the Airflow env, that is the Airflow env's, which has no pyspark.
        spark_home = next(iter(sorted(jobs_bin.parent.glob("lib/python3*/site-packages/pyspark"))), None)
        spark_env = os.environ | {
            "SPARK_LOCAL_IP": LOOPBACK,
            "SPARK_NO_DAEMONIZE": "1",
            "PATH": f"{jobs_bin}:{os.environ.get('PATH', '')}",
            **({"SPARK_HOME": str(spark_home)} if spark_home else {}),
        }
        worker_dir = self.path("spark", "work", ".keep").parent

        def worker(queue: str, concurrency: int, log_port: int, compose: str) -> Service:
            return Service(
                f"airflow-worker-{queue}",
                [
                    airflow,
                    "celery",
                    "worker",
                    "--queues",
                    queue,
                    "--concurrency",
                    str(concurrency),
                    "--celery-hostname",
                    f"{queue}@%h",
                    "--without-mingle",
                    "--without-gossip",
                ],
                env | {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port)},
                lambda: "ready." in self.log(f"airflow-worker-{queue}"),
                compose,
                "airflow.workers (official chart)"
                if queue == DEFAULT_QUEUE
                else "templates/airflow-gpu-worker.yaml",
            )

        return [
            Service(
                "redis",
                [
                    "redis-server",
                    "--bind",
                    LOOPBACK,
                    "--port",
                    str(p.redis),
                    "--requirepass",
                    self.secrets()["redis_password"],
                    "--dir",
                    str(self.path("redis", ".keep").parent),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                dict(os.environ),
                lambda: _listening(p.redis),
                "redis",
                "redis (official chart's bundled Redis)",
            ),
            Service(
                "spark-master",
                [
                    spark_class,
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    LOOPBACK,
                    "--port",
                    str(p.spark_master),
                    "--webui-port",
                    str(p.spark_master_ui),
                ],
                spark_env,
                lambda: _listening(p.spark_master),
                "spark-master",
                "spark.master (k8s:// on the cluster: no standalone master)",
            ),
            Service(
                "spark-worker",
                # Four task slots on two cores: a driver's executor is mostly idle while the other's works.
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    LOOPBACK,
                    "--webui-port",
                    str(p.spark_worker_ui),
                    "--cores",
                    "4",
                    "--memory",
                    "6g",
                    "--work-dir",
                    str(worker_dir),
                    master,
                ],
                spark_env,
                lambda: self._spark_workers() >= 1,
                "spark-worker",
                "executor pods (templates/spark-rbac.yaml)",
            ),
            Service(
                "airflow-api-server",
                [airflow, "api-server", "--host", LOOPBACK, "--port", str(p.airflow)],
                env,
                lambda: _http_ok(f"{self.url}/api/v2/monitor/health"),
                "airflow-apiserver",
                "airflow.apiServer (official chart)",
            ),
            Service(
                "airflow-scheduler",
                [airflow, "scheduler"],
                env,
                lambda: self._healthy("scheduler"),
                "airflow-scheduler",
                "airflow.scheduler (official chart)",
            ),
            Service(
                "airflow-dag-processor",
                [airflow, "dag-processor"],
                env,
                lambda: self._healthy("dag_processor"),
                "airflow-dag-processor",
                "airflow.dagProcessor (official chart)",
            ),
            Service(
                "airflow-triggerer",
                [airflow, "triggerer"],
                env,
                lambda: self._healthy("triggerer"),
                "airflow-triggerer",
                "airflow.triggerer (official chart)",
            ),
            worker(DEFAULT_QUEUE, 2, p.worker_logs[0], "airflow-worker"),
            worker(GPU_QUEUE, 1, p.worker_logs[1], "airflow-worker-gpu"),
        ]

    def _spark_workers(self) -> int:
        try:
            with urllib.request.urlopen(
                f"http://{LOOPBACK}:{self.ports.spark_master_ui}/json/", timeout=5
            ) as r:
                status = json.loads(r.read())
        except (OSError, ValueError):
            return 0
        return sum(1 for w in status.get("workers", []) if w.get("state") == "ALIVE")

    def _healthy(self, component: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as r:
                return json.loads(r.read()).get(component, {}).get("status") == "healthy"
        except (OSError, ValueError):
            return False

    def log(self, name: str) -> str:
        """What the service wrote since its last start (its log file keeps earlier starts' lines)."""
        path = self.root / "logs" / f"{name}.log"
        if not path.exists():
            return ""
        with path.open("rb") as f:
            f.seek(self._log_start.get(name, 0))
            return f.read().decode(errors="replace")

    def pid_file(self, name: str) -> Path:
        return self.path("run", f"{name}.pid")

    def pid(self, name: str) -> int | None:
        """The running service's process group, or None."""
        try:
            pgid = int(self.pid_file(name).read_text())
            os.killpg(pgid, 0)
            return pgid
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None

    # -- start and stop ------------------------------------------------------------------------------
    def up(self, timeout: float = 300) -> dict[str, float]:
        """Starts what is not running, in dependency order, each ready before the next; returns each service's
        seconds to ready."""
        took: dict[str, float] = {}
        started = time.monotonic()
        self._postgres_up()
        took["postgres"] = time.monotonic() - started
        services = self.services()
        for svc in services:
            if svc.name == "airflow-api-server" and self.pid(svc.name) is None:
                t = time.monotonic()
                # Migrations first, once: every Airflow component expects the schema.
                _run([svc.command[0], "db", "migrate"], svc.env, self.path("logs", "airflow-db-migrate.log"))
                took["airflow-db-migrate"] = time.monotonic() - t
            t = time.monotonic()
            self.start(svc)
            _wait(
                svc.ready,
                timeout,
                f"{svc.name} not ready; see {self.root / 'logs' / (svc.name + '.log')}",
                alive=lambda s=svc: self.pid(s.name) is not None,
            )
            took[svc.name] = time.monotonic() - t
        return took

    def start(self, svc: Service) -> int:
        if (pgid := self.pid(svc.name)) is not None:
            return pgid
        out = open(self.path("logs", f"{svc.name}.log"), "ab")  # noqa: SIM115 - handed to the child
        self._log_start[svc.name] = out.seek(0, os.SEEK_END)
        proc = subprocess.Popen(
            svc.command,
            env=svc.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=svc.cwd or self.root,
        )
        out.close()
        self.pid_file(svc.name).write_text(str(proc.pid))
        return proc.pid

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 60) -> bool:
        """Signals the service's whole process group (a Celery worker's pool and task processes with it);
        SIGKILL after ``timeout``."""
        import psutil

        pgid = self.pid(name)
        if pgid is None:
            self.pid_file(name).unlink(missing_ok=True)
            return False
        # The group, and every descendant that left it: a task process Airflow starts in a group of its own,
        # with its Spark driver, goes down with its worker as it would with a lost node.
        tree: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            tree = [psutil.Process(pgid), *psutil.Process(pgid).children(recursive=True)]
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)
        os.killpg(pgid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (self.pid(name) is not None or any(_alive(p) for p in tree)):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pgid, os.WNOHANG)
            time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        self.pid_file(name).unlink(missing_ok=True)
        return True

    def down(self) -> list[str]:
        """Stops every service, the last started first, then PostgreSQL."""
        stopped = [s for s in reversed([s.name for s in self.services()]) if self.stop(s)]
        if self._pg_running():
            _run(
                [*self._pg_ctl(), "-m", "fast", "-w", "stop"],
                os.environ,
                self.path("logs", "postgres-ctl.log"),
            )
            stopped.append("postgres")
        return stopped

    def status(self) -> dict[str, bool]:
        return {"postgres": self._pg_running()} | {
            s.name: self.pid(s.name) is not None for s in self.services()
        }

    # -- PostgreSQL ----------------------------------------------------------------------------------
    def _pg_ctl(self) -> list[str]:
        return [*_as_postgres(), str(pg_bindir() / "pg_ctl"), "-D", str(self.root / "postgres" / "data")]

    def _pg_running(self) -> bool:
        data = self.root / "postgres" / "data"
        return (
            data.exists() and subprocess.run([*self._pg_ctl(), "status"], capture_output=True).returncode == 0
        )

    def _postgres_up(self) -> None:
        """``initdb`` on the first start (both databases and roles), then ``pg_ctl start`` on 127.0.0.1."""
        folder = self.root / "postgres"
        data, sock, done = folder / "data", folder / "socket", folder / "initialized"
        fresh = not done.exists()
        if fresh:
            # A first start that failed part way leaves a cluster without its roles or databases: again.
            if self._pg_running():
                _run(
                    [*self._pg_ctl(), "-m", "immediate", "stop"],
                    os.environ,
                    self.path("logs", "postgres-ctl.log"),
                )
            shutil.rmtree(data, ignore_errors=True)
            sock.mkdir(parents=True, exist_ok=True)
            _own_for_postgres(folder)
            _run(
                [
                    *_as_postgres(),
                    str(pg_bindir() / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ],
                os.environ | {"LC_ALL": "C"},
                self.path("logs", "postgres-initdb.log"),
            )
        if not self._pg_running():
            opts = f"-p {self.ports.postgres} -k {sock} -c listen_addresses={LOOPBACK}"
            _run(
                [
                    *self._pg_ctl(),
                    "-l",
                    # Inside the cluster's folder: the server writes it as the postgres user.
                    str(folder / "server.log"),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                os.environ,
                self.path("logs", "postgres-ctl.log"),
            )
        if fresh:
            secret = self.secrets()
            statements = [
                f"CREATE ROLE {AIRFLOW_ROLE} LOGIN PASSWORD '{secret['airflow_db_password']}'",
                f"CREATE ROLE {LAKEHOUSE_ROLE} LOGIN PASSWORD '{secret['lakehouse_db_password']}'",
                # Each its own -c: CREATE DATABASE cannot run inside the transaction one -c makes.
                f"CREATE DATABASE {AIRFLOW_DB} OWNER {AIRFLOW_ROLE}",
                f"CREATE DATABASE {CATALOG_DB} OWNER {LAKEHOUSE_ROLE}",
            ]
            psql = [
                *_as_postgres(),
                str(pg_bindir() / "psql"),
                "-h",
                str(sock),
                "-p",
                str(self.ports.postgres),
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                *(arg for sql in statements for arg in ("-c", sql)),
            ]
            _run(psql, os.environ, self.path("logs", "postgres-init.log"))
            done.touch()


# -- helpers -----------------------------------------------------------------------------------------
def pg_bindir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    # Debian keeps the server binaries off PATH, per major version.
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not dirs:
        raise RuntimeError(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: `make setup` installs them"
        )
    return Path(dirs[-1]).parent


def _as_postgres() -> list[str]:
    """PostgreSQL refuses to run as root: as root, its commands run as the Debian package's postgres user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _own_for_postgres(folder: Path) -> None:
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam("postgres")
    for p in [folder, *folder.rglob("*")]:
        os.chown(p, user.pw_uid, user.pw_gid)
    # The cluster's folder must be reachable by that user through every parent.
    for parent in folder.parents:
        if not os.stat(parent).st_mode & 0o001:
            raise RuntimeError(
                f"{parent} is not searchable by other users, so PostgreSQL (user postgres) cannot reach "
                f"{folder}: chmod o+x {parent}, or set LAKEHOUSE_HOME elsewhere"
            )


def _run(cmd: list[str], env: dict[str, str] | os._Environ, log_path: Path) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    log_path.write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        raise RuntimeError(
            f"{' '.join(cmd[:4])} ... failed ({proc.returncode}): {(proc.stdout + proc.stderr)[-2000:]}"
        )


def _alive(proc: Any) -> bool:
    """A psutil process that still runs (a zombie, exited but not yet reaped by its parent, does not)."""
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((LOOPBACK, port)) == 0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _wait(ready: Callable[[], bool], timeout: float, message: str, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not alive():
            raise RuntimeError(f"exited: {message}")
        time.sleep(1)
    raise TimeoutError(f"after {timeout:.0f} s: {message}")


def build(topology: Topology, first: date, days: int, timeout: float = 1800) -> dict[str, str]:
    """A REST backfill of ``days`` days from ``first`` (what the UI's Trigger -> Backfill creates); waits for
    its runs and returns their states."""
    af = topology.client()
    af.wait_backfills()
    last = first + timedelta(days=days - 1)
    af.backfill(first, last, reprocess="completed")
    runs = af.runs_for(first, last)
    return af.wait_runs([r["dag_run_id"] for r in runs], timeout=timeout)


def ready_dag(topology: Topology, pool_slots: int) -> AirflowClient:
    """The Spark pool sized for a catalog without a lock, and the DAG parsed and unpaused."""
    spec = load_spec(REPO_ROOT / "pipelines" / f"{DAG_ID}.yaml")
    af = topology.client()
    af.ensure_pool(spec.spark.pool, pool_slots)
    af.wait_dag()
    af.unpause()
    return af


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(prog="python -m llm_lakehouse.devtools.prod")
    p.add_argument("command", choices=["up", "down", "status", "build", "env"])
    p.add_argument("--port", type=int, default=8080, help="Airflow's port; the others are offset with it")
    p.add_argument("--date", type=date.fromisoformat)
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--pool-slots", type=int, default=2, help="Spark tasks at a time (no catalog lock here)")
    a = p.parse_args(argv)
    topology = Topology(Settings.from_env().home, Ports.from_base(a.port))
    if a.command == "down":
        stopped = topology.down()
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        return
    if a.command == "env":
        # For a shell: `eval "$(... prod env)"` points the lakehouse CLI at this topology's catalog.
        prod = production_env(topology.ports, topology.secrets(), topology.home)
        for k, v in prod.items():
            if k.startswith("LAKEHOUSE_"):
                print(f"export {k}={shlex.quote(v)}")
        return
    if a.command == "status":
        for name, running in topology.status().items():
            print(f"{name:24} {'running' if running else 'stopped'}")
        return
    if a.command == "up":
        started = time.monotonic()
        for name, seconds in topology.up().items():
            print(f"  {name:24} ready in {seconds:5.1f} s", flush=True)
        ready_dag(topology, a.pool_slots)
        print(
            f"production topology up in {time.monotonic() - started:.0f} s; {DAG_ID} unpaused on {topology.url}"
        )
        return
    if a.date is None:
        p.error("build needs --date")
    started = time.monotonic()
    states = build(topology, a.date, a.days)
    print(f"backfill of {a.days} day(s) from {a.date}: {states} in {time.monotonic() - started:.0f} s")
    if set(states.values()) != {"success"}:
        sys.exit(1)


if __name__ == "__main__":
    main()
