"""``ops.pii_audit`` rows from a batch of silver rows: how much PII of each type each source carried.

One row per (source, entity) with ``count`` (spans replaced) and ``docs_with_entity`` (documents with at
least one), stamped with the run and the day. Built from the ``pii_counts`` map only: the audit never sees
text or values, so it cannot leak them. Partial results of several batches add up with ``combine``.

The same in Spark SQL, for the job:
    SELECT source, entity, SUM(n) AS count, COUNT(*) AS docs_with_entity
    FROM silver_day LATERAL VIEW explode(pii_counts) AS entity, n
    WHERE n > 0 GROUP BY source, entity
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pyarrow as pa

# For the lead's ops.pii_audit Table definition (partition by dt, like every table).
PII_AUDIT_COLUMNS = (
    ("run_id", "STRING", "silver run that scrubbed the documents"),
    ("dt", "DATE", "logical date"),
    ("source", "STRING", "landing feed name"),
    ("entity", "STRING", "PII entity type, e.g. EMAIL_ADDRESS, PERSON"),
    ("count", "BIGINT", "spans of this entity replaced in this source's documents of the day"),
    ("docs_with_entity", "BIGINT", "documents with at least one span of this entity"),
)
SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("dt", pa.date32()),
        ("source", pa.string()),
        ("entity", pa.string()),
        ("count", pa.int64()),
        ("docs_with_entity", pa.int64()),
    ]
)


def pii_audit_rows(batch: pa.RecordBatch | pa.Table, run_id: str, dt: date) -> pa.Table:
    """Audit rows of the batch's ``source`` and ``pii_counts`` columns (null maps: not scanned, skipped).

    A plain loop over the maps (one small map per document): Arrow's compute kernels do not take maps.
    """
    count: Counter[tuple[str, str]] = Counter()
    docs: Counter[tuple[str, str]] = Counter()
    sources = batch.column("source").to_pylist()
    for source, entries in zip(sources, batch.column("pii_counts").to_pylist(), strict=True):
        for entity, n in entries or ():
            if n:
                count[(source, entity)] += n
                docs[(source, entity)] += 1
    keys = sorted(count, key=lambda k: (k[0] or "", k[1]))
    return pa.table(
        {
            "run_id": pa.array([run_id] * len(keys), pa.string()),
            "dt": pa.array([dt] * len(keys), pa.date32()),
            "source": pa.array([k[0] for k in keys], pa.string()),
            "entity": pa.array([k[1] for k in keys], pa.string()),
            "count": pa.array([count[k] for k in keys], pa.int64()),
            "docs_with_entity": pa.array([docs[k] for k in keys], pa.int64()),
        },
        schema=SCHEMA,
    )


def combine(parts: list[pa.Table]) -> pa.Table:
    """Adds up audit rows of several batches of the same run and day."""
    if not parts:
        return SCHEMA.empty_table()
    t = pa.concat_tables(parts)
    keys = ["run_id", "dt", "source", "entity"]
    g = t.group_by(keys).aggregate([("count", "sum"), ("docs_with_entity", "sum")])
    g = g.sort_by([(k, "ascending") for k in keys])
    return pa.table(
        {
            **{k: g.column(k) for k in keys},
            "count": g.column("count_sum"),
            "docs_with_entity": g.column("docs_with_entity_sum"),
        },
        schema=SCHEMA,
    )
