"""MLX LoRA training on the tiny Qwen3: run folder, metrics, curve, adapter, resume, bad config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlx_lm", reason="the mlx extra is not installed")

from compression_layer.errors import ConfigError
from compression_layer.training.config import load_config
from compression_layer.training.mlx import train_mlx
from tiny_qwen import PROMPTS, build_tiny_qwen3, chat_rows


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen3(tmp_path_factory.mktemp("tiny-qwen3"))


def dataset(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = chat_rows(PROMPTS, "alpha beta")
    for name, part in (("train", rows), ("valid", rows[:2]), ("test", rows[:1])):
        text = "".join(json.dumps(r) + "\n" for r in part)
        (folder / f"{name}.jsonl").write_text(text, encoding="utf-8")
    return folder


def config(tmp_path: Path, tiny: Path, **extra: Any) -> Path:
    values: dict[str, Any] = {
        "model": str(tiny),
        "data": str(dataset(tmp_path / "data")),
        "iters": 6,
        "batch_size": 2,
        "learning_rate": 1e-2,
        "lora_parameters": {"rank": 4, "scale": 10.0, "dropout": 0.0},
        "num_layers": 2,
        "max_seq_length": 256,
        "steps_per_eval": 3,
        "val_batches": 1,
        "save_every": 3,
        "seed": 0,
        "name": "tiny-run",
        "out": str(tmp_path / "runs"),
    }
    values.update(extra)
    import yaml

    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def test_unknown_keys_refused_by_name(tmp_path: Path, tiny: Path) -> None:
    path = config(tmp_path, tiny, learnig_rate=1.0, lora_parameters={"rank": 4, "alpha": 2})
    with pytest.raises(
        ConfigError,
        match=r"learnig_rate.*lora_parameters\.alpha|lora_parameters\.alpha.*learnig_rate",
    ):
        load_config(path)


def test_missing_base_model_says_how_to_get_it(tmp_path: Path, tiny: Path) -> None:
    settings = load_config(config(tmp_path, tiny, model="some-org/absent-model"))
    with pytest.raises(ConfigError, match="huggingface-cli download some-org/absent-model"):
        train_mlx(settings, register=False, log=lambda _: None)


def test_train_writes_run_and_registers(tmp_path: Path, tiny: Path) -> None:
    settings = load_config(config(tmp_path, tiny))
    result = train_mlx(settings, command="test", log=lambda _: None)
    run = result.run_dir
    assert (run / "config.yaml").is_file() and (run / "curve.png").stat().st_size > 1000
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["step"] for r in rows if "train_loss" in r] == [1, 2, 3, 4, 5, 6]
    # mlx-lm validates before steps 1, 3 and 6 (after 0, 2 and 5 updates); we add the end
    assert [r["step"] for r in rows if "val_loss" in r] == [0, 2, 5, 6]
    adapter = result.adapter_dir
    cfg = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    assert cfg["lora_parameters"]["rank"] == 4 and cfg["num_layers"] == 2
    manifest = json.loads((adapter / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "generative" and manifest["data_hash"].startswith("sha256:")
    assert manifest["command"] == "test" and manifest["metrics"]["steps"] == 6
    from compression_layer.adapters.manifest import read_manifest

    model = read_manifest(adapter)  # the one manifest model, extras kept
    assert model.name == result.run_dir.name and model.extra["trainer"] == "mlx-lm"
    assert result.registered_as == "tiny-run"
    from compression_layer.adapters.registry import AdapterRegistry

    assert AdapterRegistry().show("tiny-run").manifest.kind == "generative"
    # the adapter loads in the generative engine
    from compression_layer.compress.generative.mlx import load_model

    assert load_model(str(tiny), adapter).adapter_name == "adapter"


def test_interrupted_run_resumes_from_last_checkpoint(tmp_path: Path, tiny: Path) -> None:
    first = load_config(config(tmp_path, tiny, iters=3))
    train_mlx(first, register=False, log=lambda _: None)
    ckpt = tmp_path / "runs" / "tiny-run" / "checkpoints"
    assert json.loads((ckpt / "last.json").read_text(encoding="utf-8")) == {"step": 3}
    said: list[str] = []
    longer = load_config(config(tmp_path, tiny, iters=6))
    result = train_mlx(longer, register=False, log=said.append)
    assert result.resumed_from == 3 and "from step 3" in said[0]
    rows = [
        json.loads(x)
        for x in (result.run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    steps = [r["step"] for r in rows if "train_loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]  # no step done twice
    assert (ckpt / "0000006_adapters.safetensors").is_file()


def test_validation_uses_the_same_rows_every_time(tmp_path: Path, tiny: Path) -> None:
    path = config(tmp_path, tiny, learning_rate=1e-12, val_batches=1, steps_per_eval=2)
    data = tmp_path / "data"
    rows = chat_rows(PROMPTS, "alpha beta") + chat_rows(PROMPTS, "kappa lambda mu " * 8)
    (data / "valid.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = train_mlx(load_config(path), register=False, log=lambda _: None)
    text = (result.run_dir / "metrics.jsonl").read_text(encoding="utf-8")
    metrics = [json.loads(x) for x in text.splitlines()]
    vals = [r["val_loss"] for r in metrics if "val_loss" in r]
    # with a learning rate of ~0 the model does not move: one subset gives one loss
    assert len(vals) >= 3 and max(vals) - min(vals) < 1e-3
    assert result.metrics["valid_rows"] == 2  # val_batches * batch_size of the 8 rows
