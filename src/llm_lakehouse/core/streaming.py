"""Where a running stream keeps its state, and how far behind the landing zone it is.

The stream job (``spark/stream.py``) and ``lakehouse stream start|status|stop`` share one folder per spec under
``LAKEHOUSE_HOME/stream/<spec>/``:

- ``checkpoint/``: Spark's own (offsets, commits, the file source's log of files per batch). It is what makes the
  stream exactly-once: a batch that was planned but not committed is run again, on the same files, at restart.
- ``status.json``: written by the job after every micro-batch (the last batch, its counts and totals).
- ``stream.pid``, ``stream.log``: the process ``lakehouse stream start`` runs, and its output.
- ``stop``: a stop request; the job stops its query between batches and exits.

The lag is read from the checkpoint, not from the job: a stream that died, or hangs, shows its lag growing.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse


@dataclass(frozen=True)
class StreamPaths:
    root: Path

    @classmethod
    def of(cls, home: Path, spec_name: str) -> StreamPaths:
        return cls(home / "stream" / spec_name)

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint"

    @property
    def status(self) -> Path:
        return self.root / "status.json"

    @property
    def pid(self) -> Path:
        return self.root / "stream.pid"

    @property
    def log(self) -> Path:
        return self.root / "stream.log"

    @property
    def stop(self) -> Path:
        return self.root / "stop"


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Atomic: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def local_path(uri: str) -> str:
    """A path as the file source logs it (``file:/a%20b``) or as given (``/a b``), as a local path."""
    return unquote(urlparse(uri).path) if uri.startswith("file:") else uri


def committed_files(checkpoint: Path) -> set[str]:
    """Local paths of the files whose micro-batch committed, from Spark's file-source log in the checkpoint.

    The log (``sources/0/<batch>``, compacted every few batches into ``<batch>.compact``) holds one JSON line per
    file with its ``batchId``; ``commits/<batch>`` exists once that batch's sink finished. A file of a planned
    but uncommitted batch is still waiting: the restart runs that batch again."""
    commits = checkpoint / "commits"
    done = [int(p.name) for p in commits.iterdir() if p.name.isdigit()] if commits.is_dir() else []
    last = max(done, default=-1)
    log = checkpoint / "sources" / "0"
    files: set[str] = set()
    if not log.is_dir():
        return files
    for part in log.iterdir():
        if part.name.startswith("."):
            continue
        for line in part.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("batchId", last + 1) <= last:
                files.add(local_path(entry["path"]))
    return files


def landed_files(landing: Path) -> dict[str, float]:
    """Data files under ``<landing>/<day>/<source>/`` (not hidden ones, as the file source skips them) and
    their modification times."""
    found: dict[str, float] = {}
    if not landing.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(landing):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        for name in filenames:
            if name.startswith((".", "_")):
                continue
            path = os.path.join(dirpath, name)
            try:
                found[path] = os.stat(path).st_mtime
            except FileNotFoundError:
                continue
    return found


def pid_alive(paths: StreamPaths) -> int | None:
    """The stream's pid while its process runs, else None."""
    try:
        pid = int(paths.pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # A zombie (exited, not reaped) is not running.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return pid
    return None if state == "Z" else pid


def stream_status(
    paths: StreamPaths, landing: Path, slo_s: float, now: float | None = None
) -> dict[str, Any]:
    """What ``lakehouse stream status`` shows and the rag_freshness DAG checks.

    ``lag_s``: how long the oldest landed file that no committed batch has taken yet has been waiting (0 when
    none waits). ``within_slo``: the lag is under the spec's SLO (a stopped stream with nothing waiting is
    within it; one with files waiting falls behind as they age)."""
    now = time.time() if now is None else now
    committed = committed_files(paths.checkpoint)
    waiting = {p: m for p, m in landed_files(landing).items() if p not in committed}
    lag = max((now - m for m in waiting.values()), default=0.0)
    last = read_json(paths.status) or {}
    return {
        "running": pid_alive(paths) is not None,
        "pid": pid_alive(paths),
        "checkpoint": str(paths.checkpoint),
        "files_committed": len(committed),
        "files_waiting": len(waiting),
        "lag_s": round(max(lag, 0.0), 1),
        "slo_s": slo_s,
        "within_slo": lag <= slo_s,
        "last_batch": last.get("last_batch"),
        "totals": last.get("totals", {}),
    }
