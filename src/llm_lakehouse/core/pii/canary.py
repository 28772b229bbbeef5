"""Canaries: a live recall check of every ``pii`` policy on every batch of every run.

Before the first ``pii`` step, the silver chain appends a few synthetic records per policy to each Arrow
batch: names, addresses, phones, cards and keys in the contexts real text puts them (a changelog trailer,
a mail header, a support chat, a config file), routed to the policy by their ``source``. The same pipe
code scrubs them in the same batch as the day's documents. After the chain they are taken out again and
every planted value is looked for in what the pipes left (text and metadata): a value still there is a
survivor. Only counts leave the worker (planted and surviving values per policy) and go to
``ops.pii_audit`` (``kind = 'canary'``); the silver gate's ``pii_canaries`` rule blocks the day if any
value survived, or if a policy was never checked on a day that had rows. Canary rows never reach a table,
a log or a lineage event: they exist only inside the worker's batch.

Values are synthetic and drawn per batch from fixed pools with a seed, so each run checks several
spellings while staying reproducible.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from llm_lakehouse.core.pii.policy import PiiPolicy

PREFIX = "__canary__/"
# The source of a canary for a policy that names no source (the default policy alone): no declared source
# can have this name (source names start with a letter), and only the default policy scans it.
DEFAULT_SOURCE = "__canary__"

_FIRST = ["Maria", "Jonas", "Aiko", "Olusegun", "Priya", "Tomasz", "Ingrid", "Mateo"]
_LAST = ["Gonzalez", "Lindqvist", "Takahashi", "Adeyemi", "Raghunathan", "Kowalczyk", "Haugen", "Ferreira"]
_DOMAINS = ["example.org", "mail.example.net", "corp.example.com"]
_PHONES = ["+1 (415) 555-0134", "212-555-0187", "415-555-0148", "(646) 555-0199"]
_CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "3714 496353 98431", "2223 0031 2200 3222"]
_KEYS = ["AKIAIOSFODNN7EXAMPLE", "AKIAJ2QXLMPA7EXAMPLE"]
_IBANS = ["DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32"]
_IPS = ["203.0.113.42", "198.51.100.7"]
_SSNS = ["536-22-8726", "412-55-7781"]


@dataclass(frozen=True)
class Canary:
    """One synthetic record for one policy: its text, its metadata and the values the policy must remove."""

    policy: str
    source: str
    text: str
    metadata: str | None
    values: tuple[str, ...] = field(default=())


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return f"{first} {last}", f"{first.lower()}.{last.lower()}@{rng.choice(_DOMAINS)}"


def canaries_for(policy: PiiPolicy, seed: int) -> list[Canary]:
    """Canary records that exercise each of ``policy``'s entities the canaries know, in realistic contexts."""
    rng = random.Random(f"{policy.policy}:{seed}")
    ents = set(policy.entities)
    source = (policy.sources or [DEFAULT_SOURCE])[0]
    out: list[Canary] = []

    def add(parts: list[tuple[str, str | None]], metadata: dict[str, str] | None = None) -> None:
        text = "".join(p for p, _ in parts)
        values = [p for p, entity in parts if entity in ents]
        meta_values: list[str] = []
        meta = None
        if metadata is not None:
            kept = {k: v for k, v in metadata.items() if k in policy.keep_fields}
            meta_values = [v for k, v in metadata.items() if k not in policy.keep_fields]  # must be dropped
            if kept and "EMAIL_ADDRESS" in ents:
                meta_values += [v.split()[-1] for v in kept.values()]
            meta = json.dumps(metadata, sort_keys=True)
        if values or meta_values:
            out.append(Canary(policy.policy, source, text, meta, tuple(values + meta_values)))

    name, email = _person(rng)
    other, other_email = _person(rng)
    add(
        [
            ("pkg (2.4.1-1) unstable; urgency=medium\n\n  [ ", None),
            (other, "PERSON"),
            (
                " ]\n  * New upstream release; the importer no longer stalls on empty files.\n  * Thanks to ",
                None,
            ),
            (name, "PERSON"),
            (" <", None),
            (email, "EMAIL_ADDRESS"),
            ("> for the report.\n\n -- ", None),
            (other, "PERSON"),
            (" <", None),
            (other_email, "EMAIL_ADDRESS"),
            (">  Mon, 02 Nov 2026 10:00:00 +0000\n", None),
        ]
    )
    name, email = _person(rng)
    fields = {policy.keep_fields[0]: f"reach me at {email}"} if policy.keep_fields else {}
    add(
        [
            ("Customer: hi, this is ", None),
            (name, "PERSON"),
            (". My card ", None),
            (rng.choice(_CARDS), "CREDIT_CARD"),
            (" was charged twice, please call me back on ", None),
            (rng.choice(_PHONES), "PHONE_NUMBER"),
            (" or write to ", None),
            (email, "EMAIL_ADDRESS"),
            (".\nAgent: Sorry about that. Refunds go to IBAN ", None),
            (rng.choice(_IBANS), "IBAN_CODE"),
            (" within five business days; your SSN ", None),
            (rng.choice(_SSNS), "US_SSN"),
            (" is not needed.\n", None),
        ],
        {**fields, "canary_unlisted_field": f"{name} {rng.choice(_PHONES)}"},
    )
    name, email = _person(rng)
    add(
        [
            ("From: ", None),
            (name, "PERSON"),
            (" <", None),
            (email, "EMAIL_ADDRESS"),
            (">\nSubject: deploy failed\n\nThe agent on ", None),
            (rng.choice(_IPS), "IP_ADDRESS"),
            (" still uses aws_access_key_id = ", None),
            (rng.choice(_KEYS), "AWS_ACCESS_KEY"),
            ("; rotate it before the release.\n\nSigned-off-by: ", None),
            (name, "PERSON"),
            ("\n", None),
        ]
    )
    return out


