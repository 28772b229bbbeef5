"""Landing files to bronze rows, read from files under tmp_path: no Spark, no JVM."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llm_lakehouse.core.spec import Source
from llm_lakehouse.spark import ingest
from llm_lakehouse.spark.ingest import READ_SCHEMA, _lines, jsonl_rows, list_files, read_file

WEB = Source(name="web")
DOCS = Source(name="docs", format="parquet", content_type="text/markdown")


def sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def rows(source: Source, lines: list[bytes], file: str = "/land/web/part-0.jsonl") -> list[dict]:
    return list(jsonl_rows(source, lines, file))


def read_all(source: Source, path: Path | str) -> list[dict]:
    out = []
    for batch in read_file(source, str(path)):
        assert batch.schema == READ_SCHEMA
        out.extend(batch.to_pylist())
    return out


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------------------------------- jsonl_rows


def test_good_record_row():
    line = json.dumps({"id": "a1", "text": "héllo", "url": "https://x", "tags": ["t"], "n": 3}).encode()
    (row,) = rows(WEB, [line])
    assert row == {
        "doc_id": "web/a1",
        "record_id": "a1",
        "source": "web",
        "text": "héllo",
        "content_type": "text/plain",
        "metadata": json.dumps({"n": 3, "tags": ["t"], "url": "https://x"}, sort_keys=True),
        "source_file": "/land/web/part-0.jsonl",
        "line_number": 1,
        "raw_hash": sha(line),
        "raw": None,
        "raw_length": len(line),
        "parse_error": None,
    }


def test_metadata_holds_the_other_fields_unescaped():
    line = json.dumps(
        {
            "text": "t",
            "id": 5,
            "author": "Müller",
            "nested": {"b": [1, None], "a": True},
            "content_type": "x/y",
        },
        ensure_ascii=False,
    ).encode()
    (row,) = rows(WEB, [line])
    meta = json.loads(row["metadata"])
    assert meta == {"author": "Müller", "nested": {"a": True, "b": [1, None]}}
    assert "Müller" in row["metadata"]  # not \u-escaped
    assert row["content_type"] == "x/y"  # the record's own content type wins over the source's


def test_record_without_other_fields_has_empty_metadata_object():
    (row,) = rows(WEB, [b'{"id": "a", "text": "t"}'])
    assert row["metadata"] == "{}"


@pytest.mark.parametrize("ctype", ['""', "null", "7"])
def test_unusable_record_content_type_falls_back_to_source(ctype):
    (row,) = rows(WEB, [f'{{"id": "a", "text": "t", "content_type": {ctype}}}'.encode()])
    assert row["content_type"] == "text/plain"
    assert row["parse_error"] is None


def test_int_id_is_kept_as_string():
    (row,) = rows(WEB, [b'{"id": 42, "text": "t"}'])
    assert (row["record_id"], row["doc_id"], row["parse_error"]) == ("42", "web/42", None)


def test_custom_id_and_text_fields():
    src = Source(name="forum", id_field="uid", text_field="body")
    (row,) = rows(src, [b'{"uid": "u1", "body": "hi", "id": "other", "text": "ignored"}'])
    assert (row["doc_id"], row["text"]) == ("forum/u1", "hi")
    assert json.loads(row["metadata"]) == {"id": "other", "text": "ignored"}
    (bad,) = rows(src, [b'{"id": "x", "text": "t"}'])
    assert bad["parse_error"] == "missing_field:uid"


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b'{"id": "x", "text": "unterminated', "malformed_json"),
        (b"{id: x}", "malformed_json"),
        (b'{"id": "x", "text": "t"} trailing', "malformed_json"),
        (b"[" * 100_000, "malformed_json"),  # nesting deep enough to blow the recursion limit
        (b'{"id": "x", "text": "caf\xe9"}', "invalid_utf8"),
        (b"\xff\xfe\x00\x01garbage", "invalid_utf8"),
        (b"[1, 2, 3]", "not_an_object"),
        (b'"just a string"', "not_an_object"),
        (b"null", "not_an_object"),
        (b"42", "not_an_object"),
        (b'{"text": "no id"}', "missing_field:id"),
        (b'{"id": null, "text": "t"}', "missing_field:id"),
        (b'{"id": "x"}', "missing_field:text"),
        (b'{"id": "x", "text": null}', "missing_field:text"),
        (b'{"id": "x", "text": 12345}', "wrong_type:text:int"),
        (b'{"id": "x", "text": ["a"]}', "wrong_type:text:list"),
        (b'{"id": "x", "text": {"a": 1}}', "wrong_type:text:dict"),
        (b'{"id": true, "text": "t"}', "wrong_type:id:bool"),
        (b'{"id": 1.5, "text": "t"}', "wrong_type:id:float"),
        (b'{"id": ["a"], "text": "t"}', "wrong_type:id:list"),
    ],
)
def test_unparseable_records_become_failed_rows(line, error):
    file = "/land/2026-11-20/web/part-7.jsonl"
    got = rows(WEB, [b'{"id": "ok", "text": "fine"}', line], file=file)
    assert len(got) == 2
    good, bad = got
    assert good["parse_error"] is None and good["raw"] is None
    assert bad["parse_error"] == error
    assert bad["text"] is None
    assert bad["record_id"] is None
    assert bad["metadata"] is None
    assert bad["raw"] == line[: ingest.RAW_CAP]  # raw bytes kept for failed rows only, capped
    assert bad["raw_hash"] == sha(line) and bad["raw_length"] == len(line)  # of the whole record
    assert bad["doc_id"] == "web/part-7.jsonl:2"
    assert bad["line_number"] == 2
    assert bad["source"] == "web"
    assert bad["source_file"] == file


def test_id_checked_before_text():
    (row,) = rows(WEB, [b'{"id": false, "text": 5}'])
    assert row["parse_error"] == "wrong_type:id:bool"


def test_blank_lines_skipped_but_counted_in_line_numbers():
    lines = [b"", b'{"id": "a", "text": "t"}', b"   ", b"\t\r", b"\r", b'{"id": "b", "text": "u"}', b""]
    got = rows(WEB, lines)
    assert [(r["doc_id"], r["line_number"]) for r in got] == [("web/a", 2), ("web/b", 6)]


def test_crlf_stripped_before_parsing_and_hashing():
    lf = rows(WEB, [b'{"id": "a", "text": "t"}'])
    crlf = rows(WEB, [b'{"id": "a", "text": "t"}\r\n'])
    assert crlf == lf
    assert crlf[0]["raw_hash"] == sha(b'{"id": "a", "text": "t"}')
    bad = rows(WEB, [b"not json\r"])
    assert bad[0]["raw"] == b"not json"


# ----------------------------------------------------------------------------------------- read_file


def test_read_file_jsonl_mixed_bag(tmp_path):
    good = json.dumps({"id": "g1", "text": "שלום עולם", "lang": "he"}, ensure_ascii=False).encode()
    lines = [
        good,
        b"",
        b'{"id": "x", "text": "oops',
        b'{"id": "l1", "text": "caf\xe9"}',
        b"[1, 2]",
        b'{"text": "no id"}',
        b'{"id": "n1", "text": 12345}',
        b'{"id": true, "text": "t"}',
        b'{"id": "g2", "text": ""}',  # parses fine: empty text is for validate to judge
    ]
    path = write(tmp_path / "web" / "part-0.jsonl", b"\n".join(lines) + b"\n")
    got = read_all(WEB, path)
    assert [r["parse_error"] for r in got] == [
        None,
        "malformed_json",
        "invalid_utf8",
        "not_an_object",
        "missing_field:id",
        "wrong_type:text:int",
        "wrong_type:id:bool",
        None,
    ]
    assert [r["line_number"] for r in got] == [1, 3, 4, 5, 6, 7, 8, 9]
    assert [r["doc_id"] for r in got] == [
        "web/g1",
        "web/part-0.jsonl:3",
        "web/part-0.jsonl:4",
        "web/part-0.jsonl:5",
        "web/part-0.jsonl:6",
        "web/part-0.jsonl:7",
        "web/part-0.jsonl:8",
        "web/g2",
    ]
    for r, raw in zip(got, [lines[0], *lines[2:]], strict=True):
        assert r["raw_hash"] == sha(raw)
        assert r["raw"] == (None if r["parse_error"] is None else raw)
        assert r["source_file"] == str(path)
    assert got[0]["text"] == "שלום עולם"
    assert got[-1]["text"] == ""


def test_read_file_crlf_equals_lf(tmp_path):
    lines = [b'{"id": "a", "text": "one"}', b'{"id": "b", "text": "two"}', b"broken"]
    lf = read_all(WEB, write(tmp_path / "lf" / "web" / "part-0.jsonl", b"\n".join(lines) + b"\n"))
    crlf = read_all(WEB, write(tmp_path / "crlf" / "web" / "part-0.jsonl", b"\r\n".join(lines) + b"\r\n"))
    strip = [{k: v for k, v in r.items() if k != "source_file"} for r in lf]
    assert [{k: v for k, v in r.items() if k != "source_file"} for r in crlf] == strip
    assert [r["text"] for r in crlf] == ["one", "two", None]
    assert crlf[2]["raw"] == b"broken"


def test_read_file_without_trailing_newline_keeps_last_record(tmp_path):
    path = write(tmp_path / "part-0.jsonl", b'{"id": "a", "text": "1"}\n{"id": "b", "text": "2"}')
    assert [r["doc_id"] for r in read_all(WEB, path)] == ["web/a", "web/b"]


def test_read_file_empty_file_yields_no_batches(tmp_path):
    path = write(tmp_path / "part-0.jsonl", b"")
    assert list(read_file(WEB, str(path))) == []
    path = write(tmp_path / "blank.jsonl", b"\n\n  \n")
    assert list(read_file(WEB, str(path))) == []


def test_read_file_line_longer_than_read_chunk(tmp_path):
    text = "x" * 1_100_000  # longer than _lines' 1 MiB read chunk
    data = json.dumps({"id": "huge", "text": text}).encode() + b"\n" + b'{"id": "after", "text": "a"}\n'
    got = read_all(WEB, write(tmp_path / "part-0.jsonl", data))
    assert [r["doc_id"] for r in got] == ["web/huge", "web/after"]
    assert got[0]["text"] == text
    assert got[1]["line_number"] == 2


def test_read_file_batches_by_batch_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "BATCH_ROWS", 3)
    data = b"".join(f'{{"id": "r{i}", "text": "t{i}"}}\n'.encode() for i in range(7))
    batches = list(read_file(WEB, str(write(tmp_path / "part-0.jsonl", data))))
    assert [b.num_rows for b in batches] == [3, 3, 1]
    assert [r["line_number"] for b in batches for r in b.to_pylist()] == list(range(1, 8))


def test_read_file_accepts_file_uri(tmp_path):
    path = write(tmp_path / "part-0.jsonl", b'{"id": "a", "text": "t"}\n')
    uri = path.as_uri()
    (row,) = read_all(WEB, uri)
    assert row["source_file"] == uri
    assert row["doc_id"] == "web/a"


# ---------------------------------------------------------------------------------------------- parquet


def test_parquet_rows(tmp_path):
    path = tmp_path / "docs" / "part-0.parquet"
    path.parent.mkdir(parents=True)
    table = pa.table(
        {
            "id": ["d1", "d2", None, "d4"],
            "text": ["# Title\nbody", "", "orphan", None],
            "product": ["kernel", "index", "x", "y"],
        }
    )
    pq.write_table(table, path)
    got = read_all(DOCS, path)
    assert [r["parse_error"] for r in got] == [None, None, "missing_field:id", "missing_field:text"]
    assert [r["doc_id"] for r in got] == [
        "docs/d1",
        "docs/d2",
        "docs/part-0.parquet:3",
        "docs/part-0.parquet:4",
    ]
    assert got[0]["content_type"] == "text/markdown"
    assert got[0]["metadata"] == '{"product": "kernel"}'
    for r, obj in zip(got, table.to_pylist(), strict=True):
        raw = json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()
        assert r["raw_hash"] == sha(raw)
        assert r["raw"] == (None if r["parse_error"] is None else raw)


def test_parquet_wrong_typed_text_column(tmp_path):
    path = tmp_path / "part-0.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": pa.array([1, 2], pa.int64())}), path)
    got = read_all(DOCS, path)
    assert [r["parse_error"] for r in got] == ["wrong_type:text:int"] * 2
    assert [r["text"] for r in got] == [None, None]
    assert got[0]["raw"] == b'{"id": "a", "text": 1}'
    assert got[0]["raw_hash"] == sha(b'{"id": "a", "text": 1}')


def test_parquet_without_text_column(tmp_path):
    path = tmp_path / "part-0.parquet"
    pq.write_table(pa.table({"id": ["a"], "body": ["t"]}), path)
    (row,) = read_all(DOCS, path)
    assert row["parse_error"] == "missing_field:text"


def test_parquet_int_ids_and_row_numbers_across_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "BATCH_ROWS", 2)
    path = tmp_path / "part-0.parquet"
    pq.write_table(
        pa.table({"id": list(range(5)), "text": [f"t{i}" for i in range(5)]}), path, row_group_size=2
    )
    batches = list(read_file(DOCS, str(path)))
    assert [b.num_rows for b in batches] == [2, 2, 1]
    got = [r for b in batches for r in b.to_pylist()]
    assert [r["line_number"] for r in got] == [1, 2, 3, 4, 5]
    assert [r["doc_id"] for r in got] == [f"docs/{i}" for i in range(5)]


# -------------------------------------------------------------------------------------------- list_files


def test_list_files(tmp_path):
    for rel in [
        "web/part-1.jsonl",
        "web/part-0.jsonl",
        "web/nested/part-2.jsonl",
        "web/notes.txt",
        "web/stray.parquet",
        "docs/part-0.parquet",
        "docs/readme.jsonl",
        "webby/part-0.jsonl",  # another source whose name starts with "web"
        "part-9.jsonl",  # at the day root, not under a source
    ]:
        write(tmp_path / rel, b"{}\n")
    root = str(tmp_path)
    assert list_files(root, WEB) == [
        f"{root}/web/nested/part-2.jsonl",
        f"{root}/web/part-0.jsonl",
        f"{root}/web/part-1.jsonl",
    ]
    assert list_files(root, DOCS) == [f"{root}/docs/part-0.parquet"]
    assert list_files(root, Source(name="support")) == []
    assert list_files(str(tmp_path / "no_such_day"), WEB) == []


def test_list_files_keeps_uri_scheme(tmp_path):
    write(tmp_path / "web" / "part-0.jsonl", b"{}\n")
    uri = tmp_path.as_uri()
    assert list_files(uri, WEB) == [f"{uri}/web/part-0.jsonl"]


# ------------------------------------------------------------------------------------------------ _lines


SPLIT_DATA = [
    b"",
    b"\n",
    b"abc",
    b"abc\n",
    b"a\nb\n\nc",
    b"one\r\ntwo\r\nthree",
    "caf\u00e9 \u05e9\u05dc\u05d5\u05dd \U0001f642\n\u0645\u0631\u062d\u0628\u0627".encode(),
    b"x\xff\xfe\n\x00\n",
    b"\n\nlead\n\n",
    b"cr\ronly\rfile\r",
    b"mixed\r\nends\rand\nmore\r",
]


@pytest.mark.parametrize("data", SPLIT_DATA)
def test_lines_split_across_chunk_boundaries(data):
    expected = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if expected[-1] == b"":
        expected.pop()  # a trailing newline ends the last line, it does not start another
    for chunk in range(1, len(data) + 2):
        assert list(_lines(io.BytesIO(data), chunk=chunk)) == expected, chunk


def test_lines_long_line_many_chunks():
    data = b"x" * 10_000 + b"\n" + b"y" * 3
    assert list(_lines(io.BytesIO(data), chunk=7)) == [b"x" * 10_000, b"y" * 3]


def test_lines_do_not_decode():
    data = b"\xe9t\xe9\n\xc3"  # invalid UTF-8, and a UTF-8 lead byte cut off at the end
    assert list(_lines(io.BytesIO(data), chunk=2)) == [b"\xe9t\xe9", b"\xc3"]


def test_byte_order_mark_is_not_part_of_the_first_record():
    rows = list(
        jsonl_rows(WEB, [b'\xef\xbb\xbf{"id": 1, "text": "hi"}', b'{"id": 2, "text": "yo"}'], "f.jsonl")
    )
    assert [r["parse_error"] for r in rows] == [None, None]
    assert rows[0]["doc_id"] == "web/1"


def test_empty_string_id_is_a_parse_error():
    (row,) = jsonl_rows(WEB, [b'{"id": "", "text": "hi"}'], "f.jsonl")
    assert row["parse_error"] == "empty_field:id" and row["raw"] is not None


def test_non_string_content_type_stays_in_metadata():
    (row,) = jsonl_rows(WEB, [b'{"id": 1, "text": "hi", "content_type": 5}'], "f.jsonl")
    assert row["content_type"] == WEB.content_type
    assert json.loads(row["metadata"]) == {"content_type": 5}


def test_hidden_and_underscore_files_are_not_listed(tmp_path: Path):
    d = tmp_path / "web"
    d.mkdir()
    for name in ("a.jsonl", ".a.jsonl", "_tmp.jsonl"):
        (d / name).write_text("{}\n")
    assert [Path(f).name for f in list_files(str(tmp_path), WEB)] == ["a.jsonl"]


# ------------------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b'{"id": "bad", "text": "a\\ud800b"}', "lone_surrogate"),  # valid JSON, not encodable as UTF-8
        (b'{"id": "bad", "text": "ok", "author": "\\udfff"}', "lone_surrogate"),  # in a metadata field
        (b'{"id": "\\ud800", "text": "ok"}', "lone_surrogate"),
        (b'{"id": "bad", "text": "a\x00b"}', "nul_byte"),  # a raw NUL byte
        (b'{"id": "bad", "text": "a\\u0000b"}', "nul_byte"),  # an escaped one
        (
            b'{"id": "n", "text": "t", "big": 1' + b"0" * 5000 + b"}",
            "malformed_json",
        ),  # int over 4,300 digits
    ],
)
def test_hostile_records_are_failed_rows_and_the_batch_still_builds(tmp_path, line, error):
    good = b'{"id": "ok", "text": "fine \\ud83d\\ude00"}'  # a surrogate *pair* is an emoji: kept
    path = write(tmp_path / "web" / "part-0.jsonl", good + b"\n" + line + b"\n" + good.replace(b"ok", b"ok2"))
    got = read_all(WEB, path)
    assert [r["parse_error"] for r in got] == [None, error, None]
    assert got[0]["text"] == "fine \U0001f600"
    assert got[1]["raw"] == line and got[1]["raw_hash"] == sha(line) and got[1]["text"] is None


def test_byte_order_marks_at_file_and_line_start_are_dropped(tmp_path):
    one = b'\xef\xbb\xbf{"id": 1, "text": "a"}\n'
    path = write(tmp_path / "web" / "cat.jsonl", one + one.replace(b"1", b"2"))  # two files concatenated
    got = read_all(WEB, path)
    assert [(r["doc_id"], r["parse_error"]) for r in got] == [("web/1", None), ("web/2", None)]


def test_cr_only_file_is_one_record_per_line(tmp_path):
    path = write(tmp_path / "web" / "mac.jsonl", b'{"id": 1, "text": "a"}\r{"id": 2, "text": "b"}\r')
    assert [r["doc_id"] for r in read_all(WEB, path)] == ["web/1", "web/2"]


def test_utf16_file_is_unreadable_not_garbage(tmp_path):
    data = '{"id": 1, "text": "a"}\n'.encode("utf-16")
    path = write(tmp_path / "web" / "u16.jsonl", data)
    (row,) = read_all(WEB, path)
    assert row["parse_error"] == "unreadable_file:utf16" and row["raw_length"] == len(data)
    assert "UTF-16" in json.loads(row["metadata"])["error"]


def test_record_over_max_bytes_is_summarised_not_loaded(tmp_path):
    src = Source(name="web", max_bytes=1000)
    big = b'{"id": "big", "text": "' + b"x" * 200_000 + b'"}'
    path = write(
        tmp_path / "web" / "p.jsonl", b'{"id": 1, "text": "a"}\n' + big + b'\n{"id": 2, "text": "b"}\n'
    )
    got = read_all(src, path)
    assert [r["parse_error"] for r in got] == [None, "record_too_large", None]
    assert got[1]["raw"] == big[: ingest.RAW_CAP]
    assert (got[1]["raw_length"], got[1]["raw_hash"]) == (len(big), sha(big))
    assert got[2]["line_number"] == 3


class _Endless:
    """A stream of one line of ``size`` bytes, produced on demand (never held by the test either)."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.hash = hashlib.sha256()

    def read(self, n: int) -> bytes:
        if self.left <= 0:
            return b""
        block = b"y" * min(n, self.left)
        self.left -= len(block)
        self.hash.update(block)
        return block


