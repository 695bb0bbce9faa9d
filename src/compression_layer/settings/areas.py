"""The areas: one settings model each, its defaults declared once here (see the package doc)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from compression_layer.settings.layers import ENV_PREFIX, AreaSettings


class CompressSettings(AreaSettings):
    """Core compression defaults (``compress.yaml``, env ``COMPRESSION_LAYER_COMPRESS__*``)."""

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}COMPRESS__", extra="forbid")
    yaml_file: ClassVar[str] = "compress.yaml"

    engine: str = "auto"
    rate: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="fraction of tokens kept when a call names none; None: the engine's own "
        "default (the extractive adapter's default_rate, 0.5 for the generative engines)",
    )
    max_input_bytes: int = Field(
        5_000_000,
        gt=0,
        description="text, file or files together above this many UTF-8 bytes are refused, by "
        "compress(), the CLI and the server alike",
    )
    max_query_chars: int = Field(
        2_000, gt=0, description="a query (the question a text is for) over this is refused"
    )
    strip_docstrings: bool = Field(False, description="structural: drop Python docstrings")
    log_min_repeat: int = Field(2, ge=2, description="logs: shortest run of similar lines folded")
    fact_guard: Literal["append", "fallback", "off"] = "append"
    extractive_adapter: str | None = Field(
        None, description="folder of an extractive adapter; default: the registry's or packaged"
    )


class MemorySettings(AreaSettings):
    """Agent memory store (``memory.yaml``, env ``COMPRESSION_LAYER_MEMORY__*``)."""

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}MEMORY__", extra="forbid")
    yaml_file: ClassVar[str] = "memory.yaml"

    db_path: Path | None = Field(None, description="default: <data dir>/memory.sqlite3")
    db_url: str | None = Field(
        None,
        description="postgresql://user@host:port/db: keep memories in Postgres + pgvector instead "
        "of SQLite (db_path is then unused); a password is better in PGPASSWORD or ~/.pgpass",
        json_schema_extra={"secret": True},
    )
    max_content_bytes: int = Field(1_000_000, gt=0, description="larger memories are refused")
    near_duplicate_threshold: float = Field(
        0.95, gt=0.0, le=1.0, description="cosine at or above which a new memory is a near-dup"
    )
    near_duplicate_policy: Literal["update", "skip", "keep"] = Field(
        "skip", description="near-dup: update the old memory, skip the new one, or keep both"
    )
    embed_source: Literal["original", "compressed"] = Field(
        "original", description="which text is embedded for dense search (see bench/)"
    )
    rrf_k: int = Field(
        5, gt=0, description="reciprocal rank fusion constant (tuned on LoCoMo dev, see bench)"
    )
    dense_weight: float = Field(1.0, ge=0.0, description="weight of the dense list in fusion")
    bm25_weight: float = Field(1.0, ge=0.0, description="weight of the BM25 list in fusion")
    candidates: int = Field(50, gt=0, description="depth of each list before fusion (min k)")
    neighbour_weight: float = Field(
        0.7,
        ge=0.0,
        description="hybrid search: a BM25 hit lends this share of its fusion score to the "
        "memory stored right after it in the namespace (a conversation's next turn; tuned on "
        "LoCoMo dev); 0: off",
    )
    min_score: float = Field(
        0.005,
        ge=0.0,
        le=1.0,
        description="search hits scoring below this are dropped (scores are calibrated "
        "P(relevant); the largest floor that keeps LoCoMo dev recall@10 within half a point, "
        "and no hit for random-letter or word-salad queries: bench/memory_calibrate.py)",
    )
    recency_half_life_days: float | None = Field(
        None,
        gt=0.0,
        description="halve a hit's score for every this many days of age (None: no decay; "
        "recency still breaks ties)",
    )
    busy_timeout_ms: int = Field(10_000, ge=0, description="wait this long for a locked db")
    synchronous: Literal["NORMAL", "FULL"] = Field(
        "FULL", description="FULL: a stored memory survives power loss, not only a crash"
    )
    soft_delete_days: float = Field(
        30.0,
        ge=0.0,
        description="a deleted memory stays restorable this many days, then is purged (on open "
        "and by `memory purge`); 0: purged at the next purge",
    )
    allow_all_scopes: bool = Field(
        False,
        description="MCP tools may read across scopes (all_scopes=true); off: a caller sees only "
        "the user/agent/run scope it names",
    )


class ServerSettings(AreaSettings):
    """MCP server (``server.yaml``, env ``COMPRESSION_LAYER_SERVER__*``).

    The HTTP bearer token is not a setting: it is read from ``COMPRESSION_LAYER_TOKEN`` only, so
    it never lands in a YAML file or a log of the settings (``config show`` reports it masked).
    """

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}SERVER__", extra="forbid")
    yaml_file: ClassVar[str] = "server.yaml"
    secret_env: ClassVar[tuple[str, ...]] = (f"{ENV_PREFIX}TOKEN",)

    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(8765, gt=0, lt=65536)
    path: str = Field("/mcp", pattern=r"^/", description="HTTP endpoint path")
    roots: list[Path] = Field(default_factory=list, description="allowed roots; default: cwd")
    max_text_bytes: int = Field(
        5_000_000,
        gt=0,
        description="validate_compression texts and the HTTP request body cap (2x + 64 KiB); "
        "compress_context follows compress.max_input_bytes",
    )
    max_paths: int = Field(64, gt=0, description="compress_context: more paths in one call refused")
    max_result_bytes: int | None = Field(
        None,
        gt=0,
        description="largest compress_context result message (JSON bytes); None: what the "
        "transport carries (1 MiB over HTTP, the MCP SDK client's server-sent event limit; no "
        "limit on stdio). A result predicted or found larger is refused with a clear error",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="extra Host values accepted over HTTP (host:port or host:*), beyond loopback",
    )
    allowed_origins: list[str] = Field(
        default_factory=list, description="extra Origin values accepted over HTTP"
    )
    compress_workers: int = Field(4, gt=0, description="compressions run at once")
    process_min_bytes: int = Field(
        65_536,
        ge=0,
        description="texts this large compress in worker processes, not threads, so a long "
        "compression never holds the GIL the event loop needs (0: always); prose compressed in "
        "chunks stays in a thread, each step seeing one chunk",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    max_sessions: int = Field(
        64,
        gt=0,
        description="HTTP sessions open at once; one more is refused with 503 until a client "
        "ends its session (DELETE) or an idle one expires",
    )
    session_idle_seconds: float = Field(
        1800.0, gt=0, description="an HTTP session with no request for this long is closed"
    )


class OriginalsSettings(AreaSettings):
    """The original store of the reversible tier (``originals.yaml``, env ``..._ORIGINALS__*``).

    When a compression is given a budget, the input is kept here first and lossy passes leave
    markers naming its handle; ``retrieve`` gets any part back exactly while the entry lives.
    """

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}ORIGINALS__", extra="forbid")
    yaml_file: ClassVar[str] = "originals.yaml"

    cli: bool = Field(
        True, description="`compression-layer compress` keeps originals when given a budget"
    )
    server: bool = Field(True, description="the MCP server keeps originals when given a budget")
    path: Path | None = Field(None, description="default: <data dir>/originals.sqlite3")
    namespace: str = Field(
        "default",
        min_length=1,
        max_length=200,
        description="handles kept in one namespace are unknown in another; the server adds "
        "'/mcp' (and its HTTP principal) to it",
    )
    ttl_seconds: float | None = Field(
        7 * 24 * 3600.0, gt=0, description="an original kept longer than this expires; null: never"
    )
    max_bytes: int = Field(
        256_000_000,
        gt=0,
        description="originals together above this many UTF-8 bytes: the oldest are evicted "
        "(and the compression that caused it says so)",
    )
    busy_timeout_ms: int = Field(10_000, ge=0, description="wait this long for a locked store")


class ValidationModel(BaseModel):
    """One model the validator can call: which provider serves it, its API id, its prices."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(description="a key of ``providers``")
    model: str = Field(description="the model id the provider's API takes")
    input_usd_per_mtok: float = Field(default=0.0, ge=0.0, description="USD / 1M input tokens")
    output_usd_per_mtok: float = Field(default=0.0, ge=0.0, description="USD / 1M output tokens")


