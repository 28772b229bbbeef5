"""The bundled sample corpus: a few days of three feeds with the mess real feeds carry.

Deterministic for a seed. Documents are English prose built from sentence templates (with stop words, so
Gopher-style quality rules keep them). Each day also holds planted trouble: exact duplicates within the day,
whitespace/Unicode variants that are duplicates once normalized, copies of an earlier day's documents,
near-duplicates (a kept document copied with a few word edits, within the day and from an earlier day),
HTML pages (one without any main text), German/French/Spanish documents, documents that fail named quality
rules (a line repeated 100 times, too short, hashtag soup, a bullet list), mojibake that ``fix_unicode``
repairs, malformed JSON, invalid UTF-8, wrong types, missing fields, empty text, one oversized record, and
support chats carrying PII. ``manifest.json`` records, by construction (not by running the pipeline), what
each day must yield, so tests compare the jobs against an independent ground truth.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# Slots of the sentence templates. Fixed template runs are at most four words, so a 5-word shingle almost
# always spans a slot: unrelated documents share few shingles (near-dup detection must keep them apart).
SUBJECTS = (
    "the team",
    "our engineers",
    "the new service",
    "the support desk",
    "a small group of analysts",
    "the finance department",
    "each regional office",
    "the platform group",
    "the product manager",
    "most customers",
    "the operations crew",
    "the research lab",
    "a senior developer",
    "the review board",
    "the city council",
    "the warehouse staff",
    "the marketing group",
    "the data team",
    "a new contractor",
    "the night shift",
    "the legal department",
    "two interns",
    "the school board",
    "the design studio",
    "the sales team",
    "a local bakery",
    "the museum staff",
    "the hospital board",
    "the editors",
    "the volunteers",
)
VERBS = (
    "reviewed",
    "updated",
    "measured",
    "replaced",
    "documented",
    "tested",
    "shipped",
    "planned",
    "discussed",
    "improved",
    "simplified",
    "rebuilt",
    "audited",
    "migrated",
    "explained",
    "compared",
    "described",
    "scheduled",
    "checked",
    "analyzed",
    "redesigned",
    "cleaned up",
    "translated",
    "priced",
    "questioned",
)
OBJECTS = (
    "the billing system",
    "the storage layer",
    "the onboarding guide",
    "a backup process",
    "the release notes",
    "the search index",
    "the payment flow",
    "an old database",
    "the training material",
    "the monthly report",
    "the network setup",
    "the mobile app",
    "a shared calendar",
    "the inventory list",
    "the hiring plan",
    "the security policy",
    "the delivery schedule",
    "the customer survey",
    "the test suite",
    "a cost model",
    "the garden project",
    "the parking rules",
    "the library catalog",
    "the spring menu",
    "the travel budget",
    "the weather station",
    "the recycling program",
    "the annual budget",
    "the volunteer roster",
    "the exhibition plan",
)
ADVERBIALS = (
    "before the holiday break",
    "after a long discussion",
    "during the spring quarter",
    "with help from two partners",
    "in less than a week",
    "without any downtime",
    "for the third time this year",
    "at the request of several users",
    "under a tight budget",
    "ahead of the annual audit",
    "over the weekend",
    "in close cooperation with the vendor",
    "as part of a larger effort",
    "on a rainy afternoon",
    "late last month",
    "earlier this morning",
    "with a great deal of care",
    "in front of the whole company",
    "at the end of the season",
    "while the office was closed",
    "despite a few delays",
    "within the agreed budget",
    "after the last inspection",
    "in time for the conference",
    "with surprisingly good results",
)
REASONS = (
    "because the old version was slow",
    "so that new staff can find answers faster",
    "since the previous process caused errors",
    "to reduce the number of support tickets",
    "because customers asked for clearer pricing",
    "so that reports arrive on time",
    "to make the numbers easier to check",
    "because the vendor changed its terms",
    "to keep the costs under control",
    "so that nobody has to work late",
    "because it was badly out of date",
    "to prepare for the next growth phase",
    "since the auditors had asked for it",
    "to save energy during the winter",
    "because the rules have changed",
    "so that visitors feel welcome",
    "to avoid the mistakes of last year",
    "because the old tools were hard to use",
    "to give the teams more time for real work",
    "since demand keeps growing",
)
RESULTS = (
    "better than expected",
    "mixed",
    "encouraging",
    "hard to measure",
    "clearly positive",
    "a little disappointing",
    "good enough for now",
    "worth the effort",
    "surprising to everyone",
    "much faster than before",
)
TEMPLATES = (
    "{S} {V} {O} {A}.",
    "{S} {V} {O} {R}.",
    "{A}, {s} {V} {O}.",
    "It is clear that {s} {V} {O} {R}.",
    "Most of the work on {o} was done {a}.",
    "{S} said that {o} has been {v} {a}.",
    "After {s} {V} {O}, the results were {X}.",
    "Why did {s} choose to keep {o}?",
    "{S} and {s2} {V} {O} together {a}.",
    "In the end, {o} was {v} {R}.",
    "The plan for {o} is {X}, and {s} will return to it {a}.",
    "Nobody expected that {o} would be {v} {a}.",
)
FIRST = ("Alice Bruno Chen Dana Emil Fatima Goran Hana Ivan Julia Kenji Lena Marco Nadia Omar Priya ").split()
LAST = (
    "Smith Novak Garcia Müller Rossi Kowalski Tanaka Dubois Silva Jensen Okafor Larsen Ivanova Moreau "
).split()
# Hand-written sentences in languages the spec does not keep (language:not_kept).
FOREIGN = {
    "de": (
        "Das Team hat die neue Version der Software gestern am Abend getestet.",
        "Die meisten Kunden waren mit dem Ergebnis sehr zufrieden und haben sich bedankt.",
        "Wir werden den Bericht in der nächsten Woche an alle Abteilungen schicken.",
        "Im Frühling wollen wir die Preise für unsere Produkte noch einmal prüfen.",
        "Der Vorstand hat beschlossen, das alte Lager bis zum Sommer zu schließen.",
        "Viele Mitarbeiter arbeiten inzwischen lieber von zu Hause aus.",
        "Die Stadt plant einen neuen Radweg entlang des Flusses.",
        "Nach der langen Sitzung waren alle müde, aber die Stimmung war gut.",
    ),
    "fr": (
        "L'équipe a terminé la nouvelle version du logiciel avant la fin de la semaine.",
        "La plupart des clients sont satisfaits du service et le disent volontiers.",
        "Nous enverrons le rapport mensuel à tous les bureaux régionaux demain matin.",
        "Le conseil municipal a décidé de rénover la bibliothèque pendant l'été.",
        "Les bénévoles ont préparé le repas pour plus de cent personnes.",
        "Il faut encore vérifier les chiffres avant de publier les résultats.",
        "Cette année, le marché de Noël ouvrira ses portes plus tôt que prévu.",
        "Après une longue discussion, la direction a accepté la proposition.",
    ),
    "es": (
        "El equipo revisó el sistema de pagos durante toda la semana pasada.",
        "La mayoría de los clientes prefiere recibir las facturas por correo electrónico.",
        "Mañana enviaremos el informe mensual a todas las oficinas regionales.",
        "El ayuntamiento quiere construir un parque nuevo cerca del río.",
        "Los voluntarios organizaron una comida para más de cien personas.",
        "Todavía tenemos que comprobar los números antes de publicar los resultados.",
        "Este año la feria del libro abrirá sus puertas antes de lo previsto.",
        "Después de una larga reunión, la dirección aceptó la propuesta.",
    ),
}
# Edits that turn a kept document into a near-duplicate: a word swapped for another.
EDIT_WORDS = ("carefully", "quietly", "finally", "again", "recently", "formally", "partly", "openly")
NEAR_DUP_MIN_JACCARD = 0.85  # word 5-gram shingles; planted near-duplicates are at least this similar
OVERSIZED_BYTES = 1_100_000  # above the spec's validate.max_bytes (1,000,000)
STOP_WORDS = frozenset(("the", "be", "to", "of", "and", "that", "have", "with"))  # Gopher's list


class _Deck:
    """Slot values dealt from shuffled decks, each value once before any repeats: a document reuses a
    template or a phrase only after using all the others, so no n-gram dominates it (Gopher's top-n-gram
    and duplicate-n-gram rules keep it)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.decks: dict[str, list[str]] = {}

    def __call__(self, name: str, values: tuple[str, ...]) -> str:
        deck = self.decks.get(name)
        if not deck:
            deck = self.decks[name] = self.rng.sample(values, len(values))
        return deck.pop()