def test_a_huge_line_is_read_in_bounded_memory():
    import tracemalloc

    size = 300 << 20  # 300 MB in one line
    stream = _Endless(size)
    tracemalloc.start()
    (line,) = list(_lines(stream, max_bytes=4 << 20))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert isinstance(line, ingest.Oversized)
    assert (line.length, line.sha256) == (size, stream.hash.hexdigest())
    assert len(line.head) == ingest.RAW_CAP
    assert peak < 16 << 20, peak  # max_bytes + a read chunk or two, not the line


def test_long_lines_are_joined_once_not_quadratically():
    # 20 MB in 1 KB chunks: re-concatenating the pending line per chunk would copy ~200 GB (hours); the
    # reader keeps the pieces and joins them once.
    data = b"z" * 20_000_000 + b"\n"
    assert list(_lines(io.BytesIO(data), chunk=1000)) == [data[:-1]]


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


def _zstd(data: bytes) -> bytes:
    out = pa.BufferOutputStream()
    with pa.CompressedOutputStream(out, "zstd") as s:
        s.write(data)
    return out.getvalue().to_pybytes()


# ~2.6 MB once decompressed: a truncated stream then fails after some whole read chunks have come out.
MANY = b"".join(
    b'{"id": %d, "text": "record %d of many, padded to be long enough"}\n' % (i, i) for i in range(40_000)
)


