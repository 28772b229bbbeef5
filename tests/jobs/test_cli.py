"""The ``lakehouse`` CLI as a user runs it: a real spark-submit per stage, then stats/export/tables/history."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from llm_lakehouse.devtools.sample import _prose
from llm_lakehouse.spark.runner import RESULT_PREFIX

CLI = str(Path(sys.executable).parent / "lakehouse")
DAY = "2026-09-01"


def run(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = os.environ | {"LAKEHOUSE_HOME": str(home)}
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, check=False)
    if ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict, Path]:
    home = tmp_path_factory.mktemp("cli-home")
    feed = tmp_path_factory.mktemp("cli-src") / "my-feed"  # the directory's name names the source
    feed.mkdir()
    rng = random.Random(1)
    first, second = _prose(rng), _prose(rng)  # English prose that passes the spec's quality rules
    lines = [{"id": 1, "text": first.replace(" ", "  ", 3)}, {"id": 2, "text": second, "lang": "en"}]
    (feed / "a.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + '\n{"id": 3, "text": oops}\n')
    # A duplicate of 1 once normalized.
    (feed / "b.jsonl").write_text(json.dumps({"id": 4, "text": first}) + "\n")
    proc = run(home, "build", "--date", DAY, "--source", str(feed))
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "bronze" in proc.stderr and "gold" in proc.stderr  # per-stage progress lines
    return home, summary, feed


def test_build_from_a_directory(built):
    _, summary, _ = built
    assert summary["bronze"] == 4
    assert summary["silver"] == 2
    assert summary["quarantine"] == 1 and summary["by_reason"]["malformed_json"] == 1
    assert summary["duplicates"] == 1
    assert summary["gold_documents"] == 2 and summary["gold_tokens"] > 4
    assert summary["by_source"] == {"my_feed": 4}


def test_build_runs_the_day_in_one_spark_application(built):
    """One spark-submit for the three stages (the JVM and the imports start once), still one result line
    per stage, each with where its time went."""
    home, summary, _ = built
    log = (home / "logs" / summary["run_id"] / "day.log").read_text()
    assert log.count("Submitted application:") == 1
    results = [
        json.loads(ln[len(RESULT_PREFIX) :]) for ln in log.splitlines() if ln.startswith(RESULT_PREFIX)
    ]
    assert [r["stage"] for r in results] == ["bronze", "silver", "gold"]
    for r in results:
        assert {"start", "write", "gate", "publish"} <= set(r["timings"]), r["stage"]


def test_build_of_a_day_nothing_landed_for_starts_no_spark(built):
    """On a lake whose tables exist, an empty day's three stages settle without Spark (spark/empty_day.py)."""
    home, _, _ = built
    proc = run(home, "build", "--date", "2026-09-05")
    assert proc.stderr.count("nothing to process: no Spark") == 3, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["settled_without_spark"] and (summary["bronze"], summary["silver"]) == (0, 0)
    assert not (home / "logs" / summary["run_id"]).exists()  # no spark-submit, so no day.log
    audit = json.loads(run(home, "stats", "--date", "2026-09-05", "--json").stdout)["audit"]
    assert sorted(a["job"] for a in audit) == ["bronze", "gold", "silver"]


def test_the_day_application_takes_stages_in_day_order_only():
    from llm_lakehouse.spark.day import plan

    args = ["--spec", "s.yaml", "--date", DAY, "--run-id", "r"]
    assert plan(["bronze", *args, "--", "gold", *args]) == [("bronze", args), ("gold", args)]
    for bad in (["gold", "--", "bronze"], ["silver", "--", "silver"], ["maintenance"], []):
        with pytest.raises(SystemExit):
            plan(bad)


