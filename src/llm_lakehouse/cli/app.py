"""``lakehouse``: build a day, inspect counts, export rows and read table history, without Airflow.

Exit codes: 0 done; 1 a failure (a job crashed, a table is missing, a rebuild differs); 2 a usage error (bad
arguments, a spec that does not load, a source no PII policy covers); 3 a quality gate blocked the day (the data,
not the infrastructure: fix the input or the spec). Commands that print data take ``--json``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from datetime import UTC, date, datetime
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from llm_lakehouse import __version__
from llm_lakehouse.cli.governance import app as governance_app
from llm_lakehouse.cli.lineage import app as lineage_app
from llm_lakehouse.core.errors import EmptyDayFailed
from llm_lakehouse.core.reports import blocked_message
from llm_lakehouse.core.settings import DOMAIN_ENV, REPO_ROOT, Settings
from llm_lakehouse.core.spec import PipelineSpec, SpecError, adhoc_source, load_spec
from llm_lakehouse.core.stages import DAY_STAGES
from llm_lakehouse.devtools.sample import default_days, generate
from llm_lakehouse.spark.runner import RESULT_PREFIX, catalog_lock
from llm_lakehouse.spark.submit import (
    application_args,
    day_submit_command,
    settle_empty_day,
    spark_submit_command,
)


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    GATE_BLOCKED = 3


# pyiceberg (the catalog), the DataHub SDK and torch are imported by the commands that read with them: they
# take seconds, and `lakehouse --version`, `config` or `build` need none of them.
app = typer.Typer(
    help="LLM Lakehouse: bronze → silver → gold Iceberg tables for LLM corpora. Exit codes: 0 ok, 1 failure, "
    "2 usage, 3 a quality gate blocked the day.",
    no_args_is_help=True,
)
console = Console(stderr=True)
app.add_typer(lineage_app, name="lineage")  # lineage trees, publish to DataHub
app.add_typer(governance_app, name="governance")  # the governance policy over every spec
DEFAULT_SPEC = Path(os.environ.get("LAKEHOUSE_SPEC", REPO_ROOT / "pipelines" / "corpus_nightly.yaml"))

SpecOpt = Annotated[Path, typer.Option("--spec", help="pipeline spec (YAML)")]
DateOpt = Annotated[str, typer.Option("--date", help="logical date, YYYY-MM-DD")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


def _version(value: bool) -> None:
    if value:
        print(f"lakehouse {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain",
            help="a domain pipeline's own lakehouse (its catalog, warehouse location and reports); "
            "a domain's --spec selects it too",
        ),
    ] = None,
) -> None:
    """LLM Lakehouse: bronze → silver → gold Iceberg tables for LLM corpora."""
    if domain:
        os.environ[DOMAIN_ENV] = domain


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {value!r}") from None


def _spec(path: Path):  # noqa: ANN202
    """The spec at ``path``; a domain's spec also selects the domain's lakehouse for every later
    ``Settings.from_env()`` of the command (another domain's selected already is a usage error)."""
    try:
        spec = load_spec(path)
        Settings.from_env().for_spec(spec)
    except (SpecError, ValueError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(ExitCode.USAGE) from None
    if spec.domain:
        os.environ[DOMAIN_ENV] = spec.domain
    return spec


@app.command()
def build(
    date_: DateOpt,
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="a directory of JSON Lines files (.jsonl, .json, .gz, .zst; records need id and text); "
            "replaces only that source's rows of the day",
        ),
    ] = None,
    source_name: Annotated[
        str | None, typer.Option(help="source name for --source (default: dir name)")
    ] = None,
    accept_warnings: Annotated[
        bool, typer.Option("--accept-warnings", help="publish days whose only failed checks are warnings")
    ] = False,
    spec_path: SpecOpt = DEFAULT_SPEC,
) -> None:
    """Run bronze → silver → gold for one date through spark-submit, with per-stage progress and counts.

    Each stage writes to an Iceberg branch and publishes only if the spec's quality checks pass."""

    day = _day(date_)
    spec = _spec(spec_path)
    settings = Settings.from_env()
    if source is not None and not source.is_dir():
        raise typer.BadParameter(f"--source: {source} is not a directory")
    if source is not None:
        name = adhoc_source(source, source_name).name
        try:  # refuse before any stage runs: a source without a PII policy would reach silver unscrubbed
            policy = spec.require_pii_policy(name)
        except SpecError as exc:
            console.print(f"[red]{escape(str(exc))}[/red]")
            raise typer.Exit(ExitCode.USAGE) from None
        console.print(f"source {name!r}: PII policy {policy!r}")
    run_id = f"cli__{day.isoformat()}__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    extra: dict[str, list[str]] = {}
    for stage in DAY_STAGES:
        extra[stage] = []
        if stage == "bronze" and source is not None:
            extra[stage] = ["--input", str(source.resolve())] + (
                ["--source-name", source_name] if source_name else []
            )
        elif source is not None:  # the other sources' rows of the day stay as they are, in every layer
            extra[stage] = ["--only-source", name]
        if accept_warnings:
            extra[stage].append("--accept-warnings")
    stages, results = list(DAY_STAGES), []
    if source is None:
        # A day nothing landed for: the stages whose day holds nothing are settled without Spark.
        while stages and (settled := _settle_empty(settings, spec, stages[0], day, run_id, extra[stages[0]])):
            results.append(settled)
            stages.pop(0)
    if stages:
        # One spark-submit for the other stages: the JVM, the imports and the Python workers start once.
        cmd = day_submit_command(settings, spec, day.isoformat(), run_id, {s: extra[s] for s in stages})
        results += _submit(cmd, settings.home / "logs" / run_id / "day.log", stages, day, settings, run_id)
    summary = {"date": day.isoformat(), "run_id": run_id}
    for r in results:
        summary.update(
            {k: v for k, v in r.items() if k not in ("stage", "date", "run_id", "seconds", "timings")}
        )
    print(json.dumps(summary, sort_keys=True))


