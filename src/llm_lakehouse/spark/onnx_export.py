"""Embedding models exported to ONNX for the ``onnx`` backend (``spark/embeddings.py``).

``make setup`` exports every packaged model once (``python -m llm_lakehouse.spark.onnx_export``): float32
with torch's exporter, and int8 with ONNX Runtime's dynamic quantization (weights per output channel; per
tensor moved vectors to a mean cosine of 0.95). Nothing is downloaded: the source is the packaged
weights, and the files live under ``$LAKEHOUSE_MODELS`` (default ``build/models``) in a folder named after
the weights' sha256, so changed weights get a new export. A worker that finds no export (an image built
without the step) makes it once under a file lock, with torch, and says so in its log.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from pathlib import Path

from llm_lakehouse.core.errors import BackendUnavailable
from llm_lakehouse.core.settings import REPO_ROOT
from llm_lakehouse.spark.embeddings import PACKAGED, file_sha256, model_dir

log = logging.getLogger(__name__)
QUANTIZATIONS = ("none", "int8")


def models_dir() -> Path:
    return Path(os.environ.get("LAKEHOUSE_MODELS") or REPO_ROOT / "build" / "models")


def onnx_model(model: str, quantize: str = "none") -> Path:
    """The ONNX file of ``model`` (exported now if missing)."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize: {quantize!r} is not one of {QUANTIZATIONS}")
    source = model_dir(model)
    weights = source / "model.safetensors"
    if not weights.exists():
        raise BackendUnavailable(
            f"embedding backend 'onnx' exports from model.safetensors; {source} has none"
        )
    folder = models_dir() / re.sub(r"[^A-Za-z0-9_.-]", "_", source.name if model not in PACKAGED else model)
    folder = folder / file_sha256(weights)[:16]
    path = folder / ("model.onnx" if quantize == "none" else f"model-{quantize}.onnx")
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                log.warning(
                    "no ONNX export of %s in %s: exporting it now (make setup does this once)", model, folder
                )
                export(source, folder)
    return path


def export(source: Path, folder: Path) -> None:
    """Writes ``model.onnx`` (float32) and ``model-int8.onnx`` of the model in ``source`` to ``folder``."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    class Encoder(torch.nn.Module):
        """The transformer's token embeddings; pooling and normalization run in numpy (embeddings.py)."""

        def __init__(self, base: torch.nn.Module) -> None:
            super().__init__()
            self.base = base

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN201
            out = self.base(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    encoder = Encoder(AutoModel.from_pretrained(str(source)).eval())
    names = ["input_ids", "attention_mask", "token_type_ids"]
    probe = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in names)
    fp32, int8 = folder / "model.onnx", folder / "model-int8.onnx"
    tmp = folder / "model.onnx.tmp"
    with torch.no_grad():
        torch.onnx.export(
            encoder,
            probe,
            str(tmp),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed
        )
    tmp.replace(fp32)
    tmp = folder / "model-int8.onnx.tmp"
    quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
    tmp.replace(int8)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for model in PACKAGED:
        for quantize in QUANTIZATIONS:
            print(f"{model} ({quantize}): {onnx_model(model, quantize)}")


if __name__ == "__main__":
    main()
