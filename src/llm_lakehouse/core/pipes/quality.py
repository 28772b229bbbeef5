"""Quality: heuristic signals per document (``quality_signals``) and spec rules over them (``quality_filter``).

``quality_signals`` keeps every row and adds one column per signal, computed on the text as it reaches it
(after extraction, repair and normalization). The signals and their definitions follow datatrove 0.10
(read from its source, ``pipeline/filters/``):

- GopherQualityFilter: ``word_count`` (words with a non-punctuation character), ``mean_word_length``,
  ``hash_word_ratio`` and ``ellipsis_word_ratio`` (``#`` / ``...``+``…`` per word), ``bullet_line_ratio``
  (lines starting with ``•`` or ``-``), ``end_ellipsis_line_ratio``, ``alpha_word_fraction`` (words with
  a letter), ``stop_word_count`` (distinct Gopher stop words present, case-sensitive like datatrove).
- GopherRepetitionFilter: ``dup_para_frac``, ``dup_para_char_frac``, ``dup_line_frac``,
  ``dup_line_char_frac``, ``top_{2,3,4}_gram_char_frac`` (characters of the most frequent n-gram times its
  count, over the text's characters), ``dup_{5..10}_gram_char_frac`` (characters in repeated n-grams, the
  same greedy left-to-right scan as datatrove's ``find_all_duplicate``).
- FineWebQualityFilter: ``line_punct_ratio`` (lines ending in terminal punctuation, datatrove's set),
  ``short_line_ratio`` (lines of at most 30 characters), ``char_dup_ratio`` (duplicate-line characters
  over non-newline characters), ``newline_word_ratio``.
- C4QualityFilter (document-level parts): ``lorem_ipsum`` and ``curly_bracket`` counts.

Differences from datatrove, on purpose: words are whitespace tokens with punctuation trimmed from both
ends (a trimmed token also counts its punctuation as one extra token in the ratios' denominators, as
spaCy's tokenizer splits it off), where datatrove runs spaCy's English tokenizer on every document (see
BENCHMARKS.md for the cost); the n-gram signals use the whitespace tokens as they are. Lines are the
non-blank ``\n``-separated lines for every line signal (datatrove mixes ``splitlines()`` with and without
blank lines). Signals are null for rows dropped before this pipe and where a denominator is zero.

``quality_filter`` keeps a row unless a spec rule fires: each rule ``{name, signal, op, value, sources}``
says when to DROP (``word_count < 50``); the first rule that fires, in spec order, marks the row as
``quality:<name>`` with the detail ``word_count=12 < 50``. ``sources`` limits a rule to some feeds. The
thresholds live in the spec (pipelines/corpus_nightly.yaml carries datatrove's defaults); none in code.

Cost: everything but the n-gram signals is vectorized (Arrow string kernels over the flattened
words/lines, NumPy ``bincount`` to aggregate per document, Arrow hash group-by for duplicate lines). The
n-gram signals need per-document Python (no Arrow kernel counts n-grams); they use ``str.split`` and
tuple hashing, and skip the 6..10-gram scans when no 5-gram repeats (then none can).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from llm_lakehouse.core.pipes.base import ColumnDef, kept, mark, set_column
from llm_lakehouse.core.pipes.base import Params as BaseParams

# datatrove.utils.text.PUNCTUATION (symbol characters) and TERMINAL_PUNCTUATION, copied as sets.
PUNCTUATION = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xab\xb4\xbb\u2013\u2014\u2019\u201c\u201d\u201e\u2026\u2236\u2501\u25ba\u3001\u3002\u3008\u3009\u300a\u300b\u300c\u300d\u3010\u3011\uff01\uff05\uff08\uff09\uff0c\uff0e\uff11\uff1a\uff1b\uff1f\uff5e"
TERMINAL_PUNCTUATION = "!.?\u0589\u061d\u061e\u061f\u06d4\u0700\u0701\u0702\u07f9\u0837\u0839\u083d\u083e\u0964\u0965\u104a\u104b\u1362\u1367\u1368\u166e\u1735\u1736\u17d4\u17d5\u17d6\u17d9\u17da\u1803\u1809\u1944\u1945\u1aa8\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1b7d\u1b7e\u1c3b\u1c3c\u1c7e\u1c7f\u203c\u203d\u2047\u2048\u2049\u2e2e\u2e3c\u2e53\u2e54\u3002\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d\uaa5e\uaa5f\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\uff61\U00010a56\U00010a57\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86\U00010f87\U00010f88\U00010f89\U00011047\U00011048\U000110be\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6\U000111cd\U000111de\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c\U000115c2\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf\U000115d0\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7\U00011641\U00011642\U0001173c\U0001173d\U0001173e\U00011944\U00011946\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42\U00011ef7\U00011ef8\U00011f43\U00011f44\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44\U00016e98\U0001bc9f\U0001da88"
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")  # Gopher's (datatrove's default)
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)

SIGNALS: tuple[ColumnDef, ...] = (
    ("word_count", "INT", "words with a non-punctuation character (Gopher)"),
    ("mean_word_length", "DOUBLE", "mean characters per word, punctuation trimmed (Gopher)"),
    ("hash_word_ratio", "DOUBLE", "'#' per token (Gopher symbol-to-word ratio)"),
    ("ellipsis_word_ratio", "DOUBLE", "'...' and '…' per token (Gopher symbol-to-word ratio)"),
    ("alpha_word_fraction", "DOUBLE", "tokens with at least one letter (Gopher)"),
    ("stop_word_count", "INT", "distinct Gopher stop words present (Gopher)"),
    ("line_count", "INT", "non-blank lines"),
    ("bullet_line_ratio", "DOUBLE", "lines starting with a bullet (Gopher)"),
    ("end_ellipsis_line_ratio", "DOUBLE", "lines ending with an ellipsis (Gopher)"),
    ("line_punct_ratio", "DOUBLE", "lines ending with terminal punctuation (FineWeb)"),
    ("short_line_ratio", "DOUBLE", "lines of at most 30 characters (FineWeb)"),
    ("char_dup_ratio", "DOUBLE", "duplicate-line characters over non-newline characters (FineWeb)"),
    ("newline_word_ratio", "DOUBLE", "newlines per token (FineWeb list ratio)"),
    ("dup_line_frac", "DOUBLE", "duplicate lines over lines (Gopher repetition)"),
    ("dup_line_char_frac", "DOUBLE", "characters in duplicate lines over characters (Gopher repetition)"),
    ("dup_para_frac", "DOUBLE", "duplicate paragraphs over paragraphs (Gopher repetition)"),
    (
        "dup_para_char_frac",
        "DOUBLE",
        "characters in duplicate paragraphs over characters (Gopher repetition)",
    ),
    *(
        (f"top_{n}_gram_char_frac", "DOUBLE", f"characters of the most frequent {n}-gram (Gopher repetition)")
        for n in TOP_NGRAMS
    ),
    *(
        (f"dup_{n}_gram_char_frac", "DOUBLE", f"characters in repeated {n}-grams (Gopher repetition)")
        for n in DUP_NGRAMS
    ),
    ("lorem_ipsum", "INT", "occurrences of 'lorem ipsum', any case (C4)"),
    ("curly_bracket", "INT", "occurrences of '{' (C4)"),
)
SIGNAL_NAMES = frozenset(name for name, _, _ in SIGNALS)
_INT_SIGNALS = frozenset(name for name, sql, _ in SIGNALS if sql == "INT")


def _count(parent: np.ndarray, mask: pa.Array | np.ndarray | None, n: int) -> np.ndarray:
    """Per-document count of ``mask`` rows (all rows if None), from the flattened rows' parent indices."""
    if mask is None:
        return np.bincount(parent, minlength=n).astype(np.float64)
    weights = mask if isinstance(mask, np.ndarray) else mask.to_numpy(zero_copy_only=False)
    return np.bincount(parent, weights=weights.astype(np.float64), minlength=n)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _duplicates(parent: np.ndarray, parts: pa.Array, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per document: how many parts repeat an earlier identical part, and their characters (datatrove's
    ``find_duplicates``), by one hash group-by over (document, part)."""
    if len(parts) == 0:
        return np.zeros(n), np.zeros(n)
    groups = pa.table({"doc": parent, "part": parts}).group_by(["doc", "part"]).aggregate([([], "count_all")])
    extra = groups.column("count_all").to_numpy() - 1
    doc = groups.column("doc").to_numpy()
    chars = pc.utf8_length(groups.column("part")).to_numpy()
    return (
        np.bincount(doc, weights=extra.astype(np.float64), minlength=n),
        np.bincount(doc, weights=(extra * chars).astype(np.float64), minlength=n),
    )


def ngram_signals(text: str) -> list[float]:
    """top_{2,3,4}_gram_char_frac then dup_{5..10}_gram_char_frac of one document (per-document Python).

    Same results as datatrove's greedy scan (an n-gram seen before counts its characters and the scan jumps
    n words), but only n-grams that occur at least twice can ever match, so the scan visits only their
    positions (found by a C-speed ``Counter``) and stops early when no 5-gram repeats.
    """
    words = text.split()
    total = len(text)
    nw = len(words)
    if total == 0:
        return [0.0] * (len(TOP_NGRAMS) + len(DUP_NGRAMS))
    out: list[float] = []
    for n in TOP_NGRAMS:
        if nw < n:
            out.append(0.0)
            continue
        gram, count = Counter(zip(*(words[i:] for i in range(n)), strict=False)).most_common(1)[0]
        out.append((sum(map(len, gram)) + n - 1) * count / total)
    cum = [0]
    for w in words:
        cum.append(cum[-1] + len(w))
    for n in DUP_NGRAMS:
        grams = list(zip(*(words[i:] for i in range(n)), strict=False))
        counts = Counter(grams)
        if len(counts) == len(grams):  # nothing repeats at n, so nothing repeats at n+1 either
            out += [0.0] * (len(DUP_NGRAMS) - len(out) + len(TOP_NGRAMS))
            break
        seen: set[tuple[str, ...]] = set()
        repeated = resume = 0
        for i, gram in enumerate(grams):
            if i < resume or counts[gram] < 2:
                continue
            if gram in seen:
                repeated += cum[i + n] - cum[i]
                resume = i + n
            else:
                seen.add(gram)
        out.append(repeated / total)
    return out


def compute_signals(texts: pa.Array) -> dict[str, np.ndarray]:
    """Every signal for every row of ``texts`` (null treated as empty), as float arrays (NaN = undefined)."""
    n = len(texts)
    text = pc.fill_null(texts, "")
    n_chars = pc.utf8_length(text).to_numpy().astype(np.float64)
    n_newlines = pc.count_substring(text, "\n").to_numpy().astype(np.float64)
    sig: dict[str, np.ndarray] = {}

    # Words: whitespace tokens, punctuation trimmed from both ends.
    tokens = pc.utf8_split_whitespace(text)
    wp = pc.list_parent_indices(tokens).to_numpy()
    flat = pc.list_flatten(tokens)
    core = pc.utf8_trim(flat, PUNCTUATION)
    core_len = pc.utf8_length(core).to_numpy()
    is_word = core_len > 0
    trimmed = is_word & (core_len < pc.utf8_length(flat).to_numpy())
    words = _count(wp, is_word, n)
    n_tokens = _count(wp, None, n) + _count(wp, trimmed, n)  # split-off punctuation counts as a token
    sig["word_count"] = words
    sig["mean_word_length"] = _ratio(_count(wp, core_len * is_word, n), words)
    sig["hash_word_ratio"] = _ratio(pc.count_substring(text, "#").to_numpy().astype(np.float64), n_tokens)
    ellipses = pc.add(pc.count_substring(text, "..."), pc.count_substring(text, "…"))
    sig["ellipsis_word_ratio"] = _ratio(ellipses.to_numpy().astype(np.float64), n_tokens)
    has_alpha = pc.match_substring_regex(core, r"\pL").to_numpy(zero_copy_only=False)
    sig["alpha_word_fraction"] = _ratio(_count(wp, has_alpha, n), n_tokens)
    stop = pc.index_in(core, pa.array(STOP_WORDS)).to_numpy(zero_copy_only=False)
    stop = np.nan_to_num(stop.astype(np.float64), nan=-1).astype(np.int64)
    hit = stop >= 0
    distinct = np.unique(wp[hit].astype(np.int64) * len(STOP_WORDS) + stop[hit]) // len(STOP_WORDS)
    sig["stop_word_count"] = np.bincount(distinct, minlength=n).astype(np.float64)
    sig["newline_word_ratio"] = _ratio(n_newlines, n_tokens)

    # Lines: non-blank "\n"-separated lines.
    lines = pc.split_pattern(text, "\n")
    lp_all = pc.list_parent_indices(lines).to_numpy()
    flat = pc.list_flatten(lines)
    nonblank = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(flat)), 0)
    flat = pc.filter(flat, nonblank)
    lp = lp_all[nonblank.to_numpy(zero_copy_only=False)]
    n_lines = _count(lp, None, n)
    sig["line_count"] = n_lines
    sig["bullet_line_ratio"] = _ratio(_count(lp, pc.match_substring_regex(flat, r"^\s*[•\-]"), n), n_lines)
    sig["end_ellipsis_line_ratio"] = _ratio(
        _count(lp, pc.match_substring_regex(flat, r"(\.\.\.|…)\s*$"), n), n_lines
    )
    last = pc.utf8_slice_codeunits(flat, -1)
    sig["line_punct_ratio"] = _ratio(
        _count(lp, pc.is_in(last, pa.array(list(TERMINAL_PUNCTUATION))), n), n_lines
    )
    sig["short_line_ratio"] = _ratio(_count(lp, pc.less_equal(pc.utf8_length(flat), 30), n), n_lines)
    dup_lines, dup_line_chars = _duplicates(lp, flat, n)
    sig["dup_line_frac"] = _ratio(dup_lines, n_lines)
    sig["dup_line_char_frac"] = _ratio(dup_line_chars, n_chars)
    sig["char_dup_ratio"] = _ratio(dup_line_chars, n_chars - n_newlines)

    # Paragraphs: split on blank lines of the trimmed text (datatrove's "\n{2,}").
    paras = pc.split_pattern_regex(pc.utf8_trim_whitespace(text), r"\n{2,}")
    pp = pc.list_parent_indices(paras).to_numpy()
    n_paras = _count(pp, None, n)
    dup_paras, dup_para_chars = _duplicates(pp, pc.list_flatten(paras), n)
    sig["dup_para_frac"] = _ratio(dup_paras, n_paras)
    sig["dup_para_char_frac"] = _ratio(dup_para_chars, n_chars)

    sig["lorem_ipsum"] = (
        pc.count_substring(text, "lorem ipsum", ignore_case=True).to_numpy().astype(np.float64)
    )
    sig["curly_bracket"] = pc.count_substring(text, "{").to_numpy().astype(np.float64)

    grams = np.array([ngram_signals(t) for t in text.to_pylist()], dtype=np.float64).reshape(
        n, len(TOP_NGRAMS) + len(DUP_NGRAMS)
    )
    names = [f"top_{k}_gram_char_frac" for k in TOP_NGRAMS] + [f"dup_{k}_gram_char_frac" for k in DUP_NGRAMS]
    for j, name in enumerate(names):
        sig[name] = np.where(n_chars > 0, grams[:, j], np.nan)
    return sig


class QualitySignals:
    name: ClassVar[str] = "quality_signals"
    columns: ClassVar[tuple[ColumnDef, ...]] = SIGNALS

    class Params(BaseParams):
        pass

    def __init__(self, params: Params) -> None:
        self.p = params

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        ok = kept(batch)
        # Only kept rows are measured: a dropped 1 MB record costs nothing here.
        text = pc.if_else(ok, batch.column("text"), pa.scalar("", pa.string()))
        sig = compute_signals(text)
        valid = ok.to_numpy(zero_copy_only=False)
        for name, sql, _ in SIGNALS:
            values = sig[name]
            null = ~valid | np.isnan(values)
            if sql == "INT":
                arr = pa.array(np.nan_to_num(values).astype(np.int32), pa.int32(), mask=null)
            else:
                arr = pa.array(values, pa.float64(), mask=null)
            batch = set_column(batch, name, arr)
        return batch


Op = Literal["<", "<=", ">", ">=", "==", "!="]
_OPS = {
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
    "==": pc.equal,
    "!=": pc.not_equal,
}


class Rule(BaseParams):
    """Drop a row when ``<signal> <op> <value>`` (for the listed sources only, if given)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    signal: str
    op: Op
    value: float
    sources: list[str] | None = None

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, signal: str) -> str:
        if signal not in SIGNAL_NAMES:
            raise ValueError(f"unknown quality signal {signal!r}; expected one of {sorted(SIGNAL_NAMES)}")
        return signal


