"""Runs a benchmark's command and measures it from outside: wall time and the peak resident memory of its
whole process tree (a JVM and its Python workers, or datatrove's worker pool), sampled every 0.2 s."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class Measured:
    wall_s: float
    peak_rss: int  # bytes, all processes of the tree together
    returncode: int
    stdout: str


def _sample_rss(root: psutil.Process, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        try:
            total = 0
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a worker may exit between listing and reading
                    total += p.memory_info().rss
            peak[0] = max(peak[0], total)
        except psutil.Error:
            pass
        time.sleep(0.2)


def run_measured(cmd: list[str], env: dict[str, str], log: Path) -> Measured:
    """``cmd`` with its stderr, then its stdout, in ``log``; stdout is returned too. (A spark-submit's Python
    driver writes its log lines to stdout: Spark merges the driver's stderr into it.)"""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        stop, peak = threading.Event(), [0]
        sampler = threading.Thread(
            target=_sample_rss, args=(psutil.Process(proc.pid), stop, peak), daemon=True
        )
        sampler.start()
        out, _ = proc.communicate()
        wall = time.monotonic() - started
        stop.set()
        sampler.join()
        err.write(out)
    return Measured(wall, peak[0], proc.returncode, out)
