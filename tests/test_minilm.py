"""The extractive encoder: ONNX export from the packaged MiniLM, its cache, and torch agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compression_layer import minilm as enc
from compression_layer.errors import EngineError


def _batch() -> tuple[np.ndarray, np.ndarray]:
    # [CLS] a few real word pieces [SEP], and a shorter padded second row.
    ids = np.array([[101, 7592, 2088, 2003, 1037, 3231, 102], [101, 2307, 102, 0, 0, 0, 0]])
    mask = (ids != 0).astype(np.int64)
    return ids.astype(np.int64), mask


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    num = float((a * b).sum())
    return num / float(np.linalg.norm(a) * np.linalg.norm(b))


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSION_LAYER_MODEL_CACHE", str(tmp_path / "c"))
    assert enc.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("COMPRESSION_LAYER_MODEL_CACHE")
    assert enc.cache_dir().parts[-2:] == ("models", "onnx")


def test_cache_name_depends_on_layers_and_quantization() -> None:
    names = {enc.onnx_path(layers, q).name for layers in (2, 4) for q in ("int8", "none")}
    assert len(names) == 4
    assert all(n.startswith("minilm-L") and n.endswith(".onnx") for n in names)


def test_onnx_int8_matches_torch_fp32_and_is_cached() -> None:
    # One layer: no adapter uses it, so this process has not built (and cached) it already.
    ids, mask = _batch()
    onnx = enc.build_encoder(1, "int8", "onnx")
    torch_fp32 = enc.build_encoder(1, "none", "torch")
    out, ref = onnx(ids, mask), torch_fp32(ids, mask)
    assert out.shape == ref.shape == (2, 7, 384)
    assert out.dtype == np.float32
    # Real rows of both sequences agree closely; int8 per-channel costs little.
    assert _cosine(out[0], ref[0]) > 0.98
    assert _cosine(out[1, :3], ref[1, :3]) > 0.98
    path = enc.onnx_path(1, "int8")
    assert path.is_file()
    assert not [p for p in path.parent.iterdir() if p.suffix != ".onnx"]  # no temp leftovers
    assert enc.build_encoder(1, "int8", "onnx") is onnx  # one per process


def test_fp32_export_is_exact_enough() -> None:
    ids, mask = _batch()
    out = enc.build_encoder(2, "none", "onnx")(ids, mask)
    ref = enc.build_encoder(2, "none", "torch")(ids, mask)
    assert np.abs(out[0] - ref[0]).max() < 1e-3


def test_a_corrupt_cache_file_is_exported_again() -> None:
    path = enc.onnx_path(1, "none")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an onnx graph")
    enc.build_encoder.cache_clear()
    try:
        encoder = enc.build_encoder(1, "none", "onnx")
        ids, mask = _batch()
        assert encoder(ids, mask).shape == (2, 7, 384)
        assert path.stat().st_size > 1_000_000
    finally:
        enc.build_encoder.cache_clear()


def test_unknown_runtime_is_a_clear_error() -> None:
    with pytest.raises(EngineError, match="unknown extractive runtime"):
        enc.build_encoder(4, "int8", "tensorrt")
