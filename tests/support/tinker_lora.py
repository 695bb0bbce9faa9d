"""Tinker-format LoRA folders for a tiny model, as Tinker writes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RANK, ALPHA = 4, 32


def block_shapes(config: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(in, out) of every linear of a Qwen3 block, from its ``config.json``."""
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    heads, kv, head_dim = (
        config["num_attention_heads"],
        config["num_key_value_heads"],
        config["head_dim"],
    )
    return {
        "self_attn.q_proj": (hidden, heads * head_dim),
        "self_attn.k_proj": (hidden, kv * head_dim),
        "self_attn.v_proj": (hidden, kv * head_dim),
        "self_attn.o_proj": (heads * head_dim, hidden),
        "mlp.gate_proj": (hidden, inter),
        "mlp.up_proj": (hidden, inter),
        "mlp.down_proj": (inter, hidden),
    }


def write_tinker_lora(
    config: dict[str, Any],
    out: Path,
    *,
    b_scale: float,
    seed: int = 0,
    unembed: bool = False,
    dtype: str = "bfloat16",
) -> Path:
    """A LoRA over every block linear (and the head) in Tinker's export format."""
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(seed)
    tensors: dict[str, Any] = {}
    targets = {
        f"model.layers.{i}.{rel}": shape
        for i in range(config["num_hidden_layers"])
        for rel, shape in block_shapes(config).items()
    }
    if unembed:
        targets["model.unembed_tokens"] = (config["hidden_size"], config["vocab_size"])
    for module, (n_in, n_out) in targets.items():
        a = torch.randn(RANK, n_in, generator=gen) * 0.3
        b = torch.randn(n_out, RANK, generator=gen) * b_scale
        tensors[f"base_model.model.{module}.lora_A.weight"] = a.to(getattr(torch, dtype))
        tensors[f"base_model.model.{module}.lora_B.weight"] = b.to(getattr(torch, dtype))
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "adapter_model.safetensors"))
    (out / "adapter_config.json").write_text(
        json.dumps({"r": RANK, "lora_alpha": ALPHA, "base_model_name_or_path": "Qwen/Qwen3-8B"}),
        encoding="utf-8",
    )
    return out


def model_config(model: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((model / "config.json").read_text(encoding="utf-8"))
    return data