def _settle_empty(
    settings: Settings, spec: PipelineSpec, stage: str, day: date, run_id: str, extra: list[str]
) -> dict[str, Any] | None:
    """The stage's result line when its day had nothing to process and was settled without Spark, else None.
    Exits as ``_submit`` does when the empty day's gate blocked it (3) or the path failed (1)."""
    started, clock = time.time(), time.monotonic()
    try:
        settled, output = settle_empty_day(
            settings, spec, stage, day, application_args(spec, day.isoformat(), run_id, extra)
        )
    except EmptyDayFailed as exc:
        blocked = blocked_message(settings, run_id, stage, started)
        if blocked:
            console.print(f"[red]{stage}: {escape(blocked)}[/red]")
            raise typer.Exit(ExitCode.GATE_BLOCKED) from None
        tail = "\n".join(exc.output.splitlines()[-25:])
        console.print(f"[red]{escape(str(exc))}; its last lines:[/red]\n{escape(tail)}")
        raise typer.Exit(ExitCode.FAILURE) from None
    if not settled:
        return None
    line = next(ln for ln in output.splitlines() if ln.startswith(RESULT_PREFIX))
    console.print(
        f"[green]✓[/green] {stage:<6} {time.monotonic() - clock:5.1f}s  nothing to process: no Spark"
    )
    return json.loads(line[len(RESULT_PREFIX) :])


