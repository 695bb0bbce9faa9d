"""Throughput and size of the JSON passes: lossless table layout and the lossy reduce_json.

    .venv/bin/python bench/json_passes.py [--mb 9] [--runs 5]

Builds a search-results document (pretty-printed, ``--mb`` megabytes) and a JSON Lines event
stream of the same size, runs ``compress_json`` (parse, table layout, round-trip check) and
``reduce_json`` at rate 0.2 on each ``--runs`` times, and writes the median MB/s and the token
figures to ``bench/results/json_passes.json``. With ``--peers`` it also asks headroom-ai (in
``.peers-venv``, never a project dependency) for its lossless layout of the small inputs and
records both token counts.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HANDLE = "o_0a1b2c3d4e"
WORDS = re.findall(
    r"\S+",
    "cache latency redis memory eviction policy server client request timeout retry backoff "
    "index query vector search token model python rust async thread lock queue",
)


def _sent(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def search(rng: random.Random, n: int) -> str:
    hits = [
        {
            "title": _sent(rng, 6).title(),
            "url": f"https://docs.example.com/{rng.choice(WORDS)}/{i}",
            "snippet": _sent(rng, 25) + ".",
            "score": round(rng.random(), 4),
            "rank": i + 1,
        }
        for i in range(n)
    ]
    return json.dumps({"query": "redis eviction", "total": n, "results": hits}, indent=2)


def issues(rng: random.Random, n: int) -> str:
    rows = [
        {
            "id": 1_000_000 + i * 37,
            "number": 500 + i,
            "title": _sent(rng, 7),
            "state": rng.choice(["open", "closed"]),
            "user": {"login": rng.choice(["alice", "bob"]), "id": rng.randint(1, 99999),
                     "type": "User", "site_admin": False},
            "labels": [{"name": "bug", "color": "d73a4a"}] if i % 5 == 0 else [],
            "comments": rng.randint(0, 30),
            "closed_at": None if rng.random() < 0.5 else "2024-10-01T00:00:00Z",
            "body": _sent(rng, 40),
        }
        for i in range(n)
    ]  # fmt: skip
    return json.dumps(rows, indent=2)


def events(rng: random.Random, n: int) -> str:
    return "\n".join(
        json.dumps({"ts": f"2024-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
                    "level": rng.choice(["info"] * 9 + ["error"]),
                    "service": rng.choice(["api", "db"]), "msg": _sent(rng, 8),
                    "latency_ms": rng.randint(1, 500)})
        for i in range(n)
    )  # fmt: skip


def sparse(rng: random.Random, n: int) -> str:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {"id": i, "name": _sent(rng, 2)}
        if i % 3:
            row["value"] = rng.choice([1, 2.5, None, "x", True])
            row["extra"] = {"k": i}
        rows.append(row)
    return json.dumps(rows, indent=2)


def _median_mbps(fn: Any, text: str, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - start)
    size = len(text.encode("utf-8")) / 1e6
    return size / statistics.median(times), times


def _peers(inputs: dict[str, str]) -> dict[str, Any]:
    """headroom-ai's lossless output per input (the shortest of its lossless entry points)."""
    script = r"""
import json, sys, logging
logging.disable(logging.CRITICAL)
from headroom.transforms.smart_crusher import SmartCrusher
from headroom.compress import compress
sc = SmartCrusher(lossless_only=True)
out = {}
for name, s in json.load(sys.stdin).items():
    c = {}
    try: c["crush"] = sc.crush(s, "", 1.0, lossless_only=True).compressed
    except BaseException: pass
    try: c["document"] = sc.compact_document_json(s)
    except BaseException: pass
    msgs = [{"role": "user", "content": "q"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "t1", "type": "function",
             "function": {"name": "search", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": s}]
    try: c["agent"] = compress(msgs, model="gpt-4o", mode="agent").messages[-1]["content"]
    except BaseException: pass
    out[name] = c
print(json.dumps(out))
"""
    python = ROOT / ".peers-venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", script], input=json.dumps(inputs), capture_output=True, text=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, timeout=600, check=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=9.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--peers", action="store_true")
    parser.add_argument(
        "--seeds", default="", help="also compare tokens on the small inputs of these seeds"
    )
    parser.add_argument("--no-speed", action="store_true", help="skip the throughput runs")
    args = parser.parse_args()

    from compression_layer.compress.structural.data import compress_json, json_expand
    from compression_layer.compress.structural.json_lossy import reduce_json
    from compression_layer.compress.types import Domain
    from compression_layer.tokens import count_tokens

    rng = random.Random(7)
    per_row = len(search(rng, 100)) / 100
    big = {
        "search results": search(rng, int(args.mb * 1e6 / per_row)),
        "JSON Lines events": events(rng, int(args.mb * 1e6 / 190)),
    }
    domain = Domain(kind="json")
    result: dict[str, Any] = {"machine_note": "2 shared CPU cores", "throughput": {}, "tokens": {}}
    for name, text in big.items() if not args.no_speed else ():
        budget = round(0.2 * len(text) / 3.2)  # a rate-0.2 budget without counting 9 MB

        def lossy(t: str, budget: int = budget) -> Any:
            return reduce_json(
                t, domain, budget=budget, query="redis eviction", handle="o_0a1b2c3d4e"
            )

        lossless_mbps, lt = _median_mbps(compress_json, text, args.runs)
        lossy_mbps, yt = _median_mbps(lossy, text, args.runs)
        result["throughput"][name] = {
            "mb": round(len(text.encode("utf-8")) / 1e6, 2),
            "lossless_mb_per_s": round(lossless_mbps, 1),
            "lossy_mb_per_s": round(lossy_mbps, 1),
            "lossless_s": [round(t, 3) for t in lt],
            "lossy_s": [round(t, 3) for t in yt],
        }
        print(name, result["throughput"][name])

    small = {
        "search results (150)": search(rng, 150),
        "issue list (60)": issues(rng, 60),
        "JSON Lines events (200)": events(rng, 200),
        "sparse records (50)": sparse(rng, 50),
        "search results minified (80)": json.dumps(json.loads(search(rng, 80))),
    }
    peers = _peers(small) if args.peers else {}
    for name, text in small.items():
        out = compress_json(text).text
        expected = (
            [json.loads(line) for line in text.splitlines()]
            if "Lines" in name
            else json.loads(text)
        )
        row: dict[str, Any] = {
            "original": count_tokens(text),
            "ours_lossless": count_tokens(out),
            "exact": json_expand(out) == expected,
        }
        tokens = row["original"]
        lossy = reduce_json(
            text, domain, budget=round(0.2 * tokens), query=None, handle="o_0a1b2c3d4e"
        )
        row["ours_rate_0_2"] = count_tokens(lossy.text) if lossy else row["ours_lossless"]
        if peers.get(name):
            row["headroom_lossless"] = min(count_tokens(v) for v in peers[name].values())
        result["tokens"][name] = row
        print(name, row)
    if args.seeds:
        result["seeds"] = {}
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        rng = random.Random(seed)
        drawn = {
            "search results (150)": search(rng, 150),
            "issue list (60)": issues(rng, 60),
            "JSON Lines events (200)": events(rng, 200),
            "sparse records (50)": sparse(rng, 50),
        }
        theirs = _peers(drawn) if args.peers else {}
        rows = {}
        for name, text in drawn.items():
            ours = count_tokens(compress_json(text).text)
            row = {"original": count_tokens(text), "ours_lossless": ours}
            if theirs.get(name):
                row["headroom_lossless"] = min(count_tokens(v) for v in theirs[name].values())
                row["margin"] = row["headroom_lossless"] - ours
            rows[name] = row
        result["seeds"][str(seed)] = rows
        print(seed, {k: v.get("margin") for k, v in rows.items()})
    out_path = (
        ROOT
        / "bench"
        / "results"
        / ("json_passes_seeds.json" if args.no_speed else "json_passes.json")
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
