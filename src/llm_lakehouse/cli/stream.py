"""``lakehouse stream start|stop``: the streaming path as a local background process (``status`` reads
``core/streaming.py``).

``start`` runs the streaming application (``spark/stream.py``) under spark-submit, detached, with its output in
``LAKEHOUSE_HOME/stream/<spec>/stream.log``; ``status`` reads the checkpoint for the lag (how long the oldest
landed file not yet in gold has waited) and the job's ``status.json`` for the last batch and totals; ``stop``
asks the job to stop between batches and waits for it. The rag_freshness DAG runs ``status --check``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.streaming import StreamPaths, pid_alive

# How long ``stop`` waits for the stream to finish its batch and exit before it terminates it.
STOP_WAIT_S = 120


def paths_of(settings: Settings, spec: PipelineSpec) -> StreamPaths:
    return StreamPaths.of(settings.home, spec.name)


def start(settings: Settings, spec: PipelineSpec, available_now: bool = False, wait: bool = False) -> int:
    """Starts the stream in its own session (it outlives the shell); returns its pid. ``wait`` runs it in the
    foreground instead and returns its exit status."""
    from llm_lakehouse.spark.submit import stream_submit_command

    paths = paths_of(settings, spec)
    running = pid_alive(paths)
    if running:
        raise RuntimeError(
            f"the stream of {spec.name} already runs (pid {running}); `lakehouse stream stop` first"
        )
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.stop.unlink(missing_ok=True)
    cmd = stream_submit_command(settings, spec, available_now)
    env = os.environ | settings.spark_env()
    with open(paths.log, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    paths.pid.write_text(str(proc.pid))
    return proc.wait() if wait else proc.pid


def stop(settings: Settings, spec: PipelineSpec, wait_s: float = STOP_WAIT_S) -> bool:
    """Asks the stream to stop between batches; terminates it after ``wait_s``. False when none ran."""
    paths = paths_of(settings, spec)
    pid = pid_alive(paths)
    if pid is None:
        return False
    paths.stop.touch()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and pid_alive(paths):
        time.sleep(0.5)
    if pid_alive(paths):
        # Safe at any point: the checkpoint replays the batch it was in.
        os.killpg(pid, signal.SIGTERM)
    paths.stop.unlink(missing_ok=True)
    return True