def test_stats_json_matches_the_build(built):
    home, summary, _ = built
    stats = json.loads(run(home, "stats", "--date", DAY, "--json").stdout)
    for key in ("bronze", "silver", "quarantine", "duplicates", "gold_documents", "gold_tokens"):
        assert stats[key] == summary[key], key
    jobs = {(r["job"], r["step"]): r for r in stats["audit"]}
    assert jobs[("silver", "*")]["docs_in"] == summary["bronze"]
    assert jobs[("gold", "*")]["docs_out"] == summary["gold_documents"]
    assert ("silver", "validate") in jobs and ("bronze", "*") in jobs
    # The build's gold job wrote the day's corpus report; stats points at it.
    assert stats["report"] == str(home / "reports" / DAY / "index.html")


def test_report_writes_the_page_where_asked(built, tmp_path):
    home, summary, _ = built
    proc = run(home, "report", "--date", DAY, "--days", "3", "--out", str(tmp_path / "r"))
    page = Path(proc.stdout.strip())
    assert page == tmp_path / "r" / "index.html"
    text = page.read_text()
    assert f"{summary['bronze']} records" in text and "malformed_json" in text
    assert (tmp_path / "r" / "funnel.png").stat().st_size > 1000
    bad = run(home, "report", "--date", "2026-13-01", ok=False)
    assert bad.returncode == 2 and "expected YYYY-MM-DD" in bad.stderr