def _submit(
    cmd: list[str], log_path: Path, stages: list[str], day: date, settings: Settings, run_id: str
) -> list[dict[str, Any]]:
    """Runs one spark-submit of ``stages`` with a spinner, its output in ``log_path``, and a line per stage as
    its result line arrives; returns the result lines. A failure exits 3 when the failed stage's quality gate
    blocked the day (with the gate's message), else 1 with the log's last lines."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started_at, env = time.time(), os.environ | settings.spark_env()
    results: list[dict[str, Any]] = []
    last = time.monotonic()
    label = f"[bold]{{}} {day}[/bold] (spark-submit, log: {log_path})"
    with console.status(label.format(stages[0])) as status, open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if not line.startswith(RESULT_PREFIX):
                continue
            results.append(json.loads(line[len(RESULT_PREFIX) :]))
            stage = stages[len(results) - 1]
            counts = {
                k: v for k, v in results[-1].items() if isinstance(v, int) and k not in ("files", "attempt")
            }
            console.print(f"[green]✓[/green] {stage:<6} {time.monotonic() - last:5.1f}s  {counts}")
            last = time.monotonic()
            if len(results) < len(stages):
                status.update(label.format(stages[len(results)]))
        returncode = proc.wait()
    if returncode != 0:
        stage = stages[min(len(results), len(stages) - 1)]
        blocked = blocked_message(settings, run_id, stage, started_at)
        if blocked:
            console.print(f"[red]{stage}: {escape(blocked)}[/red]\n(log: {log_path})")
            raise typer.Exit(ExitCode.GATE_BLOCKED)
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        console.print(f"[red]{stage} failed (exit {returncode}); last lines of {log_path}:[/red]\n{tail}")
        raise typer.Exit(ExitCode.FAILURE)
    return results


@app.command()
def maintain(
    older_than_days: Annotated[
        float | None,
        typer.Option(
            "--older-than-days",
            min=0,
            help="expire snapshots older than this (default: the spec's maintenance.snapshot_retention_days)",
        ),
    ] = None,
    spec_path: SpecOpt = DEFAULT_SPEC,
) -> None:
    """Iceberg table maintenance on every table through spark-submit: compact small files, rewrite manifests,
    expire old snapshots (dataset tags and branches keep theirs) and remove orphan files.

    What was removed goes to ops.run_audit (job maintenance) under today's date."""

    spec = _spec(spec_path)
    settings = Settings.from_env()
    now = datetime.now(UTC)
    run_id = f"cli__maintenance__{now.strftime('%Y%m%dT%H%M%S')}"
    extra = [] if older_than_days is None else ["--older-than-days", str(older_than_days)]
    cmd = spark_submit_command(settings, spec, "maintenance", now.date().isoformat(), run_id, extra)
    started = time.monotonic()
    log_path = settings.home / "logs" / run_id / "maintenance.log"
    results = _submit(cmd, log_path, ["maintenance"], now.date(), settings, run_id)
    result = results[0] if results else {}
    t = RichTable(title=f"maintenance {run_id} ({time.monotonic() - started:.1f}s)")
    t.add_column("table", no_wrap=True)
    for c in ("files removed", "MB removed", "snapshots expired", "orphan files", "files compacted"):
        t.add_column(c, justify="right")
    for ident, got in result.get("by_table", {}).items():
        t.add_row(
            ident,
            f"{got['files_removed']:,}",
            f"{got['bytes_removed'] / 1e6:,.2f}",
            f"{got['snapshots_expired']:,}",
            f"{got['orphan_files']:,}",
            f"{got['data_files_rewritten']:,}",
        )
    Console().print(t)
    print(json.dumps({k: v for k, v in result.items() if k != "by_table"}, sort_keys=True))


