"""Tinker training: the SDK contract, the loop against a fake Tinker, resume, CLI, a live run.

The fake (``Fake*`` below) is a small Tinker written for these tests: the same methods and
parameters as the SDK (checked against the same contract as the SDK itself), awaitable futures,
the SDK's own request/response types, and a server side that keeps saved states by path and
exports a PEFT-style LoRA shaped for the tiny Qwen3. Its loss is a known function of the number
of optimizer steps applied, so the losses the loop records show both that they flow and that a
resumed run really continues from the restored optimizer state.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from compression_layer.training.config import load_config
from compression_layer.training.tinker.sdk import CONTRACT, TYPES, Call, Clients, MissingKeyError
from tinker_lora import model_config, write_tinker_lora

tinker = pytest.importorskip("tinker", reason="the tinker extra is not installed")

LR = 1e-3


def loss_after(steps: int) -> float:
    """The fake's per-token loss after ``steps`` optimizer steps."""
    return 2.0 / (1.0 + 0.5 * steps)


# --- the fake Tinker ------------------------------------------------------------------------


class FakeFuture:
    """An awaitable result, like the SDK's ``APIFuture`` (errors surface when awaited)."""

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value, self.error = value, error

    async def _get(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value

    def __await__(self) -> Any:
        return self._get().__await__()

    def result(self, timeout: float | None = None) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


@dataclasses.dataclass
class FakeServer:
    """Tinker's side: saved states by path, exports, and a log of every call."""

    model: Path
    export_root: Path
    fail_on_forward_backward: int | None = None
    calls: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    states: dict[str, int] = dataclasses.field(default_factory=dict)
    closed: list[str] = dataclasses.field(default_factory=list)
    forward_backwards: int = 0
    runs: int = 0

    def log(self, call: str, /, **kwargs: Any) -> None:
        self.calls.append((call, kwargs))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self.model))


class FakeServiceClient:
    def __init__(self, user_metadata: dict[str, str] | None = None, *, server: Any = None) -> None:
        assert isinstance(server, FakeServer), "bind the fake server with functools.partial"
        self.server, self.user_metadata = server, user_metadata
        server.log("ServiceClient", user_metadata=user_metadata)

    def create_lora_training_client(
        self,
        base_model: str,
        rank: int = 32,
        seed: int | None = None,
        train_mlp: bool = True,
        train_attn: bool = True,
        train_unembed: bool = True,
        user_metadata: dict[str, str] | None = None,
    ) -> FakeFuture:
        self.server.log(
            "create_lora_training_client",
            base_model=base_model,
            rank=rank,
            train_unembed=train_unembed,
            seed=seed,
        )
        return FakeFuture(FakeTrainingClient(self.server, steps=0))

    def create_training_client_from_state_with_optimizer(
        self, path: str, base_model: str | None = None, user_metadata: Any = None
    ) -> FakeFuture:
        self.server.log("create_training_client_from_state_with_optimizer", path=path)
        if path not in self.server.states:
            return FakeFuture(error=RuntimeError(f"no such checkpoint {path}"))
        return FakeFuture(FakeTrainingClient(self.server, steps=self.server.states[path]))

    def close(self, status: str, detail: str | None = None) -> FakeFuture:
        self.server.closed.append(status)
        return FakeFuture()