def test_export_writes_rows_of_the_day(built, tmp_path):
    home, _, feed = built
    out = tmp_path / "silver.jsonl"
    run(home, "export", "silver.documents", "--date", DAY, "--out", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    written = [json.loads(line)["text"] for line in (feed / "a.jsonl").read_text().splitlines()[1:2]]
    written.append(json.loads((feed / "b.jsonl").read_text())["text"])
    assert sorted(r["text"] for r in rows) == sorted(written)
    assert {r["dt"] for r in rows} == {DAY}
    # An ad-hoc source is scrubbed under the spec's default (strictest) policy.
    assert {r["pii_policy"] for r in rows} == {"support_chat"}
    qout = tmp_path / "q.jsonl"
    run(home, "export", "silver.quarantine", "--date", DAY, "--out", str(qout))
    q = {r["reason"]: r for r in map(json.loads, qout.read_text().splitlines())}
    bout = tmp_path / "b.jsonl"
    run(home, "export", "bronze.documents", "--date", DAY, "--out", str(bout))
    raw = {r["raw_hash"]: r["raw"] for r in map(json.loads, bout.read_text().splitlines())}
    assert base64.b64decode(raw[q["malformed_json"]["raw_hash"]]) == b'{"id": 3, "text": oops}'
    assert q["exact_duplicate"]["duplicate_of"] == "my_feed/1"


def test_search_syncs_the_index_and_runs_the_query_pipeline(built, tmp_path):
    home, _, feed = built
    second = json.loads((feed / "a.jsonl").read_text().splitlines()[1])["text"]
    phrase = " ".join(second.split()[10:17])  # words copied from document 2: its answer
    hits = json.loads(run(home, "search", phrase, "--json", "-k", "3").stdout)
    assert hits[0]["doc_id"] == "my_feed/2" and hits[0]["dt"] == DAY and hits[0]["source"] == "my_feed"
    assert set(hits[0]["ranks"]) == {"keyword", "vector"}  # the shipped pipeline is hybrid
    synced = json.loads(run(home, "index", "sync", "--json").stdout)
    assert synced["files_added"] == synced["files_removed"] == 0 and synced["rows"] > 0  # search synced it
    assert json.loads(run(home, "search", phrase, "--json", "--source", "other").stdout) == []
    keyword = tmp_path / "keyword.yaml"
    keyword.write_text("name: keyword_only\npipes:\n  - pipe: keyword\n")
    only = json.loads(run(home, "search", phrase, "--json", "--pipeline", str(keyword)).stdout)
    assert only[0]["doc_id"] == "my_feed/2" and set(only[0]["ranks"]) == {"keyword"}
    bad = run(home, "search", phrase, "--pipeline", "no_such_pipeline", ok=False)
    assert bad.returncode == 2 and "no_such_pipeline.yaml: no such query spec" in bad.stderr
    empty = run(tmp_path / "new-lake", "search", phrase, ok=False)
    assert empty.returncode == 2 and "gold.chunk_embeddings does not exist yet: build a day" in empty.stderr


def test_a_dataset_created_and_rebuilt_from_the_cli_says_so_in_json(built, tmp_path):
    home, summary, _ = built
    made = json.loads(run(home, "dataset", "create", "cli-v1", "--from", DAY, "--to", DAY, "--seq-len", "16",
                          "--json").stdout)  # fmt: skip
    again = json.loads(
        run(home, "dataset", "rebuild", "cli-v1", "--out", str(tmp_path / "again"), "--json").stdout
    )
    assert again["identical"] is True and again["sha256"] == made["sha256"]
    assert again["sequences"] == made["sequences"] > 0


def test_sample_prints_its_manifest_as_json(tmp_path):
    out = tmp_path / "landing"
    got = json.loads(
        run(tmp_path, "sample", "--out", str(out), "--days", "1", "--docs", "3", "--json").stdout
    )
    ((day, truth),) = got["days"].items()
    assert got["landing"] == str(out) and truth["bronze"] > truth["silver"] > 0
    assert sorted(p.name for p in (out / day).iterdir())  # the day's source folders were written


def test_tables_and_history(built):
    home, _, _ = built
    listing = run(home, "tables").stdout
    for t in ("bronze.documents", "silver.documents", "silver.quarantine", "gold.training_doc"):
        assert t in listing
    tables = {t["table"]: t for t in json.loads(run(home, "tables", "--json").stdout)}
    assert tables["silver.documents"]["rows"] == 2 and tables["silver.documents"]["snapshot_id"]
    assert tables["bronze.documents"]["rows"] == 4
    hist = json.loads(run(home, "history", "silver.documents", "--json").stdout)
    assert hist and all({"snapshot_id", "committed_at", "operation", "summary"} <= set(h) for h in hist)
    assert hist[-1]["summary"]["added-records"] == "2"


def test_clear_errors(built, tmp_path):
    home, _, feed = built
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\ndescription: d\nowners: [a]\nstart_date: 2026-01-01\nsources: [{name: web, format: csv}]\n"
        "silver: {pipes: [{pipe: content_hash}]}\n"
    )
    proc = run(home, "build", "--date", DAY, "--spec", str(bad), ok=False)
    assert proc.returncode == 2 and str(bad) in proc.stderr and "sources.0.format" in proc.stderr
    # A spec without a default PII policy refuses an undeclared source before any stage runs.
    strict = tmp_path / "no-default.yaml"
    shipped = (Path(__file__).resolve().parents[2] / "pipelines" / "corpus_nightly.yaml").read_text()
    strict.write_text(shipped.replace("      default: true\n", "", 1))
    proc = run(home, "build", "--date", "2026-09-02", "--spec", str(strict), "--source", str(feed), ok=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "source 'my_feed' has no PII policy" in proc.stderr and "default: true" in proc.stderr
    assert "nothing was written" in proc.stderr
    assert not (home / "logs").exists() or not any("2026-09-02" in p.name for p in (home / "logs").iterdir())
    proc = run(home, "export", "gold.nope", "--date", DAY, "--out", str(tmp_path / "x"), ok=False)
    assert proc.returncode != 0 and "unknown table" in proc.stderr
    proc = run(home, "stats", "--date", "2026-13-01", ok=False)
    assert proc.returncode != 0 and "YYYY-MM-DD" in proc.stderr


def test_version_and_config_mask_secrets(tmp_path):
    from llm_lakehouse import __version__

    assert run(tmp_path, "--version").stdout.strip() == f"lakehouse {__version__}"
    env = os.environ | {
        "LAKEHOUSE_HOME": str(tmp_path),
        "LAKEHOUSE_CATALOG_URI": "postgresql+psycopg2://ice:pg-SECRET@db:5432/iceberg_catalog",
        "LAKEHOUSE_SPARK_CONF": '{"spark.driver.cores": "1"}',
    }
    proc = subprocess.run([CLI, "config", "--json"], capture_output=True, text=True, env=env, check=True)
    shown = json.loads(proc.stdout)
    assert "SECRET" not in proc.stdout + proc.stderr
    assert shown["catalog"]["uri"] == "postgresql+psycopg2://ice:***@db:5432/iceberg_catalog"
    assert shown["catalog"]["kind"] == "jdbc" and shown["home"] == str(tmp_path)
    assert shown["spark"]["conf"] == {"spark.driver.cores": "1"}
    table = subprocess.run([CLI, "config"], capture_output=True, text=True, env=env, check=True).stdout
    assert "ice:***@db" in table and "SECRET" not in table


@pytest.mark.parametrize(("blocked", "code"), [("silver of 2026-09-03 blocked: row_count", 3), (None, 1)])
def test_build_tells_a_blocked_gate_from_a_crash(tmp_path, monkeypatch, blocked, code):
    """Exit 3 when a quality gate held the day (the data), 1 when a job failed otherwise (the infrastructure)."""
    from typer.testing import CliRunner

    from llm_lakehouse.cli import app as cli_app

    app_module = sys.modules["llm_lakehouse.cli.app"]

    class Failed:  # a spark-submit that printed no result line and exited 1
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.stdout = iter(())

        def wait(self) -> int:
            return 1

    monkeypatch.setattr(app_module.subprocess, "Popen", Failed)
    monkeypatch.setattr(app_module, "blocked_message", lambda *a: blocked)
    # A day with work for Spark (the empty-day path has its own tests: test_empty_day.py).
    monkeypatch.setattr(app_module, "settle_empty_day", lambda *a: (False, "files landed"))
    result = CliRunner().invoke(
        cli_app, ["build", "--date", "2026-09-03"], env={"LAKEHOUSE_HOME": str(tmp_path)}
    )
    assert result.exit_code == code, result.output
    assert ("blocked: row_count" in result.output) == (blocked is not None)


def test_a_domain_pipeline_builds_in_its_own_lakehouse_and_leaves_the_platforms_alone(built, monkeypatch):
    """pipelines/domains/support.yaml on a landed day with every feed: only support's records, in the domain's
    catalog and warehouse location, not readable by others; the platform's tables keep their snapshots."""
    from llm_lakehouse.core.settings import REPO_ROOT
    from llm_lakehouse.devtools.sample import generate

    home, _, _ = built
    day = "2026-09-04"
    monkeypatch.delenv("LAKEHOUSE_DOMAIN", raising=False)
    generate(home / "landing", [date.fromisoformat(day)], docs_per_source=6)
    before = json.loads(run(home, "tables", "--json").stdout)
    spec = str(REPO_ROOT / "pipelines" / "domains" / "support.yaml")
    summary = json.loads(run(home, "build", "--date", day, "--spec", spec).stdout.strip().splitlines()[-1])
    assert set(summary["by_source"]) == {"support"} and summary["bronze"] > 0
    assert json.loads(run(home, "tables", "--json").stdout) == before  # the platform's catalog: untouched
    stats = json.loads(run(home, "--domain", "support", "stats", "--date", day, "--json").stdout)
    assert stats["bronze"] == summary["bronze"] and stats["report"].startswith(
        str(home / "domains" / "support")
    )
    files = [p for p in (home / "warehouse" / "support" / "bronze" / "documents").rglob("*.parquet")]
    assert files and not list((home / "warehouse" / "bronze" / "documents").rglob("*dt=2026-09-04*"))
    assert [str(p) for p in (home / "warehouse" / "support").rglob("*") if p.stat().st_mode & 0o007] == []
    # The platform's spec against the support domain's lakehouse: refused before anything runs.
    wrong = run(home, "--domain", "support", "build", "--date", day, ok=False)
    assert wrong.returncode == 2 and "LAKEHOUSE_DOMAIN" in wrong.stderr and "'support'" in wrong.stderr
