"""Normalize: rewrites text to Unicode NFC with tidy whitespace; drops nothing.

Keeps every row. Runs of spaces and tabs become one space, trailing spaces are cut from each line, Windows
and old-Mac line ends become ``\n``, more than one blank line becomes one, and the text is trimmed. NFC (not
NFKC) by default: NFKC folds compatibility characters (``ﬁ`` to ``fi``, superscripts) and loses meaning
that code and math corpora need. All of it is vectorized ``pyarrow.compute``, no per-row Python.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc

from llm_lakehouse.core.pipes.base import ColumnDef, set_column
from llm_lakehouse.core.pipes.base import Params as BaseParams


class Normalize:
    name: ClassVar[str] = "normalize"
    columns: ClassVar[tuple[ColumnDef, ...]] = ()

    class Params(BaseParams):
        form: Literal["NFC", "NFKC"] = "NFC"
        collapse_whitespace: bool = True

    def __init__(self, params: Params) -> None:
        self.p = params

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        text = pc.utf8_normalize(batch.column("text"), self.p.form)
        if self.p.collapse_whitespace:
            text = pc.replace_substring_regex(text, r"\r\n?", "\n")
            text = pc.replace_substring_regex(text, r"[ \t\f\v\x{00A0}]+", " ")
            text = pc.replace_substring_regex(text, r" *\n *", "\n")
            text = pc.replace_substring_regex(text, r"\n{3,}", "\n\n")
            text = pc.utf8_trim_whitespace(text)
        return set_column(batch, "text", text)
