"""Fixed cost of a Spark task: each layer's spark-submit on an empty day vs on one sample day, and the cost of
the quality gate: the same sample day with write-audit-publish + Great Expectations (the spec's default)
and with ``quality.publish: direct`` (writes main, no checks), each in its own fresh lakehouse.

Usage: .venvs/jobs/bin/python bench/stage_overhead.py [--docs 60] [--anchor REV] [--no-direct]
Runs in a throwaway LAKEHOUSE_HOME; prints a Markdown table for BENCHMARKS.md. The wall time of a
spark-submit on an empty day is the fixed overhead (JVM, SparkSession, Iceberg catalog, commit); the
``job`` column is the part measured inside the job (session start included).

``--anchor REV`` runs the same measurement first on that git revision (a temporary worktree whose
``src`` and ``spark_jobs`` replace this checkout's; same venv, jars and machine), then on this checkout,
and prints both side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.core.spec import load_spec
from llm_lakehouse.core.stages import DAY_STAGES
from llm_lakehouse.devtools.sample import generate
from llm_lakehouse.spark.runner import RESULT_PREFIX
from llm_lakehouse.spark.submit import spark_submit_command

EMPTY, FULL = date(2026, 12, 31), date(2026, 11, 1)


SPEC = REPO_ROOT / "pipelines" / "corpus_nightly.yaml"


def run_day(settings: Settings, day: date, spec_path: Path = SPEC) -> dict[str, tuple[float, float]]:
    spec = load_spec(spec_path)
    out = {}
    for stage in DAY_STAGES:
        cmd = spark_submit_command(settings, spec, stage, day.isoformat(), f"bench__{day}")
        started = time.monotonic()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=os.environ | settings.spark_env(), check=True
        )
        wall = time.monotonic() - started
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX))
        out[stage] = (wall, json.loads(line[len(RESULT_PREFIX) :])["seconds"])
    return out


def measure(docs: int, direct: bool) -> dict:
    """{"records", "empty", "full", "direct"}: per stage (wall s, in job s)."""
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.from_env({**os.environ, "LAKEHOUSE_HOME": home})
        truth = generate(settings.landing, [FULL], docs_per_source=docs)["days"][FULL.isoformat()]
        run_day(settings, EMPTY)  # creates the tables, so both measured runs find them
        empty, full = run_day(settings, EMPTY), run_day(settings, FULL)
    out = {"records": truth["bronze"], "empty": empty, "full": full}
    if direct:
        with tempfile.TemporaryDirectory() as home:
            direct_spec = Path(home) / "direct.yaml"
            direct_spec.write_text(SPEC.read_text().replace("  publish: wap", "  publish: direct"))
            settings = Settings.from_env({**os.environ, "LAKEHOUSE_HOME": home})
            generate(settings.landing, [FULL], docs_per_source=docs)
            run_day(settings, EMPTY, direct_spec)
            out["direct"] = run_day(settings, FULL, direct_spec)
    return out


def measure_anchor(rev: str, docs: int, direct: bool) -> dict:
    """``measure`` on git revision ``rev``: its code, this checkout's venv and jars."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "anchor"
        subprocess.run(
            ["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", str(tree), rev], check=True
        )
        try:
            env = os.environ | {
                "PYTHONPATH": str(tree / "src"),  # ahead of the venv's editable install, in workers too
                "LAKEHOUSE_JOBS_PYTHON": sys.executable,
                "LAKEHOUSE_JARS_DIR": str(REPO_ROOT / "build" / "jars"),
            }
            cmd = [sys.executable, str(Path(__file__).resolve()), "--docs", str(docs), "--json"]
            proc = subprocess.run(
                cmd + ([] if direct else ["--no-direct"]), env=env, cwd=tree, capture_output=True, text=True
            )
            if proc.returncode:
                raise SystemExit(f"anchor {rev} failed:\n{proc.stderr[-3000:]}")
            return json.loads(proc.stdout.strip().splitlines()[-1])
        finally:
            subprocess.run(
                ["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--docs", type=int, default=60)
    p.add_argument("--anchor", help="git revision to measure first, side by side")
    p.add_argument("--no-direct", action="store_true", help="skip the publish: direct lakehouse")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    anchor = measure_anchor(args.anchor, args.docs, not args.no_direct) if args.anchor else None
    this = measure(args.docs, not args.no_direct)
    if args.json:
        print(json.dumps(this))
        return
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores; {date.today()}; sample day: {this['records']} records"
    )
    runs = ([(args.anchor, anchor)] if anchor else []) + [("this checkout", this)]
    heads = [
        "empty day: spark-submit wall s",
        "empty day: in job s",
        "sample day (WAP + GX): wall s",
        "in job s",
    ]
    if not args.no_direct:
        heads += ["sample day, `publish: direct`: wall s", "in job s"]
    print("| stage | code | " + " | ".join(heads) + " |")
    print("|---|---|" + "---|" * len(heads))
    for stage in DAY_STAGES:
        for name, run in runs:
            cells = [*run["empty"][stage], *run["full"][stage]]
            if not args.no_direct:
                cells += run["direct"][stage]
            print(f"| {stage} | {name} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    for name, run in runs:
        total = sum(run["empty"][s][0] for s in DAY_STAGES), sum(run["full"][s][0] for s in DAY_STAGES)
        print(
            f"| all three | {name} | {total[0]:.1f} | | {total[1]:.1f} | |"
            + (" | |" if not args.no_direct else "")
        )


if __name__ == "__main__":
    main()