def _sentence(rng: random.Random, deal: _Deck | None = None) -> str:
    deal = deal or _Deck(rng)
    s, s2 = deal("S", SUBJECTS), deal("S", SUBJECTS)
    text = deal("T", TEMPLATES).format(
        S=s, s=s, s2=s2, V=deal("V", VERBS), v=deal("V", VERBS), O=deal("O", OBJECTS),
        o=deal("O", OBJECTS), A=deal("A", ADVERBIALS), a=deal("A", ADVERBIALS), R=deal("R", REASONS),
        X=deal("X", RESULTS),
    )  # fmt: skip
    return text[0].upper() + text[1:]


def _prose(rng: random.Random, min_words: int = 70, max_sentences: int = 18) -> str:
    """Paragraphs of template sentences, one paragraph per line: at least ``min_words`` words and two of
    Gopher's stop words, by construction."""
    deal = _Deck(rng)
    sentences = [_sentence(rng, deal) for _ in range(rng.randint(7, max_sentences))]
    while len(" ".join(sentences).split()) < min_words:
        sentences.append(_sentence(rng, deal))
    while len(STOP_WORDS & set(" ".join(sentences).lower().split())) < 2:
        sentences.append(_sentence(rng, deal))
    cuts = sorted(rng.sample(range(1, len(sentences)), rng.randint(0, min(3, len(sentences) - 1))))
    paras = [sentences[a:b] for a, b in zip([0, *cuts], [*cuts, len(sentences)], strict=True)]
    return "\n\n".join(" ".join(p) for p in paras)


