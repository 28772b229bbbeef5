"""The bundled sample corpus: a few days of three feeds with the mess real feeds carry.

Deterministic for a seed. Each day holds clean documents plus planted trouble: exact duplicates within the
day, whitespace/Unicode variants that are duplicates once normalized, copies of an earlier day's documents,
malformed JSON, invalid UTF-8, wrong types, missing fields, empty text, one oversized record, and support
chats carrying PII. ``manifest.json`` records, by construction (not by running the pipeline), what each day
must yield, so tests compare the jobs against an independent ground truth.
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

WORDS = (
    "data model training corpus token pipeline quality filter language document source record table "
    "snapshot partition lineage schema quarantine cluster worker batch stream index query retrieval "
    "vector embedding shard version commit backfill schedule owner policy review customer support "
    "product release feature account invoice network storage latency throughput memory process "
    "thread kernel library "
).split()
FIRST = ("Alice Bruno Chen Dana Emil Fatima Goran Hana Ivan Julia Kenji Lena Marco Nadia Omar Priya ").split()
LAST = (
    "Smith Novak Garcia Müller Rossi Kowalski Tanaka Dubois Silva Jensen Okafor Larsen Ivanova Moreau "
).split()
OVERSIZED_BYTES = 1_100_000  # above the spec's validate.max_bytes (1,000,000)


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 18))
    return " ".join(words).capitalize() + "."


def _paragraphs(rng: random.Random) -> str:
    return "\n\n".join(
        " ".join(_sentence(rng) for _ in range(rng.randint(2, 5))) for _ in range(rng.randint(1, 4))
    )


def _chat(rng: random.Random) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    email = f"{first.lower()}.{last.lower()}@example.com".replace("ü", "ue")
    phone = f"+1-202-555-{rng.randint(0, 9999):04d}"
    return (
        f"Customer: Hi, this is {first} {last}. {_sentence(rng)}\n"
        f"Agent: Thanks {first}. Can you confirm your email and phone?\n"
        f"Customer: Sure, {email} and {phone}. {_sentence(rng)}\n"
        f"Agent: {_sentence(rng)}"
    )


@dataclass
class DayTruth:
    bronze: int = 0
    silver: int = 0
    duplicates: int = 0
    reasons: Counter = field(default_factory=Counter)

    def drop(self, reason: str) -> None:
        self.bronze += 1
        self.reasons[reason] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "bronze": self.bronze,
            "silver": self.silver,
            "duplicates": self.duplicates,
            "quarantine": sum(self.reasons.values()),
            "by_reason": dict(sorted(self.reasons.items())),
        }


def generate(out: Path, days: list[date], docs_per_source: int = 60, seed: int = 7) -> dict[str, Any]:
    """Writes ``<out>/<day>/<source>/part-0.(jsonl|parquet)`` and ``<out>/manifest.json``."""
    rng = random.Random(seed)
    manifest: dict[str, Any] = {"seed": seed, "days": {}}
    previous: list[str] = []  # texts kept on earlier days (normalized), for cross-day duplicates
    for n, day in enumerate(days):
        truth = DayTruth()
        kept_today: list[str] = []

        def keep(text: str, truth: DayTruth = truth, kept_today: list[str] = kept_today) -> str:
            truth.bronze += 1
            truth.silver += 1
            kept_today.append(text)
            return text

        def dup(truth: DayTruth = truth) -> None:
            truth.bronze += 1
            truth.duplicates += 1

        web: list[bytes] = []
        for i in range(docs_per_source):
            web.append(
                _line(
                    {"id": f"w{n}-{i}", "text": keep(_paragraphs(rng)), "url": f"https://example.org/{n}/{i}"}
                )
            )
        # Same text twice, and once more with extra spaces and a decomposed "é": one document after NFC.
        # The smallest doc_id of a duplicate group is the one kept.
        base = f"Café menu {n}. " + _sentence(rng)
        variant = "  " + unicodedata.normalize("NFD", base).replace(" ", "   ") + "\n"
        web.append(_line({"id": f"w{n}-dup-a", "text": keep(base)}))
        web.append(_line({"id": f"w{n}-dup-b", "text": base}))
        web.append(_line({"id": f"w{n}-dup-c", "text": variant}))
        dup(), dup()
        if previous:  # an earlier day's document arrives again under a new id
            web.append(_line({"id": f"w{n}-again", "text": previous[0]}))
            dup()
        web.append(b'{"id": "w-broken", "text": "unterminated')
        truth.drop("malformed_json")
        web.append(b'{"id": "w-latin1", "text": "caf\xe9 au lait"}')
        truth.drop("invalid_utf8")
        web.append(_line({"id": f"w{n}-num", "text": 12345}))
        truth.drop("wrong_type:text:int")
        web.append(_line({"text": "a record without an id"}))
        truth.drop("missing_field:id")
        web.append(_line({"id": f"w{n}-empty", "text": "   \n\t "}))
        truth.drop("empty_text")
        web.append(b"[1, 2, 3]")
        truth.drop("not_an_object")
        if n == 0:
            web.append(_line({"id": "w0-huge", "text": "x" * OVERSIZED_BYTES}))
            truth.drop("too_large")
        rng.shuffle(web)
        _write_lines(out / day.isoformat() / "web" / "part-0.jsonl", web)

        support = [
            _line({"id": f"s{n}-{i}", "text": keep(_chat(rng)), "channel": "chat"})
            for i in range(docs_per_source)
        ]
        support.append(_line({"id": f"s{n}-0", "text": _chat(rng)}))  # a second text under a used id
        truth.drop("duplicate_doc_id")
        _write_lines(out / day.isoformat() / "support" / "part-0.jsonl", support)

        docs = [
            {"id": f"d{n}-{i}", "text": keep(_paragraphs(rng)), "product": rng.choice(WORDS)}
            for i in range(docs_per_source // 2)
        ]
        docs.append({"id": f"d{n}-blank", "text": ""})
        truth.drop("empty_text")
        path = out / day.isoformat() / "docs" / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(docs), path)

        manifest["days"][day.isoformat()] = truth.as_dict()
        previous = kept_today + previous
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def _write_lines(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")


def default_days(first: date = date(2026, 11, 1), n: int = 3) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]
