"""Emitting MCPs: the local journal first, then the configured sink; replaying the journal into a GMS.

``emit`` never raises. It appends every MCP to the journal (``journal.jsonl``, one MCP per line, appended
under a file lock: jobs, the CLI and tests may write at once), then writes the sink:

- ``file``: ``mcps.json``, a JSON array of MCPs that ``datahub ingest`` (source ``file``) reads;
- ``lite``: DataHub Lite (SQLite) at ``lite/datahub.db``, browsable with ``datahub lite`` (see ``lite_env``);
- ``rest``: a GMS, restli ingest endpoints, one short attempt (``timeout_s``, no retries). When it fails,
  the events go to ``pending.jsonl`` and a warning says how many wait for replay; the next successful
  ``rest`` emit or ``lakehouse lineage publish`` sends them.

``read_aspects`` is what ``lakehouse lineage`` reads: the latest aspect per (urn, aspect) of the journal,
of the Airflow plugin's file and, on request, of the Lite database.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datahub.emitter.mcp import MetadataChangeProposalWrapper as MCP

from llm_lakehouse.datahub.config import LineageConfig

log = logging.getLogger("llm_lakehouse.datahub")


@dataclass
class EmitReport:
    events: int
    sink: str
    delivered: bool
    pending: int = 0  # events waiting for replay into a GMS (all runs so far)
    error: str | None = None


@contextmanager
def _locked(path: Path, lock_file: Path | None = None) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file or path.with_name(path.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _dumps(mcp: MCP) -> str:
    return json.dumps(mcp.to_obj(simplified_structure=True), sort_keys=True)


def append_lines(path: Path, mcps: Sequence[MCP]) -> None:
    with _locked(path), open(path, "a", encoding="utf-8") as fh:
        fh.writelines(_dumps(x) + "\n" for x in mcps)


def read_lines(path: Path) -> list[MCP]:
    if not path.exists():
        return []
    return [MCP.from_obj_require_wrapper(json.loads(line)) for line in path.read_text().splitlines() if line]


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


# --- Sinks ----------------------------------------------------------------------------------------------


def write_file(path: Path, mcps: Sequence[MCP]) -> None:
    """Appends to a DataHub file-sink JSON array in place, under a lock: the closing ``]`` is replaced by the
    new records and a new ``]``, so a run costs what its own events cost however long the history is (reading
    and rewriting the whole array took seconds per job after a few days). The file stays a valid array, in the
    layout ``datahub ingest`` (source ``file``) and ``write_metadata_file`` use."""
    from datahub.ingestion.sink.file import _to_obj_for_file

    if not mcps:
        return
    body = ",\n".join(json.dumps(_to_obj_for_file(x), indent=4) for x in mcps)
    with _locked(path), open(path, "a+b") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        fh.seek(max(0, end - 4096))
        tail = fh.read()
        close = tail.rstrip().rfind(b"]")
        if close < 0:
            if tail.strip():  # never truncate what is not ours to drop: the events stay in the journal
                raise ValueError(f"{path} does not end with a JSON array")
            fh.truncate(0)  # a new (or blank) file
            fh.write(f"[\n{body}\n]".encode())
            return
        empty = tail[:close].rstrip().endswith(b"[")
        # Append mode: after the truncation, the write lands where the closing bracket was.
        fh.truncate(end - len(tail) + close)
        fh.write(f"{'' if empty else ','}\n{body}\n]".encode())


def lite_env(cfg: LineageConfig) -> dict[str, str]:
    """Environment for the ``datahub lite`` CLI to open this lakehouse's Lite database.

    ``datahub`` reads ``~/.datahubenv`` (and crashes without a ``gms`` section), so it runs with
    ``HOME=<lakehouse home>/datahub`` where that file points at the database: never the user's home.
    """
    cfg.lite_home.mkdir(parents=True, exist_ok=True)
    env_file = cfg.lite_home / ".datahubenv"
    if not env_file.exists():
        import yaml

        env_file.write_text(
            yaml.safe_dump(
                {
                    "gms": {"server": cfg.gms_url or "http://localhost:8080", "token": ""},
                    "lite": {"type": "sqlite", "config": {"file": str(cfg.lite_path)}},
                }
            )
        )
    return {"HOME": str(cfg.lite_home), "DATAHUB_TELEMETRY_ENABLED": "false"}


def open_lite(cfg: LineageConfig, read_only: bool = False) -> Any:
    from datahub.lite.lite_util import get_datahub_lite

    cfg.lite_path.parent.mkdir(parents=True, exist_ok=True)
    options = {} if read_only else {"busy_timeout": 30000, "journal_mode": "WAL"}
    return get_datahub_lite(
        {
            "type": "sqlite",
            "config": {"file": str(cfg.lite_path), "read_only": read_only, "options": options},
        },
        read_only=read_only,
    )


def write_lite(cfg: LineageConfig, mcps: Sequence[MCP]) -> None:
    lite_env(cfg)
    with _locked(cfg.lite_path):
        lite = open_lite(cfg)
        try:
            for x in mcps:
                lite.write(x)
        finally:
            lite.close()


def rest_emitter(url: str, token: str | None, timeout_s: float = 3.0) -> Any:
    """A GMS emitter that fails fast: restli endpoints, short timeouts, no retries.

    The SDK's defaults retry with backoff, which is how an unreachable GMS costs ~20 s per task.
    """
    from datahub.emitter.rest_emitter import DataHubRestEmitter

    return DataHubRestEmitter(
        url,
        token=token or None,
        connect_timeout_sec=timeout_s,
        read_timeout_sec=max(timeout_s, 10.0),
        retry_max_times=0,
        openapi_ingestion=False,
    )


def send(url: str, token: str | None, mcps: Sequence[MCP], timeout_s: float = 3.0) -> None:
    """Sends ``mcps`` to a GMS in batches; raises on any failure."""
    emitter = rest_emitter(url, token, timeout_s)
    try:
        emitter.test_connection()
        for i in range(0, len(mcps), 200):
            emitter.emit_mcps(list(mcps[i : i + 200]))
    finally:
        emitter.close()


def _emit_rest(cfg: LineageConfig, mcps: Sequence[MCP]) -> EmitReport:
    if not cfg.gms_url:
        raise ValueError("sink rest needs DATAHUB_GMS_URL (or an Airflow connection to the GMS)")
    with _locked(cfg.pending):
        queued = read_lines(cfg.pending)
        try:
            send(cfg.gms_url, cfg.token, [*queued, *mcps], cfg.timeout_s)
        except Exception as exc:
            with open(cfg.pending, "a", encoding="utf-8") as fh:
                fh.writelines(_dumps(x) + "\n" for x in mcps)
            n = len(queued) + len(mcps)
            log.warning(
                "DataHub GMS %s unreachable (%s): %d events queued for replay in %s; "
                "they are sent with the next run or by `lakehouse lineage publish --server %s`",
                cfg.gms_url,
                str(exc).splitlines()[0][:200],
                n,
                cfg.pending,
                cfg.gms_url,
            )
            return EmitReport(len(mcps), "rest", False, n, str(exc))
        cfg.pending.unlink(missing_ok=True)
    if queued:
        log.info("DataHub GMS %s: replayed %d queued events", cfg.gms_url, len(queued))
    return EmitReport(len(mcps), "rest", True)


def emit(cfg: LineageConfig, mcps: Sequence[MCP]) -> EmitReport:
    """Journal + sink. Never raises: a failure is a warning, and the events stay in the journal."""
    if not mcps:
        return EmitReport(len(mcps), cfg.sink, True)
    try:
        append_lines(cfg.journal, mcps)
    except Exception as exc:
        log.warning("lineage journal %s not written: %s", cfg.journal, exc)
    try:
        absorb_plugin_file(cfg)
    except Exception as exc:
        log.warning("the Airflow plugin's file %s not moved to its journal: %s", cfg.airflow_file, exc)
    try:
        if cfg.sink == "file":
            write_file(cfg.file_path, mcps)
        elif cfg.sink == "lite":
            write_lite(cfg, mcps)
        elif cfg.sink == "rest":
            return _emit_rest(cfg, mcps)
    except Exception as exc:
        log.warning(
            "lineage sink %s failed (%s): %d events kept in %s for `lakehouse lineage publish`",
            cfg.sink,
            exc,
            len(mcps),
            cfg.journal,
        )
        return EmitReport(len(mcps), cfg.sink, False, count_lines(cfg.pending), str(exc))
    return EmitReport(len(mcps), cfg.sink, True)


def publish(cfg: LineageConfig, server: str, token: str | None = None, pending_only: bool = False) -> int:
    """Replays the journal and the Airflow plugin's file (or only the pending events) into the GMS at
    ``server``; returns the count.

    Replaying everything is safe: DataHub upserts aspects, and timeseries events keep their timestamps.
    """
    with _locked(cfg.pending):
        mcps = read_lines(cfg.pending) if pending_only else read_lines(cfg.journal) + _plugin_events(cfg)
        send(server, token, mcps, cfg.timeout_s)
        cfg.pending.unlink(missing_ok=True)
    return len(mcps)


def _plugin_events(cfg: LineageConfig) -> list[MCP]:
    """What the DataHub Airflow plugin wrote to its ``datahub-file`` connection (the embedded default):
    task runs with try numbers, states and log links, which only the plugin knows. Those already moved to
    the plugin journal come first, then what the file holds now."""
    if not cfg.airflow_file.exists() and not cfg.airflow_journal.exists():
        return []
    # Holding the emitter's lock, no job moves events between the two reads.
    with _plugin_locked(cfg):
        return read_lines(cfg.airflow_journal) + _plugin_file_events(cfg)


@contextmanager
def _plugin_locked(cfg: LineageConfig) -> Iterator[None]:
    """The lock the plugin's SynchronizedFileEmitter takes on <name>.lock (filelock: flock on Linux)."""
    with _locked(cfg.airflow_file, cfg.airflow_file.with_suffix(".lock")):
        yield