@app.command()
def forget(
    email: Annotated[
        list[str] | None,
        typer.Option("--email", help="forget every record holding this address (repeatable)"),
    ] = None,
    doc_id: Annotated[
        list[str] | None, typer.Option("--doc-id", help="forget this record (repeatable)")
    ] = None,
    subjects: Annotated[
        Path | None,
        typer.Option("--subjects", help="a file of subjects, one per line: an e-mail address or a doc id"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="rebuild the dataset versions that hold them and drop other pins")
    ] = False,
    spec_path: SpecOpt = DEFAULT_SPEC,
    as_json: JsonOpt = False,
) -> None:
    """The right to erasure: delete every record derived from the subjects from every table (bronze by raw
    value, the rest by lineage), expire the snapshots that held them, bring the serving index and dataset
    versions along, and write a receipt to ops.erasure_log (the subjects hashed, never stored). Exit 0 also
    when nothing matched (nothing changed); 2 when dataset versions hold them and --force is not given."""
    from llm_lakehouse.cli.erasure import forget as run_forget
    from llm_lakehouse.core.errors import ErasurePinned
    from llm_lakehouse.spark.erasure import Subject

    try:
        wanted = [Subject.of("email", e) for e in email or []] + [
            Subject.of("doc_id", d) for d in doc_id or []
        ]
        if subjects is not None:
            for line in subjects.read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    wanted.append(Subject.of("email" if "@" in line else "doc_id", line))
    except (OSError, ValueError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(ExitCode.USAGE) from None
    if not wanted:
        console.print("[red]name a subject: --email, --doc-id or --subjects FILE[/red]")
        raise typer.Exit(ExitCode.USAGE)
    spec = _spec(spec_path)
    settings = Settings.from_env()
    try:
        with console.status("forget") as status:
            result = run_forget(
                spec, settings, wanted, force, progress=lambda m: status.update(f"forget: {m}")
            )
    except ErasurePinned as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(ExitCode.USAGE) from None
    if as_json:
        print(json.dumps(result, sort_keys=True, default=str))
        return
    if not result["changed"]:
        console.print("no record matches the subject(s): nothing was changed")
        return
    deleted = {t: n for t, n in result["rows_deleted"].items() if n}
    console.print(
        f"[green]forgot[/green] {result['matched']} record(s) ({result['erasure_id']}): rows deleted {deleted}; "
        f"dataset versions rebuilt: {sorted(result['datasets']) or 'none'}; receipt in ops.erasure_log"
    )
    if result["detail"]["landing_files"]:
        console.print(
            f"landing files still holding them (the source's to delete): {result['detail']['landing_files']}"
        )


@app.command()
def stats(date_: DateOpt, as_json: JsonOpt = False) -> None:
    """Counts of one date: bronze, silver, quarantine, duplicates, gold documents and tokens."""
    from llm_lakehouse.core.catalog import day_stats, open_catalog, quality_results, run_audit, skipped_files
    from llm_lakehouse.report import report_dir

    cat = open_catalog()
    result = day_stats(cat, _day(date_))
    steps = run_audit(cat, _day(date_))
    checks = quality_results(cat, _day(date_))
    skipped = skipped_files(cat, _day(date_))
    page = report_dir(Settings.from_env(), _day(date_)) / "index.html"
    report = str(page) if page.exists() else None
    if as_json:
        out = {**result, "audit": steps, "quality": checks, "skipped_files": skipped, "report": report}
        print(json.dumps(out, sort_keys=True))
        return
    t = RichTable(title=f"lakehouse {result['date']}")
    t.add_column("measure")
    t.add_column("value", justify="right")
    for k, v in result.items():
        if k == "by_reason":
            for reason, n in v.items():
                t.add_row(f"  {reason}", f"{n:,}")
        elif k != "date":
            t.add_row(k, f"{v:,}")
    Console().print(t)
    if steps:
        a = RichTable(title="ops.run_audit: steps")
        for c in ("job", "step", "in", "out", "dropped", "MB in", "MB out", "wall s", "cpu s"):
            a.add_column(c, justify="left" if c in ("job", "step") else "right")
        for r in steps:
            mb = [f"{r[k] / 1e6:.2f}" if r[k] is not None else "" for k in ("bytes_in", "bytes_out")]
            nums = [f"{r[k]:,}" if r[k] is not None else "" for k in ("docs_in", "docs_out", "docs_dropped")]
            times = [f"{r[k]:.2f}" if r[k] is not None else "" for k in ("wall_s", "cpu_s")]
            a.add_row(r["job"], r["step"], *nums, *mb, *times)
        Console().print(a)
    if skipped:
        f = RichTable(title="landing files no reader took (ops.run_audit: skipped_file)")
        for c in ("source", "file", "reason", "bytes"):
            f.add_column(c, justify="right" if c == "bytes" else "left")
        for r in skipped:
            f.add_row(r.get("source", ""), r.get("file", ""), r["reason"], f"{r['bytes'] or 0:,}")
        Console().print(f)
    if report:
        console.print(f"corpus report: {page.as_uri()}  (lakehouse report --date {date_} rewrites it)")
    if checks:
        q = RichTable(title="ops.quality_results: the latest gate of each job")
        for c in ("job", "table", "expectation", "level", "result", "observed", "gate"):
            q.add_column(c)
        for r in checks:
            ok = "[green]pass[/green]" if r["success"] else "[red]FAIL[/red]"
            q.add_row(r["job"], r["table_name"], r["expectation"], r["level"], ok, _observed(r), r["outcome"])
        Console().print(q)


def _observed(result: dict[str, Any]) -> str:
    """A gate result's observation in a few characters: '3/151 bad' or '178 rows (mean 160.0)'."""
    o = json.loads(result["observed"] or "{}")
    if "error" in o:
        return f"error: {o['error'][:40]}"
    if "unexpected_count" in o:
        return f"{o['unexpected_count']}/{o.get('element_count')} bad"
    extra = f" (mean {o['trailing_mean']})" if "trailing_mean" in o else ""
    extra += f" (of {o['of_rows']})" if "of_rows" in o else ""
    return f"{o.get('observed_value')} rows{extra}"


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, date | datetime):
        return v.isoformat()
    return v


