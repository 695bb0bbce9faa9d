"""Tinker's exported LoRA -> a PEFT folder (vLLM) and an mlx-lm adapter folder (MLX engine).

Tinker exports a PEFT-style adapter: ``adapter_model.safetensors`` with
``base_model.model.<module>.lora_A.weight`` of shape ``(r, in)`` and ``.lora_B.weight`` of shape
``(out, r)``, and ``adapter_config.json`` with ``r`` and ``lora_alpha``; the output head is named
``model.unembed_tokens`` (Hugging Face calls it ``lm_head``). PEFT computes
``y = W x + (lora_alpha / r) * B A x``.

mlx-lm's ``LoRALinear`` computes ``y = W x + scale * (x @ lora_a) @ lora_b`` with ``lora_a`` of
shape ``(in, r)`` and ``lora_b`` of shape ``(r, out)``, so ``lora_a = A.T``, ``lora_b = B.T`` and
``scale = lora_alpha / r``. Its ``adapter_config.json`` names the adapted modules relative to a
transformer block (``self_attn.q_proj``) in ``lora_parameters.keys`` and adapts the last
``num_layers`` blocks; a top-level key (``lm_head``) adapts that module of the model itself.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from compression_layer.errors import ConfigError

PEFT_WEIGHTS = "adapter_model.safetensors"
MLX_WEIGHTS = "adapters.safetensors"
CONFIG = "adapter_config.json"
_PREFIX = "base_model.model."
_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<ab>[AB])\.weight$")
_LAYER = re.compile(r"^model\.layers\.(?P<index>\d+)\.(?P<rel>.+)$")


class ConversionError(ConfigError):
    """The exported adapter cannot be converted as asked; the message lists every problem."""


def read_peft(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tensors by name, adapter config) of a PEFT-style adapter folder (torch tensors)."""
    from safetensors.torch import load_file

    weights, config = folder / PEFT_WEIGHTS, folder / CONFIG
    missing = [p.name for p in (weights, config) if not p.is_file()]
    if missing:
        raise ConversionError(f"{folder}: the Tinker export lacks {', '.join(missing)}")
    cfg = json.loads(config.read_text(encoding="utf-8"))
    bad = [k for k in ("r", "lora_alpha") if not isinstance(cfg.get(k), int | float)]
    if bad:
        raise ConversionError(f"{config}: missing or non-numeric {', '.join(bad)}")
    return dict(load_file(str(weights))), cfg


def modules(tensors: dict[str, Any], rank: int) -> dict[str, tuple[Any, Any]]:
    """Module path -> (A, B), with Tinker's ``model.unembed_tokens`` renamed ``lm_head``.

    Every problem is collected: stray tensors, half pairs, expert (3-D) tensors, ranks that are
    not ``rank``.
    """
    pairs: dict[str, dict[str, Any]] = defaultdict(dict)
    problems: list[str] = []
    for name, tensor in tensors.items():
        match = _KEY.match(name)
        if match is None:
            problems.append(
                f"{name}: not a LoRA tensor (base_model.model.<module>.lora_A/B.weight)"
            )
            continue
        module = match["module"]
        module = "lm_head" if module == "model.unembed_tokens" else module
        pairs[module][match["ab"]] = tensor
    out: dict[str, tuple[Any, Any]] = {}
    for module, pair in sorted(pairs.items()):
        if set(pair) != {"A", "B"}:
            problems.append(f"{module}: lora_A and lora_B must both be present")
            continue
        a, b = pair["A"], pair["B"]
        if a.dim() != 2 or b.dim() != 2:
            problems.append(
                f"{module}: {a.dim()}-D LoRA tensors (mixture-of-experts models are "
                "not supported: convert them with tinker-cookbook first)"
            )
        elif a.shape[0] != rank or b.shape[1] != rank:
            problems.append(
                f"{module}: A {tuple(a.shape)} / B {tuple(b.shape)} do not fit rank {rank}"
            )
        else:
            out[module] = (a, b)
    if problems:
        raise ConversionError(
            "cannot convert the Tinker adapter:\n" + "\n".join(f"  - {p}" for p in problems)
        )
    if not out:
        raise ConversionError("the Tinker adapter holds no LoRA tensors")
    return out