def _plugin_file_events(cfg: LineageConfig) -> list[MCP]:
    """The plugin file's MCPs; the caller holds ``_plugin_locked``."""
    from datahub.ingestion.source.file import read_metadata_file

    if not (cfg.airflow_file.exists() and cfg.airflow_file.stat().st_size):
        return []
    return [x for x in read_metadata_file(cfg.airflow_file) if isinstance(x, MCP)]


def absorb_plugin_file(cfg: LineageConfig) -> int:
    """Moves what the Airflow plugin's file holds into the append-only plugin journal and empties the file;
    returns how many events moved.

    The plugin's file emitter reads, extends and rewrites its whole JSON file for every event, so each task
    start and end cost grows with every run ever recorded (~0.5 s per event at 400 events, 17 events per
    task start). Each job empties it, under the emitter's own lock, so the file holds only the events since
    the last job and an event costs what it did on the first day.
    """
    if not (cfg.airflow_file.exists() and cfg.airflow_file.stat().st_size):
        return 0
    with _plugin_locked(cfg):
        events = _plugin_file_events(cfg)
        append_lines(cfg.airflow_journal, events)
        # Removed, not emptied: the emitter starts a new array only where no file exists. Another job may
        # have moved it between the check above and the lock.
        cfg.airflow_file.unlink(missing_ok=True)
    return len(events)


# --- Reading the local store ----------------------------------------------------------------------------


def _latest(records: Iterable[MCP]) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        if r.aspect is not None and r.entityUrn:
            out[(r.entityUrn, r.aspectName)] = r.aspect.to_obj()
    return out


def read_aspects(cfg: LineageConfig, lite: bool = False) -> list[dict[tuple[str, str], dict[str, Any]]]:
    """Latest aspects per source (journal, the Airflow plugin's file, Lite if asked), as plain dicts."""
    sources = [_latest(read_lines(cfg.journal))]
    if plugin := _plugin_events(cfg):
        sources.append(_latest(plugin))
    if lite and cfg.lite_path.exists():
        db = open_lite(cfg, read_only=True)
        try:
            sources.append(_latest(db.get_all_aspects()))
        finally:
            db.close()
    return sources


def environ_lite(cfg: LineageConfig) -> dict[str, str]:
    return os.environ | lite_env(cfg)
