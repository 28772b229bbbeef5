"""PII: rewrites ``text`` (and any other configured text column) with detected PII replaced; drops nothing.

Keeps every row. For the rows its policy covers (kept rows of the policy's ``sources``), it detects the
policy's entities with the engine of ``llm_lakehouse.core.pii.engine`` (Presidio recognizers + custom ones for
cards, phones and secrets, spaCy NER for names and places, run only where they can match), replaces each
span with the policy's operator (typed placeholder, redaction, mask, or salted-hash pseudonym) and adds:

- ``pii_counts`` (``MAP<STRING, INT>``): spans found per entity type, summed over the scrubbed columns;
  an empty map when the document had none, null for rows this policy did not scan. A map, not one column
  per entity: entity sets differ per policy and grow (new secret types) while silver's schema stays fixed;
  ``pii_counts['EMAIL_ADDRESS']`` reads as easily as a column and ``explode`` feeds ``ops.pii_audit``.
- ``pii_policy``: the name of the policy that scanned the row (null: not scanned).

Rows outside the policy keep whatever an earlier ``pii`` step wrote, so per-source policies chain. The
spec's ``default`` step also takes every kept row no earlier step scanned, so no source passes unscrubbed.

``metadata`` (the record's other fields, as JSON) is rewritten for the same rows: only the policy's
``keep_fields`` stay, every string (and number) inside them scrubbed by the same detectors; the rest is
dropped from silver. The detected values themselves go nowhere: not into a column, a drop detail or a log
line. Run it before ``content_hash``, so that silver's hash is the hash of the text silver stores.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from llm_lakehouse.core.pii.anonymize import PLACEHOLDER
from llm_lakehouse.core.pii.policy import NER, PiiPolicy
from llm_lakehouse.core.pipes.base import ColumnDef, kept, set_column

COUNTS_TYPE = pa.map_(pa.string(), pa.int32())
# Analysis passes over a row at most: the first, and those that find spans the replacements uncovered.
SCRUB_PASSES = 3
_PLACEHOLDER = re.compile(PLACEHOLDER)


class Pii:
    name: ClassVar[str] = "pii"
    columns: ClassVar[tuple[ColumnDef, ...]] = (
        ("pii_counts", "MAP<STRING, INT>", "PII spans found and replaced per entity type; null: not scanned"),
        ("pii_policy", "STRING", "name of the PII policy that scanned the row; null: not scanned"),
    )
    Params: ClassVar[type[PiiPolicy]] = PiiPolicy

    def __init__(self, params: PiiPolicy) -> None:
        from llm_lakehouse.core.pii.engine import get_engine  # Presidio + spaCy: jobs env only

        def engine(entities: tuple[str, ...]) -> Any:  # noqa: ANN401
            return get_engine(
                entities,
                params.ner_backend,
                params.device,
                params.spacy_model,
                params.transformers_model,
                params.ner_batch_size,
                params.ner_context_words,
            )

        self.p = params
        self.salt = _salt(params)
        self.engine = engine(tuple(params.entities))
        self.thresholds = {e: params.threshold(e) for e in params.entities}
        # Later passes look for structured entities only (patterns: cheap), what the quality gate scans for.
        structured = tuple(e for e in params.entities if e not in NER)
        self.rescan = engine(structured) if structured else None

    def _scope(self, batch: pa.RecordBatch) -> pa.BooleanArray:
        """Kept rows of the policy's sources; for the default policy also every kept row not yet scanned."""
        if self.p.sources is None and not self.p.default:
            return kept(batch)
        mine = pa.array([False] * batch.num_rows, pa.bool_())
        if self.p.sources is not None:
            mine = pc.fill_null(
                pc.is_in(batch.column("source"), pa.array(self.p.sources, pa.string())), False
            )
        if self.p.default:
            unscanned = (
                pc.is_null(batch.column("pii_policy"))
                if "pii_policy" in batch.schema.names
                else pa.array([True] * batch.num_rows, pa.bool_())
            )
            mine = pc.or_(mine, unscanned)
        return pc.and_(kept(batch), mine)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        from llm_lakehouse.core.pii.anonymize import counts, scrub
        from llm_lakehouse.core.pii.windows import resolve

        scope = self._scope(batch)
        rows = pc.indices_nonzero(scope).to_pylist()
        per_row: list[dict[str, int]] = [{} for _ in rows]
        if rows:
            slot = {i: j for j, i in enumerate(rows)}
            for col in self.p.text_columns:
                values = batch.column(col)
                new: list[Any] | None = None
                todo, texts = rows, values.take(pa.array(rows, pa.int64())).to_pylist()
                # Scrubbed to a fixpoint: a recognizer scores a span by its context, and replacing one span
                # changes its neighbours' (``-F::`` taken as an IPv6 address lifts the ``::`` after it from
                # 0.1 to 0.45), so the scrubbed rows are analyzed again for structured entities,
                # replacements excepted, until nothing new is found: what the quality gate's scan reads.
                for n_pass in range(SCRUB_PASSES):
                    engine = self.rescan if n_pass else self.engine
                    if engine is None:
                        break
                    found = [
                        resolve(x, self.thresholds) for x in engine.analyze(pa.array(texts, values.type))
                    ]
                    if n_pass:
                        found = [
                            _outside_replacements(t, spans) for t, spans in zip(texts, found, strict=True)
                        ]
                    hits = [(i, t, spans) for i, t, spans in zip(todo, texts, found, strict=True) if spans]
                    if not hits:
                        break
                    new = values.to_pylist() if new is None else new
                    for i, text, spans in hits:
                        new[i] = scrub(text, spans, self.p, self.salt)
                        for entity, n in counts(spans).items():
                            per_row[slot[i]][entity] = per_row[slot[i]].get(entity, 0) + n
                    todo = [i for i, _, _ in hits]
                    texts = [new[i] for i in todo]
                if new is not None:
                    batch = set_column(batch, col, pa.array(new, values.type))
            if "metadata" in batch.schema.names:
                batch = self._metadata(batch, rows, per_row)
        return self._set_outputs(batch, rows, per_row)

    def _metadata(
        self, batch: pa.RecordBatch, rows: list[int], per_row: list[dict[str, int]]
    ) -> pa.RecordBatch:
        """Keeps the policy's ``keep_fields`` of each scanned row's metadata, scrubbed; drops the others.

        Every string and number inside a kept field (nested lists and objects included) is scanned as one
        text by the same engine; a value that does not parse as a JSON object leaves nothing (``{}``)."""
        from llm_lakehouse.core.pii.anonymize import counts, scrub
        from llm_lakehouse.core.pii.windows import resolve

        values = batch.column("metadata")
        new = values.to_pylist()
        kept_fields: list[tuple[int, dict[str, Any], int]] = []  # (row position, fields kept, first leaf)
        leaves: list[str] = []
        for j, i in enumerate(rows):
            if new[i] is None:
                continue
            try:
                obj = json.loads(new[i])
            except ValueError:
                obj = None
            keep = {k: obj[k] for k in self.p.keep_fields if k in obj} if isinstance(obj, dict) else {}
            kept_fields.append((j, keep, len(leaves)))
            _collect(keep, leaves)
        found = [resolve(s, self.thresholds) for s in self.engine.analyze(leaves)] if leaves else []
        scrubbed = iter(
            scrub(t, spans, self.p, self.salt) if spans else None
            for t, spans in zip(leaves, found, strict=True)
        )
        ends = [first for _, _, first in kept_fields[1:]] + [len(leaves)]
        for (j, keep, first), end in zip(kept_fields, ends, strict=True):
            for spans in found[first:end]:
                for entity, n in counts(spans).items():
                    per_row[j][entity] = per_row[j].get(entity, 0) + n
            new[rows[j]] = json.dumps(_rebuild(keep, scrubbed), sort_keys=True, ensure_ascii=False)
        return set_column(batch, "metadata", pa.array(new, values.type))

    def _set_outputs(
        self, batch: pa.RecordBatch, rows: list[int], per_row: list[dict[str, int]]
    ) -> pa.RecordBatch:
        names = batch.schema.names
        old_counts = batch.column("pii_counts").to_pylist() if "pii_counts" in names else None
        old_policy = batch.column("pii_policy").to_pylist() if "pii_policy" in names else None
        n = batch.num_rows
        new_counts: list = old_counts or [None] * n
        new_policy: list = old_policy or [None] * n
        for i, c in zip(rows, per_row, strict=True):
            new_counts[i] = sorted(c.items())
            new_policy[i] = self.p.policy
        batch = set_column(batch, "pii_counts", pa.array(new_counts, COUNTS_TYPE))
        return set_column(batch, "pii_policy", pa.array(new_policy, pa.string()))