class FakeTrainingClient:
    def __init__(self, server: FakeServer, steps: int) -> None:
        server.runs += 1
        self.server, self.steps, self.run_id = server, steps, f"run-{server.runs}"
        self.has_gradients = False

    def _output(self, data: list[Any], loss_fn: str) -> Any:
        types = tinker.types
        assert loss_fn == "cross_entropy"
        outputs = []
        for datum in data:
            n = datum.model_input.length
            targets = datum.loss_fn_inputs["target_tokens"].tolist()
            weights = datum.loss_fn_inputs["weights"].tolist()
            assert len(targets) == len(weights) == n, "targets and weights must match the input"
            assert any(weights), "a datum without reply tokens trains nothing"
            logprobs = [-loss_after(self.steps)] * n
            outputs.append(
                {"logprobs": types.TensorData(data=logprobs, dtype="float32", shape=[n])}
            )
        return types.ForwardBackwardOutput(
            loss_fn_output_type="ArrayRecord", loss_fn_outputs=outputs
        )

    def forward_backward(
        self, data: list[Any], loss_fn: str, loss_fn_config: Any = None
    ) -> FakeFuture:
        self.server.forward_backwards += 1
        self.server.log("forward_backward", rows=len(data), steps=self.steps)
        if self.server.forward_backwards == self.server.fail_on_forward_backward:
            return FakeFuture(error=ConnectionError("connection reset by peer"))
        self.has_gradients = True
        return FakeFuture(self._output(data, loss_fn))

    def forward(self, data: list[Any], loss_fn: str, loss_fn_config: Any = None) -> FakeFuture:
        self.server.log("forward", rows=len(data), steps=self.steps)
        return FakeFuture(self._output(data, loss_fn))

    def optim_step(self, optim_params: Any = None, *, adam_params: Any = None) -> FakeFuture:
        assert isinstance(optim_params, tinker.types.AdamParams)
        if not self.has_gradients:  # as on the server: it fails when awaited
            return FakeFuture(error=RuntimeError("optim_step without gradients"))
        self.server.log("optim_step", learning_rate=optim_params.learning_rate)
        self.has_gradients = False
        self.steps += 1
        return FakeFuture(None)

    def _path(self, kind: str, name: str) -> str:
        return f"tinker://{self.run_id}/{kind}/{name}"

    def save_state(self, name: str, ttl_seconds: int | None = None) -> FakeFuture:
        path = self._path("weights", name)
        self.server.states[path] = self.steps
        self.server.log("save_state", name=name, ttl_seconds=ttl_seconds, steps=self.steps)
        return FakeFuture(tinker.types.SaveWeightsResponse(path=path))

    def save_weights_for_sampler(self, name: str, ttl_seconds: int | None = None) -> FakeFuture:
        self.server.log("save_weights_for_sampler", name=name)
        path = self._path("sampler_weights", name)
        return FakeFuture(tinker.types.SaveWeightsForSamplerResponse(path=path))

    def save_weights_external(self, name: str, ttl_seconds: int | None = None) -> FakeFuture:
        path = self._path("external_weights", name)
        self.server.log("save_weights_external", name=name, steps=self.steps)
        folder = self.server.export_root / path.removeprefix("tinker://").replace("/", "_")
        write_tinker_lora(model_config(self.server.model), folder, b_scale=0.01 * self.steps)
        return FakeFuture(tinker.types.SaveWeightsExternalResponse(path=path))

    def save_weights_and_get_sampling_client(self, name: str | None = None) -> FakeFuture:
        self.server.log("save_weights_and_get_sampling_client", steps=self.steps)
        return FakeFuture(FakeSamplingClient(self.server, self.steps))

    def get_tokenizer(self) -> Any:
        return self.server.tokenizer()


