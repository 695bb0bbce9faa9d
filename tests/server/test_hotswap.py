"""Hot-swap: the holder serves the active adapter and swaps on registry changes, under load."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from adapter_fakes import FakeEvaluator, force_active, make_adapter
from compression_layer.adapters.check import AdapterError
from compression_layer.adapters.registry import AdapterRecord, AdapterRegistry
from compression_layer.compress.types import CompressRequest, Domain, EngineOutput
from compression_layer.errors import EngineError
from compression_layer.server.hotswap import EngineHolder, status, watch_registry
from compression_layer.training.gate import promote

PROSE = Domain(kind="prose", confidence=1.0)
REQUEST = CompressRequest(engine="generative", rate=0.5, target_tokens=None)
TEXT = "The meeting moved to Tuesday in room 42."
WAIT_S = 30.0  # upper bound of every polling wait; they normally end in well under a second


async def wait_for(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until true, failing after WAIT_S seconds."""
    with anyio.fail_after(WAIT_S):
        while not check():
            await anyio.sleep(0.02)
    assert check(), what


class NamedEngine:
    """Echoes the adapter it was loaded from."""

    name = "generative"

    def __init__(self, adapter: str | None) -> None:
        self.adapter = adapter

    def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput:
        return EngineOutput(f"{self.adapter}:{text}", self.name, self.adapter)


def fake_loader(record: AdapterRecord | None) -> NamedEngine:
    if record is not None and not (record.path / "adapters.safetensors").is_file():
        raise EngineError(f"weights of {record.name} are gone")
    return NamedEngine(record.name if record else None)


def test_holder_swaps_and_in_flight_requests_keep_their_engine(tmp_path: Path) -> None:
    registry = AdapterRegistry()
    for name in ("a", "b"):
        registry.register(make_adapter(tmp_path / name))
    registry.activate("a")
    holder = EngineHolder("generative", loader=fake_loader)
    assert holder.load_active() is True and holder.active_name == "a"
    in_flight = holder.engine  # a request grabs its engine once
    registry.activate("b")
    assert holder.load_active() is True
    assert in_flight.run(TEXT, PROSE, REQUEST).text.startswith("a:")
    assert holder.engine.run(TEXT, PROSE, REQUEST).text.startswith("b:")
    assert holder.load_active() is False  # pointer unchanged: no reload
    swap = holder.status().last_swap
    assert swap is not None and (swap.from_adapter, swap.to_adapter) == ("a", "b")


def test_failed_load_keeps_the_old_engine_until_the_pointer_moves(tmp_path: Path) -> None:
    registry = AdapterRegistry()
    registry.register(make_adapter(tmp_path / "a"))
    registry.register(make_adapter(tmp_path / "gone"))
    registry.activate("a")
    holder = EngineHolder("generative", loader=fake_loader)
    holder.load_active()
    (registry.show("gone").path / "adapters.safetensors").unlink()
    registry.activate("gone")
    assert holder.load_active() is False
    st = holder.status()
    assert st.active == "a" and st.registry_active == "gone"
    assert st.last_error is not None and "weights of gone are gone" in st.last_error
    assert holder.engine.run(TEXT, PROSE, REQUEST).adapter == "a"
    registry.rollback("generative")
    holder.load_active()
    assert holder.status().last_error is None and holder.status().registry_active == "a"


def test_first_load_failure_raises(tmp_path: Path) -> None:
    def broken(record: AdapterRecord | None) -> Any:
        raise EngineError("base model not on this machine")

    holder = EngineHolder("generative", loader=broken)
    with pytest.raises(EngineError, match="not on this machine"):
        holder.load_active()
    with pytest.raises(EngineError, match="no generative engine loaded"):
        _ = holder.engine


async def test_promote_under_load_swaps_then_corrupt_is_refused_then_rollback(
    tiny_model: Path,
    tiny_adapters: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__BASE_MODEL", str(tiny_model))
    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__MAX_NEW_TOKENS", "6")
    registry = AdapterRegistry()
    for name in ("a", "b"):
        registry.register(tiny_adapters[name])
    gate = FakeEvaluator({"a": (0.5, 0.9, 0.9), "b": (0.55, 0.9, 0.9)})
    promote(registry, "a", evaluator=gate)

    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_adapters["a"], corrupt)
    weights = corrupt / "adapters.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(AdapterError, match="truncated"):
        registry.register(corrupt)

    holder = EngineHolder("generative")  # the real loader: tiny Qwen3 + LoRA copy
    await holder.refresh()
    served: list[EngineOutput] = []
    stop = asyncio.Event()

    async def client() -> None:
        # A failed request raises out of the task group, failing the test with its error.
        while not stop.is_set():
            engine = holder.engine  # grabbed once per request, as the server does
            served.append(await anyio.to_thread.run_sync(engine.run, TEXT, PROSE, REQUEST))

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_registry, holder, stop)
        tg.start_soon(client)
        await wait_for(lambda: len(served) >= 2, "requests served by a")
        assert {o.adapter for o in served} == {"a"}

        promote(registry, "b", evaluator=gate)
        await wait_for(lambda: served[-1].adapter == "b", "a request served by b")
        st = status([holder]).kinds["generative"]
        assert st.active == "b" and st.last_swap is not None
        assert (st.last_swap.from_adapter, st.last_swap.to_adapter) == ("a", "b")
        a_text = next(o.text for o in served if o.adapter == "a")
        assert served[-1].text != a_text

        registry.rollback("generative")
        await wait_for(lambda: served[-1].adapter == "a", "rollback serves a again")
        assert holder.status().active == "a"

        force_active(registry, corrupt, "corrupt")
        await wait_for(lambda: holder.last_error is not None, "the corrupt load is reported")
        n = len(served)
        await wait_for(lambda: len(served) >= n + 2, "requests after the failed swap")
        assert {o.adapter for o in served[n:]} == {"a"}
        st = holder.status()
        assert st.active == "a" and st.registry_active == "corrupt"
        assert st.last_error is not None and "corrupt" in st.last_error

        registry.rollback("generative")
        await wait_for(lambda: holder.status().last_error is None, "rollback clears the error")
        stop.set()
    assert holder.status().active == "a" and holder.swaps == 3