@pytest.mark.parametrize(
    ("suffix", "compress", "kind"), [(".jsonl.gz", _gzip, "gzip"), (".jsonl.zst", _zstd, "zstd")]
)
def test_compressed_jsonl_is_read_and_a_truncated_one_keeps_what_it_could_read(
    tmp_path, suffix, compress, kind
):
    whole = compress(MANY)
    ok = read_all(WEB, write(tmp_path / "web" / f"ok{suffix}", whole))
    assert [r["doc_id"] for r in ok] == [f"web/{i}" for i in range(40_000)]
    cut = read_all(WEB, write(tmp_path / "web" / f"cut{suffix}", whole[: len(whole) // 2]))
    *records, last = cut
    assert last["parse_error"] == f"unreadable_file:{kind}" and last["raw_length"] == len(whole) // 2
    assert last["line_number"] == len(records) + 1
    good = [r for r in records if r["parse_error"] is None]
    assert 0 < len(good) < 40_000 and [r["doc_id"] for r in good] == [f"web/{i}" for i in range(len(good))]
    # A record cut mid-line by the truncation is quarantined, never kept half.
    assert all(r["parse_error"] == "malformed_json" for r in records[len(good) :])
    garbage = read_all(WEB, write(tmp_path / "web" / f"garbage{suffix}", b"not compressed at all" * 10))
    assert [r["parse_error"] for r in garbage] == [f"unreadable_file:{kind}"]


def test_corrupt_parquet_is_one_unreadable_row(tmp_path):
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["x", "y"]}), buf)
    data = buf.getvalue()
    for name, blob in [("cut.parquet", data[: len(data) // 2]), ("junk.parquet", b"PAR1 not really")]:
        (row,) = read_all(DOCS, write(tmp_path / "docs" / name, blob))
        assert row["parse_error"] == "unreadable_file:parquet" and row["source"] == "docs"
        assert json.loads(row["metadata"])["error"]


def test_survey_accounts_for_every_file(tmp_path):
    root = tmp_path / "day"
    outside = write(tmp_path / "secret.jsonl", b'{"id": 1, "text": "not yours"}\n')
    for rel, data in [
        ("web/a.jsonl", b"{}\n"),
        ("web/B.JSONL", b"{}\n"),
        ("web/c.json", b"{}\n"),
        ("web/d.jsonl.gz", _gzip(b"{}\n")),
        ("web/e.jsonl.zst", _zstd(b"{}\n")),
        ("web/f.ndjson", b"{}\n"),
        ("web/empty.jsonl", b""),
        ("web/notes.txt", b"hi"),
        ("web/rows.parquet", b"PAR1"),
        ("web/.part.jsonl", b"{}\n"),
        ("web/_SUCCESS", b""),
    ]:
        write(root / rel, data)
    (root / "web" / "leak.jsonl").symlink_to(outside)
    (root / "web" / "alias.jsonl").symlink_to(root / "web" / "a.jsonl")
    listing = ingest.survey(str(root / "web"), WEB)
    names = [Path(f).name for f in listing.files]
    assert names == ["B.JSONL", "a.jsonl", "alias.jsonl", "c.json", "d.jsonl.gz", "e.jsonl.zst", "f.ndjson"]
    skipped = {Path(u).name: reason for u, reason, _ in listing.skipped}
    assert skipped == {
        "empty.jsonl": "empty_file",
        "notes.txt": "unsupported_file:.txt",
        "rows.parquet": "wrong_format:parquet:source_is_jsonl",
        ".part.jsonl": "hidden_file",
        "_SUCCESS": "hidden_file",
        "leak.jsonl": "symlink_outside_source",
    }
