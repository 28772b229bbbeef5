"""The lakehouse's tables: one definition per table, from which the Spark DDL and the Arrow schemas derive.

Every table is partitioned by the logical date ``dt`` so that a day is replaced atomically with
``overwrite(dt == day)``; bronze is also partitioned by ``source`` (the issue asks for ingest date and
source). Tables are Iceberg format v2 with zstd Parquet files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pyarrow as pa

# Layers consumers read: their jobs write each day to a write-audit-publish branch (spark/wap.py) that is
# published to main only after the quality gate. ops.* tables are the jobs' own logs, written directly.
WAP_LAYERS = ("bronze", "silver", "gold")
WAP_PROPERTY = "write.wap.enabled"

# Spark SQL type -> Arrow type, for the few types the lakehouse uses.
_ARROW = {
    "STRING": pa.string(),
    "BINARY": pa.binary(),
    "INT": pa.int32(),
    "BIGINT": pa.int64(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "FLOAT": pa.float32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "ARRAY<INT>": pa.list_(pa.int32()),
    "ARRAY<FLOAT>": pa.list_(pa.float32()),
    "ARRAY<BIGINT>": pa.list_(pa.int64()),
    "MAP<STRING, INT>": pa.map_(pa.string(), pa.int32()),
    "MAP<STRING, DOUBLE>": pa.map_(pa.string(), pa.float64()),
    "ARRAY<STRING>": pa.list_(pa.string()),
    "MAP<STRING, BIGINT>": pa.map_(pa.string(), pa.int64()),
}

# Spark SQL types that compare as numbers (drift checks, the report's distributions).
NUMERIC = frozenset({"INT", "BIGINT", "FLOAT", "DOUBLE"})


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def column_ddl(col: tuple[str, str, str]) -> str:
    name, sql_type, comment = col
    return f"{name} {sql_type} COMMENT '{_quote(comment)}'"


@dataclass(frozen=True)
class Table:
    layer: str
    name: str
    columns: tuple[tuple[str, str, str], ...]  # (name, Spark SQL type, comment)
    partition_by: tuple[str, ...] = ("dt",)
    comment: str = ""

    @property
    def ident(self) -> str:
        return f"{self.layer}.{self.name}"

    def ddl(self, catalog: str) -> str:
        cols = ",\n  ".join(column_ddl(c) for c in self.columns)
        return (
            f"CREATE TABLE IF NOT EXISTS {catalog}.{self.ident} (\n  {cols}\n) USING iceberg\n"
            f"PARTITIONED BY ({', '.join(self.partition_by)})\nCOMMENT '{_quote(self.comment)}'\n"
            "TBLPROPERTIES ('format-version'='2', 'write.parquet.compression-codec'='zstd'"
            + (f", '{WAP_PROPERTY}'='true')" if self.wap else ")")
        )

    @property
    def wap(self) -> bool:
        return self.layer in WAP_LAYERS

    def arrow_schema(self, exclude: tuple[str, ...] = ()) -> pa.Schema:
        return pa.schema([(n, _ARROW[t]) for n, t, _ in self.columns if n not in exclude])

    def spark_schema(self, exclude: tuple[str, ...] = ()) -> str:
        return ", ".join(f"{n} {t}" for n, t, _ in self.columns if n not in exclude)

    @property
    def column_names(self) -> list[str]:
        return [n for n, _, _ in self.columns]


# Columns a run stamps on rows after the Arrow stage (not produced by pipes or readers).
RUN_COLUMNS = ("dt", "run_id", "processed_at")

BRONZE = Table(
    "bronze",
    "documents",
    (
        (
            "doc_id",
            "STRING",
            "source-qualified record id: <source>/<id>, or <source>/<file>:<line> if unparseable",
        ),
        ("record_id", "STRING", "the id field as found in the input record"),
        ("source", "STRING", "landing feed name from the spec"),
        ("text", "STRING", "text as ingested; null when the record could not be parsed"),
        ("content_type", "STRING", "MIME type of text"),
        ("metadata", "STRING", "other fields of the record, as a JSON object"),
        ("source_file", "STRING", "landing file the record came from"),
        ("line_number", "BIGINT", "1-based line (JSONL) or row (Parquet) in source_file"),
        ("raw_hash", "STRING", "SHA-256 of the raw record bytes"),
        (
            "raw",
            "BINARY",
            "raw bytes, kept only when the record could not be parsed, and only their first 64 KB",
        ),
        (
            "raw_length",
            "BIGINT",
            "length in bytes of the whole raw record (of the rest of an unreadable file)",
        ),
        ("parse_error", "STRING", "why the record could not be parsed; null if it was"),
        ("dt", "DATE", "logical date (ingest day)"),
        ("run_id", "STRING", "ingest run id"),
        ("processed_at", "TIMESTAMP", "when the ingest ran"),
    ),
    partition_by=("dt", "source"),
    comment="Records as ingested, one row per input record, including unparseable ones",
)

SILVER = Table(
    "silver",
    "documents",
    (
        ("doc_id", "STRING", "source-qualified document id"),
        ("record_id", "STRING", "the id field as found in the input record"),
        ("source", "STRING", "landing feed name"),
        ("text", "STRING", "normalized text (Unicode NFC, tidy whitespace)"),
        ("content_type", "STRING", "MIME type of the source text"),
        ("metadata", "STRING", "other fields of the record, as a JSON object"),
        ("content_hash", "STRING", "SHA-256 of text; unique across all days"),
        ("n_chars", "INT", "characters in text"),
        ("raw_hash", "STRING", "SHA-256 of the bronze raw record"),
        ("dt", "DATE", "logical date"),
        ("run_id", "STRING", "silver run id"),
        ("processed_at", "TIMESTAMP", "when the silver job ran"),
    ),
    comment="Cleaned, validated, deduplicated documents (columns the spec's pipes add follow n_chars)",
)

QUARANTINE = Table(
    "silver",
    "quarantine",
    (
        ("doc_id", "STRING", "source-qualified document id"),
        ("source", "STRING", "landing feed name"),
        ("stage", "STRING", "pipe or step that dropped the record"),
        (
            "reason",
            "STRING",
            "machine-readable reason, e.g. malformed_json, quality:gopher_short_doc, near_duplicate",
        ),
        ("detail", "STRING", "human-readable detail (signal value and threshold)"),
        ("duplicate_of", "STRING", "doc_id of the kept document this one duplicates"),
        ("source_file", "STRING", "pointer to the raw record: landing file"),
        ("line_number", "BIGINT", "pointer to the raw record: line or row"),
        ("raw_hash", "STRING", "SHA-256 of the raw record bytes (bronze.documents keeps unparseable ones)"),
        ("dt", "DATE", "logical date"),
        ("run_id", "STRING", "silver run id"),
        ("processed_at", "TIMESTAMP", "when the record was quarantined"),
    ),
    comment="Every record dropped on the way to silver, with its reason",
)

GOLD_TRAINING = Table(
    "gold",
    "training_documents",
    (
        ("doc_id", "STRING", "source-qualified document id"),
        ("source", "STRING", "landing feed name"),
        ("content_hash", "STRING", "SHA-256 of the silver text"),
        ("token_ids", "ARRAY<INT>", "token ids, end-of-text appended"),
        ("n_tokens", "INT", "number of token ids"),
        ("tokenizer", "STRING", "tokenizer encoding name"),
        ("dt", "DATE", "logical date"),
        ("run_id", "STRING", "gold run id"),
        ("processed_at", "TIMESTAMP", "when the gold job ran"),
    ),
    comment="Tokenized training documents",
)


GOLD_CHUNKS = Table(
    "gold",
    "chunk_embeddings",
    (
        ("chunk_id", "STRING", "stable chunk id: hash of doc_id, chunk index and chunk text"),
        ("doc_id", "STRING", "source-qualified document id"),
        ("source", "STRING", "landing feed name"),
        ("chunk_index", "INT", "position of the chunk in its document, from 0"),
        ("text", "STRING", "the chunk's text, the document's own characters"),
        ("char_start", "INT", "offset of the chunk's first character in the silver text"),
        ("char_end", "INT", "offset after the chunk's last character"),
        ("n_tokens", "INT", "embedding-model tokens in the chunk"),
        ("text_hash", "STRING", "hash of the chunk text: an unchanged chunk reuses its embedding"),
        ("model", "STRING", "embedding model"),
        ("dim", "INT", "embedding dimension (every vector has exactly dim floats)"),
        ("embedding", "ARRAY<FLOAT>", "L2-normalized float32 vector of dim values"),
        ("dt", "DATE", "logical date"),
        ("run_id", "STRING", "gold run id"),
        ("processed_at", "TIMESTAMP", "when the gold job ran"),
    ),
    comment="Token-window chunks of silver documents with their embeddings, for RAG",
)


def with_columns(base: Table, extra: Sequence[tuple[str, str, str]]) -> Table:
    """``base`` plus columns declared by pipes (placed before the run columns); base columns win."""
    have = set(base.column_names)
    add = tuple(c for c in extra if c[0] not in have)
    head = tuple(c for c in base.columns if c[0] not in RUN_COLUMNS)
    tail = tuple(c for c in base.columns if c[0] in RUN_COLUMNS)
    return replace(base, columns=head + add + tail)


DEDUP_INDEX = Table(
    "silver",
    "dedup_index",
    (
        ("bucket", "INT", "key mod the spec's index buckets: lookups read only the buckets a day touches"),
        ("band", "INT", "MinHash band number; -1 for the exact content hash"),
        ("key", "BIGINT", "hash of the band's signature values, or the first 64 bits of content_hash"),
        ("content_hash", "STRING", "SHA-256 of text (exact rows only), to confirm exact matches"),
        ("doc_id", "STRING", "the kept silver document this key belongs to"),
        ("dt", "DATE", "logical date of that document"),
        ("run_id", "STRING", "silver run id"),
        ("processed_at", "TIMESTAMP", "when the silver job ran"),
    ),
    partition_by=("bucket", "dt"),
    comment="Exact and MinHash-band keys of every kept silver document, for deduplication against history",
)

RUN_AUDIT = Table(
    "ops",
    "run_audit",
    (
        ("job", "STRING", "bronze, silver or gold"),
        ("step", "STRING", "pipe or job step; '*' for the whole job"),
        ("reason", "STRING", "drop reason; null on a step's own row"),
        ("docs_in", "BIGINT", "documents entering the step (still kept)"),
        ("docs_out", "BIGINT", "documents the step kept"),
        ("docs_dropped", "BIGINT", "documents the step dropped (for the reason, on reason rows)"),
        ("bytes_in", "BIGINT", "UTF-8 bytes of text entering the step"),
        ("bytes_out", "BIGINT", "UTF-8 bytes of text leaving the step"),
        ("wall_s", "DOUBLE", "wall seconds, summed over the Python workers (job rows: the job's own)"),
        ("cpu_s", "DOUBLE", "CPU seconds, summed over the Python workers (job rows: the driver's)"),
        ("detail", "STRING", "step-specific figures as JSON (e.g. index rows and files read)"),
        ("dt", "DATE", "logical date"),
        ("run_id", "STRING", "run id"),
        ("processed_at", "TIMESTAMP", "when the run wrote the row"),
    ),
    partition_by=("dt", "job"),
    comment="Per-run accounting: documents and bytes in/out per step and per drop reason, with timings",
)

PII_AUDIT = Table(
    "ops",
    "pii_audit",
    (
        ("source", "STRING", "landing feed name"),
        ("entity", "STRING", "PII entity type, e.g. EMAIL_ADDRESS, PERSON; '*' on canary rows"),
        (
            "count",
            "BIGINT",
            "scrubbed rows: spans of this entity replaced in this source's silver documents of the day; "
            "canary rows: values planted",
        ),
        (
            "docs_with_entity",
            "BIGINT",
            "scrubbed rows: documents with at least one span of this entity; canary rows: canary records",
        ),
        ("dt", "DATE", "logical date"),
        ("run_id", "STRING", "silver run that scrubbed the documents"),
        ("processed_at", "TIMESTAMP", "when the silver job ran"),
        ("policy", "STRING", "PII policy that scanned the documents (or the canaries)"),
        ("kind", "STRING", "scrubbed: counted from silver's pii_counts; canary: the run's live recall check"),
        ("survived", "BIGINT", "canary rows: planted values still present after the pipes (must be 0)"),
    ),
    comment="PII replaced per source, policy and entity type, from silver's pii_counts, and the outcome of "
    "the run's PII canaries: counts only, never values",
)

QUALITY_RESULTS = Table(
    "ops",
    "quality_results",
    (
        ("job", "STRING", "bronze, silver or gold"),
        ("table_name", "STRING", "the table checked, <layer>.<table>"),
        ("expectation", "STRING", "the rule's name in the spec"),
        ("expect", "STRING", "the spec's rule type, e.g. not_null, row_count_vs_trailing"),
        ("gx_type", "STRING", "the Great Expectations expectation that ran"),
        ("column_name", "STRING", "the column checked; null for table-level rules"),
        ("level", "STRING", "blocking or warning"),
        ("success", "BOOLEAN", "whether the day met the expectation"),
        ("observed", "STRING", "observed value as JSON: counts and aggregates, never row values"),
        ("kwargs", "STRING", "the expectation's parameters as JSON (bounds computed for this day included)"),
        ("branch", "STRING", "the write-audit-publish branch that was checked"),
        ("outcome", "STRING", "what the gate did with the day: published, accepted_warnings or blocked"),
        ("dt", "DATE", "logical date"),
        ("run_id", "STRING", "run id"),
        ("processed_at", "TIMESTAMP", "when the gate ran"),
    ),
    partition_by=("dt", "job"),
    comment="Quality gate results per run, table and expectation (Great Expectations on the WAP branch)",
)

PUBLICATIONS = Table(
    "ops",
    "publications",
    (
        ("stage", "STRING", "bronze, silver or gold"),
        ("table_name", "STRING", "a table the stage writes, <layer>.<table>"),
        ("snapshot_id", "BIGINT", "the table's main snapshot when the row was written"),
        (
            "state",
            "STRING",
            "started: written before the run's first write (readers stay on the state before it); "
            "published: written once every table has moved (readers see the run)",
        ),
        ("dt", "DATE", "logical date"),
        ("run_id", "STRING", "the run that published the day"),
        ("processed_at", "TIMESTAMP", "when the run published (all its tables at once)"),
    ),
    comment="Per run of a stage's day, its tables' snapshots before the run (started) and once every table "
    "has moved (published), each written in one commit: readers resolve a day's tables through the day's "
    "latest row, so they never combine one run's table with another run's",
)

DOC_PROFILE = Table(
    "ops",
    "doc_profile",
    (
        ("source", "STRING", "landing feed name"),
        ("doc_id", "STRING", "source-qualified document id of the sampled record"),
        ("stage", "STRING", "pipe or step that dropped it; null when the pipes kept it"),
        ("reason", "STRING", "its quarantine reason; null when the pipes kept it"),
        ("lang", "STRING", "language label; null when it was dropped before the language pipe"),
        ("n_chars", "INT", "characters of its text as the pipes left it"),
        ("signals", "MAP<STRING, DOUBLE>", "its numeric pipe columns (quality signals, language score)"),
        ("example", "BOOLEAN", "true: an example of its drop reason for the report, outside the sample"),
        (
            "excerpt",
            "STRING",
            "example rows only: the text's start, scrubbed by the source's PII policy (never bronze text)",
        ),
        ("dt", "DATE", "logical date"),
        ("run_id", "STRING", "silver run id"),
        ("processed_at", "TIMESTAMP", "when the silver job ran"),
    ),
    partition_by=("dt", "source"),
    comment="A deterministic sample of each source's records per day (kept and dropped) with their quality "
    "signals, for drift checks and the corpus report, plus a few scrubbed examples per drop reason",
)

DRIFT_RESULTS = Table(
    "ops",
    "drift_results",
    (
        ("job", "STRING", "silver or gold: the gate that ran the check"),
        ("check_name", "STRING", "the drift check's name in the spec"),
        ("kind", "STRING", "distribution, mix or embedding"),
        ("test", "STRING", "ks, psi, chi2 or mmd"),
        ("source", "STRING", "landing feed name"),
        (
            "metric",
            "STRING",
            "the value compared: a signal, n_chars, n_tokens, language, drop_reason, embedding",
        ),
        ("level", "STRING", "blocking or warning"),
        ("status", "STRING", "drift, ok, no_baseline or too_few"),
        ("statistic", "DOUBLE", "KS D, PSI, Cramér's V or MMD²; null when not compared"),
        ("p_value", "DOUBLE", "the test's p-value, where it has one"),
        ("threshold", "DOUBLE", "the check's maximum statistic"),
        ("n_day", "BIGINT", "values on the day's side"),
        ("n_baseline", "BIGINT", "values in the trailing window"),
        ("baseline_days", "INT", "published days with the source's documents in the window"),
        ("detail", "STRING", "medians, top categories or the centroid shift, as JSON"),
        ("outcome", "STRING", "what the gate did with the day: published, accepted_warnings or blocked"),
        ("dt", "DATE", "logical date"),
        ("run_id", "STRING", "run id"),
        ("processed_at", "TIMESTAMP", "when the gate ran"),
    ),
    partition_by=("dt", "job"),
    comment="Drift of each source's day against its trailing window of published days, per check and metric",
)

ERASURE_LOG = Table(
    "ops",
    "erasure_log",
    (
        ("erasure_id", "STRING", "one erasure request (a `lakehouse forget` run)"),
        ("status", "STRING", "started (its working set recorded) or completed (verified)"),
        (
            "subject_sha256",
            "ARRAY<STRING>",
            "SHA-256 of each subject as '<kind>:<value>' (e-mail lower-cased): the subject is never stored",
        ),
        ("doc_ids", "ARRAY<STRING>", "the records found for the subjects: a re-run finishes their erasure"),
        ("rows_deleted", "MAP<STRING, BIGINT>", "rows deleted per table (completed rows)"),
        ("snapshots_expired", "MAP<STRING, BIGINT>", "snapshots expired per table (completed rows)"),
        ("datasets", "STRING", "dataset versions that held the subjects and what changed in each, as JSON"),
        ("forced", "BOOLEAN", "whether dataset pins were broken (--force)"),
        ("detail", "STRING", "landing files still holding the subjects, the serving index, as JSON"),
        ("dt", "DATE", "the day of the request"),
        ("run_id", "STRING", "the forget run"),
        ("processed_at", "TIMESTAMP", "when the row was written"),
    ),
    comment="Receipts of erasure requests (right to be forgotten): what was found and deleted, never the subject",
)

ALL_TABLES = (
    BRONZE,
    SILVER,
    QUARANTINE,
    DEDUP_INDEX,
    GOLD_TRAINING,
    GOLD_CHUNKS,
    RUN_AUDIT,
    PII_AUDIT,
    QUALITY_RESULTS,
    PUBLICATIONS,
    DOC_PROFILE,
    DRIFT_RESULTS,
    ERASURE_LOG,
)
TABLES = {t.ident: t for t in ALL_TABLES}


def table(ident: str) -> Table:
    if ident not in TABLES:
        raise KeyError(f"unknown table {ident!r}; expected one of {sorted(TABLES)}")
    return TABLES[ident]


# --- Lineage: how each table derives from others, declared once, next to the tables. ---------------------
# ``datahub/`` turns this into DataHub table- and column-level lineage. A column of a table listed here takes
# the same-named column of its first upstream table (an identity edge) unless ``columns`` names its sources as
# ``"<layer>.<table>.<column>"`` (a transform edge; ``()`` = computed by the job, no source column). Run
# columns (``RUN_COLUMNS``) have no source. Columns that silver's pipes add derive from bronze ``text`` (a pipe
# sees a document's text and the columns earlier pipes computed from it).
# Adding a column: nothing to do if it is copied under the same name, else one entry in ``columns``.
@dataclass(frozen=True)
class Lineage:
    upstream: tuple[str, ...]
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)


LINEAGE: dict[str, Lineage] = {
    "silver.documents": Lineage(
        ("bronze.documents",),
        {
            "text": ("bronze.documents.text",),
            "content_hash": ("bronze.documents.text",),
            "n_chars": ("bronze.documents.text",),
        },
    ),
    "silver.quarantine": Lineage(
        ("bronze.documents", "silver.documents"),
        {
            "stage": (),
            "reason": ("bronze.documents.parse_error", "bronze.documents.text"),
            "detail": ("bronze.documents.parse_error", "bronze.documents.text"),
            "duplicate_of": ("bronze.documents.doc_id", "silver.documents.doc_id"),
        },
    ),
    "silver.dedup_index": Lineage(
        ("silver.documents",),
        {
            "key": ("silver.documents.content_hash", "silver.documents.minhash"),
            "bucket": ("silver.documents.content_hash", "silver.documents.minhash"),
            "band": (),
        },
    ),
    "ops.pii_audit": Lineage(
        ("silver.documents",),
        {
            "entity": ("silver.documents.pii_counts",),
            "count": ("silver.documents.pii_counts",),
            "docs_with_entity": ("silver.documents.pii_counts",),
            "policy": ("silver.documents.pii_policy",),
            "kind": (),
            "survived": (),
        },
    ),
    "ops.doc_profile": Lineage(
        ("bronze.documents",),
        {
            "stage": (),
            "reason": ("bronze.documents.parse_error", "bronze.documents.text"),
            "example": (),
            "lang": ("bronze.documents.text",),
            "n_chars": ("bronze.documents.text",),
            "signals": ("bronze.documents.text",),
            "excerpt": ("bronze.documents.text",),
        },
    ),
    "gold.training_documents": Lineage(
        ("silver.documents",),
        {
            "token_ids": ("silver.documents.text",),
            "n_tokens": ("silver.documents.text",),
            "tokenizer": (),
        },
    ),
    "gold.chunk_embeddings": Lineage(
        ("silver.documents",),
        {
            "chunk_id": ("silver.documents.doc_id", "silver.documents.text"),
            "chunk_index": ("silver.documents.text",),
            "text": ("silver.documents.text",),
            "char_start": ("silver.documents.text",),
            "char_end": ("silver.documents.text",),
            "n_tokens": ("silver.documents.text",),
            "text_hash": ("silver.documents.text",),
            "embedding": ("silver.documents.text",),
            "model": (),
            "dim": (),
        },
    ),
}