class ValidationProvider(BaseModel):
    """One endpoint: a registered provider kind, where it is, which env var holds its key."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="anthropic | openai | gemini | openai-compatible")
    base_url: str | None = Field(default=None, description="default: the SDK's own endpoint")
    api_key_env: str | None = Field(default=None, description="env var of the key; None: none")
    concurrency: int | None = Field(default=None, gt=0, description="default: area setting")


class ValidationSettings(AreaSettings):
    """Cross-model validation (``validation.yaml``, env ``COMPRESSION_LAYER_VALIDATION__*``).

    ``catalog`` maps a model name (an alias such as ``claude`` or a full id) to its provider and
    prices; ``providers`` maps a provider name to its kind, endpoint and key variable. Both ship
    in the packaged ``data/config/validation.yaml`` (their one home: the defaults below are empty);
    a user file adds or replaces entries by name, and ``name: null`` removes one.
    """

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}VALIDATION__", extra="forbid")
    yaml_file: ClassVar[str] = "validation.yaml"

    models: list[str] = Field(default_factory=list, description="default models for the CLI")
    threshold: float = Field(default=0.8, ge=0.0, le=1.0, description="pass mark (mean)")
    budget_usd: float = Field(default=5.0, ge=0.0, description="spend cap per run (pair or batch)")
    concurrency: int = Field(default=4, gt=0, description="calls in flight per provider")
    timeout_s: float = Field(default=60.0, gt=0, description="per HTTP request, passed to the SDK")
    max_retries: int = Field(
        default=3, ge=0, description="retries on 429 / 5xx / timeouts / cut-off bodies, all SDKs"
    )
    retry_initial_delay_s: float = Field(
        default=1.0, ge=0.0, description="first backoff without a Retry-After; doubles per retry"
    )
    retry_after_max_s: float = Field(
        default=30.0, ge=0.0, description="longest Retry-After honoured; longer fails the call now"
    )
    pair_deadline_s: float | None = Field(
        default=90.0,
        gt=0,
        description="wall-clock cap on one pair's model calls; calls in flight are cancelled "
        "and reported as timed out; null: none",
    )
    run_deadline_s: float | None = Field(
        default=120.0,
        gt=0,
        description="wall-clock cap on one `validate pair` run (or validate_compression call); "
        "null: none",
    )
    batch_deadline_s: float | None = Field(
        default=None,
        gt=0,
        description="wall-clock cap on one `validate batch` run; it stops like the budget and a "
        "rerun resumes; null: none",
    )
    max_tokens: int = Field(default=512, gt=0, description="output cap per call")
    tasks: list[str] = Field(
        default_factory=list, description="task kinds to run; empty: chosen by domain"
    )
    question_model: str | None = Field(default=None, description="model that writes QA questions")
    num_questions: int = Field(default=3, ge=0, le=20)
    judge_model: str | None = Field(default=None, description="LLM judge; None: metrics only")
    catalog: dict[str, ValidationModel] = Field(
        default_factory=dict, description="model name -> provider, API id, prices (packaged)"
    )
    providers: dict[str, ValidationProvider] = Field(
        default_factory=dict, description="provider name -> kind, endpoint, key variable (packaged)"
    )


class LoraParameters(BaseModel):
    """mlx-lm's ``lora_parameters``: rank, scale (not alpha: mlx-lm multiplies by it), dropout."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(default=8, gt=0)
    scale: float = Field(default=20.0, gt=0.0)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    keys: list[str] | None = Field(default=None, description="module paths; None: every linear")


