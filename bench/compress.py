"""Structural engine benchmark (`make bench`).

Inputs: the seed-pairs valid inputs (with the teacher's reference compressions side by side), the
repository's own Python source, and pretty-printed JSON (a SQuAD article's questions and a
synthetic uniform record list). Every item goes through ``compress_structural`` at its default
level, as users get it. Reported by domain (per input group and over all groups): token reduction
(o200k), facts missing, AST equivalence for Python, JSON round-trip, and throughput in MB of input
per second: ``--repeat`` timed rounds over all items of a group, then the median (and the best)
run of each item, summed; the load average is recorded next to them, since other jobs on a shared
machine slow every number. Writes ``bench/results/compress.json``.

Checks made here, independently of the engine's own:

* ``ast_equal``: ``ast.dump`` of input and output; an input that only parses as an indented
  fragment (a method cut out of its class) is parsed inside an ``if`` block, as the engine does.
* ``facts_missing``: facts (:mod:`compression_layer.compress.facts`) of the input *with its
  comments removed* that the output lacks. Facts that only lived in dropped comments are counted
  apart, in ``facts_in_dropped_comments``.

    .venv/bin/python bench/compress.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import platform
import random
import statistics
import sys
import time
import tokenize
from collections import defaultdict
from pathlib import Path
from typing import Any

from compression_layer.compress.domain import detect
from compression_layer.compress.facts import kept_ratio, missing
from compression_layer.compress.pipeline import domain_for_path, parse_domain
from compression_layer.compress.structural.data import json_expand
from compression_layer.compress.structural.dispatch import compress_structural
from compression_layer.compress.types import Domain
from compression_layer.tokens import count_tokens

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"


def seed_pairs() -> list[tuple[str, str]]:
    path = SHARED / "seed-pairs" / "valid.jsonl"
    if not path.is_file():
        print(f"skip seed-pairs: {path} not found", file=sys.stderr)
        return []
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        msgs = json.loads(line)["messages"]
        user = next(m["content"] for m in msgs if m["role"] == "user")
        ref = next(m["content"] for m in msgs if m["role"] == "assistant")
        pairs.append((user.removeprefix("Compress:\n"), ref))
    return pairs


def json_samples() -> list[tuple[str, str]]:
    rng = random.Random(7)
    records = [
        {
            "id": i,
            "user": f"user_{rng.randint(1000, 9999)}",
            "email": f"u{i}@example.com",
            "active": rng.random() > 0.3,
            "score": round(rng.uniform(0, 100), 2),
            "tags": rng.sample(["a", "b", "c", "d"], 2),
        }
        for i in range(200)
    ]
    samples = [("synthetic-records", json.dumps({"records": records}, indent=2))]
    squad = SHARED / "squad" / "squad_dev_part_a.json"
    if squad.is_file():
        data = json.loads(squad.read_text(encoding="utf-8"))
        article = data["data"][0] if isinstance(data, dict) else data[0]
        samples.append(("squad-article-0", json.dumps(article, indent=2, ensure_ascii=False)))
    else:
        print(f"skip squad json sample: {squad} not found", file=sys.stderr)
    return samples


def repo_sources() -> list[tuple[str, str]]:
    files = sorted((ROOT / "src" / "compression_layer").rglob("*.py"))
    return [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in files]


def _parse_any(src: str) -> ast.Module | None:
    try:
        return ast.parse(src)
    except SyntaxError:
        pass
    try:
        block = ast.parse("if True:\n" + src).body[0]
    except SyntaxError:
        return None
    assert isinstance(block, ast.If)
    return ast.Module(body=block.body, type_ignores=[])


def ast_equal(a: str, b: str) -> bool | None:
    """None when ``a`` is no Python at all (neither a module nor an indented fragment)."""
    orig = _parse_any(a)
    if orig is None:
        return None
    other = _parse_any(b)
    return other is not None and ast.dump(orig) == ast.dump(other)


def without_comments(src: str) -> str:
    """Python source with its comments blanked out (``src`` itself if it does not tokenize)."""
    lines = src.split("\n")
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type == tokenize.COMMENT:
                (row, col), (_, end) = tok.start, tok.end
                line = lines[row - 1]
                lines[row - 1] = line[:col] + " " * (end - col) + line[end:]
    except (tokenize.TokenError, SyntaxError):
        return src
    return "\n".join(lines)


def item_domain(name: str, text: str) -> Domain:
    hint = domain_for_path(name)  # repo files: the extension decides, as in the CLI
    return parse_domain(hint) if hint else detect(text)


def time_items(items: list[tuple[str, str]], repeat: int) -> list[list[float]]:
    """Seconds of each run of each item. The runs are rounds over all items, not back-to-back
    runs of one item, so a burst of load from other jobs spreads over many items' medians."""
    domains = [item_domain(name, text) for name, text in items]
    times: list[list[float]] = [[] for _ in items]
    for _ in range(repeat):
        for i, ((_, text), domain) in enumerate(zip(items, domains, strict=True)):
            t0 = time.perf_counter()
            compress_structural(text, domain)
            times[i].append(time.perf_counter() - t0)
    return times


