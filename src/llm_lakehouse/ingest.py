"""Landing files to bronze rows: one row per input record, whatever state the record is in.

Keeps every record. A line that is not valid UTF-8, not JSON, not an object, or lacks a usable ``id`` or
``text`` still becomes a bronze row, with ``text`` null, the raw bytes kept and ``parse_error`` saying why,
so silver can quarantine it and nothing is lost. Only blank lines of a JSONL file are skipped: they carry no
record. Files are streamed from any pyarrow filesystem (local, S3), in batches, so a landing file may be
larger than memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from llm_lakehouse.spec import Source
from llm_lakehouse.tables import BRONZE, RUN_COLUMNS

# What a reader yields: the bronze columns a run does not stamp itself.
READ_SCHEMA = BRONZE.arrow_schema(exclude=RUN_COLUMNS)
BATCH_ROWS = 2000


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def record_row(source: Source, obj: Any, raw: bytes, file: str, line: int) -> dict[str, Any]:
    """One bronze row from an already-decoded record (a JSON value or a Parquet row)."""
    row: dict[str, Any] = {
        "doc_id": f"{source.name}/{PurePosixPath(file).name}:{line}",
        "record_id": None,
        "source": source.name,
        "text": None,
        "content_type": source.content_type,
        "metadata": None,
        "source_file": file,
        "line_number": line,
        "raw_hash": hashlib.sha256(raw).hexdigest(),
        "raw": None,
        "parse_error": None,
    }
    error = None
    if not isinstance(obj, dict):
        error = "not_an_object"
    else:
        rid, text = obj.get(source.id_field), obj.get(source.text_field)
        if rid is None:
            error = f"missing_field:{source.id_field}"
        elif rid == "":
            error = f"empty_field:{source.id_field}"
        elif not isinstance(rid, str | int) or isinstance(rid, bool):
            error = f"wrong_type:{source.id_field}:{_type_name(rid)}"
        elif text is None:
            error = f"missing_field:{source.text_field}"
        elif not isinstance(text, str):
            error = f"wrong_type:{source.text_field}:{_type_name(text)}"
        else:
            row["record_id"] = str(rid)
            row["doc_id"] = f"{source.name}/{rid}"
            row["text"] = text
            used = {source.id_field, source.text_field}
            ctype = obj.get("content_type")
            if isinstance(ctype, str) and ctype:
                row["content_type"] = ctype
                used.add("content_type")
            rest = {k: v for k, v in obj.items() if k not in used}
            row["metadata"] = json.dumps(rest, sort_keys=True, ensure_ascii=False, default=str)
    if error:
        row["parse_error"] = error
        row["raw"] = raw
    return row


def jsonl_rows(source: Source, data: Iterable[bytes], file: str) -> Iterator[dict[str, Any]]:
    for lineno, line in enumerate(data, start=1):
        line = line.rstrip(b"\r\n")
        if lineno == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is not part of the record
        if not line.strip():
            continue
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError:
            yield _failed(source, line, file, lineno, "invalid_utf8")
            continue
        try:
            obj = json.loads(decoded)
        except (json.JSONDecodeError, RecursionError):
            yield _failed(source, line, file, lineno, "malformed_json")
            continue
        yield record_row(source, obj, line, file, lineno)


def _failed(source: Source, raw: bytes, file: str, line: int, error: str) -> dict[str, Any]:
    row = record_row(source, None, raw, file, line)
    row["parse_error"] = error
    return row


def parquet_rows(source: Source, handle: Any, file: str) -> Iterator[dict[str, Any]]:
    line = 0
    for batch in pq.ParquetFile(handle).iter_batches(batch_size=BATCH_ROWS):
        for obj in batch.to_pylist():
            line += 1
            raw = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()
            yield record_row(source, obj, raw, file, line)


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[pa.RecordBatch]:
    buf: list[dict[str, Any]] = []
    for row in rows:
        buf.append(row)
        if len(buf) >= BATCH_ROWS:
            yield pa.RecordBatch.from_pylist(buf, schema=READ_SCHEMA)
            buf = []
    if buf:
        yield pa.RecordBatch.from_pylist(buf, schema=READ_SCHEMA)


def read_file(source: Source, uri: str) -> Iterator[pa.RecordBatch]:
    """Streams one landing file (local path or URI) as bronze batches."""
    fs, path = pafs.FileSystem.from_uri(uri) if "://" in uri else (pafs.LocalFileSystem(), uri)
    if source.format == "parquet":
        with fs.open_input_file(path) as f:
            yield from _batches(parquet_rows(source, f, uri))
    else:
        with fs.open_input_stream(path) as f:
            yield from _batches(jsonl_rows(source, _lines(f), uri))


def _lines(stream: Any, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Splits a binary stream on ``\\n`` without decoding (decoding is per record, to catch bad UTF-8)."""
    tail = b""
    while block := stream.read(chunk):
        parts = (tail + block).split(b"\n")
        tail = parts.pop()
        yield from parts
    if tail:
        yield tail


def list_files(root: str, source: Source) -> list[str]:
    """Landing files of one source under ``root`` (a day's folder), sorted for a stable doc order."""
    suffix = ".parquet" if source.format == "parquet" else ".jsonl"
    fs, base = pafs.FileSystem.from_uri(root) if "://" in root else (pafs.LocalFileSystem(), root)
    infos = fs.get_file_info(pafs.FileSelector(f"{base}/{source.name}", allow_not_found=True, recursive=True))
    scheme = root.split("://", 1)[0] + "://" if "://" in root else ""
    # Hidden and underscore files (.crc, _SUCCESS, editors' temp files) are not data, as in Spark and Hive.
    return sorted(
        scheme + i.path
        for i in infos
        if i.type == pafs.FileType.File and i.path.endswith(suffix) and not i.base_name.startswith((".", "_"))
    )
