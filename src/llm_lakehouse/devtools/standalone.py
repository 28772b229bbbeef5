"""Airflow standalone for ``make run`` and the end-to-end tests: start, drive over REST, stop.

Runs in the Airflow env. ``airflow standalone`` (SQLite metadata, LocalExecutor) is started in its own
process group so that ``stop`` ends it and every child (scheduler, dag-processor, triggerer, API server,
task processes) with one signal. Everything else goes through the public REST API, as a user's scripts
would: token, pool, unpause, trigger, backfill, wait. Two classes: ``AirflowProcess`` (the process group)
and ``AirflowClient`` (the REST API, which works the same against any Airflow, not only one started here).

``AirflowClient`` is a few ``requests`` calls (token, pools, DAG patch, DAG runs, backfills, task instances)
under one retry policy: SQLite's "database is locked" 503, a backfill POST answered 409 for one that landed.
The generated ``apache-airflow-client`` would add a dependency pinned to the Airflow release and still need
every call wrapped in the same retries, so it is not used.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.core.spec import load_spec

log = logging.getLogger(__name__)


class ApiError(RuntimeError):
    """An Airflow REST call answered with an HTTP error (``status``), after any 503 retries."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


DAG_ID = "corpus_nightly"
USER = "admin"
# The UI and REST API listen on the loopback interface unless the operator names another address.
BIND_ENV = "LAKEHOUSE_AIRFLOW_HOST"
PASSWORDS_FILE = "simple_auth_manager_passwords.json"
TERMINAL = {"success", "failed"}


def interval(day: date) -> dict[str, str]:
    """The data interval the nightly run of ``day`` covers (02:00 UTC to 02:00 UTC)."""
    start = f"{day.isoformat()}T02:00:00Z"
    return {
        "logical_date": start,
        "data_interval_start": start,
        "data_interval_end": f"{(day + timedelta(days=1)).isoformat()}T02:00:00Z",
    }


def admin_password(home: Path) -> tuple[str, bool]:
    """The admin password of the standalone under ``home``: generated on first use and kept in a 0600 file
    (the simple auth manager's passwords file), so no install shares a default; (password, generated now)."""
    path = home / PASSWORDS_FILE
    try:
        return json.loads(path.read_text())[USER], False
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        pass
    home.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    # Created 0600 (never readable by others, not even for a moment), then renamed into place.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({USER: password}, f)
    tmp.replace(path)
    return password, True


def airflow_env(home: Path, port: int, settings: Settings) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    admin_password(home)
    return (
        os.environ
        | settings.spark_env()
        | {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # The default (32) pre-forks ~2 GiB of workers; 4 is plenty for one DAG on 2 cores.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": os.environ.get(BIND_ENV) or "127.0.0.1",
            "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORDS_FILE),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": settings.spark.master}),
            # spark-submit comes from the jobs env (the Airflow env's pyspark-client cannot run Spark 3.5).
            "PATH": f"{settings.spark.bin}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }
    )


