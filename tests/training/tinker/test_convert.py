"""Tinker's PEFT-style LoRA -> PEFT folder + mlx-lm adapter, loaded for real on the tiny Qwen3.

A LoRA is written the way Tinker exports one (``base_model.model.<module>.lora_A/B.weight``,
``model.unembed_tokens`` for the head, ``r`` / ``lora_alpha`` in the config), converted, and
loaded with ``mlx_lm.utils.load(..., adapter_path=...)``: a zero B must generate exactly what the
base model does, a nonzero one must not, and one adapted layer must compute
``W x + (alpha / r) B A x``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compression_layer.adapters.check import validate_folder
from compression_layer.training.tinker.convert import (
    ConversionError,
    base_config,
    convert,
    modules,
    read_peft,
)
from tinker_lora import ALPHA, RANK, block_shapes, model_config, write_tinker_lora


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mlx_lm", reason="the mlx extra is not installed")
    from tiny_qwen import build_tiny_qwen3

    return build_tiny_qwen3(tmp_path_factory.mktemp("tiny-qwen3"))


@pytest.fixture(scope="module")
def tiny_untied(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Qwen3 with its own output head (``lm_head``), as Qwen3-8B has."""
    import shutil

    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import qwen3

    out = tmp_path_factory.mktemp("tiny-qwen3-untied")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny / name, out / name)
    config = model_config(tiny) | {"tie_word_embeddings": False}
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")
    mx.random.seed(1)
    model = qwen3.Model(qwen3.ModelArgs.from_dict(config))
    mx.save_safetensors(str(out / "model.safetensors"), dict(tree_flatten(model.parameters())))
    return out


def convert_for(model: Path, export: Path, out: Path) -> tuple[Path, Path]:
    peft, mlx = out / "peft", out / "adapter"
    convert(export, peft, mlx, base_model="Qwen/Qwen3-8B", mlx_model=str(model))
    return peft, mlx


def generate(model: Path, adapter: Path | None, prompt: str = "Compress:\nParis is big.") -> str:
    from mlx_lm import generate as mlx_generate
    from mlx_lm.utils import load

    loaded = load(str(model), adapter_path=str(adapter) if adapter else None)
    return mlx_generate(loaded[0], loaded[1], prompt, max_tokens=12, verbose=False)


def test_zero_b_generates_like_the_base_and_nonzero_b_does_not(tiny: Path, tmp_path: Path) -> None:
    config = model_config(tiny)
    _, zero = convert_for(
        tiny, write_tinker_lora(config, tmp_path / "z", b_scale=0.0), tmp_path / "0"
    )
    _, live = convert_for(
        tiny, write_tinker_lora(config, tmp_path / "n", b_scale=1.0), tmp_path / "1"
    )
    base = generate(tiny, None)
    assert base, "the tiny base model generated nothing"
    assert generate(tiny, zero) == base
    assert generate(tiny, live) != base


def test_adapted_layer_computes_peft_formula(tiny: Path, tmp_path: Path) -> None:
    import mlx.core as mx
    import numpy as np
    import torch
    from mlx_lm.utils import load

    export = write_tinker_lora(model_config(tiny), tmp_path / "e", b_scale=0.5, dtype="float32")
    _, adapter = convert_for(tiny, export, tmp_path / "out")
    tensors, _ = read_peft(export)
    a = tensors["base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight"].numpy()
    b = tensors["base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight"].numpy()
    model = load(str(tiny), adapter_path=str(adapter))[0]
    layer = model.model.layers[1].self_attn.k_proj
    x = np.random.default_rng(0).standard_normal((3, a.shape[1])).astype(np.float32)
    w = np.array(layer.linear.weight)
    expected = x @ w.T + (ALPHA / RANK) * (x @ a.T @ b.T)
    got = np.array(layer(mx.array(x)))
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(torch.from_numpy(np.array(layer.lora_a)), torch.from_numpy(a.T.copy()))