def append(batch: pa.RecordBatch, canaries: Sequence[Canary]) -> pa.RecordBatch:
    """``batch`` with one row per canary after its rows (columns the canaries do not set are null)."""
    if not canaries:
        return batch
    n = len(canaries)
    given = {
        "doc_id": [f"{PREFIX}{c.policy}/{i}" for i, c in enumerate(canaries)],
        "source": [c.source for c in canaries],
        "text": [c.text for c in canaries],
        "metadata": [c.metadata for c in canaries],
    }
    columns = [
        pa.array(given[f.name], f.type) if f.name in given else pa.nulls(n, f.type) for f in batch.schema
    ]
    extra = pa.RecordBatch.from_arrays(columns, schema=batch.schema)
    return pa.Table.from_batches([batch, extra]).combine_chunks().to_batches(max_chunksize=None)[0]


def is_canary(batch: pa.RecordBatch) -> pa.BooleanArray:
    if "doc_id" not in batch.schema.names:
        return pa.array([False] * batch.num_rows, pa.bool_())
    return pc.fill_null(pc.starts_with(batch.column("doc_id"), PREFIX), False)


def check(
    batch: pa.RecordBatch, canaries: Sequence[Canary]
) -> tuple[pa.RecordBatch, dict[tuple[str, str], list[int]]]:
    """Takes the canary rows out of ``batch``; per (policy, source) ``[canary records, values planted,
    values that survived]``. A canary row that is missing counts all its values as survivors (fail
    closed)."""
    mask = is_canary(batch)
    rows = batch.filter(mask).to_pylist()
    by_id = {r["doc_id"]: r for r in rows}
    outcome: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(canaries):
        row = by_id.get(f"{PREFIX}{c.policy}/{i}")
        left = "" if row is None else f"{row.get('text') or ''}\n{row.get('metadata') or ''}"
        survived = len(c.values) if row is None else sum(v in left for v in c.values)
        totals = outcome.setdefault((c.policy, c.source), [0, 0, 0])
        totals[0] += 1
        totals[1] += len(c.values)
        totals[2] += survived
    return batch.filter(pc.invert(mask)), outcome
