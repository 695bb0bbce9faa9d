"""Validation of an adapter folder before it enters the registry.

Every problem found is collected and reported together, so one ``register`` run tells the person
everything to fix. Safetensors files are checked from their header without loading a framework:
a truncated or garbled file, tensor shapes that do not fit the LoRA rank the config declares, or
tensors that are not adapter parameters are all reported by name.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from compression_layer.adapters.manifest import (
    KINDS,
    MANIFEST,
    AdapterError,
    Manifest,
    manifest_problems,
)

__all__ = ["AdapterError", "check_name", "safetensors_header", "validate_folder"]

ADAPTER_CONFIG = "adapter_config.json"
GENERATIVE_WEIGHTS = "adapters.safetensors"
EXTRACTIVE_WEIGHTS = "head.safetensors"

_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


def safetensors_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Tensor name -> (dtype, shape) of a safetensors file; ValueError if unreadable/truncated."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise ValueError("file shorter than the 8-byte header length")
        n = int.from_bytes(raw, "little")
        if n <= 0 or 8 + n > size:
            raise ValueError(f"header length {n} exceeds the file size {size} (truncated?)")
        try:
            header = json.loads(fh.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"header is not JSON: {exc}") from exc
    data_size = size - 8 - n
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, (start, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
        if end > data_size:
            raise ValueError(f"tensor {name} ends at byte {end} of {data_size} (truncated)")
        expected = math.prod(shape) * _DTYPE_BYTES.get(dtype, 0)
        if _DTYPE_BYTES.get(dtype) and end - start != expected:
            raise ValueError(f"tensor {name}: {end - start} bytes, shape needs {expected}")
        out[name] = (dtype, shape)
    return out


def _read_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        problems.append(f"missing {path.name}")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{path.name} is not readable JSON: {exc}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path.name} must hold a JSON object")
        return None
    return data


def _same_model(a: str, b: str) -> bool:
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


def _weights(path: Path, problems: list[str]) -> dict[str, tuple[str, tuple[int, ...]]]:
    if not path.is_file():
        problems.append(f"missing weights file {path.name}")
        return {}
    try:
        return safetensors_header(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append(f"unreadable safetensors {path.name}: {exc}")
        return {}


def _check_generative(folder: Path, config: dict[str, Any], problems: list[str]) -> None:
    kind = config.get("fine_tune_type", "lora")
    if kind not in ("lora", "dora", "full"):
        problems.append(f"adapter_config.json: unknown fine_tune_type {kind!r}")
    layers = config.get("num_layers")
    if not isinstance(layers, int):
        problems.append("adapter_config.json: num_layers must be an integer")
    lora = config.get("lora_parameters") or {}
    rank = lora.get("rank")
    if kind != "full" and (not isinstance(rank, int) or rank <= 0):
        problems.append("adapter_config.json: lora_parameters.rank must be a positive integer")
        rank = None
    if kind != "full" and "scale" not in lora:
        problems.append("adapter_config.json: lora_parameters.scale is missing")
    tensors = _weights(folder / GENERATIVE_WEIGHTS, problems)
    if not tensors and (folder / GENERATIVE_WEIGHTS).is_file() and not problems:
        problems.append(f"{GENERATIVE_WEIGHTS} holds no tensors")
    if kind == "full":
        return
    for name, (_, shape) in sorted(tensors.items()):
        leaf = name.rsplit(".", 1)[-1]
        if leaf not in ("lora_a", "lora_b", "m"):
            problems.append(f"{name}: not a LoRA parameter (lora_a, lora_b or m)")
        elif rank and len(shape) == 2 and leaf == "lora_a" and shape[-1] != rank:
            problems.append(
                f"{name}: shape {shape} does not fit rank {rank} (expected (in, {rank}))"
            )
        elif rank and len(shape) == 2 and leaf == "lora_b" and shape[0] != rank:
            problems.append(
                f"{name}: shape {shape} does not fit rank {rank} (expected ({rank}, out))"
            )


def _check_extractive(folder: Path, config: dict[str, Any], problems: list[str]) -> None:
    if config.get("kind", "extractive") != "extractive":
        problems.append(f"adapter_config.json: kind is {config.get('kind')!r}, not 'extractive'")
    weights = str(config.get("weights", EXTRACTIVE_WEIGHTS))
    tensors = _weights(folder / weights, problems)
    rank = config.get("lora_rank", 0)
    lora = {k: s for k, (_, s) in tensors.items() if k.startswith("lora.")}
    if isinstance(rank, int) and rank > 0 and tensors and not lora:
        problems.append(f"adapter_config.json declares lora_rank {rank} but {weights} has no LoRA")
    for name, shape in sorted(lora.items()):
        if isinstance(rank, int) and rank > 0 and len(shape) == 2 and rank not in shape:
            problems.append(f"{name}: shape {shape} does not fit lora_rank {rank}")
    if tensors and not any(k.startswith("head.") for k in tensors):
        problems.append(f"{weights} has no head.* tensors")


def validate_folder(folder: Path) -> tuple[Manifest, dict[str, Any]]:
    """Check an adapter folder; raise one :class:`AdapterError` listing every problem found."""
    if not folder.is_dir():
        raise AdapterError(f"adapter folder not found: {folder}")
    problems: list[str] = []
    raw = _read_json(folder / MANIFEST, problems)
    config = _read_json(folder / ADAPTER_CONFIG, problems)
    manifest: Manifest | None = None
    if raw is not None:
        manifest, found = manifest_problems(raw)
        problems.extend(found)
    kind = manifest.kind if manifest else (raw or {}).get("kind")
    if config is not None and kind in KINDS:
        cfg_base = config.get("model") if kind == "generative" else config.get("base_model")
        if (
            manifest
            and isinstance(cfg_base, str)
            and not _same_model(cfg_base, manifest.base_model)
        ):
            problems.append(
                f"base model mismatch: manifest.json says {manifest.base_model!r}, "
                f"adapter_config.json says {cfg_base!r}"
            )
        check = _check_generative if kind == "generative" else _check_extractive
        check(folder, config, problems)
    if problems or manifest is None or config is None:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise AdapterError(
            f"adapter at {folder} is invalid ({len(problems)} problem(s)):\n{listing}"
        )
    return manifest, config


def check_name(name: str) -> str:
    """Registry names become folder names: letters, digits, ``.``, ``_`` and ``-`` only."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise AdapterError(f"invalid adapter name {name!r}: use letters, digits, '.', '_', '-'")
    return name
