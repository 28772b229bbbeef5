"""Landing files to bronze rows: one row per input record, whatever state the record is in.

Keeps every record and never fails a day because of one record or one file:

- A record that is not valid UTF-8, not JSON, not an object, lacks a usable ``id`` or ``text``, holds a
  lone UTF-16 surrogate (``"\\ud800"``, valid JSON from JavaScript producers but not encodable as UTF-8) or
  a NUL character, or is longer than the source's ``max_bytes`` still becomes a bronze row, with ``text``
  null and ``parse_error`` saying why, so silver quarantines it. Its raw bytes are kept once, in bronze
  (the restricted layer), capped at ``RAW_CAP`` bytes; ``raw_hash`` and ``raw_length`` describe the whole
  record. Silver's quarantine points back to it by file, line and hash.
- Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r``. A byte-order mark at the start of a line (the start of
  the file, or of a file concatenated onto another) is not part of the record. Blank lines carry no record
  and are skipped (still counted in line numbers). A last line without a newline is read like any other:
  a landing file still being written ends in a partial line, which fails to parse and is quarantined as
  ``malformed_json`` (write to a hidden ``.name`` and rename, as Spark and Hive do, to avoid it).
- Lines are read with a bounded-memory reader: a line longer than ``max_bytes`` is hashed and measured as
  it streams past, keeping only its first ``RAW_CAP`` bytes, so a 1 GB line never loads whole.
- A file that cannot be read to its end (truncated or corrupt gzip, zstd or Parquet, a UTF-16 file, a
  read error) keeps the records read before the failure and adds one row ``unreadable_file:<kind>`` for
  the rest, with the error in ``metadata``. The day's other files proceed.
- A file no reader accepts (another format, an empty file, a hidden file, a symlink leading outside the
  source's folder) is listed in ``Listing.skipped`` with its reason; bronze writes those to
  ``ops.run_audit`` as ``skipped_file`` rows. Nothing is skipped silently.

JSON Lines may be plain or compressed (``.gz``, ``.zst``); names are matched case-insensitively. Files
are streamed from any pyarrow filesystem (local, S3), in batches bounded by rows and bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePosixPath
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.core.spec import PipelineSpec, Source
from llm_lakehouse.core.tables import BRONZE, RUN_COLUMNS

# What a reader yields: the bronze columns a run does not stamp itself.
READ_SCHEMA = BRONZE.arrow_schema(exclude=RUN_COLUMNS)
BATCH_ROWS = 2000
# A batch is also closed at this many bytes, so a file of large records never builds a huge batch.
BATCH_BYTES = 64 << 20
# Unparseable bytes kept per record: enough to see what went wrong, never a whole runaway record.
RAW_CAP = 64 << 10
BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
READ_CHUNK = 1 << 20

# File name endings each format reads, lower-cased; the compression codec follows from the last suffix.
SUFFIXES = {
    "jsonl": (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz", ".jsonl.zst", ".json.zst"),
    "parquet": (".parquet",),
}
CODECS = {".gz": "gzip", ".zst": "zstd"}


class Oversized(NamedTuple):
    """A line longer than the reader's limit: its first ``RAW_CAP`` bytes, whole length and SHA-256."""

    head: bytes
    length: int
    sha256: str


class UnreadableFile(Exception):
    """A file that cannot be read (on): ``kind`` names the format that failed, e.g. gzip, parquet."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Listing:
    """One source's files of a day: those a reader takes, and those skipped with a reason."""

    files: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str, int]] = field(default_factory=list)  # (uri, reason, bytes)


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _blank_row(source: Source, file: str, line: int, raw_hash: str, raw_length: int) -> dict[str, Any]:
    return {
        "doc_id": f"{source.name}/{PurePosixPath(file).name}:{line}",
        "record_id": None,
        "source": source.name,
        "text": None,
        "content_type": source.content_type,
        "metadata": None,
        "source_file": file,
        "line_number": line,
        "raw_hash": raw_hash,
        "raw": None,
        "raw_length": raw_length,
        "parse_error": None,
    }