class TinkerOptions(BaseModel):
    """The ``tinker:`` block of ``training.yaml``: cloud LoRA training on Tinker.

    ``iters``, ``batch_size``, ``steps_per_eval``, ``val_batches``, ``save_every``,
    ``max_seq_length``, ``seed``, ``name`` and ``out`` come from the top level, as for mlx-lm.
    """

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(default="Qwen/Qwen3-8B", description="a base model Tinker serves")
    rank: int = Field(default=32, gt=0)
    learning_rate: float = Field(default=1e-4, gt=0.0)
    lr_schedule: Literal["constant", "linear"] = Field(
        default="linear", description="linear: decays to 0 at the last step"
    )
    train_mlp: bool = Field(default=True, description="LoRA on the MLP projections")
    train_attn: bool = Field(default=True, description="LoRA on the attention projections")
    train_unembed: bool = Field(
        default=False,
        description="LoRA on the output head; off: tied-embedding MLX models have no lm_head "
        "to carry it and vLLM's lm_head LoRA support is limited",
    )
    eval_samples: int = Field(default=8, ge=0, description="valid rows sampled per evaluation")
    max_new_tokens: int = Field(default=512, gt=0, description="sampling cap in evaluations")
    checkpoint_ttl_s: int | None = Field(
        default=14 * 24 * 3600,
        ge=3600,
        description="lifetime of intermediate checkpoints (Tinker bills storage); None: forever",
    )
    price_usd_per_mtok_train: float = Field(
        default=0.40, ge=0.0, description="USD per 1M trained tokens (check Tinker's price list)"
    )
    price_usd_per_mtok_prefill: float = Field(
        default=0.13, ge=0.0, description="USD per 1M prompt tokens in evaluations"
    )
    price_usd_per_mtok_sample: float = Field(
        default=0.40, ge=0.0, description="USD per 1M sampled tokens in evaluations"
    )
    mlx_base_model: str | None = Field(
        default=None,
        description="MLX model the downloaded adapter is converted for; None: base_model",
    )