def write_peft(
    pairs: dict[str, tuple[Any, Any]], config: dict[str, Any], base_model: str, out: Path
) -> Path:
    """A standard PEFT LoRA folder (``vllm serve <base> --enable-lora --lora-modules n=<out>``)."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Any] = {}
    for module, (a, b) in pairs.items():
        tensors[f"{_PREFIX}{module}.lora_A.weight"] = a.contiguous()
        tensors[f"{_PREFIX}{module}.lora_B.weight"] = b.contiguous()
    save_file(tensors, str(out / PEFT_WEIGHTS), metadata={"format": "pt"})
    peft_config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": int(config["r"]),
        "lora_alpha": config["lora_alpha"],
        "lora_dropout": 0.0,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "target_modules": sorted({m.rsplit(".", 1)[-1] for m in pairs}),
    }
    (out / CONFIG).write_text(json.dumps(peft_config, indent=2) + "\n", encoding="utf-8")
    return out


def base_config(model: str) -> dict[str, Any] | None:
    """``config.json`` of an MLX base model on this machine, or None when it is not here."""
    from compression_layer.compress.generative.mlx import resolve_base_model
    from compression_layer.errors import EngineError

    try:
        folder = resolve_base_model(model)
    except EngineError:
        return None
    data: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return data.get("text_config", data) if "num_hidden_layers" not in data else data


def write_mlx(
    pairs: dict[str, tuple[Any, Any]],
    config: dict[str, Any],
    model: str,
    out: Path,
    base: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An mlx-lm adapter folder for ``model``; returns its ``adapter_config.json``.

    ``base`` (the MLX model's ``config.json``) pins ``num_layers`` to the model's depth and
    catches adapters that do not fit it; without it the depth is the adapter's deepest layer.
    """
    from safetensors.torch import save_file

    rank = int(config["r"])
    keys: set[str] = set()
    deepest = -1
    tensors: dict[str, Any] = {}
    problems: list[str] = []
    for module, (a, b) in pairs.items():
        layer = _LAYER.match(module)
        if layer is not None:
            keys.add(layer["rel"])
            deepest = max(deepest, int(layer["index"]))
        elif module == "lm_head":
            keys.add("lm_head")
        else:
            problems.append(f"{module}: mlx-lm adapts transformer blocks and lm_head only")
            continue
        tensors[f"{module}.lora_a"] = a.float().T.contiguous()
        tensors[f"{module}.lora_b"] = b.float().T.contiguous()
    depth = deepest + 1
    if base is not None:
        depth = int(base["num_hidden_layers"])
        if deepest >= depth:
            problems.append(f"the adapter reaches layer {deepest}; {model} has {depth} layers")
        if "lm_head" in keys and base.get("tie_word_embeddings", False):
            problems.append(
                f"{model} ties its embeddings (no lm_head to adapt): train with "
                "tinker.train_unembed: false"
            )
    if problems:
        raise ConversionError(
            "cannot convert the Tinker adapter for mlx-lm:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / MLX_WEIGHTS), metadata={"format": "mlx"})
    adapter_config: dict[str, Any] = {
        "fine_tune_type": "lora",
        "num_layers": depth,
        "lora_parameters": {
            "rank": rank,
            "scale": float(config["lora_alpha"]) / rank,
            "dropout": 0.0,
            "keys": sorted(keys),
        },
        "model": model,
    }
    (out / CONFIG).write_text(json.dumps(adapter_config, indent=2) + "\n", encoding="utf-8")
    return adapter_config


def convert(
    export: Path, peft_out: Path, mlx_out: Path, *, base_model: str, mlx_model: str
) -> dict[str, Any]:
    """Both folders from a downloaded Tinker export; returns the mlx ``adapter_config.json``."""
    tensors, config = read_peft(export)
    pairs = modules(tensors, int(config["r"]))
    write_peft(pairs, config, base_model, peft_out)
    return write_mlx(pairs, config, mlx_model, mlx_out, base_config(mlx_model))