class FakeSamplingClient:
    """Echoes the input before training; afterwards keeps the first half of its words."""

    def __init__(self, server: FakeServer, steps: int) -> None:
        self.server, self.steps, self.tokenizer = server, steps, server.tokenizer()

    def sample(self, prompt: Any, num_samples: int, sampling_params: Any) -> FakeFuture:
        types = tinker.types
        assert num_samples == 1 and sampling_params.temperature == 0.0
        text = self.tokenizer.decode(prompt.to_ints())
        assert text.endswith("<|im_start|>assistant\n"), "sampling starts at the reply"
        source = re.search(r"Compress:\n(.*?)<\|im_end\|>", text, re.S)
        assert source is not None
        words = source[1].split()
        reply = " ".join(words if self.steps == 0 else words[: len(words) // 2])
        ids = self.tokenizer.encode(reply, add_special_tokens=False)[: sampling_params.max_tokens]
        ids.append(self.tokenizer.convert_tokens_to_ids("<|im_end|>"))
        self.server.log("sample", steps=self.steps)
        sequence = types.SampledSequence(stop_reason="stop", sequence_id="s", _tokens_list=ids)
        return FakeFuture(types.SampleResponse(sequences=[sequence]))


class FakeRestClient:
    def __init__(self, *, server: Any = None) -> None:
        assert isinstance(server, FakeServer)
        self.server = server

    def get_external_weights_urls(self, tinker_path: str) -> FakeFuture:
        self.server.log("get_external_weights_urls", tinker_path=tinker_path)
        folder = self.server.export_root / tinker_path.removeprefix("tinker://").replace("/", "_")
        urls = {p.name: p.resolve().as_uri() for p in folder.iterdir()}
        expires = datetime.now(UTC) + timedelta(hours=1)
        return FakeFuture(tinker.types.ExternalWeightsUrlsResponse(urls=urls, expires=expires))


FAKES: dict[str, type] = {
    "ServiceClient": FakeServiceClient,
    "TrainingClient": FakeTrainingClient,
    "SamplingClient": FakeSamplingClient,
    "RestClient": FakeRestClient,
}


def fake_clients(server: FakeServer) -> Clients:
    return Clients(
        service=partial(FakeServiceClient, server=server),
        rest=partial(FakeRestClient, server=server),
    )


# --- the contract ---------------------------------------------------------------------------


def contract_problems(owner: type, call: Call) -> list[str]:
    """What ``owner.<method>`` lacks for the way the loop calls it."""
    fn = getattr(owner, call.method, None)
    if fn is None:
        return [f"{call.owner}.{call.method} is missing"]
    params = list(inspect.signature(fn).parameters.values())[1:]  # without self
    by_name = {p.name: p for p in params}
    keywordable = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    problems = [
        f"{call.owner}.{call.method} has no keyword parameter {k!r}"
        for k in call.keywords
        if k not in by_name or by_name[k].kind not in keywordable
    ]
    if len(positional) < call.positional:
        problems.append(f"{call.owner}.{call.method} takes fewer than {call.positional} positional")
    passed = set(call.keywords) | {p.name for p in positional[: call.positional]}
    problems += [
        f"{call.owner}.{call.method} requires {p.name!r}, which the loop does not pass"
        for p in params
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and p.name not in passed
    ]
    return problems


def awaitable_return(call: Call) -> bool:
    """The SDK method's declared return type can be awaited (the loop awaits it)."""
    from tinker.lib.public_interfaces import api_future

    annotation = inspect.signature(
        getattr(getattr(tinker, call.owner), call.method)
    ).return_annotation
    head = str(annotation).split("[", 1)[0].rsplit(".", 1)[-1]
    cls = getattr(tinker, head, None) or getattr(api_future, head, None)
    return cls is not None and hasattr(cls, "__await__")


def test_installed_sdk_has_every_method_and_parameter_the_loop_uses() -> None:
    problems = [
        p for call in CONTRACT for p in contract_problems(getattr(tinker, call.owner), call)
    ]
    assert problems == []
    awaited = [c for c in CONTRACT if c.method not in ("__init__", "get_tokenizer")]
    assert [f"{c.owner}.{c.method}" for c in awaited if not awaitable_return(c)] == []
    for name, fields in TYPES.items():
        cls = getattr(tinker.types, name)
        known = set(getattr(cls, "model_fields", {}))
        if dataclasses.is_dataclass(cls):
            known |= {f.name for f in dataclasses.fields(cls)}
        missing = [f for f in fields if f not in known and not hasattr(cls, f)]
        assert missing == [], f"tinker.types.{name} lacks {missing}"
    assert "cross_entropy" in tinker.types.LossFnType.__args__
    assert hasattr(tinker.types.ModelInput, "from_ints") and hasattr(tinker.TensorData, "tolist")


def test_the_contract_check_catches_a_renamed_parameter() -> None:
    class Renamed:
        def sample(self, prompt: Any, n_samples: int, sampling_params: Any) -> None: ...

    call = next(c for c in CONTRACT if c.method == "sample")
    assert contract_problems(Renamed, call) == [
        "SamplingClient.sample has no keyword parameter 'num_samples'",
        "SamplingClient.sample requires 'n_samples', which the loop does not pass",
    ]
    assert contract_problems(object, call) == ["SamplingClient.sample is missing"]


def test_the_fake_has_the_same_interface_as_the_sdk() -> None:
    problems = [p for call in CONTRACT for p in contract_problems(FAKES[call.owner], call)]
    assert problems == []


# --- the loop against the fake --------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mlx_lm", reason="the mlx extra is not installed")
    from tiny_qwen import build_tiny_qwen3

    return build_tiny_qwen3(tmp_path_factory.mktemp("tiny-qwen3"))


def dataset(folder: Path) -> Path:
    """A built dataset (chat JSONL + report.json) with 10 train and 4 valid rows."""
    from compression_layer.training.data import build_dataset
    from tiny_qwen import SYSTEM_PROMPT

    def row(i: int) -> dict[str, Any]:
        source = (
            f"Invoice {i} from Alice Smith was paid on 2024-03-{i + 1:02d} for $1{i}.50 "
            f"after the meeting moved to Tuesday in room {40 + i} with Bob."
        )
        reply = f"Inv {i}: Alice Smith paid 2024-03-{i + 1:02d} $1{i}.50"
        return {
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"Compress:\n{source}"},
                {"role": "assistant", "content": reply},
            ]
        }

    raw = folder / "raw"
    raw.mkdir(parents=True)
    for name, rows in (("train", range(10)), ("valid", range(10, 14))):
        text = "".join(json.dumps(row(i)) + "\n" for i in rows)
        (raw / f"{name}.jsonl").write_text(text, encoding="utf-8")
    build_dataset([raw], folder / "ds")
    return folder / "ds"


