"""Settings of the generative and remote engines and of the adapter registry's promotion gate.

Kept out of :mod:`compression_layer.settings` so the engines that need mlx-lm or an HTTP endpoint
own their options. Same precedence as every area: code > env > YAML > defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from compression_layer.settings import ENV_PREFIX, _AreaSettings

DEFAULT_BASE_MODEL = "mlx-community/Qwen3-4B-Instruct-2507-4bit"


class GenerativeSettings(_AreaSettings):
    """Generative (MLX) and remote (OpenAI-compatible) engines.

    ``configs/generative.yaml``, env ``COMPRESSION_LAYER_GENERATIVE__<KEY>``.
    """

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}GENERATIVE__", extra="forbid")
    yaml_file: ClassVar[str] = "generative.yaml"

    base_model: str = Field(
        default=DEFAULT_BASE_MODEL,
        description="local MLX model folder, or a Hugging Face repo id already in the local cache",
    )
    adapter: str | None = Field(
        default=None,
        description="adapter folder or registry name; default: the registry's active generative",
    )
    max_tokens_factor: float = Field(
        default=1.5, gt=0.0, description="output cap = budget tokens * factor + min_new_tokens"
    )
    min_new_tokens: int = Field(default=16, ge=1, description="added to every output cap")
    max_new_tokens: int = Field(default=2048, ge=1, description="hard ceiling on generated tokens")
    fact_guard: Literal["append", "fallback"] = Field(
        default="append",
        description="missing facts: append a facts line, or fall back to the extractive engine",
    )
    remote_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1"
    )
    remote_model: str | None = Field(
        default=None, description="model (or LoRA adapter) name it serves"
    )
    remote_api_key_env: str | None = Field(
        default=None, description="env var holding the endpoint's key; None: a placeholder key"
    )
    remote_timeout_s: float = Field(default=60.0, gt=0.0)
    remote_max_retries: int = Field(default=2, ge=0)


class AdapterSettings(_AreaSettings):
    """The adapter registry's promotion gate (``adapters.yaml``, env ``..._ADAPTERS__<KEY>``).

    A candidate must meet the absolute minimums, and may not fall more than ``tolerance`` below
    the active adapter of its kind on any metric.
    """

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}ADAPTERS__", extra="forbid")
    yaml_file: ClassVar[str] = "adapters.yaml"

    tolerance: float = Field(
        default=0.02, ge=0.0, le=1.0, description="allowed drop vs the active one"
    )
    min_token_reduction: float = Field(default=0.1, ge=-1.0, le=1.0)
    min_fact_retention: float = Field(default=0.8, ge=0.0, le=1.0)
    min_answer_retention: float = Field(default=0.7, ge=0.0, le=1.0)
    heldout_items: int = Field(
        default=20, ge=1, description="held-out items the built-in gate scores"
    )
    heldout_path: Path | None = Field(
        default=None,
        description="SQuAD-format JSON; default ../shared/data/squad, else a packaged sample",
    )
    gate_rate: float = Field(default=0.5, gt=0.0, le=1.0, description="rate asked of the candidate")
