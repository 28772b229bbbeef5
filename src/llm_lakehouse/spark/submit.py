"""How a layer job is submitted: the one definition shared by the Airflow DAG and ``lakehouse build``."""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

from llm_lakehouse.core.errors import EmptyDayFailed
from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.stages import NEEDS_SPARK, STAGES
from llm_lakehouse.spark.ingest import landed

JOBS_DIR = REPO_ROOT / "spark_jobs"
# Several stages of a day in one application (spark/day.py).
DAY_APPLICATION = JOBS_DIR / "day_build.py"


def application(stage: str) -> str:
    return str(JOBS_DIR / STAGES[stage].entry_point)


def application_args(spec: PipelineSpec, day: str, run_id: str, extra: list[str] | None = None) -> list[str]:
    assert spec.path is not None, "spec must come from load_spec"
    return ["--spec", str(spec.path), "--date", day, "--run-id", run_id, *(extra or [])]


def spark_submit_command(
    settings: Settings, spec: PipelineSpec, stage: str, day: str, run_id: str, extra: list[str] | None = None
) -> list[str]:
    return [
        *_submit(settings, spec, f"{spec.name}.{stage}"),
        application(stage),
        *application_args(spec, day, run_id, extra),
    ]


def settle_empty_day(
    settings: Settings, spec: PipelineSpec, stage: str, day: date, args: list[str]
) -> tuple[bool, str]:
    """Settles ``stage`` of a day nothing landed for without Spark (``spark/empty_day.py``, run with the
    stage's arguments ``args``): ``(True, its output)`` when it did, ``(False, why)`` when the day has work
    for the Spark job. A day with any landed file goes to Spark at once, with no process started. A gate
    that blocked the empty day, or any other failure, raises ``EmptyDayFailed`` with the output (the gate's
    report says which)."""
    why = landed(spec, settings, day)
    if why:
        return False, why
    cmd = [settings.spark.python, "-m", "llm_lakehouse.spark.empty_day", stage, *args]
    proc = subprocess.run(cmd, env=os.environ | settings.spark_env(), capture_output=True, text=True)
    output = proc.stderr + proc.stdout
    if proc.returncode == NEEDS_SPARK:
        return False, output
    if proc.returncode:
        raise EmptyDayFailed(f"{stage}: the empty-day path failed (exit {proc.returncode})", output)
    return True, output


def day_submit_command(
    settings: Settings, spec: PipelineSpec, day: str, run_id: str, extra: dict[str, list[str]]
) -> list[str]:
    """One spark-submit running the stages of ``extra`` (stage -> its extra arguments), in day order, in one
    application: the fixed cost of a Spark job is paid once for the day."""
    sections: list[str] = []
    for stage in (s for s in STAGES if s in extra):
        sections += ["--"] if sections else []
        sections += [stage, *application_args(spec, day, run_id, extra[stage])]
    return [*_submit(settings, spec, f"{spec.name}.day"), str(DAY_APPLICATION), *sections]


def _submit(settings: Settings, spec: PipelineSpec, name: str) -> list[str]:
    cmd = [
        str(Path(settings.spark.bin) / "spark-submit"),
        "--master",
        settings.spark.master,
        "--name",
        name,
        "--jars",
        ",".join(str(j) for j in settings.jars()),
        "--driver-memory",
        spec.spark.driver_memory,
        "--executor-memory",
        spec.spark.executor_memory,
    ]
    # No secret on the command line (ps shows it): the job's driver adds them from its environment.
    for key, value in (spec.spark.conf | settings.submit_conf()).items():
        cmd += ["--conf", f"{key}={value}"]
    return cmd


def stream_submit_command(settings: Settings, spec: PipelineSpec, available_now: bool = False) -> list[str]:
    """The long-lived streaming application (``spark/stream.py``), or a catch-up run with ``available_now``."""
    assert spec.path is not None, "spec must come from load_spec"
    cmd = [*_submit(settings, spec, f"{spec.name}.stream"), application("stream"), "--spec", str(spec.path)]
    return cmd + (["--available-now"] if available_now else [])
