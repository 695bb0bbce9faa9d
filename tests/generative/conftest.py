"""Fixtures of the generative tests: a tiny random Qwen3 and two LoRA adapters, per session.

The builders live in ``tiny_qwen.py`` and are re-exported here; other test folders (the server's
in-memory and stdio tests) can import them after adding this folder to ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("mlx_lm", reason="the mlx extra is not installed")

from tiny_qwen import (
    PROMPTS,
    SYSTEM_PROMPT,
    TARGET_A,
    TARGET_B,
    build_tiny_qwen3,
    chat_rows,
    train_tiny_adapter,
)

__all__ = [
    "PROMPTS",
    "SYSTEM_PROMPT",
    "TARGET_A",
    "TARGET_B",
    "build_tiny_qwen3",
    "chat_rows",
    "train_tiny_adapter",
]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny Qwen3 folder shared by the whole session."""
    return build_tiny_qwen3(tmp_path_factory.mktemp("tiny-qwen3"))


@pytest.fixture(scope="session")
def tiny_adapters(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two adapters on ``tiny_model`` trained towards different targets (``a`` and ``b``)."""
    root = tmp_path_factory.mktemp("adapters")
    return {
        "a": train_tiny_adapter(tiny_model, root / "a", chat_rows(PROMPTS, TARGET_A), name="a"),
        "b": train_tiny_adapter(tiny_model, root / "b", chat_rows(PROMPTS, TARGET_B), name="b"),
    }