def _chat(rng: random.Random) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    email = f"{first.lower()}.{last.lower()}@example.com".replace("ü", "ue")
    phone = f"+1-202-555-{rng.randint(0, 9999):04d}"
    deal = _Deck(rng)
    s = [_sentence(rng, deal) for _ in range(8)]
    return (
        f"Customer: Hi, this is {first} {last}. {s[0]} {s[1]}\n"
        f"Agent: Thanks {first}. Can you confirm your email and phone?\n"
        f"Customer: Sure, {email} and {phone}. {s[2]}\n"
        f"Agent: {s[3]} {s[4]}\n"
        f"Customer: {s[5]}\n"
        f"Agent: {s[6]} {s[7]}"
    )


def _foreign(rng: random.Random, lang: str) -> str:
    return " ".join(rng.sample(FOREIGN[lang], 6))


def _html(rng: random.Random, title: str, body: str) -> str:
    """A page with site chrome (navigation, cookie banner, footer) around one article."""
    paras = "".join(f"<p>{p}</p>\n" for p in body.split("\n\n"))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
        f"{title} | Example News</title><style>body{{font-family:sans-serif}}</style>"
        "<script>window.dataLayer=[];function track(){}</script></head><body>"
        '<header><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>'
        '<li><a href="/about">About us</a></li><li><a href="/contact">Contact</a></li></ul></nav></header>'
        '<div class="cookie-banner">This site uses cookies. <a href="/privacy">Privacy policy</a></div>'
        f"<main><article><h1>{title}</h1>\n{paras}</article>"
        '<aside><h3>Related</h3><ul><li><a href="/a">Ten tips for spring</a></li>'
        '<li><a href="/b">Our new office</a></li></ul></aside></main>'
        f"<footer><p>© 2026 Example News. All rights reserved.</p>"
        '<a href="/terms">Terms of use</a> <a href="/privacy">Privacy</a></footer></body></html>'
    )


