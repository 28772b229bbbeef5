"""The lakehouse's tables: one definition per table, from which the Spark DDL and the Arrow schemas derive.

Every table is partitioned by the logical date ``dt`` so that a day is replaced atomically with
``overwrite(dt == day)``; bronze is also partitioned by ``source`` (the issue asks for ingest date and
source). Tables are Iceberg format v2 with zstd Parquet files.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

# Spark SQL type -> Arrow type, for the few types the lakehouse uses.
_ARROW = {
    "STRING": pa.string(),
    "BINARY": pa.binary(),
    "INT": pa.int32(),
    "BIGINT": pa.int64(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "ARRAY<INT>": pa.list_(pa.int32()),
}


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


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
        cols = ",\n  ".join(f"{n} {t} COMMENT '{_quote(c)}'" for n, t, c in self.columns)
        return (
            f"CREATE TABLE IF NOT EXISTS {catalog}.{self.ident} (\n  {cols}\n) USING iceberg\n"
            f"PARTITIONED BY ({', '.join(self.partition_by)})\nCOMMENT '{_quote(self.comment)}'\n"
            "TBLPROPERTIES ('format-version'='2', 'write.parquet.compression-codec'='zstd')"
        )

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
        ("raw", "BINARY", "raw bytes, kept only when the record could not be parsed"),
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
    comment="Cleaned, validated, exact-deduplicated documents",
)

QUARANTINE = Table(
    "silver",
    "quarantine",
    (
        ("doc_id", "STRING", "source-qualified document id"),
        ("source", "STRING", "landing feed name"),
        ("stage", "STRING", "pipe or step that dropped the record"),
        ("reason", "STRING", "machine-readable reason, e.g. malformed_json, empty_text, exact_duplicate"),
        ("detail", "STRING", "human-readable detail (signal value and threshold)"),
        ("duplicate_of", "STRING", "doc_id of the kept document this one duplicates"),
        ("source_file", "STRING", "pointer to the raw record: landing file"),
        ("line_number", "BIGINT", "pointer to the raw record: line or row"),
        ("raw_hash", "STRING", "SHA-256 of the raw record bytes"),
        ("raw", "BINARY", "raw bytes of records that could not be parsed"),
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

ALL_TABLES = (BRONZE, SILVER, QUARANTINE, GOLD_TRAINING)
TABLES = {t.ident: t for t in ALL_TABLES}


def table(ident: str) -> Table:
    if ident not in TABLES:
        raise KeyError(f"unknown table {ident!r}; expected one of {sorted(TABLES)}")
    return TABLES[ident]