class QualityFilter:
    name: ClassVar[str] = "quality_filter"
    columns: ClassVar[tuple[ColumnDef, ...]] = ()

    class Params(BaseParams):
        rules: list[Rule] = Field(min_length=1)

        @field_validator("rules")
        @classmethod
        def _unique_names(cls, rules: Sequence[Rule]) -> Sequence[Rule]:
            names = [r.name for r in rules]
            if len(set(names)) != len(names):
                raise ValueError(f"rule names must be unique, got {names}")
            return rules

    def __init__(self, params: Params) -> None:
        self.p = params

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        for rule in self.p.rules:
            if rule.signal not in batch.schema.names:
                raise ValueError(
                    f"quality_filter rule {rule.name!r} needs {rule.signal!r}: put quality_signals first"
                )
            values = batch.column(rule.signal)
            fires = _OPS[rule.op](values, pa.scalar(rule.value, pa.float64()))
            if rule.sources is not None:
                # A batch without a source column (hand-made) belongs to no listed feed.
                source = (
                    batch.column("source")
                    if "source" in batch.schema.names
                    else pa.nulls(len(values), pa.string())
                )
                fires = pc.and_(
                    fires, pc.fill_null(pc.is_in(source, pa.array(rule.sources, pa.string())), False)
                )
            shown = values if rule.signal in _INT_SIGNALS else pc.round(values, 4)
            detail = pc.binary_join_element_wise(
                f"{rule.signal}=", pc.cast(shown, pa.string()), f" {rule.op} {rule.value:g}", ""
            )
            batch = mark(batch, fires, "quality", f"quality:{rule.name}", detail)
        return batch