class AirflowClient:
    """Airflow's public REST API as a user's scripts drive it: token, pools, DAGs, runs, backfills.

    The bearer token is fetched once and kept out of ``repr`` (pytest prints a fixture's repr in a failure's
    traceback). List calls page through every entry.
    """

    def __init__(self, url: str, password: str, retry_locked: bool = True) -> None:
        self.url = url
        self._password = password
        self._token: str | None = None
        # SQLite's metadata database answers 503 while the scheduler writes; PostgreSQL never should, so a
        # client of one (retry_locked=False) fails at the first. Counted either way.
        self.retry_locked = retry_locked
        self.locked_retries = 0

    def __repr__(self) -> str:
        return f"AirflowClient({self.url!r})"

    def token(self) -> str:
        if self._token is None:
            body = self._request(
                "POST", "/auth/token", {"username": USER, "password": self._password}, auth=False
            )
            self._token = body["access_token"]
        return self._token

    def _request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self.token()}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def api(self, method: str, path: str, body: Any = None, busy_timeout: float = 120) -> Any:
        """One REST call. A locked SQLite database is retried with backoff: the api-server answers 503 when the
        scheduler holds the write lock ("Backfill creation is not supported on SQLite under concurrent
        access"), which a busy scheduler does for seconds at a time, and 500 "Database error" when the lock
        hits its own audit-log insert, which rolls the call back."""
        deadline = time.monotonic() + busy_timeout
        pause = 1.0
        while True:
            try:
                return self._request(method, path, body)
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")
                locked = exc.code == 503 or (exc.code == 500 and '"reason":"Database error"' in detail)
                if locked and self.retry_locked and time.monotonic() + pause < deadline:
                    self.locked_retries += 1
                    log.info(
                        "%s %s -> %d (%s); retrying in %.0f s", method, path, exc.code, detail[:120], pause
                    )
                    time.sleep(pause)
                    pause = min(pause * 2, 15)
                    continue
                raise ApiError(exc.code, f"{method} {path} -> {exc.code}: {detail}") from None

    def list_all(self, path: str, key: str, page_size: int = 100) -> list[dict[str, Any]]:
        """Every entry of a list endpoint, page by page (Airflow returns 50 per call unless told otherwise)."""
        out: list[dict[str, Any]] = []
        sep = "&" if "?" in path else "?"
        while True:
            page = self.api("GET", f"{path}{sep}limit={page_size}&offset={len(out)}")
            out += page[key]
            if len(page[key]) < page_size or len(out) >= page.get("total_entries", float("inf")):
                return out

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/api/v2/monitor/health", auth=False)

    def ensure_pool(self, name: str, slots: int = 1) -> None:
        try:
            self.api("PATCH", f"/api/v2/pools/{name}", {"name": name, "slots": slots})
        except ApiError:
            self.api(
                "POST",
                "/api/v2/pools",
                {"name": name, "slots": slots, "description": "LLM Lakehouse Spark jobs"},
            )

    def wait_dag(self, dag_id: str = DAG_ID, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.api("GET", f"/api/v2/dags/{dag_id}")
            except ApiError:
                time.sleep(2)
        errors = self.api("GET", "/api/v2/importErrors")
        raise TimeoutError(f"DAG {dag_id} not parsed after {timeout}s; import errors: {errors}")

    def unpause(self, dag_id: str = DAG_ID) -> None:
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, day: date, dag_id: str = DAG_ID) -> str:
        """Builds ``day`` with the data interval its nightly run has; reruns (clears) that run if it exists."""
        start = interval(day)["logical_date"]
        existing = self.list_all(
            f"/api/v2/dags/{dag_id}/dagRuns?logical_date_gte={start}&logical_date_lte={start}", "dag_runs"
        )
        if existing:
            return self.clear(existing[0]["dag_run_id"], dag_id)
        body = {"dag_run_id": f"manual__{day}__{time.time_ns()}", **interval(day)}
        return self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def clear(self, run_id: str, dag_id: str = DAG_ID) -> str:
        """Reruns every task of an existing run (the UI's Clear Run)."""
        self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/clear", {"dry_run": False})
        return run_id

    def backfill(
        self,
        first: date,
        last: date,
        dag_id: str = DAG_ID,
        reprocess: str = "completed",
        timeout: float = 300,
    ) -> dict[str, Any]:
        """Creates a backfill of ``first``..``last`` (what the UI's Run Backfill does).

        Airflow takes one active backfill per DAG (409 otherwise). On SQLite a 503 can leave one behind
        with no runs: Airflow commits the backfill before creating its runs, and its clean-up can hit the
        same lock; the scheduler completes such an orphan after two minutes. So a 409 returns the active
        backfill when it is this one (same range, its runs exist), and otherwise waits for the DAG's
        backfills to complete and asks again."""
        lo, hi = interval(first)["logical_date"], interval(last)["logical_date"]
        body = {
            "dag_id": dag_id,
            "from_date": lo,
            "to_date": hi,
            "max_active_runs": 2,
            "reprocess_behavior": reprocess,
        }
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.api("POST", "/api/v2/backfills", body)
            except ApiError as exc:
                if exc.status != 409 or time.monotonic() > deadline:
                    raise
            days = (last - first).days + 1
            for b in self.active_backfills(dag_id):
                same = (b["from_date"][:10], b["to_date"][:10]) == (lo[:10], hi[:10])
                runs = [r for r in self.runs_for(first, last, dag_id) if r["run_type"] == "backfill"]
                if same and len(runs) == days:
                    log.info("backfill %s of %s..%s was created by an earlier attempt", b["id"], first, last)
                    return b
            self.wait_backfills(dag_id, timeout=max(1.0, deadline - time.monotonic()))

    def active_backfills(self, dag_id: str = DAG_ID) -> list[dict[str, Any]]:
        return [
            b
            for b in self.list_all(f"/api/v2/backfills?dag_id={dag_id}", "backfills")
            if not b.get("completed_at")
        ]

    def wait_backfills(self, dag_id: str = DAG_ID, timeout: float = 300) -> None:
        """Waits until the scheduler has marked every backfill of the DAG complete (its runs finishing is not
        enough: Airflow takes one active backfill per DAG and the UI disables Run Backfill until then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = [b["id"] for b in self.active_backfills(dag_id)]
            if not active:
                return
            time.sleep(3)
        raise TimeoutError(f"backfills {active} of {dag_id} not complete after {timeout}s")

    def wait_runs(self, run_ids: list[str], dag_id: str = DAG_ID, timeout: float = 900) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = {r: self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{r}")["state"] for r in run_ids}
            if all(s in TERMINAL for s in states.values()):
                return states
            time.sleep(3)
        raise TimeoutError(f"runs not finished after {timeout}s: {states}")

    def runs_for(self, first: date, last: date, dag_id: str = DAG_ID) -> list[dict[str, Any]]:
        """The runs building ``first``..``last`` (one per day: a run's logical date is its interval start)."""
        lo, hi = interval(first)["logical_date"], interval(last)["logical_date"]
        return self.list_all(
            f"/api/v2/dags/{dag_id}/dagRuns?logical_date_gte={lo}&logical_date_lte={hi}", "dag_runs"
        )


@dataclass
class AirflowProcess:
    """``airflow standalone`` as a process group under ``home``: start, check, stop."""

    home: Path
    port: int = 8080

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "standalone.pid"

    @functools.cached_property
    def client(self) -> AirflowClient:
        return AirflowClient(self.url, admin_password(self.home)[0])

    def start(self, settings: Settings | None = None) -> None:
        settings = settings or Settings.from_env()
        if self.running():
            raise RuntimeError(f"Airflow already running (pid file {self.pid_file}); `make stop` first")
        env = airflow_env(self.home, self.port, settings)
        log = open(self.home / "standalone.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "standalone"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.home,
        )
        self.pid_file.write_text(str(proc.pid))

    def running(self) -> bool:
        try:
            os.killpg(int(self.pid_file.read_text()), 0)
            return True
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return False

    def stop(self, timeout: float = 60) -> bool:
        """SIGTERM to the whole process group (standalone ignores SIGINT), SIGKILL after ``timeout``."""
        if not self.running():
            self.pid_file.unlink(missing_ok=True)
            return False
        pgid = int(self.pid_file.read_text())
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.running():
            _reap(pgid)
            time.sleep(0.5)
        if self.running():
            os.killpg(pgid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def wait_healthy(self, timeout: float = 240) -> dict[str, Any]:
        """Waits until every component reports healthy (the endpoint answers 200 even when one is not)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"airflow standalone exited; see {self.home / 'standalone.log'}")
            try:
                last = self.client.health()
                parts = [
                    last.get(k, {}).get("status")
                    for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                ]
                if all(p == "healthy" for p in parts):
                    return last
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                pass
            time.sleep(2)
        raise TimeoutError(f"Airflow not healthy after {timeout}s: {last}")


def _reap(pid: int) -> None:
    """Collects the exit status of ``pid`` when this process started it: a zombie leader keeps the group alive."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def up(process: AirflowProcess, spec_pool: str) -> AirflowClient:
    """Starts Airflow (or reuses the one already running from this home) and readies the DAG."""
    if not process.running():
        process.start()
    process.wait_healthy()
    af = process.client
    af.ensure_pool(spec_pool, 1)
    af.wait_dag()
    af.unpause()
    return af


def main(argv: list[str] | None = None) -> None:

    p = argparse.ArgumentParser(prog="python -m llm_lakehouse.devtools.standalone")
    p.add_argument("command", choices=["up", "down", "build"])
    p.add_argument("--home", type=Path, default=Settings.from_env().home / "airflow")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--date", type=date.fromisoformat)
    args = p.parse_args(argv)
    process = AirflowProcess(args.home.resolve(), args.port)
    if args.command == "down":
        print("stopped Airflow" if process.stop() else "Airflow was not running")
        return
    if args.command == "up":
        spec = load_spec(REPO_ROOT / "pipelines" / f"{DAG_ID}.yaml")
        password, generated = admin_password(process.home)
        if generated:
            # Shown this once; afterwards it is only in the 0600 file.
            print(
                f"Airflow user {USER}, password {password} (kept in {process.home / PASSWORDS_FILE}, mode 0600)"
            )
        started = time.monotonic()
        up(process, spec.spark.pool)
        print(f"Airflow healthy on {process.url} after {time.monotonic() - started:.0f}s; {DAG_ID} unpaused")
        return
    af = process.client
    if args.date is None:
        p.error("build needs --date")
    run_id = af.trigger(args.date)
    print(f"triggered {DAG_ID} for {args.date}: {run_id}", flush=True)
    started = time.monotonic()
    state = af.wait_runs([run_id])[run_id]
    print(f"run {run_id}: {state} after {time.monotonic() - started:.0f}s")
    if state != "success":
        sys.exit(1)


if __name__ == "__main__":
    main()