EMPTY_HTML = (
    '<!DOCTYPE html><html><head><title>Loading…</title><script>location.href="/app";</script></head>'
    "<body><noscript></noscript></body></html>"
)
# Documents that fail one named quality rule each (the spec's rule order decides which fires first).
TOO_SHORT = "Thank you for reading this short note about the new opening hours of the office."
REPEATED_LINE = "Subscribe to the newsletter and get the best deals of the week right here."
MOJIBAKE_SENTENCE = "The team’s naïve plan was discussed over coffee at the café next to the office."


def _hashtag_soup(rng: random.Random) -> str:
    """English prose (language ID keeps it) under a pile of hashtags (one '#' per two words)."""
    tags = " ".join("#" + w.split()[-1] for w in rng.choices(OBJECTS + SUBJECTS, k=40))
    return f"{_prose(rng, min_words=60, max_sentences=8)}\n\nShare this post with your friends! {tags}"


def _bullets(rng: random.Random) -> str:
    return "\n".join(
        f"- {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ADVERBIALS)}" for _ in range(16)
    )


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """Word n-gram shingles of lower-cased text, words being runs of letters and digits (as the minhash pipe
    cuts them): how planted near-duplicates are kept measurably similar."""
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def jaccard(a: str, b: str, n: int = 5) -> float:
    sa, sb = shingles(a, n), shingles(b, n)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def _near_copy(rng: random.Random, text: str, edits: int = 2) -> str:
    """``text`` with ``edits`` words replaced, spread out so each edit breaks at most five shingles."""
    words = text.split(" ")
    step = len(words) // (edits + 1)
    for k in range(1, edits + 1):
        i = k * step
        while "\n" in words[i]:  # a token that spans a paragraph break holds two words: take the next one
            i += 1
        words[i] = rng.choice([w for w in EDIT_WORDS if w != words[i]])
    copy = " ".join(words)
    score = jaccard(text, copy)
    if score < NEAR_DUP_MIN_JACCARD:  # a property of the generator, never of the pipeline
        raise AssertionError(f"planted near-duplicate too far apart: jaccard {score:.3f}")
    return copy


@dataclass
class DayTruth:
    bronze: int = 0
    silver: int = 0
    duplicates: int = 0
    reasons: Counter = field(default_factory=Counter)
    near_duplicates: list[dict[str, str]] = field(default_factory=list)
    mojibake: list[dict[str, str]] = field(default_factory=list)

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
            # doc_id of each planted near-duplicate and the kept document it copies (counted in duplicates)
            "near_duplicates": self.near_duplicates,
            # doc_id of each mojibake document and the text fix_unicode must restore (kept in silver)
            "mojibake": self.mojibake,
        }