def run_item(name: str, text: str, times: list[float]) -> dict[str, Any]:
    domain = item_domain(name, text)
    out = compress_structural(text, domain)
    before, after = count_tokens(text), count_tokens(out.text)
    lost = missing(text, out.text)
    python = domain.label() == "code:python"
    real = missing(without_comments(text), out.text) if python and lost else lost
    row: dict[str, Any] = {
        "name": name,
        "domain": domain.label(),
        "bytes": len(text.encode("utf-8")),
        "tokens_original": before,
        "tokens_compressed": after,
        "reduction": 1 - after / before if before else 0.0,
        "facts_missing": real,
        "facts_in_dropped_comments": len(lost) - len(real),
        "seconds": statistics.median(times),
        "best_seconds": min(times),
    }
    if python:
        row["ast_equal"] = ast_equal(text, out.text)
        row["parses_as_module"] = _parses(text)
    if domain.kind == "json":
        row["roundtrip"] = json_expand(out.text) == json.loads(text)
    return row


def _parses(src: str) -> bool:
    try:
        ast.parse(src)
    except SyntaxError:
        return False
    return True


def _mb_per_s(items: list[dict[str, Any]], key: str) -> float:
    return round(sum(r["bytes"] for r in items) / 1e6 / max(sum(r[key] for r in items), 1e-9), 2)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["domain"]].append(r)
    out: dict[str, Any] = {}
    for dom, items in sorted(by.items()):
        tok_b = sum(r["tokens_original"] for r in items)
        tok_a = sum(r["tokens_compressed"] for r in items)
        entry: dict[str, Any] = {
            "items": len(items),
            "mb": round(sum(r["bytes"] for r in items) / 1e6, 4),
            "token_reduction": round(1 - tok_a / tok_b, 4) if tok_b else 0.0,
            "facts_missing_items": sum(bool(r["facts_missing"]) for r in items),
            "facts_in_dropped_comments": sum(r["facts_in_dropped_comments"] for r in items),
            "mb_per_s": _mb_per_s(items, "seconds"),
            "mb_per_s_best": _mb_per_s(items, "best_seconds"),
        }
        if "ast_equal" in items[0]:
            checked = [r["ast_equal"] for r in items if r["ast_equal"] is not None]
            entry["parseable"] = len(checked)  # as a module or as an indented fragment
            entry["parseable_as_module"] = sum(r["parses_as_module"] for r in items)
            entry["ast_equal_rate"] = round(sum(checked) / len(checked), 4) if checked else None
        if "roundtrip" in items[0]:
            entry["roundtrip_rate"] = sum(r["roundtrip"] for r in items) / len(items)
        out[dom] = entry
    return out


def strict_python(items: list[tuple[str, str]]) -> dict[str, Any]:
    """The stricter level on the seed-pairs Python: docstrings dropped, AST equal otherwise."""
    before = after = checked = count = 0
    for _, text in items:
        domain = detect(text)
        if domain.label() != "code:python":
            continue
        out = compress_structural(text, domain, strip_docstrings=True)
        count += 1
        before += count_tokens(text)
        after += count_tokens(out.text)
        a, b = _parse_any(text), _parse_any(out.text)
        checked += a is not None and b is not None and _undocumented(a) == _undocumented(b)
    return {
        "items": count,
        "ast_equal_without_docstrings": checked,
        "token_reduction": round(1 - after / before, 4) if before else 0.0,
    }


