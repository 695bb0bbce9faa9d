"""What the model reads: tokens of every MCP tool's text content, through real clients.

A tool that saves tokens must not spend them on its own envelope. This starts the real server
twice, ``compression-layer serve`` on stdio (the SDK's stdio client spawns it) and
``serve --transport http`` (the SDK's streamable HTTP client), calls every tool on prose (SQuAD),
code (the packaged ``sample_service.py``), JSON (an API response) and log inputs, and counts the
o200k_base tokens of the text of every content block the client receives: what a model is shown.

Beside them, for comparison:

- ``json_envelope``: the tokens the text content cost before (the whole result object as
  indented JSON, the compressed text escaped inside);
- ``structured_json``: the structured content as compact JSON, which is what a client that shows
  the model ``structuredContent`` instead of the text would spend (Claude Code does, see
  anthropics/claude-code#55677).

Targets for ``compress_context``: model-visible tokens <= the engine's tokens_compressed + 40 and
never more than tokens_original. For the other tools: at most 50 tokens per item on top of the
texts they carry (a memory id alone is 33 tokens); ``memory_list`` at most 60 per memory (its id,
figures and a preview of up to 60 characters).

    .venv/bin/python bench/mcp_tokens.py

Writes ``bench/results/mcp_tokens.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from compression_layer.compress.reversible import MARKER_RE, selector_of
from compression_layer.tokens import count_tokens

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SQUAD = ROOT.parent / "shared" / "data" / "squad"
CODE = ROOT / "src" / "compression_layer" / "data" / "samples" / "sample_service.py"
BUDGET = 40  # tokens the figures line may add to the engine's output
PER_ITEM = 50  # tokens a memory tool may add per item on top of the texts it carries
NEW_FIELDS = ("text_form", "tokens_visible")
PER_LISTED = 60  # tokens per memory_list line: id, figures and a short preview


def squad_paragraphs() -> list[str] | None:
    """Paragraphs of the first SQuAD article in the shared data, or None when it is absent."""
    files = sorted(SQUAD.glob("*.json")) if SQUAD.is_dir() else []
    if not files:
        return None
    data = json.loads(files[0].read_text(encoding="utf-8"))
    return [p["context"] for p in data["data"][0]["paragraphs"]]


def api_response() -> str:
    """A page of an orders API as a client gets it: pretty-printed, nested, repetitive keys."""
    rng = random.Random(7)
    names = [
        "Alice Chen",
        "Bruno Silva",
        "Chiara Rossi",
        "Dmitri Ivanov",
        "Emeka Obi",
        "Fatima Zahra",
    ]
    cities = [("Berlin", "DE", "10115"), ("Lisbon", "PT", "1100-148"), ("Milan", "IT", "20121")]
    start = datetime(2024, 3, 14, 9, 0, tzinfo=UTC)
    orders = []
    for i in range(8):
        name = names[i % len(names)]
        city, country, postcode = cities[i % len(cities)]
        items = [
            {
                "sku": f"SKU-{rng.randint(1000, 9999)}",
                "name": rng.choice(["USB-C cable", "Laptop stand", "Keyboard", "Monitor arm"]),
                "quantity": rng.randint(1, 4),
                "unit_price": {"amount": rng.choice([1299, 4999, 8900, 12900]), "currency": "EUR"},
            }
            for _ in range(rng.randint(1, 3))
        ]
        total = sum(it["quantity"] * it["unit_price"]["amount"] for it in items)  # type: ignore[operator,index]
        created = start + timedelta(minutes=37 * i)
        orders.append(
            {
                "id": f"ord_{rng.getrandbits(40):010x}",
                "status": rng.choice(["paid", "shipped", "delivered", "refunded"]),
                "created_at": created.isoformat().replace("+00:00", "Z"),
                "updated_at": (created + timedelta(hours=5)).isoformat().replace("+00:00", "Z"),
                "customer": {
                    "id": f"cus_{rng.getrandbits(32):08x}",
                    "name": name,
                    "email": name.lower().replace(" ", ".") + "@example.com",
                },
                "shipping_address": {
                    "line1": f"{rng.randint(1, 200)} Market Street",
                    "city": city,
                    "postal_code": postcode,
                    "country": country,
                },
                "items": items,
                "total": {"amount": total, "currency": "EUR"},
                "metadata": {"channel": rng.choice(["web", "ios", "android"]), "coupon": None},
            }
        )
    body = {
        "object": "list",
        "url": "/v1/orders",
        "has_more": True,
        "next_cursor": "ord_cursor_2f9a",
        "data": orders,
    }
    return json.dumps(body, indent=2)


def service_log() -> str:
    """An application log: request lines, health checks, a retry storm and one traceback."""
    return service_log_run(0)


def service_log_run(run: int) -> str:
    """``service_log`` for run ``run``: another seed, 48 lines later in time."""
    rng = random.Random(11 + run)
    t = datetime(2024, 5, 14, 9, 12, 3, 412000, tzinfo=UTC) + timedelta(minutes=run)
    paths = ["/v1/orders", "/v1/orders/ord_8f3a", "/v1/customers/cus_91be", "/v1/invoices"]
    lines = []
    for i in range(48):
        t += timedelta(milliseconds=rng.randint(40, 900))
        stamp = t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        req = f"req_{rng.getrandbits(32):08x}"
        if i % 6 == 0:
            lines.append(f"{stamp} DEBUG [health] GET /healthz 200 1ms")
        elif 20 <= i < 26:
            lines.append(
                f"{stamp} WARN  [payments] {req} upstream timeout after 5000ms calling "
                f"https://psp.example.com/charges (attempt {i - 19}/5), "
                f"retrying in {2 ** (i - 20)}s"
            )
        elif i == 26:
            lines.append(f"{stamp} ERROR [payments] {req} charge failed: PSPTimeout")
            lines += [
                "Traceback (most recent call last):",
                '  File "/srv/app/payments/client.py", line 88, in charge',
                "    response = self._session.post(url, json=payload, timeout=5)",
                '  File "/srv/app/payments/client.py", line 41, in post',
                "    raise PSPTimeout(url, elapsed_ms=5003)",
                "payments.errors.PSPTimeout: https://psp.example.com/charges after 5003 ms",
            ]
        else:
            path = rng.choice(paths)
            status = rng.choice([200, 200, 200, 201, 404])
            ms = rng.randint(8, 140)
            user = f"u_{rng.randint(1000, 1099)}"
            lines.append(
                f"{stamp} INFO  [api] {req} {rng.choice(['GET', 'POST'])} {path} {status} "
                f"{ms}ms user={user}"
            )
    return "\n".join(lines) + "\n"


def inputs() -> tuple[dict[str, dict[str, Any]], list[str]]:
    """name -> {arguments, original, domain}; and why any input was skipped."""
    skipped: list[str] = []
    out: dict[str, dict[str, Any]] = {}
    paragraphs = squad_paragraphs()
    if paragraphs is None:
        skipped.append(f"prose: no SQuAD data under {SQUAD} (the shared data folder is absent)")
    else:
        out["prose"] = {"original": paragraphs[0], "kind": "prose (SQuAD paragraph)"}
        long = "\n\n".join(paragraphs[:6])
        out["prose_long"] = {"original": long, "kind": "prose (6 SQuAD paragraphs)"}
    code = CODE.read_text(encoding="utf-8")
    out["code"] = {"original": code, "kind": "Python (sample_service.py)"}
    out["code_path"] = {
        "original": code,
        "kind": "Python via paths",
        "arguments": {"paths": [CODE.name]},
    }
    out["json"] = {"original": api_response(), "kind": "JSON API response"}
    out["log"] = {"original": service_log(), "kind": "service log"}
    # The reversible tier: a budget, so the lossy passes run and leave markers to retrieve.
    long_log = "".join(service_log_run(seed) for seed in range(40))
    out["log_rate"] = {
        "original": long_log,
        "kind": "service log x40, rate 0.05",
        "arguments": {"text": long_log, "rate": 0.05},
    }
    out["json_rate"] = {
        "original": api_response(),
        "kind": "JSON API response, rate 0.2 + query",
        "arguments": {"text": api_response(), "rate": 0.2, "query": "failed"},
    }
    out["code_rate"] = {
        "original": code,
        "kind": "Python, rate 0.4 (skeleton)",
        "arguments": {"text": code, "rate": 0.4},
    }
    for item in out.values():
        item.setdefault("arguments", {"text": item["original"]})
    return out, skipped


def visible(result: CallToolResult) -> int:
    """Tokens of what the model is shown: the text of every content block."""
    return sum(count_tokens(block.text) for block in result.content if block.type == "text")


def envelope_tokens(structured: dict[str, Any]) -> tuple[int, int]:
    """(indented JSON as the old text content, compact JSON as a structuredContent reader)."""
    old = json.dumps(structured, indent=2, ensure_ascii=False)
    compact = json.dumps(structured, separators=(",", ":"), ensure_ascii=False)
    return count_tokens(old), count_tokens(compact)


async def compress_rows(client: Client, cases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for name, case in cases.items():
        result = await client.call_tool("compress_context", case["arguments"])
        if result.is_error:
            rows[name] = {"error": "".join(b.text for b in result.content if b.type == "text")}
            continue
        out = result.structured_content or {}
        seen = visible(result)
        _, compact = envelope_tokens(out)
        # The old text content had no text_form / tokens_visible (they describe the new one).
        old, _ = envelope_tokens({k: v for k, v in out.items() if k not in NEW_FIELDS})
        text = "".join(b.text for b in result.content if b.type == "text")
        rows[name] = {
            "input": case["kind"],
            "engine": out["engine"],
            "domain": out["domain"],
            "tokens_original": out["tokens_original"],
            "tokens_compressed": out["tokens_compressed"],
            "model_visible": seen,
            "text_form": out.get("text_form"),
            "figures_line": text.rsplit("\n", 1)[-1]
            if out.get("text_form") == "compressed"
            else None,
            "json_envelope": old,
            "structured_json": compact,
            "targets": {
                "visible_le_compressed_plus_40": seen <= out["tokens_compressed"] + BUDGET,
                "visible_le_original": seen <= out["tokens_original"],
            },
        }
    return rows


async def memory_rows(client: Client, cases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every other tool once, on the same inputs (memory in the server's own temp data dir)."""
    rows: dict[str, Any] = {}

    def row(
        name: str, result: CallToolResult, payload: int, items: int, per_item: int = PER_ITEM
    ) -> dict[str, Any]:
        assert not result.is_error, result.content
        seen = visible(result)
        old, compact = envelope_tokens(result.structured_content or {})
        rows[name] = {
            "model_visible": seen,
            "payload_tokens": payload,
            "items": items,
            "json_envelope": old,
            "structured_json": compact,
            "target": f"<= payload_tokens + {per_item} per item",
            "target_met": seen <= payload + per_item * max(items, 1),
        }
        return result.structured_content or {}

    ids = []
    for case in ("prose", "json", "log", "code"):
        if case in cases:
            stored = await client.call_tool(
                "memory_store", {"content": cases[case]["original"], "tags": [case]}
            )
            ids.append(row(f"memory_store ({case})", stored, 0, 1)["id"])
    query = "When did the Normans give their name to Normandy?" if "prose" in cases else "timeout"
    found = await client.call_tool("memory_search", {"query": query, "k": 3})
    hits = (found.structured_content or {}).get("hits", [])
    row("memory_search (k=3)", found, sum(count_tokens(h["text"]) for h in hits), len(hits))
    listed = await client.call_tool("memory_list", {})
    listed_items = len((listed.structured_content or {}).get("items", []))
    row("memory_list", listed, 0, listed_items, PER_LISTED)
    for form in ("compressed", "original"):
        got = await client.call_tool("memory_get", {"id": ids[0], "form": form})
        text = (got.structured_content or {}).get("text") or ""
        row(f"memory_get ({form})", got, count_tokens(text), 1)
    base = cases.get("prose") or cases["log"]
    short = await client.call_tool("compress_context", {"text": base["original"]})
    compressed = (short.structured_content or {})["compressed"]
    checked = await client.call_tool(
        "validate_compression", {"original": base["original"], "compressed": compressed}
    )
    row("validate_compression (offline)", checked, 0, 1)
    row("adapter_status", await client.call_tool("adapter_status", {}), 0, 2)
    row("memory_delete", await client.call_tool("memory_delete", {"id": ids[-1]}), 0, 1)
    if "log_rate" in cases:
        reduced = await client.call_tool("compress_context", cases["log_rate"]["arguments"])
        text = "".join(b.text for b in reduced.content if b.type == "text")
        found = MARKER_RE.search(text)
        if found is not None:
            args = {"handle": found.group("handle"), **selector_of(found)}
            got = await client.call_tool("retrieve", args)
            part = "".join(b.text for b in got.content if b.type == "text")
            row("retrieve (a log marker)", got, count_tokens(part), 1)
    if "prose_long" in cases:
        docs = cases["prose_long"]["original"].split("\n\n")
        fitted = await client.call_tool(
            "compress_documents",
            {"documents": docs, "target_tokens": 300, "query": query},
        )
        kept = (fitted.structured_content or {}).get("documents", [])
        payload = sum(count_tokens(d["compressed"]) for d in kept)
        row("compress_documents (6 paragraphs, 300 tokens)", fitted, payload, len(kept))
    return rows