def generate(out: Path, days: list[date], docs_per_source: int = 60, seed: int = 7) -> dict[str, Any]:
    """Writes ``<out>/<day>/<source>/part-0.(jsonl|parquet)`` and ``<out>/manifest.json``."""
    rng = random.Random(seed)
    manifest: dict[str, Any] = {"seed": seed, "days": {}}
    previous: list[str] = []  # texts kept on earlier days (normalized), for cross-day duplicates
    previous_long: list[tuple[str, str]] = []  # (doc_id, text) of earlier days' near-dup originals
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
                _line({"id": f"w{n}-{i}", "text": keep(_prose(rng)), "url": f"https://example.org/{n}/{i}"})
            )
        # Same text twice, and once more with extra spaces and a decomposed "é": one document after NFC.
        # The smallest doc_id of a duplicate group is the one kept.
        base = f"Café menu {n}. " + _prose(rng).replace("\n\n", " ")
        variant = "  " + unicodedata.normalize("NFD", base).replace(" ", "   ") + "\n"
        web.append(_line({"id": f"w{n}-dup-a", "text": keep(base)}))
        web.append(_line({"id": f"w{n}-dup-b", "text": base}))
        web.append(_line({"id": f"w{n}-dup-c", "text": variant}))
        dup(), dup()
        if previous:  # an earlier day's document arrives again under a new id
            web.append(_line({"id": f"w{n}-again", "text": previous[0]}))
            dup()
        # Near-duplicates: long kept documents, copied with two word edits, one within the day and one from
        # an earlier day (on the first day, a second one within the day). The copy's id sorts after the
        # original's, so a keep-first rule keeps the original.
        originals = []
        for k in range(2):
            text = _prose(rng, min_words=220, max_sentences=26)
            web.append(_line({"id": f"w{n}-long-{k}", "text": keep(text)}))
            originals.append((f"web/w{n}-long-{k}", text))
        sources = [originals[0], previous_long[0] if previous_long else originals[1]]
        for k, (orig_id, orig_text) in enumerate(sources):
            web.append(_line({"id": f"w{n}-near-{k}", "text": _near_copy(rng, orig_text)}))
            dup()
            truth.near_duplicates.append({"doc_id": f"web/w{n}-near-{k}", "duplicate_of": orig_id})
        # HTML pages: main text kept (content_type becomes text/plain), a page without main text dropped.
        for k in range(3):
            page = _html(rng, f"Notes from the {rng.choice(OBJECTS).split()[-1]} review {n}-{k}", _prose(rng))
            web.append(_line({"id": f"w{n}-html-{k}", "text": page, "content_type": "text/html"}))
            truth.bronze += 1
            truth.silver += 1
        web.append(_line({"id": f"w{n}-html-empty", "text": EMPTY_HTML, "content_type": "text/html"}))
        truth.drop("extract:no_text")
        # Mojibake: UTF-8 read as Windows-1252 once; fix_unicode restores the original.
        clean = MOJIBAKE_SENTENCE + " " + _prose(rng).replace("\n\n", " ")
        broken = clean.encode("utf-8").decode("cp1252")
        web.append(_line({"id": f"w{n}-mojibake", "text": broken}))
        truth.bronze += 1
        truth.silver += 1
        truth.mojibake.append({"doc_id": f"web/w{n}-mojibake", "text": clean})
        for lang in FOREIGN:
            web.append(_line({"id": f"w{n}-{lang}", "text": _foreign(rng, lang)}))
            truth.drop("language:not_kept")
        # Quality failures, one named rule each.
        web.append(_line({"id": f"w{n}-short", "text": TOO_SHORT}))
        truth.drop("quality:gopher_short_doc")
        web.append(_line({"id": f"w{n}-repeated", "text": "\n".join([REPEATED_LINE] * 100)}))
        truth.drop("quality:gopher_dup_line_frac")
        web.append(_line({"id": f"w{n}-hashtags", "text": _hashtag_soup(rng)}))
        truth.drop("quality:gopher_too_many_hashes")
        web.append(_line({"id": f"w{n}-bullets", "text": _bullets(rng)}))
        truth.drop("quality:gopher_too_many_bullets")
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
            # customer_email: a field the support policy does not keep (dropped from silver, kept in bronze)
            _line(
                {
                    "id": f"s{n}-{i}",
                    "text": keep(_chat(rng)),
                    "channel": "chat",
                    "customer_email": f"customer.{n}.{i}@example.net",
                }
            )
            for i in range(docs_per_source)
        ]
        support.append(_line({"id": f"s{n}-0", "text": _chat(rng)}))  # a second text under a used id
        truth.drop("duplicate_doc_id")
        _write_lines(out / day.isoformat() / "support" / "part-0.jsonl", support)

        docs = [
            {"id": f"d{n}-{i}", "text": keep(_prose(rng)), "product": rng.choice(OBJECTS).split()[-1]}
            for i in range(docs_per_source // 2)
        ]
        docs.append({"id": f"d{n}-blank", "text": ""})
        truth.drop("empty_text")
        path = out / day.isoformat() / "docs" / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(docs), path)

        manifest["days"][day.isoformat()] = truth.as_dict()
        previous = kept_today + previous
        previous_long = originals + previous_long
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def _write_lines(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")


def default_days(first: date = date(2026, 11, 1), n: int = 3) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]
