"""The Iceberg catalog from the Python side (pyiceberg), for the CLI and tests: counts, exports, history.

Reads only; every write goes through the Spark jobs. Scans push the ``dt`` filter down, so a day's
counts read that day's partition files and nothing else.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import And, BooleanExpression, EqualTo
from pyiceberg.table import Table as IcebergTable

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.tables import (
    ALL_TABLES,
    BRONZE,
    GOLD_CHUNKS,
    GOLD_TRAINING,
    PUBLICATIONS,
    QUALITY_RESULTS,
    QUARANTINE,
    RUN_AUDIT,
    SILVER,
    table,
)

DUPLICATE_REASONS = ("exact_duplicate", "near_duplicate")


def open_catalog(settings: Settings | None = None) -> Catalog:
    """The lakehouse catalog under the name Spark uses: SQL (SQLite/PostgreSQL) or an Iceberg REST catalog."""
    settings = settings or Settings.from_env()
    settings.prepare()
    props = settings.catalog.pyiceberg_properties()
    if props["type"] == "sql":
        return SqlCatalog(settings.catalog.name, **props)
    # load_catalog merges ~/.pyiceberg.yaml and PYICEBERG_CATALOG__<NAME>__* under these properties (ours win).
    # A REST catalog fetches the server's /v1/config when it is created.
    return load_catalog(settings.catalog.name, **props)


def load(catalog: SqlCatalog, ident: str) -> IcebergTable:
    table(ident)  # a clear error for a table the lakehouse does not define
    return catalog.load_table(ident)


def read_day(catalog: SqlCatalog, ident: str, day: date, columns: tuple[str, ...] = ("*",)) -> pa.Table:
    """One day of a table as the day's latest row in ``ops.publications`` pins it: never one run's silver
    documents beside another run's quarantine, even while a run is publishing or after it was killed."""
    t = load(catalog, ident)
    sid, _ = _latest_row(catalog, t, ident, EqualTo("dt", day))
    return t.scan(row_filter=EqualTo("dt", day), selected_fields=columns, snapshot_id=sid).to_arrow()


def published_snapshot(catalog: SqlCatalog, ident: str) -> int | None:
    """The snapshot to read ``ident`` at across days (datasets, the serving index): the current one, unless
    a run of some day is in flight or was killed before publishing. Its ``started`` row pins the state before
    it, and no later snapshot is free of its rows, also after other days published since: the oldest such
    pin wins (consistent, if behind, until that day publishes)."""
    t = load(catalog, ident)
    current = t.current_snapshot()
    try:
        pubs = catalog.load_table(PUBLICATIONS.ident)
    except NoSuchTableError:
        return current.snapshot_id if current else None
    rows = pubs.scan(
        row_filter=EqualTo("table_name", ident),
        selected_fields=("dt", "snapshot_id", "state", "processed_at"),
    ).to_arrow()
    latest: dict[date, dict[str, Any]] = {}
    for r in rows.sort_by([("processed_at", "ascending")]).to_pylist():
        latest[r["dt"]] = r
    pins = [
        t.snapshot_by_id(r["snapshot_id"])
        for r in latest.values()
        if r["state"] == "started" and r["snapshot_id"] is not None
    ]
    # A pinned snapshot that maintenance expired cannot be read: the current state is all that is left.
    pins = [s for s in pins if s is not None]
    if pins:
        return min(pins, key=lambda s: s.timestamp_ms).snapshot_id
    return current.snapshot_id if current else None


def latest_publication(catalog: SqlCatalog, ident: str, day: date) -> tuple[int | None, str | None]:
    """(snapshot id, state) of the day's latest ``ops.publications`` row for ``ident``; (None, None) if none."""
    return _latest_row(catalog, load(catalog, ident), ident, EqualTo("dt", day))


def _latest_row(
    catalog: SqlCatalog, t: IcebergTable, ident: str, days: BooleanExpression
) -> tuple[int | None, str | None]:
    """(snapshot id, state) of the latest ``ops.publications`` row for ``ident`` among ``days``."""
    try:
        pubs = catalog.load_table(PUBLICATIONS.ident)
    except NoSuchTableError:
        return None, None
    rows = pubs.scan(
        row_filter=And(days, EqualTo("table_name", ident)),
        selected_fields=("snapshot_id", "state", "processed_at"),
    ).to_arrow()
    if rows.num_rows == 0:
        return None, None
    latest = rows.sort_by([("processed_at", "descending")]).slice(0, 1).to_pylist()[0]
    sid = latest["snapshot_id"]
    # A snapshot expired by table maintenance: the table's current state is the only one left.
    if sid is not None and t.snapshot_by_id(sid) is None:
        sid = None
    return sid, latest["state"]


def pinned_snapshots(catalog: SqlCatalog) -> dict[str, dict[date, int]]:
    """table -> {day: snapshot id} for the days whose latest ``ops.publications`` row is ``started``: a run
    in flight, killed or blocked by its gate. Readers of those days read that snapshot until a run of the day
    publishes, so table maintenance must not expire it."""
    try:
        pubs = catalog.load_table(PUBLICATIONS.ident)
    except NoSuchTableError:
        return {}
    rows = pubs.scan(selected_fields=("table_name", "dt", "snapshot_id", "state", "processed_at")).to_arrow()
    latest: dict[tuple[str, date], dict[str, Any]] = {}
    for r in rows.sort_by([("processed_at", "ascending")]).to_pylist():
        latest[(r["table_name"], r["dt"])] = r
    pins: dict[str, dict[date, int]] = {}
    for (ident, day), r in latest.items():
        if r["state"] == "started" and r["snapshot_id"] is not None:
            pins.setdefault(ident, {})[day] = r["snapshot_id"]
    return pins


