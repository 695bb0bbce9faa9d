"""Shared fixtures: offline, a temp data dir per test, a temp config dir with nothing in it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# The Postgres memory backend's fixtures (pg_server, pg_url): tests/support/pg_fixtures.py.
pytest_plugins = ["pg_fixtures"]


@pytest.fixture(scope="session")
def _model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of exported encoders for the whole run: the ONNX export happens once."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _model_cache: Path
) -> Iterator[Path]:
    """Every test gets its own data dir and an empty user config dir; env overrides are cleared.

    Packaged defaults (``compression_layer/data/config``) still apply, as for a user; the user's
    real config dir and data dir are never read.

    Exported encoders are the exception: they are derived from packaged weights only, so they
    live in one session-wide cache (``COMPRESSION_LAYER_MODEL_CACHE``).
    """
    home = tmp_path / "home"
    cfg = tmp_path / "configs"
    cfg.mkdir()
    for key in list(os.environ):
        if key.startswith("COMPRESSION_LAYER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("COMPRESSION_LAYER_HOME", str(home))
    monkeypatch.setenv("COMPRESSION_LAYER_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("COMPRESSION_LAYER_MODEL_CACHE", str(_model_cache))
    from compression_layer.settings import get_settings

    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder; tests needing it skip with a clear message when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny Qwen3 folder shared by the whole session (needs the mlx extra)."""
    pytest.importorskip("mlx_lm", reason="the mlx extra is not installed")
    from tiny_qwen import build_tiny_qwen3

    return build_tiny_qwen3(tmp_path_factory.mktemp("tiny-qwen3"))


@pytest.fixture(scope="session")
def tiny_adapters(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two adapters on ``tiny_model`` trained towards different targets (``a`` and ``b``)."""
    from tiny_qwen import PROMPTS, TARGET_A, TARGET_B, chat_rows, train_tiny_adapter

    root = tmp_path_factory.mktemp("adapters")
    return {
        "a": train_tiny_adapter(tiny_model, root / "a", chat_rows(PROMPTS, TARGET_A), name="a"),
        "b": train_tiny_adapter(tiny_model, root / "b", chat_rows(PROMPTS, TARGET_B), name="b"),
    }


@pytest.fixture
def user_dir() -> Path:
    """The test's user config dir (``_isolated_home`` points the env var at an empty one)."""
    return Path(os.environ["COMPRESSION_LAYER_CONFIG_DIR"])


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An unrelated working directory, as when an MCP client starts the server."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd
