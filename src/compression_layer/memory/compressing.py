"""The store's default compressor: ``compression_layer.compress`` one memory at a time, and a
batch of memories with their prose scored in one encoder pass.

Scoring (the int8 encoder and the keep/drop head) is most of what compressing a short memory
costs, and it batches: a conversation turn scored alone costs about three times its share of a
batch. ``compress_many`` scores every short prose text of a batch at once
(``ExtractiveEngine.prepare``), then runs the usual pipeline on each text (domain, rate, meaning
guard, token counts) with an extractive engine that finishes from those scores: the same
selection the pipeline would make for that text, only the encoder pass is shared. Code, JSON,
logs, mixed documents, long texts and other engines go through ``compress`` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from compression_layer.errors import CompressionLayerError
from compression_layer.settings import CompressSettings


class DefaultCompressor:
    """``compression_layer.compress`` with the compress settings (``settings()``, read at each
    call, e.g. a server's current engine snapshot; default: the settings files); see module."""

    def __init__(self, settings: Callable[[], CompressSettings] | None = None) -> None:
        self._settings = settings

    def _config(self) -> CompressSettings:
        from compression_layer.settings import load_area

        return self._settings() if self._settings is not None else load_area(CompressSettings)

    def __call__(self, text: str) -> Any:
        from compression_layer.compress.pipeline import compress

        return compress(text, settings=self._settings() if self._settings else None)

    def compress_many(self, texts: Sequence[str]) -> list[Any]:
        """One result per text: a ``CompressionResult``, or the ``CompressionLayerError`` that
        text raised (one bad text does not fail the others)."""
        from compression_layer.compress.chunks import CHUNK_CHARS
        from compression_layer.compress.domain import detect
        from compression_layer.compress.engines import BUILTIN, DEFAULT_ENGINES
        from compression_layer.compress.extractive.service import (
            ExtractiveAdapterEngine,
            load_extractive,
        )
        from compression_layer.compress.pipeline import compress

        cfg = self._config()
        table = DEFAULT_ENGINES
        # Only the built-in extractive engine is known to score this way (a library user may
        # have registered another under its name).
        builtin = DEFAULT_ENGINES.factory("extractive") is BUILTIN["extractive"]
        if cfg.engine in ("auto", "extractive") and builtin:
            prose = [t for t in dict.fromkeys(texts) if _short_prose(t, detect, CHUNK_CHARS)]
            try:
                model = load_extractive(cfg.extractive_adapter) if prose else None
            except CompressionLayerError:
                model = None  # compress() says why, per text, as it always has
            if model is not None:
                scored = Prescored(model, dict(zip(prose, model.prepare(prose), strict=True)))
                table = DEFAULT_ENGINES.copy(
                    extractive=lambda settings: ExtractiveAdapterEngine(scored)
                )
        out: list[Any] = []
        for text in texts:
            try:
                out.append(compress(text, settings=cfg, engines=table))
            except CompressionLayerError as exc:
                out.append(exc)
        return out


def _short_prose(text: str, detect: Any, max_chars: int) -> bool:
    try:
        return bool(detect(text).kind == "prose" and len(text) <= max_chars)
    except CompressionLayerError:
        return False


class Prescored:
    """An extractive model whose ``compress`` finishes from scores computed beforehand (for
    the texts it was given); any other text, or a call with a query, goes to the model."""

    def __init__(self, model: Any, prepared: dict[str, Any]) -> None:
        self.model = model
        self.prepared = prepared
        self.adapter_name = getattr(model, "adapter_name", None)
        self.default_rate = getattr(model, "default_rate", None)

    def compress(
        self,
        text: str,
        *,
        rate: float | None = None,
        target_tokens: int | None = None,
        query: str | None = None,
    ) -> Any:
        done = self.prepared.get(text)
        if done is None or (query and query.strip()):
            return self.model.compress(text, rate=rate, target_tokens=target_tokens, query=query)
        # finish() checks rate and target_tokens as compress() does (the same InputError).
        return self.model.finish(done, rate=rate, target_tokens=target_tokens)
