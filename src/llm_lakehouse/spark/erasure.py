"""The right to erasure, on the lakehouse's tables: find every record derived from a subject, delete it with
Iceberg row-level deletes, expire the snapshots that still hold it, verify, and keep a receipt.

- **Find**: bronze by the raw value (an e-mail address anywhere in a record's text, metadata or the raw bytes of
  an unparseable one) or by doc id gives the subject's doc ids. Every other table that holds records keys them by
  the same doc id (silver, quarantine, gold, chunk embeddings, the dedup index, the profile's sample), so the
  lineage from bronze is the doc id itself.
- **Delete**: derived tables first and bronze last, so that a run stopped before bronze finds the same records
  again. The doc ids are recorded first in a ``started`` receipt (``ops.erasure_log``), so a run stopped after
  bronze finishes from there: re-running ``lakehouse forget`` is the recovery.
- **Expire**: every snapshot older than now goes (``retain_last`` 1), except those tags and branches point at;
  refs that still hold the subject are the caller's to move or drop first (``refs_holding``).
- **Verify**: no snapshot any table retains has a row of the subject; the receipt is ``completed`` only then.

The subject's value is never written anywhere: receipts hold its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pyspark.sql import SparkSession

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.tables import ALL_TABLES, BRONZE, ERASURE_LOG, RUN_COLUMNS
from llm_lakehouse.spark import common
from llm_lakehouse.spark.common import stamp

log = logging.getLogger(__name__)

# Every table that holds records, keyed by doc id; bronze last (see the module's docstring).
ERASABLE = tuple(
    [t.ident for t in ALL_TABLES if "doc_id" in t.column_names and t.ident != BRONZE.ident] + [BRONZE.ident]
)
# IN lists per DELETE: Spark plans a literal list well up to a few thousand values.
BATCH = 1000


@dataclass(frozen=True)
class Subject:
    """A person to forget, by an e-mail address found in their records, or one record by its doc id."""

    kind: Literal["email", "doc_id"]
    value: str

    @classmethod
    def of(cls, kind: Literal["email", "doc_id"], value: str) -> Subject:
        value = value.strip()
        if not value:
            raise ValueError(f"an empty {kind}")
        if kind == "email":
            if "@" not in value or any(c.isspace() for c in value):
                raise ValueError(f"not an e-mail address: {value!r}")
            value = value.lower()
        return cls(kind, value)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(f"{self.kind}:{self.value}".encode()).hexdigest()


def _sql(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _in(column: str, values: list[str]) -> str:
    """``column IN (...)`` in batches, OR-ed; never empty."""
    if not values:
        return "false"
    parts = [values[i : i + BATCH] for i in range(0, len(values), BATCH)]
    return " OR ".join(f"{column} IN ({', '.join(_sql(v) for v in p)})" for p in parts)


def bronze_predicate(subjects: Iterable[Subject]) -> str:
    """Bronze rows of the subjects: their address in the text, the metadata or an unparseable record's raw
    bytes (case-insensitive), or their doc id."""
    conds = []
    for s in subjects:
        if s.kind == "doc_id":
            conds.append(f"doc_id = {_sql(s.value)}")
        else:
            v = _sql(s.value)
            conds += [
                f"instr(lower(coalesce(text, '')), {v}) > 0",
                f"instr(lower(coalesce(metadata, '')), {v}) > 0",
                f"instr(lower(coalesce(cast(raw AS STRING), '')), {v}) > 0",
            ]
    return " OR ".join(f"({c})" for c in conds) or "false"


def _fq(settings: Settings, ident: str) -> str:
    return f"{settings.catalog.name}.{ident}"


@dataclass(frozen=True)
class Found:
    doc_ids: list[str]
    landing_files: list[
        str
    ]  # landing files that still hold them: the source's to delete, not the lakehouse's


def find(spark: SparkSession, settings: Settings, subjects: list[Subject]) -> Found:
    """The subjects' records in bronze's current state, plus those of an unfinished erasure of the same
    subjects (a run stopped after bronze's delete)."""
    rows = (
        spark.table(_fq(settings, BRONZE.ident))
        .where(bronze_predicate(subjects))
        .select("doc_id", "source_file")
        .collect()
    )
    doc_ids = {r["doc_id"] for r in rows} | set(unfinished(spark, settings, subjects))
    return Found(sorted(doc_ids), sorted({r["source_file"] for r in rows if r["source_file"]}))


def unfinished(spark: SparkSession, settings: Settings, subjects: list[Subject]) -> list[str]:
    """Doc ids of started erasures of any of ``subjects`` that never completed."""
    hashes = [s.sha256 for s in subjects]
    receipts = spark.table(_fq(settings, ERASURE_LOG.ident)).collect()
    completed = {r["erasure_id"] for r in receipts if r["status"] == "completed"}
    return sorted(
        {
            d
            for r in receipts
            if r["status"] == "started"
            and r["erasure_id"] not in completed
            and set(r["subject_sha256"] or ()) & set(hashes)
            for d in r["doc_ids"] or ()
        }
    )


def refs_holding(spark: SparkSession, settings: Settings, doc_ids: list[str]) -> dict[str, dict[str, str]]:
    """Per table, the tags and branches other than main whose snapshot holds any of ``doc_ids``:
    ``{table: {ref: "TAG" | "BRANCH"}}``. Snapshot expiry keeps what they point at."""
    where = _in("doc_id", doc_ids)
    held = {ident: common.refs_holding(spark, _fq(settings, ident), where) for ident in ERASABLE}
    return {ident: refs for ident, refs in held.items() if refs}


def drop_refs(spark: SparkSession, settings: Settings, refs: dict[str, dict[str, str]]) -> None:
    for ident, named in refs.items():
        for name, kind in named.items():
            spark.sql(f"ALTER TABLE {_fq(settings, ident)} DROP {kind} IF EXISTS `{name}`")


def delete_rows(spark: SparkSession, settings: Settings, doc_ids: list[str]) -> dict[str, int]:
    """Row-level deletes of ``doc_ids`` on main of every erasable table, bronze last; rows deleted per table."""
    out = {}
    where = _in("doc_id", doc_ids)
    for ident in ERASABLE:
        fq = _fq(settings, ident)
        out[ident] = spark.table(fq).where(where).count()
        if out[ident]:
            spark.sql(f"DELETE FROM {fq} WHERE {where}")
        log.info("forget: %s rows deleted from %s", out[ident], ident)
    return out


def expire(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """Expires every snapshot of every erasable table but main's current one and those refs point at, with
    the files only they referenced; snapshots expired per table."""
    out = {}
    now = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
    for ident in ERASABLE:
        fq = _fq(settings, ident)
        before = spark.table(f"{fq}.snapshots").count()
        spark.sql(
            f"CALL {settings.catalog.name}.system.expire_snapshots(table => {_sql(ident)}, "
            f"older_than => TIMESTAMP '{now.isoformat(sep=' ', timespec='milliseconds')}', retain_last => 1)"
        )
        out[ident] = before - spark.table(f"{fq}.snapshots").count()
    return out


def still_held(spark: SparkSession, settings: Settings, doc_ids: list[str]) -> dict[str, list[int]]:
    """Per table, the retained snapshots that still hold a row of ``doc_ids`` (empty: erased everywhere)."""
    out: dict[str, list[int]] = {}
    where = _in("doc_id", doc_ids)
    for ident in ERASABLE:
        fq = _fq(settings, ident)
        for (sid,) in spark.sql(f"SELECT snapshot_id FROM {fq}.snapshots").collect():
            if spark.sql(f"SELECT 1 FROM {fq} VERSION AS OF {sid} WHERE {where} LIMIT 1").count():
                out.setdefault(ident, []).append(sid)
    return out


def write_receipt(
    spark: SparkSession, settings: Settings, day: date, run_id: str, row: dict[str, Any]
) -> None:
    """Appends one ``ops.erasure_log`` row (an append: the log is never rewritten by an erasure)."""
    cols = [c for c in ERASURE_LOG.column_names if c not in RUN_COLUMNS]
    record = {c: row.get(c) for c in cols}
    for c in ("datasets", "detail"):
        if record[c] is not None and not isinstance(record[c], str):
            record[c] = json.dumps(record[c], sort_keys=True, default=str)
    df = spark.createDataFrame([record], ERASURE_LOG.spark_schema(exclude=RUN_COLUMNS))
    stamp(df, day, run_id).select(*ERASURE_LOG.column_names).writeTo(
        _fq(settings, ERASURE_LOG.ident)
    ).append()
