"""Fixed cost of a Spark task: each layer's spark-submit on an empty day vs on one sample day.

Usage: .venvs/jobs/bin/python bench/stage_overhead.py [--docs 60]
Runs in a throwaway LAKEHOUSE_HOME; prints a Markdown table for BENCHMARKS.md. The wall time of a
spark-submit on an empty day is the fixed overhead (JVM, SparkSession, Iceberg catalog, commit); the
``job`` column is the part measured inside the job (session start included).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from datetime import date

from llm_lakehouse.jobs.runner import RESULT_PREFIX
from llm_lakehouse.sample import generate
from llm_lakehouse.settings import REPO_ROOT, Settings
from llm_lakehouse.spec import load_spec
from llm_lakehouse.submit import STAGES, spark_submit_command

EMPTY, FULL = date(2026, 12, 31), date(2026, 11, 1)


def run_day(settings: Settings, day: date) -> dict[str, tuple[float, float]]:
    spec = load_spec(REPO_ROOT / "pipelines" / "corpus_nightly.yaml")
    out = {}
    for stage in STAGES:
        cmd = spark_submit_command(settings, spec, stage, day.isoformat(), f"bench__{day}")
        started = time.monotonic()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=os.environ | settings.spark_env(), check=True
        )
        wall = time.monotonic() - started
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX))
        out[stage] = (wall, json.loads(line[len(RESULT_PREFIX) :])["seconds"])
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--docs", type=int, default=60)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.from_env({**os.environ, "LAKEHOUSE_HOME": home})
        truth = generate(settings.landing, [FULL], docs_per_source=args.docs)["days"][FULL.isoformat()]
        run_day(settings, EMPTY)  # creates the tables, so both measured runs find them
        empty, full = run_day(settings, EMPTY), run_day(settings, FULL)
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores; {date.today()}; sample day: {truth['bronze']} records"
    )
    print(
        "| stage | empty day: spark-submit wall s | empty day: in job s | sample day: wall s | sample day: in job s |"
    )
    print("|---|---|---|---|---|")
    for stage in STAGES:
        print(
            f"| {stage} | {empty[stage][0]:.1f} | {empty[stage][1]:.1f} | {full[stage][0]:.1f} | {full[stage][1]:.1f} |"
        )


if __name__ == "__main__":
    main()
