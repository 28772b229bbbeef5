"""The embedded catalog's writer lock: a second job waits for the first instead of failing on SQLite."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.spark.runner import catalog_lock


def _hold(home: str, log: str, name: str, seconds: float) -> None:
    with catalog_lock(Settings.from_env({"LAKEHOUSE_HOME": home})):
        with open(log, "a") as fh:
            fh.write(f"{name}+{time.monotonic()}\n")
        time.sleep(seconds)
        with open(log, "a") as fh:
            fh.write(f"{name}-{time.monotonic()}\n")


def test_second_writer_waits_for_the_first(tmp_path: Path):
    log = tmp_path / "log"
    ctx = mp.get_context("spawn")
    first = ctx.Process(target=_hold, args=(str(tmp_path), str(log), "a", 1.0))
    first.start()
    while not log.exists():
        time.sleep(0.01)
    second = ctx.Process(target=_hold, args=(str(tmp_path), str(log), "b", 0.0))
    second.start()
    first.join(10)
    second.join(10)
    events = [
        line.split("+")[0] if "+" in line else line.split("-")[0] + "-" for line in log.read_text().split()
    ]
    # a enters and leaves before b enters: the critical sections never overlap.
    assert events == ["a", "a-", "b", "b-"]


def test_no_lock_on_a_server_catalog(tmp_path: Path):
    s = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_CATALOG_URI": "postgresql://u@h/db"})
    with catalog_lock(s), catalog_lock(s):  # re-entrant because it is a no-op
        pass
    assert not s.lock_path.exists()
