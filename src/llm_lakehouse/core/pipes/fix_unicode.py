"""Fix Unicode: repairs mojibake and removes control characters; drops nothing.

Keeps every row. ftfy (``fix_text``) undoes text that was UTF-8 decoded as Windows-1252/Latin-1 once or
more (``cafÃ©`` to ``café``, ``â€™`` to ``’``), C1 controls that stand for Windows-1252 punctuation, and
terminal escape sequences. Then every row loses its control characters (C0 but tab, newline and CR, DEL,
C1, BOM/zero-width no-break space, interlinear annotation marks, the non-characters U+FFFE/U+FFFF):
they carry no text and break tokenizers and viewers. Bidirectional marks (U+200E/F, U+202A..U+202E) are
kept: RTL text needs them.

Library: ftfy, the reference for mojibake repair (datatrove's ``FTFYFormatter`` wraps it too). It is
per-document Python, so it only runs on rows a vectorized RE2 prefilter flags: a UTF-8 lead byte read as
Windows-1252/Latin-1 followed by a continuation byte read the same way (the signature of mojibake), a C1
control, or an escape character. ASCII-clean and correctly decoded non-ASCII rows (German, Arabic, ...) cost
one regex scan. ftfy's other fixes are off on purpose: ``unescape_html`` (extract does markup),
``uncurl_quotes``, ``fix_latin_ligatures`` and ``fix_character_width`` (they change legitimate text; Unicode
normalization is the ``normalize`` pipe's choice, NFC by default), ``normalization`` (same reason).
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from llm_lakehouse.core.pipes.base import ColumnDef, kept, set_column
from llm_lakehouse.core.pipes.base import Params as BaseParams

# A lead byte of a 2-4 byte UTF-8 sequence (0xC2-0xF4) shown as its Windows-1252/Latin-1 character, then a
# continuation byte (0x80-0xBF) shown the same way: Windows-1252 maps 0x80-0x9F to these code points.
_CP1252_HIGH = "\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178"
_MOJIBAKE = rf"[\x{{C2}}-\x{{F4}}][\x{{80}}-\x{{BF}}{_CP1252_HIGH}]"
_SUSPECT = rf"{_MOJIBAKE}|[\x{{80}}-\x{{9F}}\x{{1B}}]"
# Removed from every row (after ftfy, which turns C1 mojibake back into punctuation first).
_CONTROL = r"[\x{00}-\x{08}\x{0B}\x{0C}\x{0E}-\x{1F}\x{7F}-\x{9F}\x{FEFF}\x{FFF9}-\x{FFFB}\x{FFFE}\x{FFFF}]"


class FixUnicode:
    name: ClassVar[str] = "fix_unicode"
    columns: ClassVar[tuple[ColumnDef, ...]] = ()

    class Params(BaseParams):
        fix_mojibake: bool = True
        remove_control: bool = True

    def __init__(self, params: Params) -> None:
        self.p = params
        if params.fix_mojibake:
            import ftfy  # heavy: jobs env only

            self._config = ftfy.TextFixerConfig(
                unescape_html=False,
                uncurl_quotes=False,
                fix_latin_ligatures=False,
                fix_character_width=False,
                normalization=None,
                explain=False,
            )
            self._fix = ftfy.fix_text

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        text = batch.column("text")
        if self.p.fix_mojibake:
            suspect = pc.and_(pc.fill_null(pc.match_substring_regex(text, _SUSPECT), False), kept(batch))
            if pc.any(suspect).as_py():
                values = text.to_pylist()
                for i in pc.indices_nonzero(suspect).to_pylist():
                    values[i] = self._fix(values[i], self._config)
                text = pa.array(values, pa.string())
        if self.p.remove_control:
            text = pc.replace_substring_regex(text, _CONTROL, "")
        return set_column(batch, "text", text)