class TrainingSettings(AreaSettings):
    """Generative adapter training (``training.yaml``, env ``..._TRAINING__<KEY>``).

    The first keys are mlx-lm's own ``lora`` flags with the same names and meaning, so the same
    YAML reads naturally next to mlx-lm's docs; ``name`` onwards are ours.
    """

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}TRAINING__", extra="forbid")
    yaml_file: ClassVar[str] = "training.yaml"
    secret_env: ClassVar[tuple[str, ...]] = ("TINKER_API_KEY",)

    model: str = Field(
        default="mlx-community/Qwen3-4B-Instruct-2507-4bit",
        description="local MLX model folder or a Hugging Face repo id already downloaded",
    )
    data: Path | None = Field(default=None, description="folder with train/valid/test.jsonl")
    fine_tune_type: Literal["lora", "dora"] = "lora"
    iters: int = Field(default=600, gt=0)
    batch_size: int = Field(default=4, gt=0)
    learning_rate: float = Field(default=1e-4, gt=0.0)
    lora_parameters: LoraParameters = Field(default_factory=LoraParameters)
    num_layers: int = Field(default=16, description="layers adapted, from the last; -1: all")
    max_seq_length: int = Field(default=2048, gt=0)
    steps_per_report: int = Field(default=10, gt=0)
    steps_per_eval: int = Field(default=100, gt=0)
    val_batches: int = Field(default=25, description="-1: the whole validation set")
    save_every: int = Field(default=100, gt=0, description="checkpoint interval (steps)")
    grad_checkpoint: bool = False
    mask_prompt: bool = Field(default=True, description="loss on the completion only")
    seed: int = 0
    name: str | None = Field(default=None, description="adapter name; default: from the run")
    out: Path | None = Field(default=None, description="runs folder; default <data dir>/runs")
    register_adapter: bool = Field(default=True, description="register the adapter when done")
    valid_fraction: float = Field(default=0.1, ge=0.0, lt=1.0, description="dataset: hash split")
    test_fraction: float = Field(default=0.05, ge=0.0, lt=1.0, description="dataset: hash split")
    tinker: TinkerOptions = Field(default_factory=TinkerOptions)


class GenerateSettings(AreaSettings):
    """Teacher pair generation (``generate.yaml``, env ``COMPRESSION_LAYER_GENERATE__*``).

    Model names are keys of the validation catalog (or ``provider:model-id``): the teacher goes
    through the same providers, keys, prices, response cache and cost ledger as validation. The
    ``min_*`` keys are the acceptance rule of a teacher pair (see ``training.generate``).
    """

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}GENERATE__", extra="forbid")
    yaml_file: ClassVar[str] = "generate.yaml"

    teacher: str | None = Field(default=None, description="model that writes the compressions")
    validate_models: list[str] = Field(
        default_factory=list, description="models the pairs are validated on; empty: offline only"
    )
    chunk_tokens: int = Field(default=1024, gt=0, description="largest chunk, o200k tokens")
    min_chunk_tokens: int = Field(default=48, ge=1, description="smaller chunks are skipped")
    teacher_max_tokens: int = Field(default=4096, gt=0, description="cap on a teacher's output")
    budget_usd: float | None = Field(
        default=None, ge=0.0, description="USD cap per run, teacher and validation calls together"
    )
    workers: int = Field(default=4, gt=0, description="chunks in flight at once")
    min_reduction: float = Field(
        default=0.15, ge=0.0, lt=1.0, description="least o200k token reduction of an accepted pair"
    )
    min_similarity: float = Field(
        default=0.6, ge=0.0, le=1.0, description="least MiniLM cosine of input and compression"
    )
    min_facts_kept: float = Field(
        default=0.8, ge=0.0, le=1.0, description="least share of the input's facts kept"
    )
    min_transfer: float = Field(
        default=1.0, ge=0.0, le=1.0, description="least share of validate_models that must pass"
    )
    max_file_bytes: int = Field(default=5_000_000, gt=0, description="larger corpus files skipped")


DEFAULT_BASE_MODEL = "mlx-community/Qwen3-4B-Instruct-2507-4bit"


class GenerativeSettings(AreaSettings):
    """Generative (MLX) and remote (OpenAI-compatible) engines.

    ``generative.yaml``, env ``COMPRESSION_LAYER_GENERATIVE__<KEY>``.
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


class AdapterSettings(AreaSettings):
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
        description="SQuAD-format JSON file or folder (e.g. ../shared/data/squad) the gate scores "
        "on; default: a small packaged sample. Never guessed from the working directory",
    )
    gate_rate: float = Field(default=0.5, gt=0.0, le=1.0, description="rate asked of the candidate")


def setting_name(cls: type[AreaSettings], key: str) -> str:
    """How a user changes ``key`` of an area, for error messages.

    ``compress.max_input_bytes (env COMPRESSION_LAYER_COMPRESS__MAX_INPUT_BYTES)``.
    """
    prefix = str(cls.model_config.get("env_prefix", ""))
    return f"{cls.area()}.{key} (env {prefix}{key.upper()})"
