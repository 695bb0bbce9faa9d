"""Hot-swap benchmark: 20 adapter swaps in a row while clients keep compressing.

Builds the tiny random Qwen3 and two LoRA adapters of the generative tests (no download), registers
both in a temporary registry, serves them through an :class:`AdapterSlot` + ``watch_registry``
with ``--clients`` concurrent request loops, and promotes A and B alternately ``--swaps`` times.
Measured: failed requests, swap latency (from calling ``promote`` to the first request completed
by the new adapter) and resident memory (RSS) after each swap. The gate evaluator is a constant
(the gate is not what is timed). Writes ``bench/results/hotswap.json``.

Targets: zero failed requests; RSS within 10% of the first swap; swap latency under 2 s.

    .venv/bin/python bench/hotswap.py [--swaps 20] [--clients 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests" / "support"))

TEXT = "The meeting moved to Tuesday in room 42 with Alice; revenue grew 12% in 2023."


def rss_mb() -> float:
    return round(psutil.Process().memory_info().rss / 2**20, 1)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def run(work: Path, swaps: int, clients: int) -> dict[str, Any]:
    from tiny_qwen import PROMPTS, TARGET_A, TARGET_B, build_tiny_qwen3, chat_rows
    from tiny_qwen import train_tiny_adapter as train

    model = build_tiny_qwen3(work / "model")
    folders = {
        "a": train(model, work / "a", chat_rows(PROMPTS, TARGET_A), name="a"),
        "b": train(model, work / "b", chat_rows(PROMPTS, TARGET_B), name="b"),
    }
    os.environ["COMPRESSION_LAYER_HOME"] = str(work / "home")
    os.environ["COMPRESSION_LAYER_GENERATIVE__BASE_MODEL"] = str(model)
    os.environ["COMPRESSION_LAYER_GENERATIVE__MAX_NEW_TOKENS"] = "8"

    from compression_layer.adapters.registry import AdapterRegistry
    from compression_layer.compress.types import CompressRequest, Domain
    from compression_layer.server.hotswap import AdapterSlot, watch_registry
    from compression_layer.training.gate import GateMetrics, promote

    def constant_gate(record: Any) -> GateMetrics:
        return GateMetrics(token_reduction=0.5, fact_retention=1.0, answer_retention=1.0)

    registry = AdapterRegistry()
    for folder in folders.values():
        registry.register(folder)
    promote(registry, "a", evaluator=constant_gate)
    slot = AdapterSlot("generative")
    await slot.refresh()

    prose = Domain(kind="prose", confidence=1.0)
    request = CompressRequest(engine="generative", rate=0.5, target_tokens=None)
    done: list[tuple[float, str | None]] = []  # (completion time, adapter)
    errors: list[str] = []
    stop = asyncio.Event()

    async def client() -> None:
        while not stop.is_set():
            engine = slot.engine
            try:
                out = await anyio.to_thread.run_sync(engine.run, TEXT, prose, request)
            except Exception as exc:  # counted: the target is zero
                errors.append(repr(exc))
            else:
                done.append((time.perf_counter(), out.adapter))

    latencies: list[float] = []
    rss: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_registry, slot, stop)
        for _ in range(clients):
            tg.start_soon(client)
        with anyio.fail_after(60):
            while len(done) < 4:
                await anyio.sleep(0.01)
        for i in range(swaps):
            target = "b" if i % 2 == 0 else "a"
            seen = len(done)
            started = time.perf_counter()
            promote(registry, target, evaluator=constant_gate)
            with anyio.fail_after(60):
                while not any(a == target for _, a in done[seen:]):
                    await anyio.sleep(0.005)
            first = next(t for t, a in done[seen:] if a == target)
            latencies.append((first - started) * 1000)
            rss.append(rss_mb())
        stop.set()

    growth = (max(rss) - rss[0]) / rss[0] * 100
    return {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        },
        "model": "tiny random Qwen3 (2 layers, hidden 64) + LoRA rank 4 adapters, CPU (mlx[cpu])",
        "clients": clients,
        "swaps": swaps,
        "swaps_recorded_by_slot": slot.swaps,
        "requests": len(done),
        "failed_requests": len(errors),
        "errors": errors[:5],
        "swap_latency_ms": {
            "p50": round(statistics.median(latencies), 1),
            "p95": pct(latencies, 0.95),
            "max": round(max(latencies), 1),
            "all": [round(x, 1) for x in latencies],
        },
        "rss_mb": {"first_swap": rss[0], "max": max(rss), "last": rss[-1], "all": rss},
        "rss_growth_pct_vs_first_swap": round(growth, 2),
        "targets": {
            "zero_failed_requests": not errors,
            "rss_within_10pct": growth <= 10.0,
            "swap_latency_under_2s": max(latencies) < 2000.0,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--swaps", type=int, default=20)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "hotswap.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="hotswap-bench-") as tmp:
        result = asyncio.run(run(Path(tmp), args.swaps, args.clients))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("failed_requests", "swap_latency_ms", "targets")}))


if __name__ == "__main__":
    main()
