"""Loading ``training.yaml`` (unknown keys refused by name) and the token-based cost estimate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from compression_layer.errors import ConfigError
from compression_layer.settings import (
    LoraParameters,
    TinkerOptions,
    TrainingSettings,
    load_area,
)

_NESTED: dict[str, type[BaseModel]] = {"lora_parameters": LoraParameters, "tinker": TinkerOptions}


def unknown_keys(values: dict[str, Any]) -> list[str]:
    """Keys of a training config that no setting declares, dotted for nested blocks."""
    bad = [k for k in values if k not in TrainingSettings.model_fields]
    for block, model in _NESTED.items():
        sub = values.get(block)
        if isinstance(sub, dict):
            bad += [f"{block}.{k}" for k in sub if k not in model.model_fields]
    return sorted(bad)


def load_config(path: Path | None = None, **overrides: Any) -> TrainingSettings:
    """Settings from ``path`` (a YAML keyed like mlx-lm's flags) with ``overrides`` on top.

    Without ``path`` the usual area precedence applies (packaged, user config dir, env).
    """
    values: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"training config not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        bad = unknown_keys(loaded)
        if bad:
            known = ", ".join(sorted(TrainingSettings.model_fields))
            raise ConfigError(f"{path}: unknown key(s) {', '.join(bad)} (known: {known})")
        values = loaded
    values.update({k: v for k, v in overrides.items() if v is not None})
    return load_area(TrainingSettings, **values)


def resolved_dict(settings: TrainingSettings) -> dict[str, Any]:
    """The settings as plain JSON-able data (what a run folder records)."""
    data: dict[str, Any] = json.loads(settings.model_dump_json())
    return data


class CostEstimate(BaseModel):
    """Tokens a run trains on, and what that costs at the configured price."""

    train_rows: int
    tokens_per_epoch: int
    epochs: float
    trained_tokens: int
    usd_per_mtok: float
    usd: float
    note: str


def estimate(settings: TrainingSettings, data: Path, *, tinker: bool = True) -> CostEstimate:
    """``tokens per epoch x epochs x price``; epochs = iters * batch_size / train rows.

    Token counts come from the dataset's ``report.json`` (o200k, prompt + completion): a model's
    own tokenizer differs by some percent, so this is an estimate, not a quote.
    """
    report_path = data / "report.json"
    if not report_path.is_file():
        raise ConfigError(
            f"{report_path} not found: build it with `compression-layer train dataset`"
        )
    report = json.loads(report_path.read_text(encoding="utf-8"))
    train = report["splits"]["train"]
    rows = int(train["rows"])
    per_epoch = int(train["prompt_tokens"]) + int(train["completion_tokens"])
    if rows == 0:
        raise ConfigError(f"{report_path}: the train split is empty")
    epochs = settings.iters * settings.batch_size / rows
    tokens = round(per_epoch * epochs)
    price = settings.tinker.price_usd_per_mtok_train if tinker else 0.0
    return CostEstimate(
        train_rows=rows,
        tokens_per_epoch=per_epoch,
        epochs=round(epochs, 3),
        trained_tokens=tokens,
        usd_per_mtok=price,
        usd=round(tokens * price / 1_000_000, 4),
        note="o200k token counts; Tinker bills the model's own tokens (check its price list)"
        if tinker
        else "local run: no per-token cost",
    )
