"""Extract: HTML to its main text (boilerplate removed) for rows whose ``content_type`` is HTML.

Keeps: rows that are not HTML, untouched (plain text is never parsed as markup); HTML rows whose page has
main text, with ``text`` replaced by that text (one block per line, blank lines between blocks) and
``content_type`` set to ``text/plain``. Drops: an HTML page with no main text (only navigation, scripts,
an empty body) as ``extract:no_text``; the detail gives the page's size.

Library: Resiliparse (``resiliparse.extract.html2text.extract_plain_text`` with ``main_content=True``), the
extractor of the FineWeb-2 / OLMo pipelines. On generated news pages (nav, cookie banner, aside, footer
around an article) it kept every article word and dropped all chrome, as trafilatura did, about ten times faster
(BENCHMARKS.md, "HTML extraction and language ID"). It parses broken markup (unclosed tags,
no ``<html>``/``<body>``) with its lexbor-based parser, and needs no network. trafilatura adds metadata
(dates, authors) we do not store. HTML rows are a minority of the corpus; the parse runs per row (no
vectorized HTML parser exists), only on rows selected by a vectorized content-type match.
"""

from __future__ import annotations

import re
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from llm_lakehouse.core.pipes.base import ColumnDef, kept, mark, set_column
from llm_lakehouse.core.pipes.base import Params as BaseParams


class Extract:
    name: ClassVar[str] = "extract"
    columns: ClassVar[tuple[ColumnDef, ...]] = ()

    class Params(BaseParams):
        content_types: list[str] = Field(default=["text/html", "application/xhtml+xml"], min_length=1)
        main_content: bool = True  # False keeps boilerplate (navigation, footers) too
        list_bullets: bool = True  # "•" before list items, so quality's bullet-line ratio sees lists

    def __init__(self, params: Params) -> None:
        from resiliparse.extract.html2text import extract_plain_text  # heavy: jobs env only

        self.p = params
        self._extract = extract_plain_text
        # "text/html; charset=utf-8" is HTML too; RE2 via pyarrow, case-insensitive.
        alts = "|".join(re.escape(t.lower()) for t in params.content_types)
        self._pattern = rf"^\s*({alts})\s*(;.*)?$"

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if "content_type" not in batch.schema.names:  # no type recorded: plain text
            return batch
        ctype = batch.column("content_type")
        html = pc.and_(
            pc.fill_null(pc.match_substring_regex(ctype, self._pattern, ignore_case=True), False), kept(batch)
        )
        if not pc.any(html).as_py():
            return batch
        original = batch.column("text")
        texts = original.to_pylist()
        empty_rows = []
        for i in pc.indices_nonzero(html).to_pylist():
            main = self._extract(
                texts[i] or "",
                main_content=self.p.main_content,
                list_bullets=self.p.list_bullets,
                alt_texts=False,
                links=False,
                form_fields=False,
                noscript=False,
                comments=False,
            ).strip()
            if main:
                texts[i] = main
            else:  # keeps its HTML and type: the quarantine row shows what the page was
                empty_rows.append(i)
        empty = pc.is_in(pa.array(range(batch.num_rows), pa.int64()), pa.array(empty_rows, pa.int64()))
        extracted = pc.and_(html, pc.invert(empty))
        batch = set_column(batch, "text", pa.array(texts, pa.string()))
        batch = set_column(batch, "content_type", pc.if_else(extracted, pa.scalar("text/plain"), ctype))
        nbytes = pc.cast(pc.binary_length(original), pa.string())
        detail = pc.binary_join_element_wise(nbytes, pa.scalar(" bytes of HTML, no main text"), "")
        return mark(batch, empty, "extract", "extract:no_text", detail)