def _outside_replacements(text: str, spans: list[Any]) -> list[Any]:
    """``spans`` that touch no placeholder an earlier pass wrote (``<EMAIL_ADDRESS>``, a pseudonym)."""
    if not spans:
        return spans
    taken = [(m.start(), m.end()) for m in _PLACEHOLDER.finditer(text)]
    return [s for s in spans if not any(s.start < end and start < s.end for start, end in taken)]


def _is_leaf(v: Any) -> bool:
    return isinstance(v, str) or (isinstance(v, int | float) and not isinstance(v, bool))


def _collect(v: Any, out: list[str]) -> None:
    """Appends every string and number inside ``v`` (depth first, dict values in key order) to ``out``."""
    if _is_leaf(v):
        out.append(str(v))
    elif isinstance(v, dict):
        for k in sorted(v):
            _collect(v[k], out)
    elif isinstance(v, list):
        for x in v:
            _collect(x, out)


def _rebuild(v: Any, scrubbed: Iterator[str | None]) -> Any:  # noqa: ANN401
    """``v`` with its leaves replaced, in ``_collect``'s order, by ``scrubbed``'s items: a scrubbed string
    for a leaf with a detection, None for one without (it keeps its value and JSON type)."""
    if _is_leaf(v):
        text = next(scrubbed)
        return v if text is None else text
    if isinstance(v, dict):
        return {k: _rebuild(v[k], scrubbed) for k in sorted(v)}
    if isinstance(v, list):
        return [_rebuild(x, scrubbed) for x in v]
    return v


def _salt(p: PiiPolicy) -> bytes | None:
    """The hash operator's secret, from the env var the policy names; errors never show the value."""
    if not any(p.operator(e).type == "hash" for e in p.entities):
        return None
    assert p.salt_env is not None  # the policy's validator guarantees it
    value = os.environ.get(p.salt_env)
    if not value:
        raise ValueError(
            f"pii policy {p.policy!r}: environment variable {p.salt_env} (the hash salt) is not set"
        )
    salt = value.encode("utf-8")
    if len(salt) < 16:
        raise ValueError(f"pii policy {p.policy!r}: the salt in {p.salt_env} must be at least 16 bytes")
    return salt