def existing(catalog: SqlCatalog) -> set[str]:
    return {".".join(t) for ns in catalog.list_namespaces() for t in catalog.list_tables(ns)}


def day_stats(catalog: SqlCatalog, day: date) -> dict[str, Any]:
    """Row counts of one logical date across the layers; a table not created yet counts 0."""
    have = existing(catalog)

    def rows(ident: str, cols: tuple[str, ...]) -> pa.Table | None:
        return read_day(catalog, ident, day, cols) if ident in have else None

    bronze = rows(BRONZE.ident, ("doc_id",))
    silver = rows(SILVER.ident, ("doc_id",))
    quarantine = rows(QUARANTINE.ident, ("reason",))
    gold = rows(GOLD_TRAINING.ident, ("n_tokens",))
    chunks = rows(GOLD_CHUNKS.ident, ("chunk_id",))
    by_reason: dict[str, int] = {}
    if quarantine is not None and quarantine.num_rows:
        counts = pc.value_counts(quarantine.column("reason").combine_chunks())
        by_reason = {c["values"].as_py(): c["counts"].as_py() for c in counts}
    duplicates = sum(by_reason.get(r, 0) for r in DUPLICATE_REASONS)
    return {
        "date": day.isoformat(),
        "bronze": bronze.num_rows if bronze is not None else 0,
        "silver": silver.num_rows if silver is not None else 0,
        "quarantine": sum(by_reason.values()) - duplicates,
        "duplicates": duplicates,
        "near_duplicates": by_reason.get("near_duplicate", 0),
        "by_reason": dict(sorted(by_reason.items())),
        "gold_documents": gold.num_rows if gold is not None else 0,
        "gold_tokens": int(pc.sum(gold.column("n_tokens")).as_py() or 0) if gold is not None else 0,
        "gold_chunks": chunks.num_rows if chunks is not None else 0,
    }


def run_audit(catalog: SqlCatalog, day: date) -> list[dict[str, Any]]:
    """The day's ``ops.run_audit`` step rows (not the per-reason ones), in job and step order."""
    if RUN_AUDIT.ident not in existing(catalog):
        return []
    cols = (
        "job",
        "step",
        "docs_in",
        "docs_out",
        "docs_dropped",
        "bytes_in",
        "bytes_out",
        "wall_s",
        "cpu_s",
        "detail",
    )
    rows = read_day(catalog, RUN_AUDIT.ident, day, ("reason", *cols)).to_pylist()
    order = {"bronze": 0, "silver": 1, "gold": 2}
    # Arrow keeps write order within a job; sort only by job so pipe steps stay in chain order.
    steps = [{k: r[k] for k in cols} for r in rows if r["reason"] is None]
    return sorted(steps, key=lambda r: (order.get(r["job"], 9), r["step"] == "*"))


def skipped_files(catalog: SqlCatalog, day: date) -> list[dict[str, Any]]:
    """Landing files of the day that no reader took (``skipped_file`` rows of bronze's run audit)."""
    if RUN_AUDIT.ident not in existing(catalog):
        return []
    rows = read_day(
        catalog, RUN_AUDIT.ident, day, ("job", "step", "reason", "bytes_in", "detail")
    ).to_pylist()
    out = []
    for r in rows:
        if r["job"] == "bronze" and r["step"] == "skipped_file":
            detail = json.loads(r["detail"] or "{}")
            out.append({**detail, "reason": r["reason"], "bytes": r["bytes_in"]})
    return sorted(out, key=lambda r: (r.get("source") or "", r.get("file") or ""))


def quality_results(catalog: SqlCatalog, day: date) -> list[dict[str, Any]]:
    """The day's quality gate results, from each job's latest gate (earlier attempts stay in the table)."""
    if QUALITY_RESULTS.ident not in existing(catalog):
        return []
    cols = ("job", "table_name", "expectation", "level", "success", "observed", "outcome", "branch", "run_id")
    rows = read_day(catalog, QUALITY_RESULTS.ident, day, (*cols, "processed_at")).to_pylist()
    latest = {}
    for r in rows:
        latest[r["job"]] = max(latest.get(r["job"], r["processed_at"]), r["processed_at"])
    order = {"bronze": 0, "silver": 1, "gold": 2}
    keep = [{k: r[k] for k in cols} for r in rows if r["processed_at"] == latest[r["job"]]]
    return sorted(keep, key=lambda r: order.get(r["job"], 9))


def history(catalog: SqlCatalog, ident: str) -> list[dict[str, Any]]:
    t = load(catalog, ident)
    snaps = {s.snapshot_id: s for s in t.snapshots()}
    out = []
    for entry in t.history():
        s = snaps.get(entry.snapshot_id)
        summary = s.summary.additional_properties if s and s.summary else {}
        out.append(
            {
                "snapshot_id": entry.snapshot_id,
                "parent_id": s.parent_snapshot_id if s else None,
                "committed_at": datetime.fromtimestamp(entry.timestamp_ms / 1000, UTC).isoformat(),
                "operation": s.summary.operation.value if s and s.summary else None,
                "summary": summary,
            }
        )
    return out


def table_names() -> list[str]:
    return [t.ident for t in ALL_TABLES]
