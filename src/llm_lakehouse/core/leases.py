"""Day leases: at most one run of a stage for a given day at a time, across processes and hosts.

A lease is a row of ``lakehouse_leases`` keyed by ``(stage, day)``, in the catalog's PostgreSQL database or in
an SQLite file beside an SQLite catalog (through SQLAlchemy), so every host that can write the catalog also
sees the leases:

- **acquire** inserts the row, or takes it over when its holder stopped heartbeating for longer than the TTL
  (``expires_at`` passed), or at once when the holder ran on this machine and its process is gone. Both happen
  in one statement (``INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at < now``) or one compare-and-swap
  on the holder's token, inside one transaction, so two contenders can never both win.
- **heartbeat**: a daemon thread moves ``expires_at`` to ``now + TTL`` every TTL/4 while the lease is held.
  A process killed with SIGKILL stops heartbeating; its lease is taken over after the TTL (or at once from
  the same machine). ``check()`` does the same renewal synchronously and raises ``LeaseLost`` when the row is
  no longer ours: the runner calls it between the job's body and its publish.
- **release** deletes the row only if it still carries our token: a run that lost its lease never deletes
  the lease of the run that took it over.

A second run of the same stage and day waits (polling, logging who holds the day) for up to
``LAKEHOUSE_LEASE_WAIT_S`` seconds, then fails with ``LeaseHeld``, whose message names the holder's run id,
host and pid, and since when it holds the day. Runs of other days, or of other stages, never wait.

Where the leases live (``LeaseConfig.from_settings``): the catalog database for a PostgreSQL catalog. Beside
an SQLite catalog, in ``$LAKEHOUSE_HOME/leases.db``: SQLite has one writer per file, and a heartbeat written
into the catalog's file invalidates the read snapshot Iceberg's JDBC connection holds open, failing the job's
next commit (``SQLITE_BUSY_SNAPSHOT``, found with a real spark-submit). An Iceberg REST catalog has no
database this process can reach, so ``LAKEHOUSE_LEASE_DB_URI`` names one, and without it
``$LAKEHOUSE_HOME/leases.db`` is used too: it excludes the runs that share that folder on one machine (the
compose stack's workers share the ``/lakehouse`` volume); runs on several machines need a PostgreSQL
``LAKEHOUSE_LEASE_DB_URI``.

Times are epoch seconds by the database's clock, never a host's: hosts' clocks may disagree, and a host
running ahead would take over live leases early.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from llm_lakehouse.core.errors import LakehouseError, LeaseLost
from llm_lakehouse.core.settings import Settings

log = logging.getLogger("llm_lakehouse.core.leases")

TABLE = "lakehouse_leases"
# Long enough that a holder survives a few missed heartbeats (a catalog database restart, a long GC pause),
# short enough that a day whose job was killed on another host is free again within a retry delay or two.
DEFAULT_TTL_S = 120.0
# A same-day run usually finishes within the hour; past that, failing (and naming the holder) says more than
# waiting on. 0 fails at once.
DEFAULT_WAIT_S = 3600.0
# Between two "still waiting" log lines.
WAIT_LOG_EVERY_S = 60.0

metadata = sa.MetaData()
leases = sa.Table(
    TABLE,
    metadata,
    sa.Column("stage", sa.String(64), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    # host:pid, for people; `node` and `pid` are what the liveness check reads.
    sa.Column("holder", sa.String(300), nullable=False),
    # The machine and pid namespace in which `pid` names the holder's process (boot id/pid-namespace inode).
    sa.Column("node", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    # The holder's start time in clock ticks (/proc/<pid>/stat): a reused pid is not the holder.
    sa.Column("pid_start", sa.BigInteger),
    # One per acquisition: heartbeat, takeover and release compare it, never the run id (a retry of the same
    # run id is another holder).
    sa.Column("token", sa.String(32), nullable=False),
    sa.Column("acquired_at", sa.Double, nullable=False),
    sa.Column("heartbeat_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
)


class LeaseHeld(LakehouseError, RuntimeError):
    """Another run holds the (stage, day) lease and did not release it within the wait."""

    def __init__(self, stage: str, day: date, holder: LeaseRow, waited_s: float) -> None:
        self.stage = stage
        self.day = day
        self.holder = holder
        self.waited_s = waited_s
        super().__init__(
            f"{stage} of {day.isoformat()} is already being built: run {holder.run_id!r} "
            f"({holder.holder}) holds the day's lease since {_iso(holder.acquired_at)}, last heartbeat "
            f"{_iso(holder.heartbeat_at)}, expires {_iso(holder.expires_at)} unless renewed. "
            f"Waited {waited_s:g} s (LAKEHOUSE_LEASE_WAIT_S); rerun once that run has finished."
        )


# -- clock --------------------------------------------------------------------------------------------------
class db_now(FunctionElement):
    """Epoch seconds by the database's clock (see the module docstring)."""

    type = sa.Double()
    inherit_cache = True


