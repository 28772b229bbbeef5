"""``make bench``: the side-by-side benchmarks in one command, written to one dated file.

Runs, one after the other on a quiet machine (each script's own docstring says what it compares):

- ``small_days.py``: a 100-document day and an empty day, one application vs a spark-submit per stage;
- ``airflow_empty_day.py``: an empty day through Airflow (standalone), all three tasks, against a day whose
  only file no reader takes (a spark-submit per task);
- ``realtext_vs_datatrove.py``: bronze + silver vs datatrove on real-text corpora (20 and 80 MB; the
  ``support`` policy's NER at 20 MB);
- ``realtext_scale``: the same script at 320 MB and 1 GB, where linear scaling and the memory bound show
  (about 80 minutes of the suite's time, half of it datatrove's);
- ``prod_vs_standalone.py``: ``make run-prod``'s topology (PostgreSQL, Celery, Spark standalone) against the
  embedded standalone (SQLite, LocalExecutor): start time, peak memory, a 3-day REST backfill;
- ``embeddings_backends.py``: sentence-transformers vs ONNX Runtime (float32, int8) on real-text chunks;
- ``pii_vs_presidio.py --corpus realtext``: the ``pii`` pipe vs Presidio used the default way, per document;
- ``gold_vs_raw.py``: the gold job's tokenize and embed steps vs the raw tokenizer and encoder;
- ``serving_index.py``: the RAG serving index at 100k chunks: an incremental sync vs a full rebuild, query
  latency (keyword, vector, hybrid) and retrieval quality on man pages;
- ``stream_freshness.py``: the streaming path on real text: landing → ``lakehouse search`` at a steady trickle
  (p50, p95), and a micro-batch of 1 % new documents against a full rebuild (a replay of everything landed);
- ``report_drift_cost.py``: what the profile, the drift checks and the corpus report add to silver + gold at
  17,000 real documents a day (one day without a baseline, one compared with it).

Each one's Markdown goes to ``bench/results/<date>.md`` under a heading with its command, after the machine
and the git revision; the README and BENCHMARKS.md quote numbers from such a file. ``--only NAME ...`` runs
a subset; ``--quick`` smaller sizes (a smoke run of the suite itself, not figures to quote).

Usage: make bench   (or .venvs/jobs/bin/python bench/suite.py [--only small_days ...] [--quick])
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

SUITE: dict[str, tuple[str, list[str], list[str]]] = {
    # section: (script, arguments, arguments with --quick)
    "small_days": ("small_days", ["--docs", "100"], ["--docs", "20"]),
    "airflow_empty_day": ("airflow_empty_day", [], []),
    "realtext_vs_datatrove": (
        "realtext_vs_datatrove",
        ["--mb", "20", "80", "--support-mb", "20"],
        ["--mb", "2", "--support-mb"],
    ),
    "realtext_scale": (
        "realtext_vs_datatrove",
        ["--mb", "320", "1024", "--support-mb"],
        ["--mb", "4", "--support-mb"],
    ),
    "prod_vs_standalone": ("prod_vs_standalone", ["--days", "3"], ["--days", "1"]),
    "embeddings_backends": ("embeddings_backends", ["--chunks", "1200"], ["--chunks", "100"]),
    "pii_vs_presidio": (
        "pii_vs_presidio",
        ["--corpus", "realtext"],
        ["--corpus", "realtext", "--docs", "40"],
    ),
    "gold_vs_raw": ("gold_vs_raw", ["--mb", "100", "--chunks", "1200"], ["--mb", "2", "--chunks", "100"]),
    "serving_index": (
        "serving_index",
        ["--chunks", "100000", "--pages", "400"],
        ["--chunks", "5000", "--pages", "40"],
    ),
    "stream_freshness": (
        "stream_freshness",
        ["--docs", "1000", "--files", "20", "--every", "10"],
        ["--docs", "100", "--files", "3", "--every", "10"],
    ),
    "report_drift_cost": (
        "report_drift_cost",
        ["--mb", "100", "--docs", "17000"],
        ["--mb", "5", "--docs", "600"],
    ),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=sorted(SUITE), help="run only these")
    p.add_argument(
        "--quick", action="store_true", help="small sizes: checks the suite runs, figures not quotable"
    )
    p.add_argument("--out", type=Path, default=BENCH / "results")
    a = p.parse_args()
    today = datetime.now(UTC).date().isoformat()
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src"], cwd=REPO, capture_output=True, text=True
    ).stdout
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"{today}{'-quick' if a.quick else ''}.md"
    header = [
        f"# Benchmarks of {today}{' (quick: sizes too small to quote)' if a.quick else ''}",
        "",
        f"Machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}. Command: `make bench` (bench/suite.py); each section says its revision.",
        "",
    ]
    # A rerun of some benchmarks the same day replaces their sections and keeps the others'.
    sections = _sections(path.read_text()) if path.exists() else {}
    for name in a.only or SUITE:
        script, args, quick_args = SUITE[name]
        args = quick_args if a.quick else args
        cmd = [sys.executable, str(BENCH / f"{script}.py"), *args]
        print(f"==> {name} {' '.join(args)}", file=sys.stderr, flush=True)
        started_at, started = datetime.now(UTC), time.monotonic()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        took = time.monotonic() - started
        lines = [
            f"## {name}",
            "",
            f"`.venvs/jobs/bin/python bench/{script}.py {' '.join(args)}`: revision {rev.strip()}"
            f"{' (with uncommitted changes to src/)' if dirty.strip() else ''}, {started_at:%H:%M} UTC, {took:.0f} s",
            "",
        ]
        if proc.returncode:
            lines += ["**failed**:", "", "```", *proc.stderr.splitlines()[-20:], "```", ""]
            print(f"    failed ({proc.returncode}); see {path}", file=sys.stderr)
        else:
            lines += [ln for ln in proc.stdout.splitlines() if not ln.startswith(("machine:", "command:"))]
            lines.append("")
        sections[name] = "\n".join(lines)
        # After each one: a long suite shows its progress in the file.
        path.write_text("\n".join([*header, *(sections[n] for n in SUITE if n in sections)]))
    print(path)


def _sections(text: str) -> dict[str, str]:
    """The ``## name`` sections of an earlier results file, by name."""
    return {
        part.split("\n", 1)[0].strip(): "## " + part.rstrip("\n") + "\n" for part in text.split("\n## ")[1:]
    }


if __name__ == "__main__":
    main()
