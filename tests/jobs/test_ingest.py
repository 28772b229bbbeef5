"""Landing files to bronze rows, read from files under tmp_path: no Spark, no JVM."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llm_lakehouse import ingest
from llm_lakehouse.ingest import READ_SCHEMA, _lines, jsonl_rows, list_files, read_file
from llm_lakehouse.spec import Source

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
    assert bad["raw"] == line  # raw bytes kept for failed rows only
    assert bad["raw_hash"] == sha(line)
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
        write(tmp_path / rel, b"")
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
    write(tmp_path / "web" / "part-0.jsonl", b"")
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
    b"\xff\xfe\n\x00\n",
    b"\n\nlead\n\n",
]


@pytest.mark.parametrize("data", SPLIT_DATA)
def test_lines_split_across_chunk_boundaries(data):
    expected = data.split(b"\n")
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
