"""Presidio recognizers for the formats Presidio's own miss, and the triggers that gate every recognizer.

Presidio's credit-card regex misses Mastercard 2-series (2221-2720), 19-digit Visa, Maestro and JCB
2131/1800; its phone recognizer only keeps numbers ``phonenumbers`` calls valid, so a North-American
number with an unassigned area code (most test data, and typos in real chats) slips through; and it has no
idea of secrets. The recognizers here add those, with the same scores and validation style (Luhn, length).

``TRIGGERS`` holds, per recognizer, a cheap regex that every match of that recognizer must contain (RE2 and
Python ``re`` syntax alike) and how far around a trigger hit a match can reach. The engine runs the trigger
over the whole Arrow batch first (``pyarrow.compute``, RE2, no per-row Python) and then runs a recognizer
only on the windows around its hits: same results as on the whole text (tested), a fraction of the work.
Importing this module imports Presidio: only the engine does, lazily.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex as re
from presidio_analyzer import Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
    UsSsnRecognizer,
)

# Case matters for keys and card brands: Presidio's default flags add IGNORECASE.
_FLAGS = re.DOTALL | re.MULTILINE


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class ExtraCardRecognizer(PatternRecognizer):
    """CREDIT_CARD formats Presidio's regex misses; Luhn-validated like Presidio's own."""

    # Not glued to more digits: "1234 5678 9012 3456" holds a Luhn-valid "5678 9012 3456".
    _L, _R = r"(?<!\d[- ]?)\b", r"\b(?![- ]?\d)"
    PATTERNS = [
        Pattern(
            "Mastercard 2-series",
            _L + r"2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)(?:[- ]?\d){12}" + _R,
            0.3,
        ),
        Pattern("Visa 19", _L + r"4\d{3}(?:[- ]?\d){15}" + _R, 0.3),
        Pattern("Maestro", _L + r"(?:0604|5[06-9]\d\d|6\d{3})(?:[- ]?\d){8,15}" + _R, 0.3),
        Pattern("JCB 15", _L + r"(?:2131|1800)(?:[- ]?\d){11}" + _R, 0.3),
        Pattern("JCB 16-19", _L + r"35(?:2[89]|[3-8]\d)(?:[- ]?\d){12,15}" + _R, 0.3),
    ]
    CONTEXT = CreditCardRecognizer.CONTEXT

    def __init__(self) -> None:
        super().__init__(
            supported_entity="CREDIT_CARD",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            name="ExtraCardRecognizer",
            global_regex_flags=_FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool:
        digits = "".join(ch for ch in pattern_text if ch.isdigit())
        return 12 <= len(digits) <= 19 and luhn_ok(digits)


class NanpPhoneRecognizer(PatternRecognizer):
    """North-American phone numbers in the usual written formats, assigned area code or not.

    Needs separators (``555-013-2345``, ``(555) 013-2345``, ``+1-555-013-2345x12``): a bare run of ten
    digits is an order number as often as a phone. Score 0.4, the score Presidio gives its phones.
    """

    PATTERNS = [
        Pattern(
            "NANP",
            r"(?<![\w+])(?:(?:\+?1|001)[-. ]?)?(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}"
            r"(?: ?(?:x|ext\.?) ?\d{1,5})?(?!\w)",
            0.4,
        )
    ]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="PHONE_NUMBER",
            patterns=self.PATTERNS,
            context=PhoneRecognizer.CONTEXT,
            name="NanpPhoneRecognizer",
            global_regex_flags=_FLAGS,
        )


class EmailShapeRecognizer(PatternRecognizer):
    """Addresses Presidio's email recognizer rejects for their host: ``user@localhost``, ``id@host.oz``,
    message ids (``<2011...gv2324@host.oz>`` in ``In-Reply-To:``), addresses on private or made-up
    domains. Presidio validates the top-level domain; a real address on an internal host is still an
    address. Not preceded by ``/`` (``module/path@v1.2``) and the host starts with a letter (``pkg@1.2.3``
    is a version pin). Score 0.5: above the policies' thresholds, below a validated address."""

    PATTERNS = [
        Pattern(
            "email-shaped identifier",
            r"(?<![\w.+\-/%=:@])[A-Za-z0-9][\w.+\-]*@[A-Za-z][\w\-]*(?:\.[A-Za-z0-9][\w\-]*)*",
            0.5,
        )
    ]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="EMAIL_ADDRESS",
            patterns=self.PATTERNS,
            name="EmailShapeRecognizer",
            global_regex_flags=_FLAGS,
        )


class AwsAccessKeyRecognizer(PatternRecognizer):
    PATTERNS = [Pattern("AWS access key id", r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b", 0.85)]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="AWS_ACCESS_KEY",
            patterns=self.PATTERNS,
            context=["aws", "access", "key"],
            name="AwsAccessKeyRecognizer",
            global_regex_flags=_FLAGS,
        )


class PrivateKeyRecognizer(PatternRecognizer):
    """PEM/OpenSSH private-key blocks, whole; a block cut off before its END line up to where it stops."""

    PATTERNS = [
        Pattern(
            "private key block",
            r"-----BEGIN[A-Z ]{0,20} PRIVATE KEY(?: BLOCK)?-----.*?-----END[A-Z ]{0,20} PRIVATE KEY(?: BLOCK)?-----",
            1.0,
        ),
        Pattern(
            "truncated private key block",
            r"-----BEGIN[A-Z ]{0,20} PRIVATE KEY(?: BLOCK)?-----(?!.*?-----END[A-Z ]{0,20} PRIVATE KEY)"
            r"(?:[A-Za-z0-9+/=:,\- \t\r\n]|\\[nr])*",
            0.9,
        ),
    ]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="PRIVATE_KEY",
            patterns=self.PATTERNS,
            name="PrivateKeyRecognizer",
            global_regex_flags=_FLAGS,
        )