def server_env(work: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "COMPRESSION_LAYER_HOME": str(work / "home"),
        "COMPRESSION_LAYER_CONFIG_DIR": str(work / "configs"),
    }
    env.pop("COMPRESSION_LAYER_TOKEN", None)
    (work / "configs").mkdir(exist_ok=True)
    return env


def executable() -> str:
    """The installed ``compression-layer`` script beside this interpreter."""
    beside = Path(sys.executable).with_name("compression-layer")
    found = str(beside) if beside.exists() else shutil.which("compression-layer")
    if found is None:
        raise SystemExit("compression-layer is not installed in this environment")
    return found


@asynccontextmanager
async def stdio_client(work: Path, root: Path) -> Any:
    params = StdioServerParameters(
        command=executable(),
        args=["serve", "--root", str(root)],
        env=server_env(work),
        cwd=str(work),
    )
    async with Client(params, read_timeout_seconds=600) as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def http_client(work: Path, root: Path) -> Any:
    port = free_port()
    cmd = [executable(), "serve", "--transport", "http", "--port", str(port), "--root", str(root)]
    log_path = work / "http-server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=server_env(work), stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(240):  # bounded: two minutes for imports
            if proc.poll() is not None:
                raise RuntimeError(log_path.read_text(encoding="utf-8"))
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError("the HTTP server did not start")
        url = f"http://127.0.0.1:{port}/mcp"
        async with (
            httpx2.AsyncClient(timeout=600) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            yield client
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def measure(
    transport: str, connect: AbstractAsyncContextManager[Any], cases: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    started = time.perf_counter()
    async with connect as client:
        await client.call_tool("memory_list", {})  # waits for the server's warm-up
        compress = await compress_rows(client, cases)
        others = await memory_rows(client, cases)
    print(f"{transport}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return {"compress_context": compress, "other_tools": others}


def table(results: dict[str, Any]) -> str:
    lines = [
        "| input | transport | engine | original | engine output | model reads | before (JSON) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for transport, block in results.items():
        for r in block["compress_context"].values():
            if "error" in r:
                continue
            lines.append(
                f"| {r['input']} | {transport} | {r['engine']} | {r['tokens_original']} | "
                f"{r['tokens_compressed']} | {r['model_visible']} | {r['json_envelope']} |"
            )
    return "\n".join(lines)


async def main() -> None:
    cases, skipped = inputs()
    for reason in skipped:
        print(f"skipped {reason}", file=sys.stderr)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mcp-tokens-") as tmp:
        work = Path(tmp)
        root = work / "root"
        root.mkdir()
        shutil.copy(CODE, root / CODE.name)
        for transport, connect in (("stdio", stdio_client), ("http", http_client)):
            (work / transport).mkdir()
            results[transport] = await measure(transport, connect(work / transport, root), cases)
    met = all(
        all(r.get("targets", {}).values()) and "error" not in r
        for block in results.values()
        for r in block["compress_context"].values()
    ) and all(r["target_met"] for block in results.values() for r in block["other_tools"].values())
    report = {
        "what": "o200k_base tokens of the text of every content block a real MCP client receives",
        "targets": {
            "compress_context": f"model_visible <= tokens_compressed + {BUDGET} "
            "and <= tokens_original",
            "other tools": f"model_visible <= payload_tokens + {PER_ITEM} per item "
            f"({PER_LISTED} per memory for memory_list)",
        },
        "columns": {
            "json_envelope": "the text content before: the result object as indented JSON",
            "structured_json": "structuredContent as compact JSON: what a client that shows the "
            "model structuredContent instead of the text spends (anthropics/claude-code#55677)",
        },
        "skipped": skipped,
        "all_targets_met": met,
        "results": results,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "mcp_tokens.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    print(f"all targets met: {met}; wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