def record_row(source: Source, obj: Any, raw: bytes, file: str, line: int) -> dict[str, Any]:
    """One bronze row from an already-decoded record (a JSON value or a Parquet row)."""
    row = _blank_row(source, file, line, hashlib.sha256(raw).hexdigest(), len(raw))
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
        elif "\x00" in text or "\x00" in str(rid):
            # An escaped \u0000: valid JSON, but NUL truncates strings in C tools, PostgreSQL and tokenizers.
            error = "nul_byte"
        else:
            used = {source.id_field, source.text_field}
            ctype = obj.get("content_type")
            if isinstance(ctype, str) and ctype:
                row["content_type"] = ctype
                used.add("content_type")
            rest = {k: v for k, v in obj.items() if k not in used}
            metadata = json.dumps(rest, sort_keys=True, ensure_ascii=False, default=str)
            # Only a \uD8xx-\uDFxx escape can put a surrogate into a decoded string: the byte search spares
            # every other record a full re-encode of its text.
            escaped = b"\\ud" in raw or b"\\uD" in raw
            if escaped and _has_lone_surrogate(text, str(rid), metadata):
                error = "lone_surrogate"
            else:
                row["record_id"] = str(rid)
                row["doc_id"] = f"{source.name}/{rid}"
                row["text"] = text
                row["metadata"] = metadata
    if error:
        row["parse_error"] = error
        row["raw"] = raw[:RAW_CAP]
    return row


def _has_lone_surrogate(*values: str) -> bool:
    """A lone surrogate (from a ``\\ud800`` escape) cannot be encoded as UTF-8, so Arrow would fail the batch."""
    try:
        for v in values:
            v.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def jsonl_rows(source: Source, data: Iterable[bytes | Oversized], file: str) -> Iterator[dict[str, Any]]:
    for lineno, line in enumerate(data, start=1):
        if isinstance(line, Oversized):
            row = _blank_row(source, file, lineno, line.sha256, line.length)
            row["parse_error"] = "record_too_large"
            row["raw"] = line.head
            yield row
            continue
        line = line.rstrip(b"\r\n").removeprefix(BOM)
        if not line.strip():
            continue
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError:
            yield _failed(source, line, file, lineno, "invalid_utf8")
            continue
        if "\x00" in decoded:
            yield _failed(source, line, file, lineno, "nul_byte")
            continue
        try:
            obj = json.loads(decoded)
        except (ValueError, RecursionError):  # JSONDecodeError, and an integer of over 4,300 digits
            yield _failed(source, line, file, lineno, "malformed_json")
            continue
        yield record_row(source, obj, line, file, lineno)


def _failed(source: Source, raw: bytes, file: str, line: int, error: str) -> dict[str, Any]:
    row = record_row(source, None, raw, file, line)
    row["parse_error"] = error
    return row


def unreadable_row(source: Source, file: str, line: int, kind: str, error: str, size: int) -> dict[str, Any]:
    """The rest of a file that could not be read: one row, so the file is accounted for in quarantine."""
    digest = hashlib.sha256(f"{file}\n{line}\n{error}".encode()).hexdigest()
    row = _blank_row(source, file, line, digest, size)
    row["parse_error"] = f"unreadable_file:{kind}"
    row["metadata"] = json.dumps({"error": error[:1000]}, ensure_ascii=False)
    return row


def parquet_rows(source: Source, handle: Any, file: str) -> Iterator[dict[str, Any]]:
    line = 0
    for batch in pq.ParquetFile(handle).iter_batches(batch_size=BATCH_ROWS):
        for obj in batch.to_pylist():
            line += 1
            raw = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8", "replace")
            yield record_row(source, obj, raw, file, line)


def _row_bytes(row: dict[str, Any]) -> int:
    return len(row["text"] or "") + len(row["raw"] or b"") + len(row["metadata"] or "")


