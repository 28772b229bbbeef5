"""How a layer job is submitted: the one definition shared by the Airflow DAG and ``lakehouse build``."""

from __future__ import annotations

from pathlib import Path

from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.core.spec import PipelineSpec
from llm_lakehouse.core.stages import STAGES

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
