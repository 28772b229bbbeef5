"""Day leases: one run per (stage, day), on the SQLite catalog and on PostgreSQL alike (no Spark).

Every contract test runs on both backends: the embedded SQLite catalog under a temporary LAKEHOUSE_HOME, and
a throwaway PostgreSQL cluster started for the session from the machine's PostgreSQL binaries (`make setup`
installs them; a missing binary fails the suite, it never skips). Holders that must die or run in parallel
are separate processes (spawned, so each has its own pid and connections).
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from llm_lakehouse.core.leases import (
    Holder,
    Lease,
    LeaseConfig,
    LeaseHeld,
    LeaseLost,
    current_lease,
    lease_engine,
    leases,
)
from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.devtools.prod import pg_bindir

D1 = date(2026, 5, 1)
D2 = date(2026, 5, 2)
# Children fork from one clean, single-threaded server that imported SQLAlchemy, psycopg2 and pytest once: a
# spawned child would import them again (seconds on a small machine), a plain fork would copy this process's
# threads and pooled connections. (The server imports before it sees sys.path: only installed modules.)
CTX = mp.get_context("forkserver")
CTX.set_forkserver_preload(["pytest", "psycopg2", "llm_lakehouse.core.leases"])
ELSEWHERE = "another-machine/4026531836"  # a node whose pids this process cannot check


# -- a throwaway PostgreSQL cluster ------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Base URI of a PostgreSQL cluster in a temporary folder on a free port, stopped at the end."""
    bindir = pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root: the cluster belongs to the postgres user the Debian package creates.
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root without a `postgres` user to own the test cluster")
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    env = os.environ | {"LC_ALL": "C"}
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        + ["-E", "UTF8", "--no-locale", "--no-sync"],
        check=True,
        capture_output=True,
        env=env,
    )
    opts = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off"
    )
    pg_ctl = [*run_as, str(bindir / "pg_ctl"), "-D", str(data)]
    started = subprocess.run(
        [*pg_ctl, "-l", str(root / "server.log"), "-o", opts, "-w", "-t", "60", "start"],
        capture_output=True,
        text=True,
        env=env,
    )
    if started.returncode != 0:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        pytest.fail(f"PostgreSQL did not start: {started.stdout}{started.stderr}{log}")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True, env=env)
        shutil.rmtree(root, ignore_errors=True)


def _config(request: pytest.FixtureRequest, backend: str, home: Path, ttl_s: float) -> LeaseConfig:
    env = {"LAKEHOUSE_HOME": str(home)}
    if backend == "postgresql":
        # A fresh database per test, as the catalog's database: the leases go where the catalog lives.
        base = request.getfixturevalue("postgres_server")
        name = f"catalog_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        env["LAKEHOUSE_CATALOG_URI"] = f"{base}/{name}"
    settings = Settings.from_env(env)
    settings.prepare()
    config = LeaseConfig.from_settings(settings, {"LAKEHOUSE_LEASE_TTL_S": str(ttl_s)})
    expected = settings.catalog.uri if backend == "postgresql" else f"sqlite:///{settings.home / 'leases.db'}"
    assert config.uri == expected
    return config


BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def config(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> LeaseConfig:
    """Lease settings on the backend under test, with a TTL long enough never to expire by itself here."""
    return _config(request, backend, tmp_path, ttl_s=60)


@pytest.fixture
def short_ttl(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> LeaseConfig:
    """The same with a TTL of 1.5 s (heartbeat every 0.375 s), for the tests that wait for an expiry."""
    return _config(request, backend, tmp_path, ttl_s=1.5)


# -- holders in other processes -----------------------------------------------------------------------------
def _note(path: str, line: str) -> None:
    with open(path, "a") as fh:
        fh.write(line + "\n")


def _hold(
    config: LeaseConfig, stage: str, day: str, run_id: str, seconds: float, log: str, node: str, until: str
) -> None:
    """Holds a lease for ``seconds``, or less once ``until`` appears in the log."""
    holder = Holder.me() if not node else dataclasses.replace(Holder.me(), node=node)
    with Lease(config, stage, date.fromisoformat(day), run_id, holder=holder).acquire(wait_s=30):
        _note(log, f"{run_id} + {time.monotonic()}")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (until and until in Path(log).read_text()):
            time.sleep(0.02)
        _note(log, f"{run_id} - {time.monotonic()}")


def _start_holder(
    config: LeaseConfig,
    log: Path,
    run_id: str,
    seconds: float,
    *,
    day: date = D1,
    node: str = "",
    until: str = "",
) -> Any:
    proc = CTX.Process(
        target=_hold, args=(config, "silver", day.isoformat(), run_id, seconds, str(log), node, until)
    )
    proc.start()
    return proc


def _wait_held(proc: Any, log: Path, run_id: str) -> Any:
    deadline = time.monotonic() + 60
    while f"{run_id} +" not in (log.read_text() if log.exists() else ""):
        assert proc.is_alive() or proc.exitcode == 0, f"holder {run_id} exited with {proc.exitcode}"
        assert time.monotonic() < deadline, f"holder {run_id} never took its lease"
        time.sleep(0.02)
    return proc


def _events(log: Path) -> dict[str, float]:
    out = {}
    for line in log.read_text().splitlines():
        run_id, sign, at = line.split()
        out[f"{run_id}{sign}"] = float(at)
    return out


def _contend(config: LeaseConfig, day: str, start: Any, done: Any, log: str, name: str) -> None:
    lease = Lease(config, "silver", date.fromisoformat(day), name)
    start.wait(60)
    try:
        lease.acquire(wait_s=0)
        _note(log, f"won {name}")
    except LeaseHeld as exc:
        _note(log, f"lost {exc.holder.run_id}")
    # Nobody releases before everyone tried: a late loser would otherwise win the freed lease.
    done.wait(60)
    lease.close()


# -- the contract -------------------------------------------------------------------------------------------
@BACKENDS
def test_a_second_run_of_the_day_waits_until_the_first_releases(short_ttl: LeaseConfig, tmp_path: Path):
    # short_ttl only to poll often (every TTL/4): a holds for longer than the TTL, kept by its heartbeat.
    log = tmp_path / "log"
    first = _wait_held(_start_holder(short_ttl, log, "run-a", 2.5), log, "run-a")
    with Lease(short_ttl, "silver", D1, "run-b").acquire(wait_s=30):
        got_it = time.monotonic()
        row = current_lease(short_ttl, "silver", D1)
    first.join(30)
    assert row is not None and row.run_id == "run-b"
    # b got the day only after a let it go.
    assert _events(log)["run-a-"] <= got_it
    assert current_lease(short_ttl, "silver", D1) is None


@BACKENDS
def test_a_second_run_fails_naming_the_holders_run_id(config: LeaseConfig, caplog: pytest.LogCaptureFixture):
    with Lease(config, "silver", D1, "scheduled__2026-05-01") as first:
        with pytest.raises(LeaseHeld) as failed:
            Lease(config, "silver", D1, "cli__2026-05-01").acquire(wait_s=0)
        message = str(failed.value)
        assert "'scheduled__2026-05-01'" in message
        assert first.holder.label in message and "since" in message
        assert failed.value.holder.run_id == "scheduled__2026-05-01"

        # With a wait, it polls (saying who holds the day) for that long, then fails the same way.
        started = time.monotonic()
        with caplog.at_level("WARNING", "llm_lakehouse.core.leases"), pytest.raises(LeaseHeld):
            Lease(config, "silver", D1, "cli__2026-05-01").acquire(wait_s=0.6)
        assert time.monotonic() - started >= 0.6
        assert "held by run 'scheduled__2026-05-01'" in caplog.text


@BACKENDS
def test_other_days_and_other_stages_run_in_parallel(config: LeaseConfig, tmp_path: Path):
    # Two processes hold silver of two different days at the same time: each keeps its day until it has seen
    # the other take its own (or 30 s, which would fail the overlap below).
    log = tmp_path / "log"
    day1 = _start_holder(config, log, "day-1", 30, day=D1, until="day-2 +")
    day2 = _start_holder(config, log, "day-2", 30, day=D2, until="day-1 +")
    day1.join(30)
    day2.join(30)
    assert day1.exitcode == 0 and day2.exitcode == 0
    ev = _events(log)
    assert ev["day-1+"] < ev["day-2-"] and ev["day-2+"] < ev["day-1-"], ev  # the two holds overlap

    # Another stage of the same day is another lease.
    with Lease(config, "silver", D1, "run-a"), Lease(config, "bronze", D1, "run-a"):
        assert {current_lease(config, s, D1).stage for s in ("silver", "bronze")} == {"silver", "bronze"}


@BACKENDS
def test_a_killed_holder_on_this_machine_is_taken_over_at_once(config: LeaseConfig, tmp_path: Path):
    # kill -9 during the run, then Airflow's retry of the same run: the TTL (60 s) is not waited for, because
    # the holder's pid is checked, and found gone, on this machine.
    log = tmp_path / "log"
    holder = _wait_held(
        _start_holder(config, log, "scheduled__2026-05-01", 600), log, "scheduled__2026-05-01"
    )
    os.kill(holder.pid, signal.SIGKILL)
    time.sleep(0.2)  # not reaped yet: a zombie counts as gone
    started = time.monotonic()
    with Lease(config, "silver", D1, "scheduled__2026-05-01").acquire(wait_s=0) as retry:
        row = current_lease(config, "silver", D1)
        assert row is not None and row.token == retry.token
    assert time.monotonic() - started < 5
    holder.join(10)


@BACKENDS
def test_a_killed_holder_elsewhere_is_taken_over_after_the_ttl(short_ttl: LeaseConfig, tmp_path: Path):
    # Its pid cannot be checked from here: only the expired heartbeat frees the day.
    log = tmp_path / "log"
    holder = _wait_held(_start_holder(short_ttl, log, "run-a", 600, node=ELSEWHERE), log, "run-a")
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    dead = current_lease(short_ttl, "silver", D1)
    assert dead is not None and dead.run_id == "run-a"
    with pytest.raises(LeaseHeld):
        Lease(short_ttl, "silver", D1, "run-b").acquire(wait_s=0)
    with Lease(short_ttl, "silver", D1, "run-b").acquire(wait_s=10):
        row = current_lease(short_ttl, "silver", D1)
    assert row is not None and row.run_id == "run-b"
    # Taken over only once the last heartbeat was a TTL old, by the database's clock.
    assert row.acquired_at >= dead.expires_at


@BACKENDS
def test_the_heartbeat_keeps_a_lease_and_a_loser_cannot_release_the_winner(short_ttl: LeaseConfig):
    a = Lease(short_ttl, "silver", D1, "run-a", holder=dataclasses.replace(Holder.me(), node=ELSEWHERE))
    with a:
        time.sleep(2 * short_ttl.ttl_s)  # past the TTL, renewed by the heartbeat
        with pytest.raises(LeaseHeld):
            Lease(short_ttl, "silver", D1, "run-b").acquire(wait_s=0)
        a.check()

        # a stops heartbeating (its database unreachable, say): b takes the day over after the TTL.
        a._stop_heartbeat()
        b = Lease(short_ttl, "silver", D1, "run-b").acquire(wait_s=10)
        with pytest.raises(LeaseLost, match="now held by run 'run-b'"):
            a.check()  # what the runner calls before publishing
        assert a.release() is False
    row = current_lease(short_ttl, "silver", D1)
    assert row is not None and row.token == b.token  # a's exit did not delete b's lease
    assert b.release() is True
    b.close()
    assert current_lease(short_ttl, "silver", D1) is None


@BACKENDS
def test_release_by_a_non_owner_does_nothing(config: LeaseConfig):
    with Lease(config, "silver", D1, "run-a") as a:
        other = Lease(config, "silver", D1, "run-a")  # even the same run id: another acquisition
        assert other.release() is False
        with pytest.raises(LeaseHeld):
            other.acquire(wait_s=0)
        other.close()
        row = current_lease(config, "silver", D1)
        assert row is not None and row.token == a.token


@BACKENDS
def test_of_many_contenders_exactly_one_wins(config: LeaseConfig, tmp_path: Path):
    # A free day, then a day whose lease has expired: the takeover cannot race either.
    stale = Lease(config, "silver", D2, "stale", holder=dataclasses.replace(Holder.me(), node=ELSEWHERE))
    stale.acquire(wait_s=0)
    stale._stop_heartbeat()
    with stale.engine.begin() as conn:
        conn.execute(sa.update(leases).values(expires_at=leases.c.expires_at - 3600))
    stale.engine.dispose()
    for day in (D1, D2):
        log = tmp_path / f"log-{day}"
        start, done = CTX.Barrier(4), CTX.Barrier(4)
        procs = [
            CTX.Process(target=_contend, args=(config, day.isoformat(), start, done, str(log), f"c{i}"))
            for i in range(4)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
        lines = log.read_text().split("\n")[:-1]
        winners = [line.split()[1] for line in lines if line.startswith("won")]
        assert len(winners) == 1, lines
        # Each loser was told who won, never "stale".
        assert {line.split()[1] for line in lines if line.startswith("lost")} == set(winners), lines


# -- configuration ------------------------------------------------------------------------------------------
def test_where_the_leases_live(tmp_path: Path):
    home = {"LAKEHOUSE_HOME": str(tmp_path)}
    embedded = Settings.from_env(home)
    # Beside an SQLite catalog, not inside its file (a heartbeat there fails the job's next Iceberg commit).
    assert LeaseConfig.from_settings(embedded, {}).uri == f"sqlite:///{tmp_path.resolve() / 'leases.db'}"
    jdbc = Settings.from_env(home | {"LAKEHOUSE_CATALOG_URI": "postgresql+psycopg2://u:p@db/catalog"})
    assert LeaseConfig.from_settings(jdbc, {}).uri == jdbc.catalog.uri
    # A REST catalog has no database here: a SQLite file under LAKEHOUSE_HOME, unless one is named.
    rest = Settings.from_env(home | {"LAKEHOUSE_CATALOG_URI": "http://rest:8181"})
    assert LeaseConfig.from_settings(rest, {}).uri == f"sqlite:///{tmp_path.resolve() / 'leases.db'}"
    named = LeaseConfig.from_settings(rest, {"LAKEHOUSE_LEASE_DB_URI": "postgresql://lakehouse@db/leases"})
    assert named.uri == "postgresql://lakehouse@db/leases"
    with pytest.raises(ValueError, match="PGPASSWORD"):
        LeaseConfig.from_settings(rest, {"LAKEHOUSE_LEASE_DB_URI": "postgresql://u:secret@db/leases"})

    defaults = LeaseConfig.from_settings(embedded, {})
    assert (defaults.ttl_s, defaults.wait_s, defaults.heartbeat_s) == (120, 3600, 30)
    tuned = LeaseConfig.from_settings(
        embedded, {"LAKEHOUSE_LEASE_TTL_S": "30", "LAKEHOUSE_LEASE_WAIT_S": "0"}
    )
    assert (tuned.ttl_s, tuned.wait_s) == (30, 0)
    for bad in (
        {"LAKEHOUSE_LEASE_TTL_S": "0"},
        {"LAKEHOUSE_LEASE_WAIT_S": "-1"},
        {"LAKEHOUSE_LEASE_WAIT_S": "x"},
    ):
        with pytest.raises(ValueError, match="LAKEHOUSE_LEASE_"):
            LeaseConfig.from_settings(embedded, bad)
    assert "secret" not in repr(LeaseConfig.from_settings(jdbc, {}))


def test_a_liveness_check_trusts_no_reused_pid():
    from llm_lakehouse.core.leases import pid_alive

    me = Holder.me()
    assert pid_alive(me.pid, me.pid_start)
    assert not pid_alive(me.pid, (me.pid_start or 0) + 1)  # same pid, another process
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not pid_alive(proc.pid, None)
    assert lease_engine("postgres://u@h/db").dialect.name == "postgresql"


# -- the runner ---------------------------------------------------------------------------------------------
def test_run_job_holds_the_days_lease_around_the_whole_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from llm_lakehouse.spark import runner

    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    monkeypatch.delenv("LAKEHOUSE_CATALOG_URI", raising=False)
    monkeypatch.delenv("LAKEHOUSE_LEASE_DB_URI", raising=False)
    settings = Settings.from_env()
    cfg = LeaseConfig.from_settings(settings, {})
    seen: dict[str, Any] = {}

    def write_audit_publish(ctx, stage, tables, body):
        out = body()
        seen["published"] = ctx.run_id  # the gate and publish run inside the lease too
        seen["held at publish"] = current_lease(cfg, stage, ctx.day)
        return out

    def body(ctx, args) -> dict[str, Any]:
        held = current_lease(cfg, "silver", args.date)
        seen["held in body"] = held
        if args.run_id == "lost-run":
            # Another run took the day over while this one ran: it must not reach the gate and publish.
            engine = lease_engine(cfg.uri)
            with engine.begin() as conn:
                conn.execute(sa.update(leases).values(token="someone-else", run_id="other-run"))
            engine.dispose()
            return {}
        # A second run of the same day, meanwhile, fails at once (wait 0) naming this run, before it takes
        # the catalog lock this run holds.
        monkeypatch.setenv("LAKEHOUSE_LEASE_WAIT_S", "0")
        with pytest.raises(LeaseHeld, match="'run-1'"):
            runner.run_job("silver", body, _argv("run-2"))
        monkeypatch.delenv("LAKEHOUSE_LEASE_WAIT_S")
        return {"rows": 1}

    def _argv(run_id: str) -> list[str]:
        return [
            "--spec",
            str(REPO_ROOT / "pipelines" / "corpus_nightly.yaml"),
            "--date",
            D1.isoformat(),
            "--run-id",
            run_id,
        ]

    fake_session = types.SimpleNamespace(spark_session=lambda *a: None, ensure_tables=lambda *a: None)
    fake_wap = types.SimpleNamespace(write_audit_publish=write_audit_publish)
    monkeypatch.setitem(sys.modules, "llm_lakehouse.spark.session", fake_session)
    monkeypatch.setitem(sys.modules, "llm_lakehouse.spark.wap", fake_wap)
    monkeypatch.setattr(runner, "run_lineage", lambda *a: None)

    result = runner.run_job("silver", body, _argv("run-1"))
    assert result["rows"] == 1 and seen["published"] == "run-1"
    assert seen["held in body"].run_id == "run-1" and seen["held at publish"].run_id == "run-1"
    assert current_lease(cfg, "silver", D1) is None  # released after the job

    seen.clear()
    with pytest.raises(LeaseLost, match="now held by run 'other-run'"):
        runner.run_job("silver", body, _argv("lost-run"))
    assert "published" not in seen
    assert current_lease(cfg, "silver", D1).run_id == "other-run"  # the loser did not delete it
