"""How a layer job is submitted: the one definition shared by the Airflow DAG and ``lakehouse build``."""

from __future__ import annotations

from pathlib import Path

from llm_lakehouse.settings import REPO_ROOT, Settings, jobs_bin
from llm_lakehouse.spec import PipelineSpec

JOBS_DIR = REPO_ROOT / "spark_jobs"
# Layer -> (entry point, the table it writes). Order is the order a day is built in.
STAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "bronze": ("bronze_ingest.py", ("bronze.documents",)),
    "silver": (
        "silver_refine.py",
        ("silver.documents", "silver.quarantine", "silver.dedup_index", "ops.pii_audit"),
    ),
    "gold": ("gold_tokenize.py", ("gold.training_documents", "gold.chunk_embeddings")),
}

# Jobs that are not a layer of a day (``lakehouse build`` and the nightly DAG never run them): name -> entry
# point. They write no layer's rows, so they never go through write-audit-publish.
JOBS: dict[str, str] = {"maintenance": "table_maintenance.py"}


def application(stage: str) -> str:
    return str(JOBS_DIR / (STAGES[stage][0] if stage in STAGES else JOBS[stage]))


def application_args(spec: PipelineSpec, day: str, run_id: str, extra: list[str] | None = None) -> list[str]:
    assert spec.path is not None, "spec must come from load_spec"
    return ["--spec", str(spec.path), "--date", day, "--run-id", run_id, *(extra or [])]


def spark_submit_command(
    settings: Settings, spec: PipelineSpec, stage: str, day: str, run_id: str, extra: list[str] | None = None
) -> list[str]:
    cmd = [
        str(Path(jobs_bin(settings)) / "spark-submit"),
        "--master",
        settings.spark_master,
        "--name",
        f"{spec.name}.{stage}",
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
    return [*cmd, application(stage), *application_args(spec, day, run_id, extra)]