@app.command()
def report(
    date_: DateOpt,
    days: Annotated[int, typer.Option("--days", min=1, help="days of trends, ending with --date")] = 14,
    out: Annotated[
        Path | None, typer.Option("--out", help="folder (default $LAKEHOUSE_HOME/reports/DATE)")
    ] = None,
    spec_path: SpecOpt = DEFAULT_SPEC,
) -> None:
    """The day's corpus report: an offline HTML page with plots (funnel, signals, mix, PII, gate, drift, trends)."""
    from llm_lakehouse.report import write_report

    spec = _spec(spec_path)
    page = write_report(spec, Settings.from_env(), _day(date_), days=days, out=out)
    console.print(f"corpus report: {page.as_uri()}")
    print(page)


@app.command()
def export(
    table_name: Annotated[str, typer.Argument(metavar="TABLE", help="e.g. silver.documents")],
    date_: DateOpt,
    out: Annotated[Path, typer.Option("--out", help="JSONL file to write")],
) -> None:
    """Dump a table's rows for one date as JSONL (binary columns base64)."""
    from llm_lakehouse.core.catalog import open_catalog, read_day

    try:
        rows = read_day(open_catalog(), table_name, _day(date_))
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for batch in rows.to_batches():
            for row in batch.to_pylist():
                fh.write(json.dumps({k: _jsonable(v) for k, v in row.items()}, ensure_ascii=False) + "\n")
    console.print(f"wrote {rows.num_rows:,} rows of {table_name} {date_} to {out}")