@compiles(db_now, "postgresql")
def _db_now_postgresql(element: db_now, compiler: Any, **kw: Any) -> str:
    # clock_timestamp(), not now(): now() is the transaction's start, stale after waiting on a row lock.
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


@compiles(db_now, "sqlite")
def _db_now_sqlite(element: db_now, compiler: Any, **kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


# -- who holds a lease ----------------------------------------------------------------------------------------
def _node_id() -> str:
    """This machine and pid namespace: where a pid can be checked with ``kill(pid, 0)``.

    The host name alone is not enough: containers sharing the host's network share its name, not its pids.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        # No /proc (macOS): the host name is the best there is.
        return "host:" + socket.gethostname()


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from the state on (the command name may hold spaces and parentheses)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _pid_start(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None  # field 22 of proc(5), counted from the state (field 3)


def pid_alive(pid: int, start: int | None) -> bool:
    """Whether the process ``pid`` that started at ``start`` (clock ticks) still runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's process
    if not Path("/proc/self/stat").exists():
        return True  # no /proc to look closer
    fields = _proc_stat(pid)
    if fields is None:
        return False  # exited just now
    if fields[0] in ("Z", "X"):
        return False  # killed and not yet reaped by its parent: it holds nothing any more
    # A pid reused by a newer process is not the holder.
    return start is None or int(fields[19]) == start


@dataclass(frozen=True)
class Holder:
    """The process that takes a lease."""

    host: str
    pid: int
    node: str
    pid_start: int | None

    @classmethod
    def me(cls) -> Holder:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, _node_id(), _pid_start(pid))

    @property
    def label(self) -> str:
        return f"{self.host}:{self.pid}"


@dataclass(frozen=True)
class LeaseRow:
    """A lease as stored."""

    stage: str
    day: date
    run_id: str
    holder: str
    node: str
    pid: int
    pid_start: int | None
    token: str
    acquired_at: float
    heartbeat_at: float
    expires_at: float

    def describe(self) -> str:
        return (
            f"run {self.run_id!r} ({self.holder}) since {_iso(self.acquired_at)}, last heartbeat "
            f"{_iso(self.heartbeat_at)}"
        )


# -- configuration ------------------------------------------------------------------------------------------
def _seconds(env: Mapping[str, str], name: str, default: float, *, zero_ok: bool) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name}: expected {'>= 0' if zero_ok else '> 0'} seconds, got {raw!r}")
    return value


@dataclass(frozen=True)
class LeaseConfig:
    # SQLAlchemy URI of the lease database; repr=False: the catalog's URI may hold its password.
    uri: str = field(repr=False)
    ttl_s: float = DEFAULT_TTL_S
    wait_s: float = DEFAULT_WAIT_S

    @property
    def heartbeat_s(self) -> float:
        # Four beats per TTL: a holder loses its lease only after missing four in a row.
        return self.ttl_s / 4

    @property
    def poll_s(self) -> float:
        return min(5.0, self.heartbeat_s)

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> LeaseConfig:
        """``LAKEHOUSE_LEASE_DB_URI``, ``LAKEHOUSE_LEASE_TTL_S`` and ``LAKEHOUSE_LEASE_WAIT_S`` over defaults."""
        env = os.environ if env is None else env
        uri = env.get("LAKEHOUSE_LEASE_DB_URI") or ""
        if uri and urlsplit(uri).password:
            # LAKEHOUSE_* variables are copied into the spark-submit's environment, which Airflow renders.
            raise ValueError(
                "LAKEHOUSE_LEASE_DB_URI: no password in the URI (it would show in Airflow's rendered "
                "spark-submit environment); give it through PGPASSWORD or ~/.pgpass, which libpq reads"
            )
        if not uri:
            # Not inside an SQLite catalog's file: a heartbeat's write there invalidates the read snapshot
            # Iceberg's JDBC connection keeps open, and the job's next commit fails with SQLITE_BUSY_SNAPSHOT.
            embedded = settings.catalog.kind == "rest" or settings.catalog.uri.startswith("sqlite")
            uri = f"sqlite:///{settings.home / 'leases.db'}" if embedded else settings.catalog.uri
        return cls(
            uri=uri,
            ttl_s=_seconds(env, "LAKEHOUSE_LEASE_TTL_S", DEFAULT_TTL_S, zero_ok=False),
            wait_s=_seconds(env, "LAKEHOUSE_LEASE_WAIT_S", DEFAULT_WAIT_S, zero_ok=True),
        )