def test_converted_folders_are_a_peft_adapter_and_a_valid_generative_adapter(
    tiny: Path, tmp_path: Path
) -> None:
    from safetensors import safe_open

    export = write_tinker_lora(model_config(tiny), tmp_path / "e", b_scale=0.1)
    peft, adapter = convert_for(tiny, export, tmp_path / "out")
    cfg = json.loads((peft / "adapter_config.json").read_text(encoding="utf-8"))
    assert cfg["peft_type"] == "LORA" and cfg["r"] == RANK and cfg["lora_alpha"] == ALPHA
    assert cfg["base_model_name_or_path"] == "Qwen/Qwen3-8B"
    assert sorted(cfg["target_modules"]) == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    with safe_open(str(peft / "adapter_model.safetensors"), "pt") as fh:
        keys = set(fh.keys())
        assert str(fh.get_tensor(next(iter(keys))).dtype) == "torch.bfloat16"  # kept as exported
    assert "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight" in keys
    mlx_cfg = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    assert mlx_cfg["num_layers"] == 2 and mlx_cfg["fine_tune_type"] == "lora"
    assert mlx_cfg["lora_parameters"] == {
        "rank": RANK,
        "scale": ALPHA / RANK,
        "dropout": 0.0,
        "keys": sorted(block_shapes(model_config(tiny))),
    }
    manifest = {
        "kind": "generative",
        "base_model": str(tiny),
        "data_hash": "sha256:x",
        "created_at": "2025-01-01T00:00:00+00:00",
    }
    (adapter / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert validate_folder(adapter)[0].kind == "generative"


def test_head_lora_lands_on_lm_head_of_an_untied_model(tiny_untied: Path, tmp_path: Path) -> None:
    config = model_config(tiny_untied)
    export = write_tinker_lora(config, tmp_path / "z", b_scale=0.0, unembed=True)
    peft, zero = convert_for(tiny_untied, export, tmp_path / "0")
    tensors, _ = read_peft(peft)
    assert "base_model.model.lm_head.lora_A.weight" in tensors  # Hugging Face's name in PEFT
    assert (
        "lm_head"
        in json.loads((zero / "adapter_config.json").read_text())["lora_parameters"]["keys"]
    )
    base = generate(tiny_untied, None)
    assert generate(tiny_untied, zero) == base
    export = write_tinker_lora(config, tmp_path / "n", b_scale=2.0, unembed=True, seed=3)
    _, live = convert_for(tiny_untied, export, tmp_path / "1")
    assert generate(tiny_untied, live) != base


def test_head_lora_on_a_tied_model_is_refused(tiny: Path, tmp_path: Path) -> None:
    export = write_tinker_lora(model_config(tiny), tmp_path / "e", b_scale=0.1, unembed=True)
    with pytest.raises(ConversionError, match=r"ties its embeddings.*train_unembed: false"):
        convert_for(tiny, export, tmp_path / "out")


def test_every_problem_of_a_bad_export_is_listed(tmp_path: Path) -> None:
    import torch

    tensors = {
        "base_model.model.model.layers.0.mlp.experts.w1.lora_A.weight": torch.zeros(3, RANK, 8),
        "base_model.model.model.layers.0.mlp.experts.w1.lora_B.weight": torch.zeros(3, 8, RANK),
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(RANK, 8),
        "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight": torch.zeros(2, 8),
        "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight": torch.zeros(8, 2),
        "model.norm.weight": torch.zeros(8),
    }
    with pytest.raises(ConversionError) as info:
        modules(tensors, RANK)
    message = str(info.value)
    for part in (
        "experts.w1: 3-D",
        "q_proj: lora_A and lora_B",
        "v_proj: A (2, 8)",
        "model.norm.weight: not a LoRA tensor",
    ):
        assert part in message


def test_an_export_without_its_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(ConversionError, match=r"lacks adapter_config\.json"):
        read_peft(tmp_path)


def test_base_config_of_a_model_not_here_is_none(tmp_path: Path) -> None:
    assert base_config(str(tmp_path / "absent")) is None
