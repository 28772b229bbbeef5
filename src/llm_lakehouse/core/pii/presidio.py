"""The bridge to Presidio: offline suffix lists, logs without values, and its transformers NLP engine."""

from __future__ import annotations

import logging
import os
from typing import Any

from llm_lakehouse.core.pii.ner import SPACY_LABELS


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


def transformers_unavailable(device: str) -> str | None:
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


def transformers_engine(spacy_model: str, transformers_model: str, device: str) -> Any:
    """Presidio's TransformersNlpEngine over a local model dir; Presidio picks CUDA when torch sees one."""
    from presidio_analyzer.nlp_engine import NerModelConfiguration, TransformersNlpEngine

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
    # Presidio enables the GPU whenever torch sees one, unless PRESIDIO_DEVICE says otherwise; it reads it
    # once per process, when its first transformers engine loads (one device per worker).
    if device in ("cpu", "cuda"):
        os.environ.setdefault("PRESIDIO_DEVICE", device)
    engine.load()
    return engine
