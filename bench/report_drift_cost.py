"""What the corpus report and the drift checks cost per run, at the held-out scale (~17k real documents a day).

Two days of real text (``realtext_corpus.py``: one corpus split in two, so no document repeats across days; the
measured day holds 17,000 documents) land on the ``web`` feed (pattern PII only: the cheapest silver, so the largest share for our additions).
Each day runs bronze, silver and gold as spark-submit jobs with the shipped spec, except ``min_history: 1``, so
the second day is really compared with the first (the first has no baseline: cheap). The jobs' own phase timings
give the parts this feature adds: the profile written in silver, the drift checks in silver's and gold's gates,
the report written after gold. The anchor is the silver + gold wall time of the same run.

Usage: .venvs/jobs/bin/python bench/report_drift_cost.py [--mb 100] [--docs 17000]
Prints a Markdown table for BENCHMARKS.md.
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

import yaml
from realtext_corpus import write_corpus

from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.core.spec import load_spec
from llm_lakehouse.core.stages import DAY_STAGES
from llm_lakehouse.spark.runner import RESULT_PREFIX
from llm_lakehouse.spark.submit import spark_submit_command

DAYS = (date(2026, 12, 1), date(2026, 12, 2))
ADDED = {"silver": ("profile", "drift"), "gold": ("drift", "report")}


def land(corpus: Path, landing: Path, measured: int) -> list[int]:
    """The corpus's documents on the two days' ``web`` feed: ``measured`` on the second day, the rest (none of
    the same documents) on the first, its history; documents per day."""
    lines = [ln for f in sorted(corpus.glob("part-*.jsonl")) for ln in f.read_text().splitlines() if ln]
    parts = [lines[measured:], lines[:measured]]
    for day, part in zip(DAYS, parts, strict=True):
        folder = landing / day.isoformat() / "web"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "part-0.jsonl").write_text("\n".join(part) + "\n")
    return [len(x) for x in parts]


def run(settings: Settings, spec_path: Path, day: date) -> dict[str, dict]:
    spec = load_spec(spec_path)
    out = {}
    for stage in DAY_STAGES:
        # Real text fails the sample-tuned quarantine_share warning (76 % dropped): accepted, as a team would.
        cmd = spark_submit_command(
            settings, spec, stage, day.isoformat(), f"bench__{day}", ["--accept-warnings"]
        )
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | settings.spark_env())
        if proc.returncode:
            errors = [ln for ln in proc.stderr.splitlines() if "Error" in ln or "Exception" in ln]
            raise SystemExit(f"{stage} {day} failed:\n" + "\n".join(errors[-40:]))
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX))
        result = json.loads(line[len(RESULT_PREFIX) :])
        out[stage] = {"wall": time.monotonic() - started, "timings": result.get("timings", {})}
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument(
        "--mb", type=float, default=100, help="the corpus of both days (~23k real documents at 95)"
    )
    p.add_argument("--docs", type=int, default=17_000, help="documents of the measured (second) day")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.from_env({**os.environ, "LAKEHOUSE_HOME": home})
        settings.prepare()
        corpus = Path(home) / "corpus"
        write_corpus(corpus, a.mb, files=4)
        docs = land(corpus, settings.landing, a.docs)
        raw = yaml.safe_load((REPO_ROOT / "pipelines" / "corpus_nightly.yaml").read_text())
        raw["quality"]["drift"]["min_history"] = 1
        spec_path = Path(home) / "spec.yaml"
        spec_path.write_text(yaml.safe_dump(raw))
        rows = []
        for day, n in zip(DAYS, docs, strict=True):
            got = run(settings, spec_path, day)
            anchor = got["silver"]["wall"] + got["gold"]["wall"]
            parts = {
                f"{stage} {phase}": got[stage]["timings"].get(phase, 0.0)
                for stage, ps in ADDED.items()
                for phase in ps
            }
            added = sum(parts.values())
            rows.append((day, n, got["silver"]["wall"], got["gold"]["wall"], parts, added, added / anchor))
    print(
        f"Machine: {platform.node()}, {os.cpu_count()} cores, {date.today()}. Command: "
        f"`.venvs/jobs/bin/python bench/report_drift_cost.py --mb {a.mb:g} --docs {a.docs}`.\n"
    )
    keys = [f"{s} {p}" for s, ps in ADDED.items() for p in ps]
    print(
        "| day | documents | silver wall | gold wall | "
        + " | ".join(keys)
        + " | added | share of silver + gold |"
    )
    print("|---|---|---|---|" + "---|" * len(keys) + "---|---|")
    for i, (day, n, sw, gw, parts, added, share) in enumerate(rows):
        label = f"{day} ({'no baseline' if i == 0 else 'compared with the day before'})"
        cells = " | ".join(f"{parts[k]:.1f} s" for k in keys)
        print(f"| {label} | {n:,} | {sw:.1f} s | {gw:.1f} s | {cells} | {added:.1f} s | **{share:.1%}** |")


if __name__ == "__main__":
    main()
