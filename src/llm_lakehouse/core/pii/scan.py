"""Leak scan: counts structured PII left in text columns, with the same detectors the ``pii`` pipe uses.

For the check after a nightly run: every text column of silver (and gold, decoded) scanned with
``structured_hits`` must give ``{}``. Only structured entities (patterns + validators): NER finds names in
any text, and a person's name in a public document is not a leak the scan can decide. The pipe's own
placeholders and pseudonyms (``<EMAIL_ADDRESS>``, ``<PERSON_3fa9c1d2e4b5a6f7>``) are blanked before
scanning, so a hex digest can never be read as a phone number. Returns counts, never values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from llm_lakehouse.core.pii.anonymize import PLACEHOLDER
from llm_lakehouse.core.pii.engine import get_engine
from llm_lakehouse.core.pii.policy import DEFAULT_ENTITIES, NER
from llm_lakehouse.core.pii.windows import resolve

SCAN_ENTITIES = tuple(e for e in DEFAULT_ENTITIES if e not in NER)


def _row_entities(
    texts: pa.Array | pa.ChunkedArray, entities: Sequence[str], score_threshold: float, batch_rows: int
) -> Iterator[list[str]]:
    """The structured entities found in each row of ``texts``, in order (one list per row)."""

    wanted = tuple(e for e in entities if e not in NER)
    engine = get_engine(wanted)
    thresholds = dict.fromkeys(wanted, score_threshold)
    arr = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    for start in range(0, len(arr), batch_rows):
        chunk = pc.replace_substring_regex(arr.slice(start, batch_rows), PLACEHOLDER, "<>")
        for spans in engine.analyze(chunk):
            yield [s.entity for s in resolve(spans, thresholds)]


def structured_hits(
    texts: pa.Array | pa.ChunkedArray,
    entities: Sequence[str] = SCAN_ENTITIES,
    score_threshold: float = 0.35,
    batch_rows: int = 4096,
) -> dict[str, int]:
    """Spans per structured entity found in ``texts`` (a string column); ``{}`` means clean."""
    total: Counter[str] = Counter()
    for found in _row_entities(texts, entities, score_threshold, batch_rows):
        total.update(found)
    return dict(sorted(total.items()))


def hits_per_row(
    texts: pa.Array | pa.ChunkedArray,
    entities: Sequence[str] = SCAN_ENTITIES,
    score_threshold: float = 0.35,
    batch_rows: int = 4096,
) -> pa.Array:
    """Structured PII spans found in each row (int32; null text gives 0): the quality gate's input."""
    return pa.array([len(f) for f in _row_entities(texts, entities, score_threshold, batch_rows)], pa.int32())
