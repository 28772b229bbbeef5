"""Bronze + silver on real text against datatrove on the same files, side by side in one run, per scale point.

For each ``--mb`` point, a corpus from ``realtext_corpus.py`` (cached under ``--cache``), then:

(a) datatrove 0.10.1 in ``.venvs/bench``: ``JsonlReader -> GopherRepetitionFilter -> GopherQualityFilter ->
    PIIFormatter (regex e-mails and IPs) -> JsonlWriter``, ``LocalPipelineExecutor(tasks=files,
    workers=2)``;
(b) this project: one spark-submit of the bronze and silver stages (``spark/day.py``, what ``lakehouse build``
    runs) on a fresh ``LAKEHOUSE_HOME`` with the shipped spec, source ``web`` (policy ``public_text``, regex
    and checksum recognizers) and ``--accept-warnings`` (real text trips the quarantine-share warning);
(c) at the ``--support-mb`` points, (b) as source ``support``: the strictest policy, names and places by NER.

Both sides are timed from outside (interpreter and JVM start included) with the peak RSS of their whole
process tree. Silver also does what datatrove's chain does not: text extraction, Unicode fixes, language ID,
28 quality signals, exact and MinHash dedup against history, PII, the Iceberg commits and the quality gate.

Usage: .venvs/jobs/bin/python bench/realtext_vs_datatrove.py [--mb 20 80] [--support-mb 20]
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

from measure import Measured, run_measured
from realtext_corpus import write_corpus

from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.core.spec import load_spec
from llm_lakehouse.spark.runner import RESULT_PREFIX
from llm_lakehouse.spark.submit import day_submit_command

BENCH_PYTHON = REPO_ROOT / ".venvs" / "bench" / "bin" / "python"
SPEC = REPO_ROOT / "pipelines" / "corpus_nightly.yaml"
DAY = date(2026, 12, 1)
FILES = 8


def run_datatrove(corpus: Path, work: Path) -> tuple[Measured, dict]:
    cmd = [
        str(BENCH_PYTHON),
        str(Path(__file__).with_name("datatrove_chain.py")),
        str(corpus),
        str(work),
        str(FILES),
        "2",
    ]
    log = Path(os.environ.get("BENCH_LOG_DIR", "/tmp")) / "realtext_vs_datatrove.datatrove.log"
    run = run_measured(cmd, {**os.environ, "PYTHONPATH": ""}, log)
    if run.returncode != 0:
        raise SystemExit(f"datatrove failed ({run.returncode}): {log}")
    return run, json.loads(run.stdout.strip().splitlines()[-1])


def run_ours(corpus: Path, work: Path, source: str) -> tuple[Measured, dict[str, dict]]:
    """bronze + silver of ``corpus`` as ``source`` in one spark-submit; returns the run and each stage's
    result line."""
    spec = load_spec(SPEC)
    home = work / f"home-{source}"
    shutil.rmtree(home, ignore_errors=True)
    settings = Settings.from_env({**os.environ, "LAKEHOUSE_HOME": str(home)})
    extra = {
        "bronze": ["--input", str(corpus), "--source-name", source, "--accept-warnings"],
        "silver": ["--only-source", source, "--accept-warnings"],
    }
    cmd = day_submit_command(settings, spec, DAY.isoformat(), f"bench__{source}", extra)
    log = Path(os.environ.get("BENCH_LOG_DIR", "/tmp")) / f"realtext_vs_datatrove.{source}.log"
    run = run_measured(cmd, os.environ | settings.spark_env(), log)
    if run.returncode != 0:
        raise SystemExit(f"bronze + silver failed ({run.returncode}): {log}")
    results = [
        json.loads(ln[len(RESULT_PREFIX) :]) for ln in run.stdout.splitlines() if ln.startswith(RESULT_PREFIX)
    ]
    shutil.rmtree(home, ignore_errors=True)
    return run, {r["stage"]: r for r in results}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, nargs="+", default=[20, 80])
    p.add_argument("--support-mb", type=float, nargs="*", default=[20])
    p.add_argument("--cache", type=Path, default=Path(os.environ.get("BENCH_CACHE", "/tmp/lakehouse-bench")))
    a = p.parse_args()
    if not BENCH_PYTHON.exists():
        sys.exit("no .venvs/bench: run bash bench/setup_datatrove.sh first")
    rows = []
    for mb in a.mb:
        corpus = a.cache / f"realtext-{mb:g}mb"
        made_path = corpus.parent / f"{corpus.name}.json"  # written last: the corpus is complete
        if not made_path.exists():
            shutil.rmtree(corpus, ignore_errors=True)
            made_path.write_text(json.dumps(write_corpus(corpus, mb, FILES)))
        made = json.loads(made_path.read_text())
        with tempfile.TemporaryDirectory(dir=a.cache) as tmp:
            theirs, kept = run_datatrove(corpus, Path(tmp, "datatrove"))
            sources = ["web", *(["support"] if mb in a.support_mb else [])]
            for source in sources:
                ours, results = run_ours(corpus, Path(tmp), source)
                rows.append((mb, made, theirs, kept, source, ours, results))
                print(
                    f"{mb:g} MB {source}: ours {ours.wall_s:.1f} s, datatrove {theirs.wall_s:.1f} s",
                    file=sys.stderr,
                )
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}"
    )
    print(
        f"command: .venvs/jobs/bin/python bench/realtext_vs_datatrove.py --mb {' '.join(f'{m:g}' for m in a.mb)}"
    )
    print()
    print(
        "| corpus | docs | datatrove wall | kept | source (policy) | bronze + silver wall | bronze / silver in job "
        "| silver kept | speed vs datatrove | docs/s | peak RSS ours / datatrove |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for _mb, made, theirs, kept, source, ours, results in rows:
        bronze, silver = results["bronze"], results["silver"]
        print(
            f"| {made['mb']:g} MB real text | {made['documents']:,} | {theirs.wall_s:.1f} s | {kept['kept']:,} "
            f"| {source} | {ours.wall_s:.1f} s | {bronze['seconds']:.1f} s / {silver['seconds']:.1f} s "
            f"| {silver['silver']:,} | **{theirs.wall_s / ours.wall_s:.2f}×** | {made['documents'] / ours.wall_s:,.0f} "
            f"| {ours.peak_rss / 2**30:.2f} / {theirs.peak_rss / 2**30:.2f} GB |"
        )
    for mb, made, *_ in rows[:1]:
        print()
        print(f"corpus origins at {mb:g} MB: {json.dumps(made['origins'], sort_keys=True)}")


if __name__ == "__main__":
    main()