def _undocumented(tree: ast.Module) -> str:
    owners = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    for node in ast.walk(tree):
        first = node.body[0] if isinstance(node, owners) and node.body else None
        value = first.value if isinstance(first, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


def teacher(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    by: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for src, ref in pairs:
        by[detect(src).label()].append((src, ref))
    result = {}
    for dom, items in sorted(by.items()):
        tok_b = sum(count_tokens(s) for s, _ in items)
        tok_a = sum(count_tokens(r) for _, r in items)
        result[dom] = {
            "items": len(items),
            "token_reduction": round(1 - tok_a / tok_b, 4),
            "facts_kept": round(statistics.mean(kept_ratio(s, r) for s, r in items), 4),
        }
    return result


METHOD_NOTES = [
    "ast_equal covers indented fragments too (parsed inside an `if` block, as the engine does);"
    " before, the 34 seed-pairs fragments were left unchecked (75/109 parseable).",
    "facts_missing is measured: facts of the input with its comments blanked that the output"
    " lacks; before, it was set to [] for every item whose engine checks passed.",
    "Throughput: --repeat (default 5, was 3) rounds over all items of a group instead of"
    " back-to-back runs of one item; MB of UTF-8 input over the summed per-item medians, and over"
    " the minima (best) as the machine's unloaded capacity; the load average is recorded. (Thread"
    " CPU time was tried and dropped: in this VM it tracked wall time within 3%.)",
]


# Why the unmet targets stay unmet (measured while working on them; see the commit log).
OPEN_TARGETS = {
    "seed_python_token_reduction_ge_0.20": (
        "The default level keeps docstrings (about 26% of its output tokens on seed-pairs) and"
        " type-checker comments (1%); the code left is names and operators, one token each."
        " Tried: dropping trailing commas that change nothing (+0.2 pt, kept); docstring"
        " indentation reduced to what Python 3.13's compiler keeps (+1 pt, not kept: it changes"
        " __doc__ on 3.11 and the AST); redundant parentheses, else-if to elif, joining implicit"
        " string concatenations (under 0.1 pt each, not done). The strip-docstrings level gives"
        " 38.6% with every item AST-equal apart from docstrings."
    ),
    "throughput_mb_per_s_ge_5": (
        "Python (74% of the bytes) is bound by CPython's parser: input and output are each parsed"
        " once, about half of the pass's time on repo source (each parse about 8 MB/s on this"
        " machine unloaded), so full AST verification caps the pass near 4 MB/s here. The rest"
        " (C tokenizer, writer, tree comparison, freeing the trees) was made faster: comparison"
        " about 1.5x, writer about 1.25x, the pass as a whole 7-9% in interleaved A/B runs."
    ),
}


def targets(report: dict[str, Any]) -> dict[str, Any]:
    """Issue 2's targets, each with the measured value and whether it is met."""
    groups = report["groups"]
    seed_py = groups["seed_pairs_valid"].get("code:python", {})
    js = groups["json"].get("json", {})
    overall = report["overall"]
    rows = {
        "seed_python_token_reduction_ge_0.20": (seed_py.get("token_reduction", 0.0), 0.20),
        "seed_python_ast_equal_rate_eq_1": (seed_py.get("ast_equal_rate") or 0.0, 1.0),
        "json_token_reduction_ge_0.30": (js.get("token_reduction", 0.0), 0.30),
        "json_roundtrip_rate_eq_1": (js.get("roundtrip_rate", 0.0), 1.0),
        "throughput_mb_per_s_ge_5": (overall["throughput_mb_per_s"], 5.0),
    }
    out: dict[str, Any] = {k: {"value": v, "met": v >= goal} for k, (v, goal) in rows.items()}
    for name, why in OPEN_TARGETS.items():
        if not out[name]["met"]:
            out[name]["why"] = why
    missing_items = overall["facts_missing_items"]
    out["facts_missing_items_eq_0"] = {"value": missing_items, "met": missing_items == 0}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5, help="timing runs per item (median)")
    args = ap.parse_args()
    pairs = seed_pairs()
    groups = {
        "seed_pairs_valid": [(f"valid-{i}", s) for i, (s, _) in enumerate(pairs)],
        "repo_source": repo_sources(),
        "json": json_samples(),
    }
    load_before = os.getloadavg()
    report: dict[str, Any] = {
        "engine": "structural",
        "level": "default (comments dropped, docstrings kept)",
        "repeat": args.repeat,
        "timing": "MB of UTF-8 input / s over the summed per-item medians (mb_per_s) and minima"
        " (mb_per_s_best) of --repeat rounds over all items of a group; wall clock",
        "groups": {},
    }
    all_rows = []
    for group, items in groups.items():
        times = time_items(items, args.repeat)
        rows = [run_item(name, text, t) for (name, text), t in zip(items, times, strict=True)]
        all_rows += rows
        report["groups"][group] = summarise(rows)
    report["by_domain"] = summarise(all_rows)
    report["overall"] = {
        "items": len(all_rows),
        "mb": round(sum(r["bytes"] for r in all_rows) / 1e6, 4),
        "facts_missing_items": sum(bool(r["facts_missing"]) for r in all_rows),
        "throughput_mb_per_s": _mb_per_s(all_rows, "seconds"),
        "throughput_mb_per_s_best": _mb_per_s(all_rows, "best_seconds"),
    }
    report["python_strip_docstrings"] = strict_python(groups["seed_pairs_valid"])
    report["teacher_reference_seed_pairs"] = teacher(pairs)
    report["issue_2_targets"] = targets(report)
    report["method_notes"] = METHOD_NOTES
    report["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1_5_15_before": [round(x, 2) for x in load_before],
        "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
    }
    report["failures"] = [
        {k: r[k] for k in ("name", "domain", "facts_missing") if k in r}
        | {"ast_equal": r.get("ast_equal"), "roundtrip": r.get("roundtrip")}
        for r in all_rows
        if r["facts_missing"] or r.get("ast_equal") is False or r.get("roundtrip") is False
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "compress.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "failures"}, indent=2))
    print(f"{len(report['failures'])} failing items; wrote {out}")


if __name__ == "__main__":
    main()