def settings_for(tmp_path: Path, tiny: Path, **extra: Any) -> Any:
    values: dict[str, Any] = {
        "data": str(dataset(tmp_path)),
        "iters": 6,
        "batch_size": 2,
        "steps_per_report": 1,
        "steps_per_eval": 3,
        "val_batches": 1,
        "save_every": 2,
        "max_seq_length": 1024,
        "name": "tiny-tinker",
        "out": str(tmp_path / "runs"),
        "tinker": {
            "base_model": "Qwen/Qwen3-8B",
            "rank": 4,
            "learning_rate": LR,
            "lr_schedule": "constant",
            "eval_samples": 2,
            "max_new_tokens": 512,
            "mlx_base_model": str(tiny),
        },
    }
    values.update(extra)
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return load_config(path)


def train(settings: Any, server: FakeServer, **kwargs: Any) -> Any:
    from compression_layer.training.tinker.train import train_tinker

    return train_tinker(settings, clients=fake_clients(server), log=lambda _: None, **kwargs)


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINKER_API_KEY", "tml-test-key")


def test_loop_trains_evaluates_exports_converts_and_registers(
    tmp_path: Path, tiny: Path, key: None
) -> None:
    from compression_layer.adapters.registry import AdapterRegistry

    server = FakeServer(tiny, tmp_path / "tinker-storage")
    settings = settings_for(tmp_path, tiny)
    result = train(settings, server, command="test")
    run = result.run_dir
    metrics = rows_of(run / "metrics.jsonl")
    train_rows = [r for r in metrics if "train_loss" in r]
    # losses flow: each step's loss is the fake's loss before that step's update
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4, 5, 6]
    assert [r["train_loss"] for r in train_rows] == [round(loss_after(s), 5) for s in range(6)]
    assert [c[1]["learning_rate"] for c in server.calls if c[0] == "optim_step"] == [LR] * 6
    assert server.names().count("optim_step") == 6
    # evaluation at the start, every 3 steps and at the end: loss and scored samples
    evals = [r for r in metrics if "val_loss" in r]
    assert [r["step"] for r in evals] == [0, 3, 6]
    assert [r["val_loss"] for r in evals] == [round(loss_after(s), 5) for s in (0, 3, 6)]
    assert evals[0]["sample_token_reduction"] == 0.0  # the untrained fake echoes its input
    assert evals[-1]["sample_token_reduction"] > 0.3
    assert evals[-1]["sample_facts_kept"] < evals[0]["sample_facts_kept"] == 1.0
    assert len(rows_of(run / "samples.jsonl")) == 3 * 2
    # tokens trained: every row of every batch, as counted by the model's tokenizer
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert (
        record["status"] == "done" and record["trained_tokens"] == train_rows[-1]["trained_tokens"]
    )
    assert record["trained_tokens"] == record["planned_tokens"] > 0
    assert record["estimate"]["train"]["trained_tokens"] > 0
    assert [c["step"] for c in record["checkpoints"]] == [2, 4, 6]
    saves = [c[1] for c in server.calls if c[0] == "save_state"]
    assert [s["ttl_seconds"] for s in saves] == [settings.tinker.checkpoint_ttl_s] * 2 + [None]
    # weights saved for sampling, exported, downloaded and converted
    assert record["sampler_path"].endswith("/sampler_weights/final")
    assert (run / "tinker_export" / "adapter_model.safetensors").is_file()
    assert (result.peft_dir / "adapter_model.safetensors").is_file()
    manifest = json.loads((result.adapter_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "generative" and manifest["trainer"] == "tinker"
    assert manifest["base_model"] == str(tiny) and manifest["data_hash"].startswith("sha256:")
    assert manifest["metrics"]["trained_tokens"] == record["trained_tokens"]
    assert manifest["metrics"]["cost_usd"] > 0
    from compression_layer.adapters.manifest import read_manifest

    model = read_manifest(result.adapter_dir)  # the one manifest model, extras kept
    assert model.name == "tiny-tinker" and model.extra["tinker"]["rank"] == settings.tinker.rank
    assert (run / "curve.png").stat().st_size > 1000
    assert result.registered_as == "tiny-tinker"
    assert AdapterRegistry().show("tiny-tinker").manifest.base_model == str(tiny)
    assert server.closed == ["success"]
    first = server.calls[1]
    assert first == (
        "create_lora_training_client",
        {"base_model": "Qwen/Qwen3-8B", "rank": 4, "train_unembed": False, "seed": 0},
    )


def test_interrupted_run_resumes_from_its_last_checkpoint(
    tmp_path: Path, tiny: Path, key: None
) -> None:
    server = FakeServer(tiny, tmp_path / "tinker-storage", fail_on_forward_backward=4)
    settings = settings_for(tmp_path, tiny)
    with pytest.raises(ConnectionError):
        train(settings, server)
    run = tmp_path / "runs" / "tiny-tinker"
    assert json.loads((run / "run.json").read_text(encoding="utf-8"))["status"] == "failed"
    last = json.loads((run / "checkpoints" / "last.json").read_text(encoding="utf-8"))
    assert last["step"] == 2 and server.states[last["path"]] == 2
    assert server.closed == ["errored"]

    server.calls.clear()
    result = train(settings, server)
    assert result.resumed_from == 2
    assert (
        "create_training_client_from_state_with_optimizer",
        {"path": last["path"]},
    ) in server.calls
    assert "create_lora_training_client" not in server.names()
    # the resumed client starts at the checkpoint's optimizer state: steps 3..6 only
    assert [c[1]["steps"] for c in server.calls if c[0] == "forward_backward"] == [2, 3, 4, 5]
    metrics = rows_of(run / "metrics.jsonl")
    train_rows = [r for r in metrics if "train_loss" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4, 5, 6]
    assert [r["train_loss"] for r in train_rows] == [round(loss_after(s), 5) for s in range(6)]
    assert [r["step"] for r in metrics if "val_loss" in r] == [0, 3, 6]
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert record["attempts"] == 2 and record["status"] == "done"
    assert record["trained_tokens"] == record["planned_tokens"]
    assert server.closed == ["errored", "success"]


def test_a_finished_run_reruns_without_training(tmp_path: Path, tiny: Path, key: None) -> None:
    server = FakeServer(tiny, tmp_path / "tinker-storage")
    settings = settings_for(tmp_path, tiny, register_adapter=False)
    train(settings, server)
    server.calls.clear()
    result = train(settings, server)
    assert server.calls == [] and result.record.attempts == 2 and result.registered_as is None


def test_missing_key_fails_before_any_work(
    tmp_path: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TINKER_API_KEY", raising=False)
    server = FakeServer(tiny, tmp_path / "tinker-storage")
    settings = settings_for(tmp_path, tiny)
    with pytest.raises(MissingKeyError, match="TINKER_API_KEY is not set"):
        train(settings, server)
    assert server.calls == [] and not (tmp_path / "runs").exists()


# --- the CLI --------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compression_layer.cli", "train", "tinker", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_cli_without_key_exits_2_with_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TINKER_API_KEY"}
    done = cli("--data", str(tmp_path), env=env)
    assert done.returncode == 2
    assert "TINKER_API_KEY is not set" in done.stderr and "--dry-run" in done.stderr


def test_cli_dry_run_prints_the_estimate_without_a_key(tmp_path: Path, tiny: Path) -> None:
    settings = settings_for(tmp_path, tiny)
    env = {k: v for k, v in os.environ.items() if k != "TINKER_API_KEY"}
    done = cli("--config", str(tmp_path / "training.yaml"), "--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    assert "Tinker cost estimate" in done.stdout and "trained tokens" in done.stdout
    assert not Path(settings.out).exists()


def test_cli_refuses_unknown_config_keys_by_name(tmp_path: Path) -> None:
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump({"iters": 3, "tinker": {"rnak": 8}, "epochz": 1}), "utf-8")
    done = cli("--config", str(path), "--dry-run")
    assert done.returncode == 2
    assert "epochz" in done.stderr and "tinker.rnak" in done.stderr


# --- live -----------------------------------------------------------------------------------


@pytest.mark.live
@pytest.mark.slow
def test_live_two_steps_on_tinker(tmp_path: Path, shared_data: Path) -> None:
    """Two real steps of a small model on Tinker, exported and converted (costs a few cents)."""
    if not os.environ.get("TINKER_API_KEY"):
        pytest.skip("TINKER_API_KEY is not set")
    from compression_layer.training.data import build_dataset

    build_dataset([shared_data / "seed-pairs"], tmp_path / "ds")
    config = {
        "data": str(tmp_path / "ds"),
        "iters": 2,
        "batch_size": 2,
        "steps_per_eval": 2,
        "val_batches": 1,
        "save_every": 1,
        "name": "live-tinker",
        "out": str(tmp_path / "runs"),
        "register_adapter": False,
        "tinker": {
            "base_model": "Qwen/Qwen3-4B-Instruct-2507",
            "rank": 8,
            "eval_samples": 1,
            "max_new_tokens": 32,
        },
    }
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    # The tokenizer comes from the Hugging Face Hub: run without the suite's offline switches.
    env = {
        k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    }
    done = cli("--config", str(path), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "live-tinker"
    assert len([r for r in rows_of(run / "metrics.jsonl") if "train_loss" in r]) == 2
    assert (run / "peft" / "adapter_model.safetensors").is_file()
    assert (run / "adapter" / "adapters.safetensors").is_file()
