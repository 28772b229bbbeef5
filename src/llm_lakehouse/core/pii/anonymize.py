"""Rewrites text with the policy's operator over each detected span; counts spans per entity.

Overlapping spans of different entities (a URL that holds an email, a name inside an address) are merged
into one cluster and replaced once over the cluster's whole extent, so no character of any detected span
survives. The cluster takes the operator of the span that covers it all (else of the highest score).

The keyed hash is HMAC-SHA256 over the entity type and the value, normalized so that spellings of one value
agree (case and spacing for names and emails, digits only for numbers): the same person gets the same
pseudonym in every document and every run with the same salt, another one with another salt, and nobody
can reverse it without the salt.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Sequence

from llm_lakehouse.core.pii.policy import PiiPolicy
from llm_lakehouse.core.pii.windows import Span

# What ``replacement`` writes for the replace and hash operators: ``<EMAIL_ADDRESS>``, ``<PERSON_3fa9c1d2>``.
PLACEHOLDER = r"<[A-Z][A-Z_]*(?:_[0-9a-f]{8,64})?>"

_NUMERIC = frozenset({"PHONE_NUMBER", "CREDIT_CARD", "US_SSN"})
_SPACES = re.compile(r"\s+")


def normalize_value(entity: str, value: str) -> str:
    if entity in _NUMERIC:
        return "".join(ch for ch in value if ch.isdigit())
    if entity == "IBAN_CODE":
        return "".join(ch for ch in value if ch.isalnum()).upper()
    return _SPACES.sub(" ", value).strip().casefold()


def pseudonym(entity: str, value: str, salt: bytes, length: int = 16) -> str:
    msg = f"{entity}\x00{normalize_value(entity, value)}".encode()
    return f"<{entity}_{hmac.new(salt, msg, hashlib.sha256).hexdigest()[:length]}>"


def replacement(policy: PiiPolicy, entity: str, value: str, salt: bytes | None) -> str:
    op = policy.operator(entity)
    if op.type == "redact":
        return ""
    if op.type == "mask":
        keep = min(op.keep_last, len(value) // 4)  # never keep more than a quarter of the value
        return op.masking_char * (len(value) - keep) + (value[len(value) - keep :] if keep else "")
    if op.type == "hash":
        if salt is None:
            raise ValueError("hash operator without a salt")
        return pseudonym(entity, value, salt, op.length)
    return op.value if op.value is not None else f"<{entity}>"


def clusters(spans: Sequence[Span]) -> list[tuple[int, int, Span]]:
    """(start, end, representative span) for each group of overlapping spans, in text order."""
    out: list[tuple[int, int, list[Span]]] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and s.start < out[-1][1]:
            start, end, members = out[-1]
            members.append(s)
            out[-1] = (start, max(end, s.end), members)
        else:
            out.append((s.start, s.end, [s]))
    result = []
    for start, end, members in out:
        covering = [m for m in members if m.start == start and m.end == end]
        rep = max(covering or members, key=lambda m: (m.score, m.end - m.start))
        result.append((start, end, rep))
    return result


def scrub(text: str, spans: Sequence[Span], policy: PiiPolicy, salt: bytes | None) -> str:
    if not spans:
        return text
    parts: list[str] = []
    pos = 0
    for start, end, rep in clusters(spans):
        parts.append(text[pos:start])
        parts.append(replacement(policy, rep.entity, text[start:end], salt))
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def counts(spans: Sequence[Span]) -> dict[str, int]:
    return dict(sorted(Counter(s.entity for s in spans).items()))
