"""Large inputs through ``compress_context``: server wall time and peak memory, both transports.

Each case starts a fresh ``python -m compression_layer.server serve`` process (stdio through the
SDK's stdio client, or streamable HTTP through its HTTP client), warms it with one 100 KB call
(the worker process that large texts run in loads its engine there), then times one call:

- ``prose_stdio``: 4.9 MB of prose, the default rate, stdio (the result is delivered);
- ``prose_http``: the same over HTTP: the result would be over the 1 MiB one server-sent event
  may carry, so it is refused up front, before any work;
- ``prose_http_budget``: the same with ``target_tokens=150000``: still refused up front, since
  the facts, operators and layout a lossy engine always keeps are over 1 MiB on their own;
- ``prose_2mb_http_budget``: 2 MB of the same prose with ``target_tokens=150000`` over HTTP:
  delivered (sent once, just under the limit);
- ``word_line_stdio``: one line of 1,000,000 characters, ``word word word ...``;
- ``token_line_stdio``: one 1,000,000-character token without a space;
- ``query_4mb``: a 4 MB ``query``: refused (``compress.max_query_chars``).

The prose is SQuAD and NaturalQuestions passages read from ``../shared/data`` (never copied into
the repository), paragraphs shuffled in every pass so no stretch of the input repeats; the case
is skipped with a message when the folder is absent. Peak memory is the largest sum of resident
set sizes over the server and its child processes (polled every 50 ms with psutil, or /proc),
what the machine must hold for the call; CPU seconds of that process tree are recorded beside
the wall time, which other jobs on a shared machine stretch. While the call runs, ``memory_list``
is called every 250 ms on the same connection: how long the server takes to answer meanwhile.
``--src`` runs the server from another source tree (``git archive HEAD src | tar -x -C
/tmp/before`` gives the code before a change), ``--label`` names the section of
``bench/results/large_input.json`` the numbers go to.

    .venv/bin/python bench/large_input.py [--cases prose_stdio,prose_http] [--runs 3]
    .venv/bin/python bench/large_input.py --src /tmp/before/src --label before --runs 1
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "large_input.json"
DATA = ROOT.parent / "shared" / "data"
PROSE_BYTES = 4_900_000
LINE_CHARS = 1_000_000
TIMEOUT_S = 900


def prose(target: int = PROSE_BYTES, seed: int = 0) -> str | None:
    """About ``target`` bytes of real prose, or None when the shared data is absent."""
    squad = DATA / "squad" / "squad_dev_part_a.json"
    nq = DATA / "nq-open" / "nq_open_oracle_part_a.jsonl.gz"
    if not squad.is_file() or not nq.is_file():
        return None
    paragraphs = [
        p["context"]
        for article in json.loads(squad.read_text(encoding="utf-8"))["data"]
        for p in article["paragraphs"]
    ]
    with gzip.open(nq, "rt", encoding="utf-8") as handle:
        paragraphs += [c["text"] for line in handle for c in json.loads(line)["ctxs"]]
    unique = list(dict.fromkeys(p.strip() for p in paragraphs if p.strip()))
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while True:
        rng.shuffle(unique)  # a new order each pass: no chunk of the input repeats
        for paragraph in unique:
            n = len(paragraph.encode("utf-8")) + 2
            if size + n > target:
                return "\n\n".join(out)
            out.append(paragraph)
            size += n


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants."""
    try:
        import psutil

        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        total = 0
        for p in procs:
            with suppress(psutil.Error):
                total += p.memory_info().rss
        return total
    except ImportError:  # /proc: this process and its direct children's trees
        return _proc_rss(pid)
    except Exception:
        return 0


def tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its descendants (psutil only)."""
    if pid is None:
        return 0.0
    try:
        import psutil

        proc = psutil.Process(pid)
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            with suppress(psutil.Error):
                times = p.cpu_times()
                total += times.user + times.system
        return total
    except Exception:
        return 0.0


def _proc_rss(pid: int) -> int:
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text(encoding="utf-8").split()
            total += sum(_proc_rss(int(c)) for c in children)
    except OSError:
        pass
    return total


@contextmanager
def peak_rss(pid_of: Callable[[], int | None]) -> Iterator[dict[str, int]]:
    """Poll the RSS of the process tree every 50 ms while the block runs; ``peak`` in bytes."""
    seen = {"peak": 0, "start": 0}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            pid = pid_of()
            if pid is not None:
                rss = tree_rss(pid)
                seen["start"] = seen["start"] or rss
                seen["peak"] = max(seen["peak"], rss)
            stop.wait(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


def server_env(workdir: Path, src: Path | None) -> dict[str, str]:
    from compression_layer.minilm import cache_dir

    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "COMPRESSION_LAYER_HOME": str(workdir / "home"),
        "COMPRESSION_LAYER_CONFIG_DIR": str(workdir / "configs"),
        # The exported encoder is reused from the usual cache, not rebuilt in the temp home.
        "COMPRESSION_LAYER_MODEL_CACHE": str(cache_dir()),
        "COMPRESSION_LAYER_SERVER__ROOTS": json.dumps([str(workdir)]),
    }
    env.pop("COMPRESSION_LAYER_TOKEN", None)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    (workdir / "configs").mkdir(exist_ok=True)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def summarise(result: Any, started: float) -> dict[str, Any]:
    out: dict[str, Any] = {"wall_s": round(time.perf_counter() - started, 2)}
    text = "".join(b.text for b in result.content if getattr(b, "type", "") == "text")
    out["delivered"] = not result.is_error
    if result.is_error:
        out["error"] = text[:400]
        return out
    data = result.structured_content or {}
    out["content_bytes"] = len(text.encode("utf-8"))
    out["structured_text_duplicated"] = data.get("compressed") is not None
    for key in ("engine", "tokens_original", "tokens_compressed", "ratio"):
        out[key] = data.get(key)
    out["facts_missing"] = len(data.get("facts_missing") or [])
    out["operators_missing"] = len(data.get("operators_missing") or [])
    out["notes"] = (data.get("notes") or [])[:3]
    return out


async def probe(client: Client, stop: asyncio.Event, timings: list[float]) -> None:
    """``memory_list`` every 250 ms until ``stop``: does the server answer during the work?"""
    while not stop.is_set():
        started = time.perf_counter()
        await client.call_tool("memory_list", {})
        timings.append((time.perf_counter() - started) * 1000)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def run_calls(
    client: Client, warm: dict[str, Any], call: dict[str, Any], pid_of: Callable[[], int | None]
) -> dict[str, Any]:
    started = time.perf_counter()
    await client.call_tool("compress_context", warm)
    await client.call_tool("memory_list", {})  # returns once the background warm-up is done
    warm_s = round(time.perf_counter() - started, 2)
    timings: list[float] = []
    stop = asyncio.Event()
    prober = asyncio.create_task(probe(client, stop, timings))
    cpu_before = tree_cpu(pid_of())
    with peak_rss(pid_of) as rss:
        started = time.perf_counter()
        try:
            result = await client.call_tool("compress_context", call)
            out = summarise(result, started)
        except Exception as exc:  # what a client sees when the result never arrives
            out = {
                "wall_s": round(time.perf_counter() - started, 2),
                "delivered": False,
                "client_error": f"{type(exc).__name__}: {exc}"[:400],
            }
        finally:
            stop.set()
            await prober
    # CPU time is steadier than wall time on a machine other jobs share.
    out["server_cpu_s"] = round(tree_cpu(pid_of()) - cpu_before, 2)
    out["warm_call_s"] = warm_s
    out["rss_before_mb"] = round(rss["start"] / 2**20, 1)
    out["peak_rss_mb"] = round(rss["peak"] / 2**20, 1)
    if timings:
        ordered = sorted(timings)
        out["memory_list_during_ms"] = {
            "calls": len(ordered),
            "p50": round(ordered[len(ordered) // 2], 1),
            "max": round(ordered[-1], 1),
        }
    return out


def _own_children() -> int | None:
    """The stdio server: the one child process of this benchmark."""
    try:
        import psutil

        kids = psutil.Process().children()
        return kids[0].pid if kids else None
    except ImportError:
        children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
        pids = children.read_text(encoding="utf-8").split()
        return int(pids[0]) if pids else None


async def over_stdio(
    env: dict[str, str], workdir: Path, warm: dict[str, Any], call: dict[str, Any]
) -> dict[str, Any]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "compression_layer.server", "serve"],
        env=env,
        cwd=str(workdir),
    )
    async with Client(params, read_timeout_seconds=TIMEOUT_S) as client:
        return await run_calls(client, warm, call, _own_children)


async def over_http(
    env: dict[str, str], workdir: Path, warm: dict[str, Any], call: dict[str, Any]
) -> dict[str, Any]:
    port = free_port()
    cmd = [sys.executable, "-m", "compression_layer.server", "serve", "--transport", "http"]
    cmd += ["--port", str(port)]
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(240):  # bounded: two minutes for imports and the engines
            if proc.poll() is not None:
                raise RuntimeError((workdir / "server.log").read_text(encoding="utf-8"))
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        url = f"http://127.0.0.1:{port}/mcp"
        async with (
            httpx2.AsyncClient(timeout=TIMEOUT_S) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            return await run_calls(client, warm, call, lambda: proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def cases(text: str | None) -> dict[str, tuple[str, dict[str, Any]]]:
    line = ("word " * (LINE_CHARS // 5))[:LINE_CHARS]
    token = "ab" * (LINE_CHARS // 2)
    out: dict[str, tuple[str, dict[str, Any]]] = {
        "word_line_stdio": ("stdio", {"text": line}),
        "token_line_stdio": ("stdio", {"text": token}),
        "query_4mb": (
            "stdio",
            {"text": "What did the committee decide?", "query": "why " * 1_000_000},
        ),
    }
    if text is not None:
        out["prose_stdio"] = ("stdio", {"text": text})
        out["prose_http"] = ("http", {"text": text})
        out["prose_http_budget"] = ("http", {"text": text, "target_tokens": 150_000})
        two_mb = text[: text.index("\n\n", 2_000_000)]
        out["prose_2mb_http_budget"] = ("http", {"text": two_mb, "target_tokens": 150_000})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--runs", type=int, default=3, help="runs of prose_stdio (median)")
    parser.add_argument("--src", type=Path, default=None, help="server source tree (PYTHONPATH)")
    parser.add_argument("--label", default="after", help="section of the results file")
    args = parser.parse_args()
    text = prose()
    if text is None:
        print(f"skipping the prose cases: {DATA} not found", file=sys.stderr)
    table = cases(text)
    chosen = [c for c in args.cases.split(",") if c] or list(table)
    warm = {"text": (text or "The committee met on Monday. " * 4000)[:100_000]}
    section: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        },
        "source": str(args.src or ROOT / "src"),
        "cases": {},
    }
    for name in chosen:
        transport, call = table[name]
        runs = []
        for i in range(args.runs if name == "prose_stdio" else 1):
            with tempfile.TemporaryDirectory() as tmp:
                workdir = Path(tmp)
                env = server_env(workdir, args.src)
                go = over_stdio if transport == "stdio" else over_http
                run = asyncio.run(go(env, workdir, warm, call))
            run["load_average_1m"] = round(os.getloadavg()[0], 2)
            print(name, i, json.dumps(run)[:600], file=sys.stderr, flush=True)
            runs.append(run)
        entry: dict[str, Any] = {"transport": transport, "runs": runs}
        entry["input_bytes"] = len(json.dumps(call).encode("utf-8"))
        entry["median_wall_s"] = statistics.median(r["wall_s"] for r in runs)
        entry["median_server_cpu_s"] = statistics.median(r.get("server_cpu_s", 0) for r in runs)
        entry["median_peak_rss_mb"] = statistics.median(r["peak_rss_mb"] for r in runs)
        section["cases"][name] = entry
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    results["targets"] = {
        "prose_stdio": "5 MB prose: peak server memory < 1.5 GB, < 60 s, result delivered",
        "prose_http": "delivered, or refused up front with a clear error (never lost)",
    }
    merged = results.get(args.label, {})
    merged.update({k: v for k, v in section.items() if k != "cases"})
    merged.setdefault("cases", {}).update(section["cases"])
    results[args.label] = merged
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