@app.command()
def tables(as_json: JsonOpt = False) -> None:
    """The lakehouse's tables, with their row counts and current snapshot."""
    from llm_lakehouse.core.catalog import existing, load, open_catalog, table_names

    cat = open_catalog()
    have = existing(cat)
    rows: list[dict[str, Any]] = []
    for ident in table_names():
        if ident not in have:
            rows.append({"table": ident, "rows": None, "snapshot_id": None, "location": None})
            continue
        tbl = load(cat, ident)
        snap = tbl.current_snapshot()
        # From the data files' record counts (metadata only): a snapshot summary's total-records is not
        # carried by every operation (a delete that matched nothing reports 0).
        total = sum(task.file.record_count for task in tbl.scan().plan_files()) if snap else 0
        rows.append(
            {
                "table": ident,
                "rows": total,
                "snapshot_id": snap.snapshot_id if snap else None,
                "location": tbl.location(),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = RichTable(title=f"catalog {Settings.from_env().catalog.name}")
    for col in ("table", "rows", "snapshot", "location"):
        t.add_column(col)
    for r in rows:
        if r["location"] is None:
            t.add_row(r["table"], "-", "not created yet", "")
        else:
            t.add_row(r["table"], f"{r['rows']:,}", str(r["snapshot_id"] or "-"), r["location"])
    Console().print(t)


@app.command()
def history(
    table_name: Annotated[str, typer.Argument(metavar="TABLE")],
    as_json: JsonOpt = False,
) -> None:
    """Snapshots of a table: ids, commit times, operation and summary."""
    from llm_lakehouse.core.catalog import history as table_history
    from llm_lakehouse.core.catalog import open_catalog

    try:
        entries = table_history(open_catalog(), table_name)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from None
    if as_json:
        print(json.dumps(entries, indent=2))
        return
    t = RichTable(title=f"history of {table_name}")
    for col in ("snapshot_id", "committed_at", "operation", "added", "deleted", "total"):
        t.add_column(col)
    for e in entries:
        s = e["summary"]
        t.add_row(
            str(e["snapshot_id"]),
            e["committed_at"],
            e["operation"] or "",
            s.get("added-records", "0"),
            s.get("deleted-records", "0"),
            s.get("total-records", "0"),
        )
    Console().print(t)


@app.command()
def sample(
    out: Annotated[Path, typer.Option("--out", help="landing directory to write")],
    days: Annotated[int, typer.Option(help="number of days")] = 3,
    first: Annotated[str, typer.Option(help="first day")] = "2026-11-01",
    docs: Annotated[int, typer.Option(help="clean documents per source and day")] = 60,
    as_json: JsonOpt = False,
) -> None:
    """Generate the bundled sample corpus (with duplicates, PII and malformed records) into a landing dir."""

    manifest = generate(out, default_days(_day(first), days), docs_per_source=docs)
    if as_json:
        print(json.dumps({"landing": str(out), "days": manifest["days"]}, default=str))
        return
    for d, truth in manifest["days"].items():
        console.print(
            f"{d}: {truth['bronze']} records ({truth['silver']} clean, {truth['duplicates']} duplicates, "
            f"{truth['quarantine']} to quarantine)"
        )
    console.print(f"landing: {out}")


dataset_app = typer.Typer(help="Versioned training datasets: packed token shards from gold, rebuildable.")
app.add_typer(dataset_app, name="dataset")


@dataset_app.command("create")
def dataset_create(
    name: Annotated[str, typer.Argument(help="version name (immutable once created)")],
    from_: Annotated[str, typer.Option("--from", help="first logical date, YYYY-MM-DD")],
    to: Annotated[str, typer.Option("--to", help="last logical date, YYYY-MM-DD")],
    mix: Annotated[str | None, typer.Option(help="source weights, e.g. web=1,support=0.5")] = None,
    seq_len: Annotated[
        int | None, typer.Option(help="tokens per sequence (default: the spec's gold.seq_len)")
    ] = None,
    seed: Annotated[int, typer.Option(help="shuffle and mixture seed")] = 0,
    spec_path: SpecOpt = DEFAULT_SPEC,
    as_json: JsonOpt = False,
) -> None:
    """Pack gold's token ids of a date range into shuffled fixed-length shards, with a rebuildable manifest."""
    from llm_lakehouse.cli import dataset
    from llm_lakehouse.core.catalog import open_catalog

    spec = _spec(spec_path)
    settings = Settings.from_env()
    try:
        req = dataset.Request(
            name, _day(from_), _day(to), dataset.parse_mix(mix), seq_len or spec.gold.seq_len, seed
        )
        with console.status(f"building dataset {name}"), catalog_lock(settings):
            m = dataset.create(open_catalog(settings), spec, settings, req)
    except dataset.DatasetError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(ExitCode.USAGE) from None
    if as_json:
        print(json.dumps(m, indent=2, sort_keys=True))
        return
    _print_manifest(m, dataset.dataset_dir(settings, name))


@dataset_app.command("show")
def dataset_show(
    name: str,
    as_json: JsonOpt = False,
    sample: Annotated[int, typer.Option(help="print the first N sequences decoded")] = 0,
) -> None:
    """Print a version's manifest: inputs (Iceberg snapshot ids), tokenizer, mixture, token totals, shards."""
    from llm_lakehouse.cli import dataset
    from llm_lakehouse.cli.shards import TokenShards

    settings = Settings.from_env()
    try:
        m = dataset.show(settings, name)
    except dataset.DatasetError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(ExitCode.USAGE) from None
    if as_json:
        print(json.dumps(m, indent=2, sort_keys=True))
        return
    folder = dataset.dataset_dir(settings, name)
    _print_manifest(m, folder)
    shards = TokenShards(folder)
    for i in range(min(sample, len(shards))):
        console.rule(f"sequence {i}")
        console.print(escape(dataset.decode_sequence(shards[i], m)))


@dataset_app.command("rebuild")
def dataset_rebuild(
    name: str,
    out: Annotated[Path, typer.Option("--out", help="folder for the rebuilt shards")],
    as_json: JsonOpt = False,
) -> None:
    """Rebuild a version from its manifest (time travel to its snapshots) and check it is byte-identical."""
    from llm_lakehouse.cli import dataset
    from llm_lakehouse.core.catalog import open_catalog

    settings = Settings.from_env()
    try:
        built = dataset.rebuild(open_catalog(settings), settings, name, out)
    except dataset.DatasetError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(ExitCode.FAILURE) from None
    if as_json:
        print(json.dumps({"identical": True, "out": str(out), **built}, default=str))
        return
    console.print(
        f"[green]identical[/green]: {built['sequences']:,} sequences, sha256 {built['sha256']} in {out}"
    )


def _print_manifest(m: dict[str, Any], folder: Path) -> None:
    t = RichTable(title=f"dataset {m['name']} ({folder})", show_header=False)
    snaps = ", ".join(f"{k}@{v}" for k, v in m["input_snapshots"].items())
    tok = m["tokenizer"]
    for key, value in (
        ("dates", f"{m['from']} .. {m['to']}"),
        ("created", m["created_at"]),
        ("spec", f"{m['spec']} (digest {m['spec_digest']})"),
        ("tokenizer", f"{tok['library']}:{tok['name']}" + (" + separator" if m["append_eos"] else "")),
        ("input snapshots", snaps),
        ("pinned by", f"Iceberg tag {m['iceberg_tag']}"),
        ("mix", ", ".join(f"{k}={v}" for k, v in m["mix"].items()) or "every source at weight 1"),
        ("documents", ", ".join(f"{k} {v:,}" for k, v in m["documents_per_source"].items())),
        (
            "tokens",
            f"{m['tokens']:,} (" + ", ".join(f"{k} {v:,}" for k, v in m["tokens_per_source"].items()) + ")",
        ),
        (
            "sequences",
            f"{m['sequences']:,} x {m['seq_len']} tokens, seed {m['seed']}, tail dropped {m['tokens_dropped_tail']:,}",
        ),
        ("shards", f"{len(m['shards'])} file(s), sha256 {m['sha256']}"),
    ):
        t.add_row(key, value)
    Console().print(t)


PipelineOpt = Annotated[
    str, typer.Option("--pipeline", help="query pipeline: a name under pipelines/ or a YAML path")
]


def _query_spec(pipeline: str):  # noqa: ANN202
    from llm_lakehouse.cli.search import query_spec_path
    from llm_lakehouse.serving.query import load_query_spec

    try:
        return load_query_spec(query_spec_path(pipeline))
    except SpecError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(ExitCode.USAGE) from None


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="the question or text to look up")],
    pipeline: PipelineOpt = "rag_query",
    k: Annotated[int | None, typer.Option("-k", help="how many chunks (default: the pipeline's k)")] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="only this source (repeatable)")
    ] = None,
    since: Annotated[str | None, typer.Option(help="only days from YYYY-MM-DD")] = None,
    until: Annotated[str | None, typer.Option(help="only days up to YYYY-MM-DD")] = None,
    date_: Annotated[str | None, typer.Option("--date", help="only this day (--since and --until)")] = None,
    as_json: JsonOpt = False,
    spec_path: SpecOpt = DEFAULT_SPEC,
) -> None:
    """Look QUERY up in the RAG serving index through a query pipeline (keyword, vector, fused)."""
    from llm_lakehouse.cli.search import index_for
    from llm_lakehouse.cli.search import search as run_search
    from llm_lakehouse.core.catalog import open_catalog
    from llm_lakehouse.core.errors import ServingIndexError
    from llm_lakehouse.serving.query import Filters

    spec, qspec = _spec(spec_path), _query_spec(pipeline)
    first, last = (date_, date_) if date_ else (since, until)
    filters = Filters(tuple(source or ()), _day(first) if first else None, _day(last) if last else None)
    try:
        hits = run_search(open_catalog(), spec, qspec, index_for(Settings.from_env()), query, k, filters)
    except (ServingIndexError, SpecError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(ExitCode.USAGE) from None
    if as_json:
        print(json.dumps([h.as_dict() for h in hits]))
        return
    for rank, h in enumerate(hits, 1):
        via = ", ".join(f"{name} #{r}" for name, r in h.ranks.items())
        console.rule(f"{rank}. {h.score:.4f}  {h.doc_id} #{h.chunk_index}  ({h.source}, {h.dt}; {via})")
        console.print(escape(h.text))


index_app = typer.Typer(help="The RAG serving index: a LanceDB mirror of gold.chunk_embeddings.")
app.add_typer(index_app, name="index")


@index_app.command("sync")
def index_sync(as_json: JsonOpt = False) -> None:
    """Bring the index to the published snapshot of gold.chunk_embeddings (only the files that changed)."""
    _index_run(rebuild=False, snapshot=None, as_json=as_json)


@index_app.command("rebuild")
def index_rebuild(
    snapshot: Annotated[
        int | None, typer.Option(help="an Iceberg snapshot id (default: the published one)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild the index from gold.chunk_embeddings at a snapshot."""
    _index_run(rebuild=True, snapshot=snapshot, as_json=as_json)


def _index_run(rebuild: bool, snapshot: int | None, as_json: bool) -> None:
    from dataclasses import asdict

    from llm_lakehouse.cli.search import index_for
    from llm_lakehouse.core.catalog import open_catalog
    from llm_lakehouse.core.errors import ServingIndexError

    index = index_for(Settings.from_env())
    run = index.rebuild if rebuild else index.sync
    try:
        got = run(open_catalog(), snapshot, progress=lambda line: console.print(escape(line)))
    except ServingIndexError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(ExitCode.FAILURE) from None
    if as_json:
        print(json.dumps({**asdict(got), "path": str(index.path)}))
        return
    console.print(
        f"{index.path}: snapshot {got.snapshot_id}, +{got.files_added}/-{got.files_removed} file(s), "
        f"{got.rows_added:,} chunk(s) added, {got.rows:,} in all"
    )


stream_app = typer.Typer(
    help="The streaming path: new landing files upserted into silver and gold continuously."
)
app.add_typer(stream_app, name="stream")


@stream_app.command("start")
def stream_start(
    spec_path: SpecOpt = DEFAULT_SPEC,
    available_now: Annotated[
        bool, typer.Option("--available-now", help="work off what has landed, then stop (a replay)")
    ] = False,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="run in this terminal until it stops")
    ] = False,
) -> None:
    """Start the stream in the background (checkpoint, status and log under LAKEHOUSE_HOME/stream/)."""
    from llm_lakehouse.cli.stream import paths_of, start

    spec = _spec(spec_path)
    settings = Settings.from_env()
    try:
        got = start(settings, spec, available_now, wait=foreground)
    except RuntimeError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(ExitCode.USAGE) from None
    if foreground:
        raise typer.Exit(ExitCode.OK if got == 0 else ExitCode.FAILURE)
    console.print(f"stream of {spec.name} started: pid {got}, log {paths_of(settings, spec).log}")


@stream_app.command("status")
def stream_status_cmd(
    spec_path: SpecOpt = DEFAULT_SPEC,
    as_json: JsonOpt = False,
    check: Annotated[
        bool, typer.Option("--check", help="exit 1 when the lag is over the spec's SLO")
    ] = False,
) -> None:
    """The lag (how long the oldest landed file not yet in gold has waited), the last batch, rows in and out."""
    from llm_lakehouse.cli.stream import paths_of
    from llm_lakehouse.core.streaming import stream_status

    spec = _spec(spec_path)
    settings = Settings.from_env()
    got = stream_status(paths_of(settings, spec), settings.landing, spec.stream.freshness_slo_seconds)
    if as_json:
        print(json.dumps(got, indent=2, sort_keys=True, default=str))
    else:
        state = "running" if got["running"] else "stopped"
        console.print(
            f"stream of {spec.name}: {state}; lag {got['lag_s']} s (SLO {got['slo_s']} s), "
            f"{got['files_waiting']} file(s) waiting, {got['files_committed']} taken"
        )
        if got["last_batch"]:
            console.print(f"last batch: {escape(json.dumps(got['last_batch'], sort_keys=True))}")
        console.print(f"totals: {escape(json.dumps(got['totals'], sort_keys=True))}")
    if check and not got["within_slo"]:
        console.print(
            f"[red]freshness SLO missed: landed data has waited {got['lag_s']} s (SLO {got['slo_s']} s); the "
            f"stream is {'running' if got['running'] else 'not running'}[/red]"
        )
        raise typer.Exit(ExitCode.FAILURE)


@stream_app.command("stop")
def stream_stop(spec_path: SpecOpt = DEFAULT_SPEC) -> None:
    """Stop the stream between batches (terminated when it has not stopped after two minutes)."""
    from llm_lakehouse.cli.stream import stop

    spec = _spec(spec_path)
    settings = Settings.from_env()
    console.print(
        f"stream of {spec.name} stopped" if stop(settings, spec) else f"no stream of {spec.name} runs"
    )


@app.command()
def config(as_json: JsonOpt = False) -> None:
    """The settings in effect (from the LAKEHOUSE_* environment), secrets masked."""
    settings = Settings.from_env()
    shown = {k: str(v) if isinstance(v, Path) else v for k, v in settings.describe().items()}
    if as_json:
        print(json.dumps(shown, indent=2, sort_keys=True))
        return
    t = RichTable(title="lakehouse config", show_header=False)
    for key, value in shown.items():
        t.add_row(key, escape(json.dumps(value) if isinstance(value, dict) else str(value)))
    Console().print(t)
