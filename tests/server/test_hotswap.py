"""Hot-swap: a slot serves the active adapter (else its default) and swaps on registry changes,
under load; a rollback to no adapter returns it to the default."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from adapter_fakes import FakeEvaluator, force_active, make_adapter, packaged_copy
from compression_layer.adapters.check import AdapterError
from compression_layer.adapters.registry import AdapterRegistry
from compression_layer.compress.types import CompressRequest, Domain, EngineOutput
from compression_layer.errors import EngineError
from compression_layer.server.hotswap import AdapterSlot, Target, watch_registry
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


def fake_loader(target: Target) -> NamedEngine:
    """Fails for a registry adapter whose weights are gone; echoes the adapter it serves."""
    if target.source == "registry" and not any(target.path.glob("*.safetensors")):  # type: ignore[union-attr]
        raise EngineError(f"weights of {target.name} are gone")
    return NamedEngine(target.name)


def test_slot_swaps_and_in_flight_requests_keep_their_engine(tmp_path: Path) -> None:
    registry = AdapterRegistry()
    for name in ("a", "b"):
        registry.register(make_adapter(tmp_path / name))
    registry.activate("a")
    slot = AdapterSlot("generative", loader=fake_loader)
    assert slot.load_active() is True and slot.active_name == "a"
    assert slot.last_swap is None and slot.swaps == 0  # the first load is not a swap
    in_flight = slot.engine  # a request grabs its engine once
    registry.activate("b")
    assert slot.load_active() is True
    assert in_flight.run(TEXT, PROSE, REQUEST).text.startswith("a:")
    assert slot.engine.run(TEXT, PROSE, REQUEST).text.startswith("b:")
    assert slot.load_active() is False  # pointer unchanged: no reload
    swap = slot.last_swap
    assert swap is not None and (swap.from_adapter, swap.to_adapter) == ("a", "b")
    info = slot.status()
    assert (info.name, info.source, info.swaps) == ("b", "registry", 1)
    assert info.last_swap == swap.at and info.metrics == {"token_reduction": 0.5}


def test_failed_load_keeps_the_old_engine_until_the_pointer_moves(tmp_path: Path) -> None:
    registry = AdapterRegistry()
    registry.register(make_adapter(tmp_path / "a"))
    registry.register(make_adapter(tmp_path / "gone"))
    registry.activate("a")
    calls: list[str | None] = []

    def counting(target: Target) -> NamedEngine:
        calls.append(target.name)
        return fake_loader(target)

    slot = AdapterSlot("generative", loader=counting)
    slot.load_active()
    (registry.show("gone").path / "adapters.safetensors").unlink()
    registry.activate("gone")
    assert slot.load_active() is False
    assert slot.load_active() is False  # not retried while the pointer stays
    assert calls == ["a", "gone"]
    st = slot.status()
    assert st.name == "a" and st.registry_active == "gone" and st.loaded
    assert st.last_error is not None and "weights of gone are gone" in st.last_error
    assert slot.engine.run(TEXT, PROSE, REQUEST).adapter == "a"
    registry.rollback("generative")
    assert slot.load_active() is False  # back on the one served: nothing to load
    assert slot.status().last_error is None and slot.status().registry_active == "a"


def test_rollback_to_no_adapter_serves_the_default_again(tmp_path: Path) -> None:
    """The bug this slot fixes: a rollback that leaves nothing active kept the old adapter."""
    registry = AdapterRegistry()
    registry.register(packaged_copy(tmp_path / "mine"))
    slot = AdapterSlot("extractive", loader=fake_loader)  # default: the packaged adapter
    assert slot.load_active() is True
    assert (slot.served.source, slot.active_name) == ("packaged", "extractive-default")  # type: ignore[union-attr]
    registry.activate("mine")
    assert slot.load_active() is True and slot.active_name == "mine"
    assert registry.rollback("extractive") is None
    assert slot.load_active() is True
    info = slot.status()
    assert (info.name, info.source, info.registry_active) == (
        "extractive-default",
        "packaged",
        None,
    )
    assert slot.engine.adapter == "extractive-default" and slot.swaps == 2
    assert slot.last_swap is not None and slot.last_swap.to_source == "packaged"

    nothing = AdapterSlot("generative", loader=fake_loader)  # generative: no default at all
    registry.register(make_adapter(tmp_path / "g"))
    registry.activate("g")
    nothing.load_active()
    registry.rollback("generative")
    assert nothing.load_active() is True
    assert nothing.status().source == "none" and nothing.status().name is None


def test_a_broken_registry_adapter_at_start_falls_back_to_the_default(tmp_path: Path) -> None:
    registry = AdapterRegistry()
    broken = packaged_copy(tmp_path / "broken")
    registry.register(broken)
    (registry.show("broken").path / "head.safetensors").unlink()  # after register's checks
    registry.activate("broken")
    slot = AdapterSlot("extractive", loader=fake_loader)
    assert slot.load_active() is True
    st = slot.status()
    assert (st.name, st.source, st.registry_active) == ("extractive-default", "packaged", "broken")
    assert st.last_error is not None and "weights of broken are gone" in st.last_error


def test_first_load_failure_raises(tmp_path: Path) -> None:
    def broken(target: Target) -> Any:
        raise EngineError("base model not on this machine")

    slot = AdapterSlot("generative", loader=broken)
    with pytest.raises(EngineError, match="not on this machine"):
        slot.load_active()
    with pytest.raises(EngineError, match="no generative engine loaded"):
        _ = slot.engine
    assert slot.status().loaded is False


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

    slot = AdapterSlot("generative")  # the real loader: tiny Qwen3 + LoRA copy
    await slot.refresh()
    served: list[EngineOutput] = []
    stop = asyncio.Event()

    async def client() -> None:
        # A failed request raises out of the task group, failing the test with its error.
        while not stop.is_set():
            engine = slot.engine  # grabbed once per request, as the server does
            served.append(await anyio.to_thread.run_sync(engine.run, TEXT, PROSE, REQUEST))

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_registry, slot, stop)
        tg.start_soon(client)
        await wait_for(lambda: len(served) >= 2, "requests served by a")
        assert {o.adapter for o in served} == {"a"}

        promote(registry, "b", evaluator=gate)
        await wait_for(lambda: served[-1].adapter == "b", "a request served by b")
        st = slot.status()
        assert st.name == "b" and st.last_swap is not None
        assert slot.last_swap is not None
        assert (slot.last_swap.from_adapter, slot.last_swap.to_adapter) == ("a", "b")
        a_text = next(o.text for o in served if o.adapter == "a")
        assert served[-1].text != a_text

        registry.rollback("generative")
        await wait_for(lambda: served[-1].adapter == "a", "rollback serves a again")
        assert slot.status().name == "a"

        force_active(registry, corrupt, "corrupt")
        await wait_for(lambda: slot.last_error is not None, "the corrupt load is reported")
        n = len(served)
        await wait_for(lambda: len(served) >= n + 2, "requests after the failed swap")
        assert {o.adapter for o in served[n:]} == {"a"}
        st = slot.status()
        assert st.name == "a" and st.registry_active == "corrupt"
        assert st.last_error is not None and "corrupt" in st.last_error

        registry.rollback("generative")
        await wait_for(lambda: slot.status().last_error is None, "rollback clears the error")
        stop.set()
    assert slot.status().name == "a" and slot.swaps == 2  # a -> b -> a; the first load is none
