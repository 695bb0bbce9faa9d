"""Reliability: does every request get an answer, on a live stdio server and a live HTTP server?

Starts ``python -m compression_layer.server serve`` (stdio) and ``serve --transport http`` as
subprocesses, in a temporary data dir, and sends each, below any SDK client:

- the raw-payload table (``tests/support/wire_cases.raw_payloads``): malformed JSON, a lone
  surrogate, invalid UTF-8, 100k-deep nesting, batches, null / fractional ids, a line just over
  the message limit (about 10 MB at the default settings), an unknown method, then valid requests;
- the bad-input table (``wire_cases.BAD_INPUTS``): ``compress_context`` calls that must come back
  as a clear ``isError`` result (empty text, a latin-1 file, a symlink loop, rate 2, ...).

``--baseline`` also runs the raw table once against the SDK's own stdio transport
(``MCPServer.run_stdio_async``, what the server used before), with a short wait per answer, to
show what it left unanswered. ``--rounds`` repeats both tables on the same connection. Counted
per transport: requests, replies, protocol errors (JSON-RPC ``error``), tool errors (``isError``
results), wrong answers (an unexpected code or id, or a tool error without the expected wording)
and no-reply (no answer within ``--timeout`` s), which must be 0.
Writes ``bench/results/reliability.json``.

    .venv/bin/python bench/reliability.py [--rounds 3] [--timeout 60] [--baseline]
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests" / "support"))

from wire_cases import (  # noqa: E402  (after the path insert)
    BAD_INPUTS,
    NoReply,
    RawCase,
    RawStdio,
    http_answer,
    http_session,
    line,
    make_bad_input_root,
    raw_payloads,
    server_env,
)

# The server as before: the same app on the SDK's stdio transport.
SDK_STDIO = (
    "import anyio; from mcp.server.mcpserver import MCPServer; "
    "from compression_layer.server.app import build_server, quiet_libraries; "
    "quiet_libraries(); anyio.run(MCPServer.run_stdio_async, build_server())"
)
MAX_TEXT_BYTES = 5_000_000  # the default, set explicitly so the huge line is just over the limit


def bad_input_cases(first_id: int) -> list[tuple[str, bytes, int, str]]:
    """(name, payload, id, expected wording) of the bad-input table as raw tools/call lines."""
    out = []
    for offset, case in enumerate(BAD_INPUTS):
        request = {
            "jsonrpc": "2.0",
            "id": first_id + offset,
            "method": "tools/call",
            "params": {"name": "compress_context", "arguments": case.arguments},
        }
        out.append((case.name, line(request), first_id + offset, case.expect))
    return out


class Tally:
    def __init__(self) -> None:
        self.counts = {
            "requests": 0,
            "replies": 0,
            "protocol_errors": 0,
            "tool_errors": 0,
            "results": 0,
            "wrong_answers": 0,
            "no_reply": 0,
        }
        self.cases: list[dict[str, Any]] = []
        self.wrong: list[str] = []

    def raw(self, transport: str, case: RawCase, answer: dict[str, Any] | None, ms: float) -> None:
        self.counts["requests"] += 1
        if answer is None:
            self.counts["no_reply"] += 1
            self.cases.append({"transport": transport, "case": case.name, "answer": None})
            return
        self.counts["replies"] += 1
        code = answer.get("error", {}).get("code") if "error" in answer else None
        self.counts["protocol_errors" if code is not None else "results"] += 1
        if code != case.code or answer.get("id") != case.id:
            self.counts["wrong_answers"] += 1
            self.wrong.append(f"{transport} {case.name}: {json.dumps(answer)[:300]}")
        self.cases.append(
            {"transport": transport, "case": case.name, "code": code, "ms": round(ms, 1)}
        )

    def tool(
        self, transport: str, name: str, expect: str, answer: dict[str, Any] | None, ms: float
    ) -> None:
        self.counts["requests"] += 1
        if answer is None:
            self.counts["no_reply"] += 1
            self.cases.append({"transport": transport, "case": name, "answer": None})
            return
        self.counts["replies"] += 1
        result = answer.get("result") or {}
        text = "".join(block.get("text", "") for block in result.get("content", []))
        if result.get("isError"):
            self.counts["tool_errors"] += 1
        elif "error" in answer:
            self.counts["protocol_errors"] += 1
        if not result.get("isError") or expect not in text:
            self.counts["wrong_answers"] += 1
            self.wrong.append(f"{transport} {name}: {json.dumps(answer)[:300]}")
        self.cases.append(
            {"transport": transport, "case": name, "tool_error": text[:160], "ms": round(ms, 1)}
        )


def run_stdio(
    work: Path,
    root: Path,
    rounds: int,
    timeout: float,
    tally: Tally,
    command: list[str] | None = None,
    bad_inputs: bool = True,
) -> None:
    env = server_env(work, root, COMPRESSION_LAYER_SERVER__MAX_TEXT_BYTES=str(MAX_TEXT_BYTES))
    server = RawStdio(env, work, timeout=timeout, command=command)
    limit = MAX_TEXT_BYTES * 2 + 65_536
    try:
        server.handshake()
        for _ in range(rounds):
            for case in raw_payloads(limit):
                started = time.perf_counter()
                try:
                    answer: dict[str, Any] | None = server.answer(case.payload, case.id)
                except NoReply:
                    answer = None
                tally.raw("stdio", case, answer, (time.perf_counter() - started) * 1000)
            for name, payload, request_id, expect in bad_input_cases(1000) if bad_inputs else []:
                started = time.perf_counter()
                try:
                    answer = server.answer(payload, request_id)
                except NoReply:
                    answer = None
                tally.tool("stdio", name, expect, answer, (time.perf_counter() - started) * 1000)
        assert server.alive(), "the stdio server exited"
    finally:
        server.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_http(work: Path, root: Path, rounds: int, timeout: float, tally: Tally) -> None:
    import httpx2

    port = free_port()
    env = server_env(work, root, COMPRESSION_LAYER_SERVER__MAX_TEXT_BYTES=str(MAX_TEXT_BYTES))
    cmd = [sys.executable, "-m", "compression_layer.server", "serve", "--transport", "http"]
    log_path = work / "http-server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work
        )
    url = f"http://127.0.0.1:{port}/mcp"
    limit = MAX_TEXT_BYTES * 2 + 65_536
    try:
        deadline = time.monotonic() + 120  # bounded: imports and the lifespan
        while True:
            if proc.poll() is not None:
                raise RuntimeError(log_path.read_text(encoding="utf-8"))
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.2)
        with httpx2.Client(timeout=timeout) as http:
            headers = http_session(http, url)
            for _ in range(rounds):
                for case in raw_payloads(limit):
                    started = time.perf_counter()
                    try:
                        answer: dict[str, Any] | None = http_answer(
                            http, url, headers, case.payload
                        )[1]
                    except httpx2.TimeoutException:
                        answer = None
                    tally.raw("http", case, answer, (time.perf_counter() - started) * 1000)
                for name, payload, _, expect in bad_input_cases(1000):
                    started = time.perf_counter()
                    try:
                        answer = http_answer(http, url, headers, payload)[1]
                    except httpx2.TimeoutException:
                        answer = None
                    tally.tool("http", name, expect, answer, (time.perf_counter() - started) * 1000)
        assert proc.poll() is None, "the HTTP server exited"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait per answer")
    parser.add_argument("--baseline", action="store_true", help="also the SDK's stdio transport")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "rounds": args.rounds,
        "timeout_s": args.timeout,
        "raw_payloads": [c.name for c in raw_payloads(1)],
        "bad_inputs": [c.name for c in BAD_INPUTS],
        "transports": {},
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        base = Path(tmp)
        root = make_bad_input_root(base)
        for name, runner in (("stdio", run_stdio), ("http", run_http)):
            tally = Tally()
            work = base / name
            work.mkdir()
            began = time.perf_counter()
            runner(work, root, args.rounds, args.timeout, tally)
            report["transports"][name] = {
                **tally.counts,
                "wall_s": round(time.perf_counter() - began, 1),
                "slowest_ms": max((c.get("ms", 0.0) for c in tally.cases), default=0.0),
                "wrong": tally.wrong,
                "cases": tally.cases[: len(raw_payloads(1)) + len(BAD_INPUTS)],  # one round
            }
            print(f"{name}: {tally.counts}", file=sys.stderr)
        if args.baseline:
            tally = Tally()
            work = base / "baseline"
            work.mkdir()
            command = [sys.executable, "-c", SDK_STDIO]
            run_stdio(work, root, 1, 5.0, tally, command=command, bad_inputs=False)
            report["baseline_sdk_stdio"] = {
                **tally.counts,
                "wait_s": 5.0,
                "unanswered": [c["case"] for c in tally.cases if c.get("answer", 0) is None],
                "wrong": tally.wrong,
            }
            print(f"baseline (SDK stdio): {tally.counts}", file=sys.stderr)
    totals = {
        key: sum(t[key] for t in report["transports"].values())
        for key in ("requests", "replies", "protocol_errors", "tool_errors", "wrong_answers")
    }
    totals["no_reply"] = sum(t["no_reply"] for t in report["transports"].values())
    report["totals"] = totals
    report["wall_s"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "reliability.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"totals: {totals} -> {out}", file=sys.stderr)
    if totals["no_reply"] or totals["wrong_answers"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
