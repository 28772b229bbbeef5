"""Text-level building blocks of detection: spans, where to look, and the view a detector reads.

A ``Span`` is an entity found at ``[start, end)`` of a document with a score. Detection reads a *view* of a
text (``detection_views``: NFKC, invisible characters removed) and maps spans back to the original; windows
(``merge``, ``widen``) say which parts of a text a recognizer or NER needs to see; ``resolve`` keeps the spans
a policy's thresholds accept and drops the ones another, surer span already covers.
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from llm_lakehouse.core.pii.policy import STRUCTURED

# Digits inside these are never a phone number (phonenumbers reads IPs, SSNs, card groups, IBAN digits,
# key material as phones).
PHONE_HOSTS = frozenset(STRUCTURED) - {"PHONE_NUMBER"}


@dataclass(frozen=True, slots=True)
class Span:
    entity: str
    start: int
    end: int
    score: float


class Intervals:
    """Merged [start, end) intervals with a log-time containment test (documents can hold thousands)."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        self.spans = merge(list(spans))
        self.starts = [s for s, _ in self.spans]

    def __bool__(self) -> bool:
        return bool(self.spans)

    def contains(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start) - 1
        return i >= 0 and end <= self.spans[i][1]


def starts_sentence(text: str, i: int) -> bool:
    """Whether the word at ``i`` starts the text, a line, a sentence or a label's value ("Note: Maria")."""
    while i > 0 and text[i - 1] in " \t":
        i -= 1
    while i > 0 and text[i - 1] in "\"')]":
        i -= 1
    return i == 0 or text[i - 1] in ".!?:;\n"


def merge(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    windows.sort()
    out: list[tuple[int, int]] = []
    for s, e in windows:
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def widen(text: str, s: int, e: int) -> tuple[int, int]:
    """Grows [s, e) to whitespace on both sides, so no token is cut and ``\\b``/lookarounds see the same."""
    n = len(text)
    while s > 0 and not text[s - 1].isspace():
        s -= 1
    while e < n and not text[e].isspace():
        e += 1
    return s, e


# Characters that render as nothing: an address or a number split by one of these reads whole to a person.
_INVISIBLE = "\u00ad\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"
_INVISIBLE_RE = f"[{_INVISIBLE}]"
_INVISIBLE_SET = frozenset(_INVISIBLE)


def detection_views(arr: pa.Array) -> list[tuple[str, list[int]] | None]:
    """Per text, the view detection reads when it differs from the text, else None.

    The view is NFKC (full-width digits and letters, ligatures, circled and superscript forms become plain
    ones) with invisible characters removed, so ``ｊｏｈｎ@ｅｘａｍｐｌｅ.ｃｏｍ`` or an address split by a
    zero-width space is found. ``offsets[i]`` is the index in the original text of the character that
    gave the view's i-th character, so a span found in the view maps back to the characters to replace.
    Which texts need one is decided for the whole batch by two vectorized tests; only those pay the
    per-character work."""
    changed = pc.or_(
        pc.not_equal(pc.utf8_normalize(arr, "NFKC"), arr),
        pc.match_substring_regex(arr, _INVISIBLE_RE),
    )
    views: list[tuple[str, list[int]] | None] = [None] * len(arr)
    for i in pc.indices_nonzero(pc.fill_null(changed, False)).to_pylist():
        text = arr[i].as_py()
        out: list[str] = []
        offsets: list[int] = []
        for j, ch in enumerate(text):
            if ch in _INVISIBLE_SET:
                continue
            folded = unicodedata.normalize("NFKC", ch) if not ch.isascii() else ch
            out.append(folded)
            offsets.extend([j] * len(folded))
        views[i] = ("".join(out), offsets)
    return views


def to_original(span: Span, offsets: list[int]) -> Span:
    if span.start >= len(offsets):
        return span
    start = offsets[span.start]
    end = offsets[min(span.end, len(offsets)) - 1] + 1 if span.end > span.start else start
    return Span(span.entity, start, end, span.score)


def resolve(spans: Iterable[Span], thresholds: Mapping[str, float]) -> list[Span]:
    """Keeps spans at or above their entity's threshold; per entity, drops spans inside an equally or more
    sure one (Presidio's ``remove_duplicates``); then drops a phone inside another structured match, a card
    number inside an IBAN and a URL inside an email. Other overlaps stay: the anonymizer merges them."""
    kept = [s for s in spans if s.score > 0 and s.score >= thresholds.get(s.entity, 1.1)]
    kept = sorted(set(kept), key=lambda s: (s.entity, s.start, -(s.end - s.start), -s.score))
    out: list[Span] = []
    active: list[Span] = []  # kept spans of the current entity that still reach the current start
    for s in kept:
        active = [o for o in active if o.entity == s.entity and o.end >= s.start]
        if any(o.start <= s.start and s.end <= o.end and s.score <= o.score for o in active):
            continue
        out.append(s)
        active.append(s)
    # phonenumbers reads IPs, SSNs, IBAN and card digit groups, key material as phones: a phone inside
    # one of those is the same characters under a weaker name; so is a card number inside an IBAN. A URL
    # inside an email is the email's domain.
    hosts = {
        "PHONE_NUMBER": [s for s in out if s.entity in PHONE_HOSTS],
        "CREDIT_CARD": [s for s in out if s.entity == "IBAN_CODE"],
        "URL": [s for s in out if s.entity == "EMAIL_ADDRESS"],
    }
    if any(hosts.values()):
        within = {e: Intervals((h.start, h.end) for h in hs) for e, hs in hosts.items()}
        out = [s for s in out if s.entity not in within or not within[s.entity].contains(s.start, s.end)]
    return sorted(out, key=lambda s: (s.start, s.end, s.entity))