# -- database -----------------------------------------------------------------------------------------------
def lease_engine(uri: str) -> Engine:
    """An engine on the lease database whose transactions serialize the way acquire needs."""
    if uri.startswith(("postgres://", "postgres+")):
        uri = "postgresql" + uri[len("postgres") :]  # Settings accepts the scheme, SQLAlchemy does not
    url = sa.engine.make_url(uri)
    backend = url.get_backend_name()
    if url.drivername == "postgresql":
        # SQLAlchemy 2.1 defaults to psycopg 3; the jobs env has psycopg2 (pyiceberg's sql-postgres extra).
        url = url.set(drivername="postgresql+psycopg2")
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # timeout: how long a statement waits for another writer (a catalog commit, a heartbeat).
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        # pysqlite opens a deferred transaction, which takes SQLite's write lock only at the first write:
        # two acquirers could both read the row, and the second upgrade fails with SQLITE_BUSY without waiting
        # in WAL mode. BEGIN IMMEDIATE takes the write lock first, so acquire's read-check-write is serialized.
        @sa.event.listens_for(engine, "connect")
        def _no_implicit_begin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin_immediate(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        # pre_ping: the heartbeat's pooled connection may have been closed by a database restart.
        return sa.create_engine(
            url, pool_pre_ping=True, pool_size=2, max_overflow=2, connect_args={"connect_timeout": 10}
        )
    raise ValueError(f"lease database: expected a sqlite:// or postgresql:// URI, got {backend!r}")


def ensure_table(engine: Engine) -> None:
    try:
        metadata.create_all(engine, checkfirst=True)
    except DBAPIError:
        # Two first runs can create it at once on PostgreSQL: the loser's CREATE fails, and the table is there.
        if not sa.inspect(engine).has_table(TABLE):
            raise


def _insert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _key(stage: str, day: date) -> Any:
    return sa.and_(leases.c.stage == stage, leases.c.day == day)


def read_lease(conn: Connection, stage: str, day: date) -> LeaseRow | None:
    row = conn.execute(sa.select(leases).where(_key(stage, day))).mappings().first()
    return LeaseRow(**row) if row else None


def current_lease(config: LeaseConfig, stage: str, day: date) -> LeaseRow | None:
    """The lease of (stage, day) as stored now, expired or not; None when free."""
    engine = lease_engine(config.uri)
    try:
        ensure_table(engine)
        with engine.begin() as conn:
            return read_lease(conn, stage, day)
    finally:
        engine.dispose()


# -- the lease ----------------------------------------------------------------------------------------------
class Lease:
    """The lease of one (stage, day) for one run. ``with Lease(...):`` acquires (waiting) and releases."""

    def __init__(
        self,
        config: LeaseConfig,
        stage: str,
        day: date,
        run_id: str,
        *,
        holder: Holder | None = None,
    ) -> None:
        self.config = config
        self.stage = stage
        self.day = day
        self.run_id = run_id
        self.holder = holder or Holder.me()
        self.token = uuid.uuid4().hex
        self.engine = lease_engine(config.uri)
        self._held = False
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return f"{self.stage}/{self.day.isoformat()}"

    @property
    def held(self) -> bool:
        return self._held and not self._lost.is_set()

    # -- acquire ----------------------------------------------------------------------------------------
    def acquire(self, wait_s: float | None = None) -> Lease:
        """Takes the lease, waiting up to ``wait_s`` (default: the config's) for its holder to finish.

        Raises ``LeaseHeld``, naming the holder, when it is still held at the end of the wait.
        """
        wait_s = self.config.wait_s if wait_s is None else wait_s
        ensure_table(self.engine)
        deadline = time.monotonic() + wait_s
        next_log = 0.0
        while True:
            other = self._try_acquire()
            if other is None:
                self._held = True
                self._start_heartbeat()
                log.info("lease %s taken by run %r (%s)", self.name, self.run_id, self.holder.label)
                return self
            now = time.monotonic()
            if now >= deadline:
                raise LeaseHeld(self.stage, self.day, other, wait_s)
            if now >= next_log:
                log.warning(
                    "waiting up to %.0f s more for the lease %s, held by %s",
                    deadline - now,
                    self.name,
                    other.describe(),
                )
                next_log = now + WAIT_LOG_EVERY_S
            time.sleep(min(self.config.poll_s, deadline - now))

    def _values(self, now: float) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "holder": self.holder.label,
            "node": self.holder.node,
            "pid": self.holder.pid,
            "pid_start": self.holder.pid_start,
            "token": self.token,
            "acquired_at": now,
            "heartbeat_at": now,
            "expires_at": now + self.config.ttl_s,
        }

    def _try_acquire(self) -> LeaseRow | None:
        """One attempt, in one transaction: None when the lease is ours now, else its holder."""
        with self.engine.begin() as conn:
            before = read_lease(conn, self.stage, self.day)
            now = float(conn.scalar(sa.select(db_now())))
            values = self._values(now)
            stmt = _insert(conn.dialect.name)(leases).values(stage=self.stage, day=self.day, **values)
            # Insert, or take over a lease whose holder stopped heartbeating; the WHERE is evaluated on the
            # locked row, so of two contenders only one updates it.
            stmt = stmt.on_conflict_do_update(
                index_elements=[leases.c.stage, leases.c.day],
                set_={name: stmt.excluded[name] for name in values},
                where=leases.c.expires_at < now,
            )
            conn.execute(stmt)
            row = read_lease(conn, self.stage, self.day)
            assert row is not None
            if row.token == self.token:
                if before is not None and before.token != self.token:
                    log.warning(
                        "lease %s: took over from %s, expired %.0f s ago",
                        self.name,
                        before.describe(),
                        now - before.expires_at,
                    )
                return None
            # A holder on this machine whose process is gone will never heartbeat again: take the day now rather
            # than after the TTL (a kill -9'd run retried on the same worker). Compare-and-swap on its token.
            if row.node == self.holder.node and not pid_alive(row.pid, row.pid_start):
                taken = conn.execute(
                    sa.update(leases)
                    .where(_key(self.stage, self.day), leases.c.token == row.token)
                    .values(**values)
                )
                if taken.rowcount == 1:
                    log.warning(
                        "lease %s: took over from %s, whose process is gone", self.name, row.describe()
                    )
                    return None
            return row

    # -- hold -------------------------------------------------------------------------------------------
    def _renew(self) -> bool:
        """Extends the lease by the TTL if it is still ours."""
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(leases)
                .where(_key(self.stage, self.day), leases.c.token == self.token)
                .values(heartbeat_at=db_now(), expires_at=db_now() + self.config.ttl_s)
            )
            return result.rowcount == 1

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.name}", daemon=True)
        self._thread.start()

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _beat(self) -> None:
        while not self._stop.wait(self.config.heartbeat_s):
            try:
                renewed = self._renew()
            except Exception as exc:
                # The TTL allows a few missed beats (a database restart); the next beat retries.
                log.warning("lease %s: heartbeat failed, retrying: %s", self.name, exc)
                continue
            if not renewed:
                self._lost.set()
                log.error("lease %s: lost, another run took the day over", self.name)
                return

    def check(self) -> None:
        """Renews the lease now and raises ``LeaseLost`` if it is no longer ours.

        Call it before an irreversible step (publishing): the heartbeat only notices a loss on its next beat.
        """
        if not self._held:
            raise LeaseLost(f"lease {self.name}: not held")
        if self._lost.is_set() or not self._renew():
            self._lost.set()
            now = read_lease_safely(self)
            raise LeaseLost(
                f"lease {self.name}: run {self.run_id!r} lost it (heartbeats failed for longer than the "
                f"{self.config.ttl_s:g} s TTL)" + (f"; now held by {now.describe()}" if now else "")
            )

    # -- release ----------------------------------------------------------------------------------------
    def release(self) -> bool:
        """Deletes the lease if it is still ours; True if it was. Never touches another holder's lease."""
        self._stop_heartbeat()
        self._held = False
        with self.engine.begin() as conn:
            deleted = conn.execute(
                sa.delete(leases).where(_key(self.stage, self.day), leases.c.token == self.token)
            )
        if deleted.rowcount == 1:
            log.info("lease %s released by run %r", self.name, self.run_id)
            return True
        return False

    def close(self) -> None:
        """Releases if held and frees the connections; a failed release is logged: the TTL frees the day."""
        try:
            if self._held or self._thread is not None:
                self.release()
        except Exception as exc:
            log.warning(
                "lease %s: not released (%s); it expires within %g s", self.name, exc, self.config.ttl_s
            )
        finally:
            self.engine.dispose()

    def __enter__(self) -> Lease:
        if self._held:
            return self  # ``with lease.acquire(wait_s=0):``
        try:
            return self.acquire()
        except BaseException:
            self.engine.dispose()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_lease_safely(lease: Lease) -> LeaseRow | None:
    """The current row of a lease, for a message; None also when the database does not answer."""
    try:
        with lease.engine.begin() as conn:
            return read_lease(conn, lease.stage, lease.day)
    except Exception:
        return None


@contextmanager
def day_lease(
    settings: Settings, stage: str, day: date, run_id: str, config: LeaseConfig | None = None
) -> Iterator[Lease]:
    """Holds the lease of (stage, day) for ``run_id`` inside the block (see the module docstring)."""
    config = config or LeaseConfig.from_settings(settings)
    settings.prepare()  # LAKEHOUSE_HOME exists (leases.db lives there) and the embedded catalog is in WAL mode
    with Lease(config, stage, day, run_id) as lease:
        yield lease
