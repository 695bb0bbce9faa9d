"""End to end through the CLI: pairs -> ``train dataset`` -> ``train mlx`` -> ``eval adapter`` ->
``adapters promote`` (the gate) -> a running MCP server compresses with the new adapter.

Everything is offline and small: a synthetic pairs file, the tiny random Qwen3 of the generative
tests, 10 LoRA steps, two contexts per dataset. Also the CLI's errors a user meets first: broken
pair lines by number, unknown config keys by name, a base model that is not on the machine, an
unknown adapter, a missing data folder, and a run killed mid-way resuming from its checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from repo_paths import SHARED_DATA

pytest.importorskip("mlx_lm", reason="the mlx extra is not installed")

from mcp import Client
from typer.testing import CliRunner

from compression_layer.cli.main import app
from tiny_qwen import build_tiny_qwen3
from tiny_shared import tiny_shared

pytestmark = pytest.mark.slow

TOPICS = [
    ("The meeting moved to Tuesday at 3 pm in room {n} with Alice and Bob.", "mtg→Tue 3pm rm{n}"),
    ("Revenue grew 12% to $4.5 million in 2023 for unit {n}; costs fell 3%.", "u{n} rev +12%"),
    ("Paris is the capital of France and sits on the Seine, says guide {n}.", "guide{n}: Paris"),
]


SEED_TRAIN = SHARED_DATA / "seed-pairs" / "train.jsonl"


def seed_sample(n: int = 6, max_chars: int = 900) -> list[str]:
    """The first ``n`` short rows of the real seed pairs (none when the shared data is absent)."""
    if not SEED_TRAIN.is_file():
        return []
    rows: list[str] = []
    with SEED_TRAIN.open(encoding="utf-8") as f:
        for line in f:
            if len(line) <= max_chars:
                rows.append(line.rstrip("\n"))
            if len(rows) == n:
                break
    return rows


def write_pairs(path: Path, n: int = 8, seed: list[str] | None = None) -> Path:
    """``3 * n`` chat-format pairs with distinct inputs, then the ``seed`` rows, and one broken
    line (line 3)."""
    lines: list[str] = []
    for i in range(n):
        for source, target in TOPICS:
            row = {
                "messages": [
                    {"role": "system", "content": "compress"},
                    {"role": "user", "content": "Compress:\n" + source.format(n=i)},
                    {"role": "assistant", "content": target.format(n=i)},
                ]
            }
            lines.append(json.dumps(row))
    lines.extend(seed or [])
    lines.insert(2, '{"messages": [oops')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen3(tmp_path_factory.mktemp("tiny-qwen3"))


def train_config(tmp_path: Path, model: Path, data: Path, **extra: Any) -> Path:
    values: dict[str, Any] = {
        "model": str(model),
        "data": str(data),
        "iters": 10,
        "batch_size": 2,
        "learning_rate": 1e-2,
        "lora_parameters": {"rank": 4, "scale": 10.0, "dropout": 0.0},
        "num_layers": 2,
        "max_seq_length": 512,
        "steps_per_eval": 5,
        "val_batches": 1,
        "save_every": 5,
        "name": "e2e",
        "out": str(tmp_path / "runs"),
    }
    values.update(extra)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def build(tmp_path: Path) -> Path:
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    result = cli("train", "dataset", pairs, "--out", tmp_path / "ds",
                 "--valid-fraction", "0.25", "--test-fraction", "0.1")  # fmt: skip
    assert result.exit_code == 0, result.output
    return tmp_path / "ds"


@asynccontextmanager
async def no_memory(_: Any) -> AsyncIterator[None]:
    yield None


async def test_pairs_to_served_adapter(
    tmp_path: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1. dataset (synthetic pairs plus a sample of the real seed pairs): the broken line is
    # reported by number, the rest cleaned and split
    seed = seed_sample()
    pairs = write_pairs(tmp_path / "pairs.jsonl", seed=seed)
    result = cli("train", "dataset", pairs, "--out", tmp_path / "ds",
                 "--valid-fraction", "0.25", "--test-fraction", "0.1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{pairs}:3:" in result.output and f"read {24 + len(seed)} pairs" in result.output
    report = json.loads((tmp_path / "ds" / "report.json").read_text(encoding="utf-8"))
    assert 24 <= sum(s["rows"] for s in report["splits"].values()) <= 24 + len(seed)
    assert report["splits"]["train"]["rows"] >= 12 and report["splits"]["valid"]["rows"] >= 2

    # 2. ten LoRA steps on the tiny Qwen3, registered at the end
    config = train_config(tmp_path, tiny, tmp_path / "ds")
    result = cli("train", "mlx", "--config", config)
    assert result.exit_code == 0, result.output
    assert "registered generative adapter 'e2e'" in result.output
    run = tmp_path / "runs" / "e2e"
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["step"] for r in rows if "train_loss" in r] == list(range(1, 11))
    assert any("val_loss" in r for r in rows) and (run / "curve.png").is_file()

    # 3. eval adapter: JSON, Markdown and PNG, the extractive engine beside it
    shared = tiny_shared(tmp_path / "shared")
    result = cli("eval", "adapter", "e2e", "--data", shared, "--limit", "2",
                 "--out", tmp_path / "evals")  # fmt: skip
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "evals" / "e2e.json").read_text(encoding="utf-8"))
    assert written["adapter"] == "e2e" and written["kind"] == "generative"
    squad = written["datasets"]["squad-heldout"]
    assert {"generative-guarded", "generative-raw"} <= set(squad)
    assert any(k.startswith("extractive@") for k in squad)
    assert squad["generative-guarded"]["items"] == 2
    assert (tmp_path / "evals" / "e2e.md").is_file() and (tmp_path / "evals" / "e2e.png").is_file()

    # 4. a server is already serving (no generative adapter active yet) when the adapter is
    # promoted through the gate: the training evaluator on held-out SQuAD (floors lowered: a
    # random model cannot meet the real ones, and its rambling is capped so that it compresses)
    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__BASE_MODEL", str(tiny))
    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__MAX_NEW_TOKENS", "1")
    monkeypatch.setenv("COMPRESSION_LAYER_ADAPTERS__MIN_TOKEN_REDUCTION", "-1")
    monkeypatch.setenv("COMPRESSION_LAYER_ADAPTERS__MIN_FACT_RETENTION", "0")
    monkeypatch.setenv("COMPRESSION_LAYER_ADAPTERS__MIN_ANSWER_RETENTION", "0")
    from compression_layer.server.app import build_server
    from compression_layer.settings import CompressSettings, ServerSettings

    server = build_server(ServerSettings(roots=[tmp_path]), compress_settings=CompressSettings(),
                          memory=no_memory, warm=True)  # fmt: skip
    text = "The meeting moved to Tuesday at 3 pm in room 7 with Alice and Bob."
    async with Client(server) as client:

        async def adapter_used() -> str | None:
            got = await client.call_tool("compress_context", {"text": text, "engine": "generative"})
            out = None if got.is_error else got.structured_content
            return None if out is None else str(out.get("adapter"))

        assert await adapter_used() != "e2e"
        result = await anyio.to_thread.run_sync(
            lambda: cli("adapters", "promote", "e2e", "--data", shared, "--limit", "2", "--json")
        )
        assert result.exit_code == 0, result.output
        decision = json.loads(result.output)
        assert decision["passed"] and decision["metrics"]["items"] == 2
        assert decision["metrics"]["evaluator"] == "training.evaluate"

        # 5. the running server's registry watcher swaps the adapter in; later calls use it
        with anyio.fail_after(60):
            while await adapter_used() != "e2e":
                await anyio.sleep(0.05)
        status = await client.call_tool("adapter_status", {"kind": "generative"})
        assert status.structured_content is not None
        (info,) = status.structured_content["adapters"]
        assert info["name"] == "e2e" and info["source"] == "registry"


def test_strict_dataset_refuses_broken_lines_by_number(tmp_path: Path) -> None:
    pairs = write_pairs(tmp_path / "pairs.jsonl", n=2)
    result = cli("train", "dataset", pairs, "--out", tmp_path / "ds", "--strict")
    assert result.exit_code == 2
    assert f"{pairs}:3:" in result.output and not (tmp_path / "ds" / "report.json").exists()
    missing = cli("train", "dataset", tmp_path / "absent.jsonl", "--out", tmp_path / "ds")
    assert missing.exit_code == 2 and "no such file or folder" in missing.output


def test_unknown_config_keys_refused_by_name(tmp_path: Path, tiny: Path) -> None:
    config = train_config(tmp_path, tiny, tmp_path / "ds", learnig_rate=0.1,
                          lora_parameters={"rank": 4, "alpha": 16})  # fmt: skip
    result = cli("train", "mlx", "--config", config)
    assert result.exit_code == 2
    assert "learnig_rate" in result.output and "lora_parameters.alpha" in result.output
    assert "unknown key" in result.output


def test_missing_base_model_says_how_to_get_it(tmp_path: Path, tiny: Path) -> None:
    data = build(tmp_path)
    config = train_config(tmp_path, tiny, data)
    result = cli("train", "mlx", "--config", config, "--model", tmp_path / "no-such-model")
    assert result.exit_code == 2
    assert "is not on this machine" in result.output
    assert "COMPRESSION_LAYER_GENERATIVE__BASE_MODEL" in result.output

    # an adapter whose base model was deleted since: eval adapter says how to get one
    import shutil

    copy = shutil.copytree(tiny, tmp_path / "base-copy")
    result = cli("train", "mlx", "--config", config, "--model", copy, "--iters", "2")
    assert result.exit_code == 0, result.output
    shutil.rmtree(copy)
    shared = tiny_shared(tmp_path / "shared")
    result = cli("eval", "adapter", "e2e", "--data", shared, "--limit", "1")
    assert result.exit_code == 2
    assert "not on this machine" in result.output and "prepare_gemma.py" in result.output
    assert "--base-model" in result.output


def test_eval_adapter_unknown_name_and_missing_data(tmp_path: Path) -> None:
    shared = tiny_shared(tmp_path / "shared")
    result = cli("eval", "adapter", "nope", "--data", shared)
    assert result.exit_code == 2 and "no adapter named 'nope'" in result.output
    result = cli("eval", "adapter", "nope", "--data", tmp_path / "absent")
    assert result.exit_code == 2 and "data folder not found" in result.output


def _train_rows(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    steps = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line being written
        if "train_loss" in row:
            steps.append(int(row["step"]))
    return steps


def test_killed_run_resumes_from_its_checkpoint(tmp_path: Path, tiny: Path) -> None:
    data = build(tmp_path)
    # Long enough that the kill lands mid-run; the resumed run finishes the same config.
    config = train_config(tmp_path, tiny, data, iters=300, steps_per_eval=1000, save_every=5)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [
        str(Path(sys.executable).with_name("compression-layer")),
        "train",
        "mlx",
        "--config",
        str(config),
    ]
    run = tmp_path / "runs" / "e2e"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while max(_train_rows(run), default=0) < 7:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the run never reached step 7"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    last = json.loads((run / "checkpoints" / "last.json").read_text(encoding="utf-8"))["step"]
    assert last >= 5 and last % 5 == 0 and last < 300

    result = cli("train", "mlx", "--config", config)
    assert result.exit_code == 0, result.output
    assert f"resuming e2e from step {last} of 300" in result.output
    steps = _train_rows(run)
    assert steps == list(range(1, 301))  # steps after the checkpoint redone once, not twice
    assert "registered generative adapter 'e2e'" in result.output