def row_batches(rows: Iterator[dict[str, Any]]) -> Iterator[pa.RecordBatch]:
    buf: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        buf.append(row)
        size += _row_bytes(row)
        if len(buf) >= BATCH_ROWS or size >= BATCH_BYTES:
            yield pa.RecordBatch.from_pylist(buf, schema=READ_SCHEMA)
            buf, size = [], 0
    if buf:
        yield pa.RecordBatch.from_pylist(buf, schema=READ_SCHEMA)


def _filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    return pafs.FileSystem.from_uri(uri) if "://" in uri else (pafs.LocalFileSystem(), uri)


def _codec(uri: str) -> str | None:
    """The compression of a JSON Lines file, from its last suffix; None when plain."""
    return CODECS.get(PurePosixPath(uri.lower()).suffix)


def _kind(source: Source, uri: str) -> str:
    return _codec(uri) or source.format


def _records(source: Source, uri: str) -> Iterator[dict[str, Any]]:
    fs, path = _filesystem(uri)
    if source.format == "parquet":
        with fs.open_input_file(path) as f:
            yield from parquet_rows(source, f, uri)
        return
    codec = _codec(path)
    # compression=None: Arrow would otherwise decompress by extension itself, silently past a truncation.
    with fs.open_input_stream(path, compression=None) as f:
        if codec == "gzip":
            # Python's gzip, not Arrow's codec: Arrow reads a truncated gzip stream to its cut without error.
            stream: Any = gzip.GzipFile(fileobj=f)
        elif codec:
            stream = pa.CompressedInputStream(f, codec)
        else:
            stream = f
        yield from jsonl_rows(source, _lines(stream, source.max_bytes), uri)


def read_file(source: Source, uri: str) -> Iterator[pa.RecordBatch]:
    """Streams one landing file (local path or URI) as bronze batches; never raises for the file's content."""
    yield from row_batches(_guarded(source, uri))


def _guarded(source: Source, uri: str) -> Iterator[dict[str, Any]]:
    last = 0
    try:
        for row in _records(source, uri):
            last = row["line_number"]
            yield row
    except UnreadableFile as exc:
        yield unreadable_row(source, uri, last + 1, exc.kind, str(exc), _size(uri))
    except (OSError, EOFError, pa.ArrowException) as exc:
        # gzip's EOFError (truncated), zlib/zstd/Parquet errors (corrupt), and I/O errors (file gone).
        message = f"{type(exc).__name__}: {exc}"
        yield unreadable_row(source, uri, last + 1, _kind(source, uri), message, _size(uri))


def _size(uri: str) -> int:
    fs, path = _filesystem(uri)
    try:
        return fs.get_file_info(path).size or 0
    except OSError:
        return 0


def _lines(stream: Any, max_bytes: int = 1 << 62, chunk: int = READ_CHUNK) -> Iterator[bytes | Oversized]:
    """Splits a binary stream into lines (``\\n``, ``\\r\\n`` or ``\\r``) without decoding it.

    Memory stays bounded by ``max_bytes`` plus one read chunk: a longer line is yielded as an ``Oversized``
    summary, hashed while it streams past. A line spanning many chunks is joined once (no quadratic
    re-concatenation). Raises ``UnreadableFile`` for a UTF-16 file (its every line would be garbage).
    """
    pending: list[bytes] = []
    pending_len = 0
    over: tuple[Any, bytes] | None = None  # (hasher, head) while inside an oversized line
    carry_cr = False
    first = True
    while True:
        block = stream.read(chunk)
        if first and block:
            first = False
            if block.startswith(UTF16_BOMS):
                raise UnreadableFile("utf16", "the file starts with a UTF-16 byte-order mark; expected UTF-8")
        if not block:
            break
        if carry_cr:
            block = b"\r" + block
        # A \r at the end of a block may be the first half of \r\n: decide once the next block is read.
        carry_cr = block.endswith(b"\r")
        if carry_cr:
            block = block[:-1]
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        parts = block.split(b"\n")
        tail = parts.pop()
        for i, part in enumerate(parts):
            if i == 0 and (pending or over):
                if over:
                    over[0].update(part)
                    yield Oversized(over[1], pending_len + len(part), over[0].hexdigest())
                else:
                    line = b"".join([*pending, part])
                    yield line if len(line) <= max_bytes else _oversized(line)
                pending, pending_len, over = [], 0, None
            else:
                yield part if len(part) <= max_bytes else _oversized(part)
        if tail:
            if over:
                over[0].update(tail)
            else:
                pending.append(tail)
                if pending_len + len(tail) > max_bytes:
                    whole = b"".join(pending)
                    over = (hashlib.sha256(whole), whole[:RAW_CAP])
                    pending = []
            pending_len += len(tail)
    if carry_cr or pending or over:
        if over:
            yield Oversized(over[1], pending_len, over[0].hexdigest())
        elif pending:
            line = b"".join(pending)
            yield line if len(line) <= max_bytes else _oversized(line)


def _oversized(line: bytes) -> Oversized:
    return Oversized(line[:RAW_CAP], len(line), hashlib.sha256(line).hexdigest())


def skip_reason(source: Source, base_name: str, size: int) -> str | None:
    """Why a file under the source's folder is not read, or None when a reader takes it."""
    if base_name.startswith((".", "_")):
        # Hidden and underscore files (.crc, _SUCCESS, editors' and writers' temp files) are not data, as
        # in Spark and Hive: writers land a file under such a name and rename it when complete.
        return "hidden_file"
    name = base_name.lower()
    if not name.endswith(SUFFIXES[source.format]):
        other = [f for f, sfx in SUFFIXES.items() if f != source.format and name.endswith(sfx)]
        if other:
            return f"wrong_format:{other[0]}:source_is_{source.format}"
        return f"unsupported_file:{PurePosixPath(name).suffix or 'no_suffix'}"
    if size == 0:
        return "empty_file"
    return None


def landing_files(spec: PipelineSpec, settings: Settings, day: date) -> list[tuple[Source, Listing]]:
    """Each declared source's files of ``day`` in the landing zone (``<landing>/<day>/<source>/``)."""
    root = settings.landing / day.isoformat()
    return [(s, survey(str(root / s.name), s)) for s in spec.sources]


def landed(spec: PipelineSpec, settings: Settings, day: date) -> str | None:
    """Why ``day`` has input to ingest (a file landed for a source, even one no reader takes), or None."""
    for source, listing in landing_files(spec, settings, day):
        if listing.files or listing.skipped:
            return f"files landed for source {source.name}"
    return None


def survey(folder: str, source: Source) -> Listing:
    """The files under ``folder`` (a source's folder of one day) a reader takes, sorted for a stable doc
    order, and those it does not, with the reason."""
    scheme = folder.split("://", 1)[0] + "://" if "://" in folder else ""
    fs, base = _filesystem(folder)
    folder = base.rstrip("/")
    infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True, recursive=True))
    local = isinstance(fs, pafs.LocalFileSystem)
    real_folder = os.path.realpath(folder) if local else ""
    listing = Listing()
    for info in sorted(infos, key=lambda i: i.path):
        if info.type == pafs.FileType.Directory:
            continue
        uri = scheme + info.path
        if local and not _inside(info.path, real_folder):
            # Following a link out of the landing folder would copy any readable file into bronze.
            listing.skipped.append((uri, "symlink_outside_source", 0))
            continue
        if info.type != pafs.FileType.File:
            listing.skipped.append((uri, "not_a_file", 0))
            continue
        reason = skip_reason(source, info.base_name, info.size or 0)
        if reason:
            listing.skipped.append((uri, reason, info.size or 0))
        else:
            listing.files.append(uri)
    return listing


def _inside(path: str, real_folder: str) -> bool:
    real = os.path.realpath(path)
    return real == real_folder or real.startswith(real_folder.rstrip("/") + "/")


def list_files(root: str, source: Source) -> list[str]:
    """The files of one source under ``root`` (a day's folder) that a reader takes."""
    return survey(f"{root.rstrip('/')}/{source.name}", source).files