_SECRET_NAME = r"[\w-]*(?:api[_-]?key|secret|token|passw(?:or)?d|pwd)[\w-]*"


class ApiTokenRecognizer(PatternRecognizer):
    """API tokens with a known shape: GitHub, Slack, Stripe, Google, OpenAI-style keys, JWTs."""

    PATTERNS = [
        Pattern(
            "GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b", 0.9
        ),
        Pattern("Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,250}\b", 0.9),
        Pattern("Stripe key", r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,247}\b", 0.9),
        Pattern("Google API key", r"\bAIza[0-9A-Za-z_\-]{35}(?![\w-])", 0.9),
        Pattern("sk- key", r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,250}(?![\w-])", 0.8),
        Pattern("JWT", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", 0.9),
    ]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="API_TOKEN",
            patterns=self.PATTERNS,
            context=["token", "key", "secret", "password", "api"],
            name="ApiTokenRecognizer",
            global_regex_flags=_FLAGS,
        )


class SecretAssignmentRecognizer(PatternRecognizer):
    """A secret-looking value assigned to a secret-looking name (``api_key = "..."``, ``password: ...``,
    ``AWS_SECRET_ACCESS_KEY=...``): only the value, and only if it mixes letters and digits. Its own
    recognizer, so that a value failing this check cannot shadow a known token shape at the same span."""

    PATTERNS = [
        Pattern(
            "secret assignment",
            r"(?i)(?<=\b"
            + _SECRET_NAME
            + r"[\"']?[ \t]*[:=][ \t]*[\"']?)[A-Za-z0-9_\-+/=.~!@#$%^&*]{12,200}",
            0.6,
        ),
    ]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="API_TOKEN",
            patterns=self.PATTERNS,
            context=["token", "key", "secret", "password", "api"],
            name="SecretAssignmentRecognizer",
            global_regex_flags=_FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        # An assigned value must look random: letters and digits both ("token: the_session" is prose).
        has_digit = any(c.isdigit() for c in pattern_text)
        has_alpha = any(c.isalpha() for c in pattern_text)
        return None if has_digit and has_alpha else False


@dataclass(frozen=True)
class Trigger:
    """``regex``: what every match contains; ``margin``: chars a match reaches beyond a hit (None: all)."""

    regex: str
    margin: int | None


_DIGITS_12 = r"\d(?:[ -]?\d){11}"
_PHONE = r"\d(?:[^\w\n]{0,3}\d){5}"
TRIGGERS: dict[str, Trigger] = {
    "EmailRecognizer": Trigger("@", 0),
    "EmailShapeRecognizer": Trigger("@", 0),
    "UrlRecognizer": Trigger(r"[A-Za-z0-9.\-]\.[A-Za-z]{2}", 0),
    "IpRecognizer": Trigger(r"\d\.\d{1,3}\.\d|::|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:", 0),
    "CreditCardRecognizer": Trigger(_DIGITS_12, 24),
    "ExtraCardRecognizer": Trigger(_DIGITS_12, 24),
    "UsSsnRecognizer": Trigger(r"\d{3}[- .]?\d{2}[- .]?\d{4}", 8),
    "IbanRecognizer": Trigger(r"[A-Z]{2}\d{2}", 56),
    "PhoneRecognizer": Trigger(_PHONE, 32),
    "NanpPhoneRecognizer": Trigger(_PHONE, 32),
    "AwsAccessKeyRecognizer": Trigger(r"A(?:KIA|SIA|BIA|CCA|3T)", 0),
    "PrivateKeyRecognizer": Trigger("-----BEGIN", None),
    "ApiTokenRecognizer": Trigger(
        r"gh[pousr]_|github_pat_|xox[abposr]-|[sr]k_(?:live|test)_|AIza|sk-|eyJ", 0
    ),
    "SecretAssignmentRecognizer": Trigger(r"(?i:api[_-]?key|secret|token|passw|pwd)", 232),
}


def structured_recognizers(entities: list[str]) -> list[PatternRecognizer]:
    """Presidio's own recognizers plus ours, for the structured entities among ``entities``."""
    every = [
        EmailRecognizer(),
        EmailShapeRecognizer(),
        UrlRecognizer(),
        IpRecognizer(),
        CreditCardRecognizer(),
        ExtraCardRecognizer(),
        UsSsnRecognizer(),
        IbanRecognizer(),
        AwsAccessKeyRecognizer(),
        PrivateKeyRecognizer(),
        ApiTokenRecognizer(),
        SecretAssignmentRecognizer(),
        PhoneRecognizer(),  # phones last: the engine skips digit runs the ones above already explain
        NanpPhoneRecognizer(),
    ]
    wanted = set(entities)
    return [r for r in every if wanted & set(r.supported_entities)]


def custom_recognizers() -> list[PatternRecognizer]:
    """Ours only: what a plain Presidio ``AnalyzerEngine`` needs added to match this engine's coverage."""
    return [
        EmailShapeRecognizer(),
        ExtraCardRecognizer(),
        NanpPhoneRecognizer(),
        AwsAccessKeyRecognizer(),
        PrivateKeyRecognizer(),
        ApiTokenRecognizer(),
        SecretAssignmentRecognizer(),
    ]
