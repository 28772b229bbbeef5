"""The production topology (``make run-prod``) against the embedded default (``make run``), side by side in one run:
start time, peak memory of everything started, and a 3-day REST backfill's wall time.

- **standalone**: ``airflow standalone`` (SQLite metadata, LocalExecutor), the SQLite Iceberg catalog behind its
  lock, the Spark pool at one slot, Spark in local mode;
- **production**: PostgreSQL (Airflow's metadata and the Iceberg JDBC catalog, no lock), Redis, the
  CeleryExecutor with a ``default`` and a ``gpu`` worker, a Spark standalone Master and Worker, the pool at two.

Each on a fresh ``LAKEHOUSE_HOME`` with the same sample days landed. Start time is to every component healthy
(and, for production, every service ready); the backfill's wall time is from the REST call creating it to its
last run's success; peak RSS sums every process each side started (PostgreSQL's included), sampled every 0.5 s.

Usage: .venvs/jobs/bin/python bench/prod_vs_standalone.py [--days 3]   (runs itself in the Airflow env)
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_PYTHON = REPO / ".venvs" / "airflow" / "bin" / "python"
FIRST = date(2026, 11, 1)
STANDALONE_PORT, PROD_PORT = 18095, 18480


class PeakRss(threading.Thread):
    """The peak of the summed RSS of the process trees under ``roots()`` (pids, re-read at each sample)."""

    def __init__(self, roots: Callable[[], list[int]]) -> None:
        super().__init__(daemon=True)
        self.roots, self.peak, self.stop = roots, 0, threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stop.is_set():
            seen: set[int] = set()
            total = 0
            for pid in self.roots():
                with contextlib.suppress(psutil.Error, ValueError):
                    root = psutil.Process(pid)
                    for p in [root, *root.children(recursive=True)]:
                        if p.pid not in seen:
                            seen.add(p.pid)
                            with contextlib.suppress(psutil.Error):
                                total += p.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(0.5)


def backfill(af, days: int) -> float:
    last = FIRST + timedelta(days=days - 1)
    started = time.monotonic()
    af.backfill(FIRST, last, reprocess="completed")
    runs = af.runs_for(FIRST, last)
    states = af.wait_runs([r["dag_run_id"] for r in runs], timeout=3600)
    if set(states.values()) != {"success"}:
        raise SystemExit(f"backfill failed: {states}")
    return time.monotonic() - started


def standalone(tmp: Path, days: int) -> tuple[float, float, int, int]:
    from llm_lakehouse.core.spec import load_spec
    from llm_lakehouse.devtools.standalone import DAG_ID, AirflowProcess, up

    spec = load_spec(REPO / "pipelines" / f"{DAG_ID}.yaml")
    process = AirflowProcess(tmp / "airflow", STANDALONE_PORT)
    rss = PeakRss(lambda: [int(process.pid_file.read_text())] if process.pid_file.exists() else [])
    rss.start()
    try:
        started = time.monotonic()
        af = up(process, spec.spark.pool)
        start_s = time.monotonic() - started
        wall = backfill(af, days)
        return start_s, wall, rss.peak, af.locked_retries
    finally:
        rss.stop.set()
        process.stop()


def production(tmp: Path, days: int) -> tuple[float, float, int, int]:
    from llm_lakehouse.devtools.prod import Ports, Topology, ready_dag

    topology = Topology(tmp, Ports.from_base(PROD_PORT))

    def roots() -> list[int]:
        pids = [p for name in topology.status() if (p := topology.pid(name))]
        postmaster = topology.root / "postgres" / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The first line is the postmaster's pid (negative while it runs single-user).
            pids.append(abs(int(postmaster.read_text().split()[0])))
        return pids

    rss = PeakRss(roots)
    rss.start()
    try:
        started = time.monotonic()
        topology.up()
        af = ready_dag(topology, pool_slots=2)
        start_s = time.monotonic() - started
        wall = backfill(af, days)
        return start_s, wall, rss.peak, af.locked_retries
    finally:
        rss.stop.set()
        topology.down()


def main() -> None:
    from llm_lakehouse.devtools.sample import default_days, generate

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=3)
    a = p.parse_args()
    rows = []
    for label, run in (
        ("standalone: SQLite, LocalExecutor, local[*]", standalone),
        ("production: PostgreSQL, Celery, Spark standalone", production),
    ):
        with tempfile.TemporaryDirectory(prefix="bench-prod-") as tmp:
            home = Path(tmp)
            home.chmod(0o711)  # PostgreSQL's user reaches its folder
            os.environ["LAKEHOUSE_HOME"] = str(home)
            generate(home / "landing", default_days(FIRST, a.days))
            start_s, wall, peak, retries = run(home, a.days)
            rows.append((label, start_s, wall, peak, retries))
            print(f"{label}: up {start_s:.0f} s, backfill {wall:.0f} s", file=sys.stderr)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"command: .venvs/jobs/bin/python bench/prod_vs_standalone.py --days {a.days}")
    print()
    print(
        f"| topology | start to healthy | {a.days}-day REST backfill | peak RSS, everything | 503 retries |"
    )
    print("|---|---|---|---|---|")
    for label, start_s, wall, peak, retries in rows:
        print(f"| {label} | {start_s:.1f} s | **{wall:.1f} s** | {peak / 2**30:.2f} GB | {retries} |")


if __name__ == "__main__":
    # Venv interpreters resolve to the same base binary: the environment is told by sys.prefix.
    if Path(sys.prefix).resolve() != AIRFLOW_PYTHON.parents[1].resolve() and AIRFLOW_PYTHON.exists():
        os.execv(str(AIRFLOW_PYTHON), [str(AIRFLOW_PYTHON), __file__, *sys.argv[1:]])
    main()
