"""Fixed cost of a Spark task: each layer's spark-submit on an empty day vs on one sample day, and the cost of
the quality gate: the same sample day with write-audit-publish + Great Expectations (the spec's default)
and with ``quality.publish: direct`` (writes main, no checks), each in its own fresh lakehouse.

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
from pathlib import Path

from llm_lakehouse.jobs.runner import RESULT_PREFIX
from llm_lakehouse.sample import generate
from llm_lakehouse.settings import REPO_ROOT, Settings
from llm_lakehouse.spec import load_spec
from llm_lakehouse.submit import STAGES, spark_submit_command

EMPTY, FULL = date(2026, 12, 31), date(2026, 11, 1)


SPEC = REPO_ROOT / "pipelines" / "corpus_nightly.yaml"


def run_day(settings: Settings, day: date, spec_path: Path = SPEC) -> dict[str, tuple[float, float]]:
    spec = load_spec(spec_path)
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
    with tempfile.TemporaryDirectory() as home:
        direct_spec = Path(home) / "direct.yaml"
        direct_spec.write_text(SPEC.read_text().replace("  publish: wap", "  publish: direct"))
        settings = Settings.from_env({**os.environ, "LAKEHOUSE_HOME": home})
        generate(settings.landing, [FULL], docs_per_source=args.docs)
        run_day(settings, EMPTY, direct_spec)
        direct = run_day(settings, FULL, direct_spec)
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores; {date.today()}; sample day: {truth['bronze']} records"
    )
    print(
        "| stage | empty day: spark-submit wall s | empty day: in job s | sample day, gated (WAP + GX): wall s "
        "| in job s | sample day, `publish: direct`: wall s | in job s |"
    )
    print("|---|---|---|---|---|---|---|")
    for stage in STAGES:
        cells = [*empty[stage], *full[stage], *direct[stage]]
        print(f"| {stage} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
