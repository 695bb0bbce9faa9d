"""Code skeletons and prose elision (issue 14): reduction, parse rate, exact retrieval, speed.

Code: Python modules of the standard library and of installed packages, JavaScript files of the
npm installation on this machine (``/usr/lib/node_modules``) and of installed Python packages,
none of them used while writing the pass (its tests use a few other files). Each file between
1,000 and 60,000 tokens goes through ``reduce_code`` at two budgets (rate 0.4 and 0.25 of its
tokens). Measured per file: token reduction of the output (markers included), whether it parses
(``ast.parse`` for Python; ``node --check`` and tree-sitter for JavaScript), whether every
marker's selector retrieves, through ``originals.select``, text that matches what it stands for
(lines kept or covered), and the time taken (median of ``--repeat`` runs).

Prose: SQuAD dev articles (shared data) as markdown (title heading, paragraphs), one answerable
question per paragraph as the query, at rate 0.2 and 0.1: share of outputs keeping the paragraph
that holds the answer, tokens kept, and time per call.

    .venv/bin/python bench/skeleton.py [--repeat 3] [--limit 120]

Writes ``bench/results/skeleton.json``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from compression_layer.compress.elide import reduce_prose
from compression_layer.compress.reversible import MARKER_RE, selector_of
from compression_layer.compress.structural.skeleton import reduce_code
from compression_layer.compress.structural.skeleton_js import parses_cleanly
from compression_layer.compress.types import Domain
from compression_layer.originals.select import parse_ranges, select, split_lines
from compression_layer.originals.symbols import python_symbols
from compression_layer.tokens import count_tokens

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "skeleton.json"
SQUAD = ROOT.parent / "shared" / "data" / "squad" / "squad_dev_part_a.json"
HANDLE = "o_be7c400000"
RATES = (0.4, 0.25)
# Files the tests read (tuning set), kept out of the measurement.
TUNED = {"decoder.py", "argparse.py", "main.py", "settings.py", "mpl.js"}


def python_files(limit: int, rng: random.Random) -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    found = [
        p
        for base, pattern in ((stdlib, "*/*.py"), (stdlib, "*.py"), (site, "*/*.py"))
        for p in base.glob(pattern)
        if "test" not in p.parts[-2]
        and p.name not in TUNED
        and (base == site or "site-packages" not in str(p))
    ]
    return _sized(found, limit, rng)


def js_files(limit: int, rng: random.Random) -> list[Path]:
    roots = [Path("/usr/lib/node_modules"), Path(sysconfig.get_paths()["purelib"])]
    found = [
        p
        for root in roots
        if root.exists()
        for p in root.rglob("*.js")
        if p.name not in TUNED and ".min." not in p.name and "test" not in str(p).lower()
    ]
    return _sized(found, limit, rng)


def _sized(paths: list[Path], limit: int, rng: random.Random) -> list[Path]:
    rng.shuffle(paths)
    chosen: list[Path] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if 1000 <= count_tokens(text) <= 60_000:
            chosen.append(path)
        if len(chosen) >= limit:
            break
    return chosen


def node_ok(text: str, module: bool) -> bool | None:
    if shutil.which("node") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / ("x.mjs" if module else "x.cjs")
        file.write_text(text, encoding="utf-8")
        done = subprocess.run(["node", "--check", str(file)], capture_output=True, timeout=60)
        return done.returncode == 0


def markers_exact(original: str, output: str, label: str) -> bool:
    covered: set[int] = set()
    lines = split_lines(original)
    for mark in MARKER_RE.finditer(output):
        if mark.group("handle") != HANDLE:
            return False
        selector = selector_of(mark)
        try:
            part = select(original, label, **selector)
        except Exception:
            return False
        if "lines" in selector:
            for first, last in parse_ranges(selector["lines"], key="lines", base=1):
                covered.update(range(first, last + 1))
        else:
            spans = [x for x in python_symbols(original) if x.name == selector["symbol"]]
            if len(spans) != 1 or "\n".join(lines[spans[0].first - 1 : spans[0].last]) != part:
                return False
            covered.update(range(spans[0].first, spans[0].last + 1))
    return all(n in covered or line.strip() in output for n, line in enumerate(lines, start=1))


def run_code(paths: list[Path], language: str, repeat: int) -> dict[str, Any]:
    rows = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        total = count_tokens(text)
        if language == "javascript" and not parses_cleanly(text, "javascript"):
            rows.append({"file": str(path), "tokens": total, "skipped": "input does not parse"})
            continue
        original_node = (
            node_ok(text, "import " in text or "export " in text)
            if language == "javascript"
            else None
        )
        row: dict[str, Any] = {"file": str(path), "tokens": total}
        for rate in RATES:
            budget = round(total * rate)
            times = []
            out = None
            for _ in range(repeat):
                started = time.perf_counter()
                out = reduce_code(
                    text,
                    Domain(kind="code", language=language),
                    budget=budget,
                    query=None,
                    handle=HANDLE,
                )
                times.append(time.perf_counter() - started)
            result = out.text if out else text
            tokens = count_tokens(result)
            if language == "python":
                try:
                    ast.parse(result)
                    parses = True
                except SyntaxError:
                    parses = False
            else:
                parses = parses_cleanly(result, "javascript")
                if original_node:
                    parses = parses and bool(
                        node_ok(result, "import " in text or "export " in text)
                    )
            row[str(rate)] = {
                "tokens": tokens,
                "reduction": round(1 - tokens / total, 4),
                "within_budget": tokens <= budget,
                "within_slack": tokens <= budget * 1.25,
                "parses": parses,
                "markers_exact": markers_exact(text, result, f"code:{language}"),
                "none": out is None,
                "ms": round(statistics.median(times) * 1000, 2),
            }
        rows.append(row)
    return {"files": rows, "summary": _summary(rows)}


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    done = [r for r in rows if "skipped" not in r]
    out: dict[str, Any] = {"files": len(done), "skipped": len(rows) - len(done)}
    for rate in map(str, RATES):
        cells = [r[rate] for r in done]
        if not cells:
            continue
        reductions = [c["reduction"] for c in cells]
        total_in = sum(r["tokens"] for r in done)
        total_out = sum(c["tokens"] for c in cells)
        out[rate] = {
            "reduction_overall": round(1 - total_out / total_in, 4),
            "reduction_median": round(statistics.median(reductions), 4),
            "reduction_min": round(min(reductions), 4),
            "files_at_least_60pct": sum(r >= 0.6 for r in reductions),
            "parse_rate": round(sum(c["parses"] for c in cells) / len(cells), 4),
            "markers_exact_rate": round(sum(c["markers_exact"] for c in cells) / len(cells), 4),
            "within_budget": sum(c["within_budget"] for c in cells),
            "within_slack_1_25": sum(c["within_slack"] for c in cells),
            "ms_median": round(statistics.median(c["ms"] for c in cells), 2),
        }
    return out


def run_prose(repeat: int) -> dict[str, Any]:
    if not SQUAD.exists():
        return {"skipped": f"{SQUAD} not present"}
    articles = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    out: dict[str, Any] = {}
    for rate in (0.2, 0.1):
        hits = calls = 0
        ratios, times = [], []
        for article in articles:
            paragraphs = [p["context"] for p in article["paragraphs"]]
            text = f"# {article['title']}\n\n" + "\n\n".join(paragraphs) + "\n"
            total = count_tokens(text)
            for index, paragraph in enumerate(article["paragraphs"]):
                qa = next((q for q in paragraph["qas"] if not q.get("is_impossible")), None)
                if qa is None:
                    continue
                runs = []
                result = None
                for _ in range(repeat):
                    started = time.perf_counter()
                    result = reduce_prose(
                        text,
                        Domain(kind="prose"),
                        budget=round(total * rate),
                        query=qa["question"],
                        handle=HANDLE,
                    )
                    runs.append(time.perf_counter() - started)
                assert result is not None
                calls += 1
                hits += paragraphs[index] in result.text
                ratios.append(count_tokens(result.text) / total)
                times.append(statistics.median(runs))
        out[str(rate)] = {
            "questions": calls,
            "answer_paragraph_kept": round(hits / calls, 4),
            "tokens_kept_mean": round(statistics.mean(ratios), 4),
            "ms_median": round(statistics.median(times) * 1000, 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit", type=int, default=120, help="files per language")
    args = parser.parse_args()
    rng = random.Random(14)
    report: dict[str, Any] = {
        "rates": RATES,
        "load_average": os.getloadavg(),
        "python": run_code(python_files(args.limit, rng), "python", args.repeat),
        "javascript": run_code(js_files(args.limit, rng), "javascript", args.repeat),
        "prose_squad": run_prose(args.repeat),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    summary = {k: report[k]["summary"] for k in ("python", "javascript")}
    print(json.dumps({**summary, "prose_squad": report["prose_squad"]}, indent=1))
    sys.exit(0)


if __name__ == "__main__":
    main()
