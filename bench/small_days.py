"""The fixed cost of a day: a 100-document day of real text and an empty day, built the way ``lakehouse build``
builds them (one Spark application for bronze, silver and gold: ``spark/day.py``) against the anchor, one
spark-submit per stage (what the CLI did before, and what each Airflow task does for a day with files), side
by side; and an empty day through ``lakehouse build`` itself, whose stages settle without Spark
(``spark/empty_day.py``).

Each measurement runs on a lake that already holds one earlier day (tables, dedup index and history exist,
as on any night but the first), in a throwaway ``LAKEHOUSE_HOME``; the documents are real text from this
machine (``realtext_corpus.py``), the spec the shipped one, ``--accept-warnings`` (real text trips the
quarantine-share warning). Wall time is the spark-submit(s) from outside; per-phase seconds come from each
stage's result line (``timings``).

Usage: .venvs/jobs/bin/python bench/small_days.py [--docs 100]
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from measure import run_measured
from realtext_corpus import corpus_texts

from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.core.spec import load_spec
from llm_lakehouse.spark.runner import RESULT_PREFIX
from llm_lakehouse.spark.submit import day_submit_command, spark_submit_command

SPEC = REPO_ROOT / "pipelines" / "corpus_nightly.yaml"
STAGES = ("bronze", "silver", "gold")
FIRST = date(2026, 11, 1)


def _land(folder: Path, texts: list[str], prefix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "part.jsonl").open("w") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps({"id": f"{prefix}{i}", "text": text}) + "\n")


def _extra(folder: Path | None) -> dict[str, list[str]]:
    bronze = ["--input", str(folder), "--source-name", "web"] if folder else []
    return {s: [*(bronze if s == "bronze" else []), "--accept-warnings"] for s in STAGES}


def _results(stdout: str) -> list[dict]:
    return [
        json.loads(ln[len(RESULT_PREFIX) :]) for ln in stdout.splitlines() if ln.startswith(RESULT_PREFIX)
    ]


def build(
    mode: str, settings: Settings, day: date, folder: Path | None, log: Path
) -> tuple[float, list[dict]]:
    """(wall seconds, result lines) of one day built in ``mode``: ``day`` (one application) or ``stages``."""
    spec, env = load_spec(SPEC), os.environ | settings.spark_env()
    run_id, extra = f"bench__{mode}__{day}", _extra(folder)
    if mode == "day":
        run = run_measured(day_submit_command(settings, spec, day.isoformat(), run_id, extra), env, log)
        if run.returncode:
            raise SystemExit(f"{mode} build of {day} failed: {log}")
        return run.wall_s, _results(run.stdout)
    wall, results = 0.0, []
    for stage in STAGES:
        cmd = spark_submit_command(settings, spec, stage, day.isoformat(), run_id, extra[stage])
        run = run_measured(cmd, env, log.with_suffix(f".{stage}.log"))
        if run.returncode:
            raise SystemExit(f"{stage} of {day} failed: {log.with_suffix(f'.{stage}.log')}")
        wall += run.wall_s
        results += _results(run.stdout)
    return wall, results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=100)
    a = p.parse_args()
    texts = [t for _, t in corpus_texts()]
    random.Random(9).shuffle(texts)
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        for mode in ("stages", "day"):
            home = Path(tmp, mode)
            settings = Settings.from_env({**os.environ, "LAKEHOUSE_HOME": str(home)})
            first = Path(tmp, "in", "first")
            _land(first, texts[: a.docs], "f")
            build("day", settings, FIRST, first, Path(tmp, f"{mode}-first.log"))  # the lake's history
            small = Path(tmp, "in", "small")
            _land(small, texts[a.docs : 2 * a.docs], "s")
            for label, day, folder in (
                (f"{a.docs} documents", FIRST + timedelta(days=1), small),
                ("empty (nothing landed)", FIRST + timedelta(days=2), None),
            ):
                wall, results = build(mode, settings, day, folder, Path(tmp, f"{mode}-{day}.log"))
                rows.append((label, mode, wall, results))
        # What `lakehouse build` does with an empty day now: each stage settled without Spark.
        day = FIRST + timedelta(days=3)
        env = os.environ | {"LAKEHOUSE_HOME": str(Path(tmp, "day"))}
        cli = [str(Path(sys.executable).parent / "lakehouse"), "build", "--date", day.isoformat()]
        run = run_measured(cli, env, Path(tmp, f"cli-{day}.log"))
        if run.returncode or '"settled_without_spark": true' not in run.stdout:
            raise SystemExit(f"lakehouse build of the empty day {day} failed or started Spark:\n{run.stdout}")
        rows.append(("empty (nothing landed)", "cli", run.wall_s, []))
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}"
    )
    print(f"command: .venvs/jobs/bin/python bench/small_days.py --docs {a.docs}")
    print()
    print(
        "| day | how | wall, 3 stages | bronze / silver / gold in job | start / write / gate / publish (sum of stages) |"
    )
    print("|---|---|---|---|---|")
    hows = {
        "stages": "anchor: a spark-submit per stage",
        "day": "one application (what `lakehouse build` submits)",
        "cli": "`lakehouse build`: each stage settled without Spark",
    }
    for label, mode, wall, results in rows:
        how = hows[mode]
        if not results:
            print(f"| {label} | {how} | **{wall:.1f} s** | | |")
            continue
        per_stage = " / ".join(f"{r['seconds']:.1f}" for r in results)
        phases = {
            k: sum(r["timings"].get(k, 0) for r in results) for k in ("start", "write", "gate", "publish")
        }
        print(
            f"| {label} | {how} | **{wall:.1f} s** | {per_stage} s | {' / '.join(f'{v:.1f}' for v in phases.values())} s |"
        )


if __name__ == "__main__":
    main()
