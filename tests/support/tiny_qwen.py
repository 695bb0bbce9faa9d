"""Tiny-model builders for the generative engine, the adapter registry and hot-swap tests.

Everything is built on the spot, offline: a random two-layer Qwen3 (``config.json`` + random
``model.safetensors``), a byte-level BPE tokenizer trained with ``tokenizers`` on a few strings
and a ChatML chat template, and LoRA adapters trained for a few steps with mlx-lm's own tuner.
Plain functions (no pytest) so the server tests and ``bench/hotswap.py`` can reuse them:
``build_tiny_qwen3(dir)`` and ``train_tiny_adapter(model_dir, out_dir, data, steps)``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SYSTEM_PROMPT = (
    "You are a semantic compression engine. Compress the input into minimal tokens while "
    "preserving all information for equivalent LLM reasoning. Use dense notation: labeled "
    "fields, standard abbreviations, and symbols (→ | + @). Never lose information."
)

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# Words the tokenizer learns, so prompts and targets tokenize into a few hundred ids.
CORPUS = [
    SYSTEM_PROMPT,
    "Compress:\nThe meeting moved to Tuesday at 3 pm in room 42 with Alice and Bob.",
    "The quick brown fox jumps over the lazy dog. Paris is the capital of France.",
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu",
    "Revenue grew 12% to $4.5 million in 2023; costs fell 3% year over year.",
    "def add(a, b): return a + b  # numbers 0 1 2 3 4 5 6 7 8 9 → | + @",
]

TARGET_A = "alpha alpha alpha"
TARGET_B = "beta gamma beta"

PROMPTS = [
    "The meeting moved to Tuesday in room 42.",
    "Paris is the capital of France.",
    "Revenue grew 12% in 2023.",
    "The quick brown fox jumps over the lazy dog.",
]


def build_tiny_qwen3(out: Path, *, seed: int = 0) -> Path:
    """Write a random tiny Qwen3 (config, safetensors, tokenizer, chat template) to ``out``."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import qwen3
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    tok.save(str(out / "tokenizer.json"))
    vocab = tok.get_vocab_size()
    eos_id = tok.token_to_id("<|im_end|>")
    (out / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "chat_template": CHAT_TEMPLATE,
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "bos_token": None,
                "model_max_length": 4096,
            }
        ),
        encoding="utf-8",
    )
    config: dict[str, Any] = {
        "model_type": "qwen3",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "rms_norm_eps": 1e-6,
        "vocab_size": vocab,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": True,
        "rope_theta": 10000.0,
        "eos_token_id": eos_id,
    }
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")
    mx.random.seed(seed)
    model = qwen3.Model(qwen3.ModelArgs.from_dict(config))
    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})
    return out


def chat_rows(prompts: Sequence[str], target: str) -> list[dict[str, Any]]:
    """Training rows in the seed-pair format: the system prompt, ``Compress:\\n<input>``, target."""
    return [
        {
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"Compress:\n{p}"},
                {"role": "assistant", "content": target},
            ]
        }
        for p in prompts
    ]


def train_tiny_adapter(
    model_dir: Path,
    out_dir: Path,
    data: Sequence[dict[str, Any]],
    steps: int = 30,
    *,
    rank: int = 4,
    learning_rate: float = 2e-2,
    name: str | None = None,
) -> Path:
    """Train a LoRA adapter with mlx-lm's tuner and write it with a ``generative`` manifest."""
    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx_lm import load
    from mlx_lm.tuner.datasets import CacheDataset, ChatDataset
    from mlx_lm.tuner.trainer import TrainingArgs, train
    from mlx_lm.tuner.utils import linear_to_lora_layers

    out_dir.mkdir(parents=True, exist_ok=True)
    mx.random.seed(0)
    model, tokenizer = load(str(model_dir))
    model.freeze()
    lora = {"rank": rank, "scale": 20.0, "dropout": 0.0}
    linear_to_lora_layers(model, 2, lora)
    adapter_config = {
        "fine_tune_type": "lora",
        "num_layers": 2,
        "lora_parameters": lora,
        "model": str(model_dir),
    }
    (out_dir / "adapter_config.json").write_text(json.dumps(adapter_config), encoding="utf-8")
    dataset = CacheDataset(ChatDataset(list(data), tokenizer, mask_prompt=True))
    args = TrainingArgs(
        batch_size=min(4, len(data)),
        iters=steps,
        steps_per_report=10_000,
        steps_per_eval=10_000,
        steps_per_save=10_000,
        max_seq_length=512,
        adapter_file=str(out_dir / "adapters.safetensors"),
    )
    train(model, optim.Adam(learning_rate=learning_rate), dataset, None, args=args)
    digest = hashlib.sha256(json.dumps(list(data), sort_keys=True).encode("utf-8")).hexdigest()
    manifest = {
        "kind": "generative",
        "name": name or out_dir.name,
        "base_model": str(model_dir),
        "data_hash": f"sha256:{digest}",
        "metrics": {"train_steps": steps},
        "created_at": datetime.now(UTC).isoformat(),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out_dir
