"""Log passes benchmark: the lossy pass (``reduce_log``) and the lossless one (``compress_log``).

Inputs come from ``tests/support/log_samples.py`` (deterministic generators): an interleaved
multi-service application log with a Python and a Java stack trace, an nginx access log, a
Kubernetes-style JSON log, and pytest, jest/npm, cargo test and go test output with failures.

Reported per input:

* ``tokens_original`` / ``tokens_lossy`` (o200k_base, markers included) at the input's rate,
  ``reduction`` (1 - lossy/original), and the lossless pass's tokens beside them;
* ``must_keep_kept``: of the lines the generator marked (every error and warning; for test
  runners every failure, assertion and summary line), how many are output lines verbatim;
* ``markers`` and ``markers_exact``: every marker's selector evaluated by the original store's
  ``select``; exact means it returned as many lines as the marker says it stands for;
* ``accounted``: every non-blank input line is an output line or inside some marker's lines.

Throughput: 5 MB and 20 MB application logs, 5 MB nginx and 5 MB JSON logs, ``--rounds`` timed
runs of each pass, median and best MB/s; the budget is 5% of an estimate (characters / 4), since
counting 20 MB of tokens would take longer than the pass. The load average is recorded next to
the figures: the machine is shared, and other jobs slow every number. ``--pipeline`` also times
one ``compress(text, rate=0.05, originals=store)`` end to end (token counting, the lossless pass,
the lossy pass, the marker check) on the application log.

    .venv/bin/python bench/log_passes.py [--rounds 3] [--pipeline]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests" / "support"))

import log_samples  # noqa: E402
from compression_layer.compress.reversible import MARKER_RE, selector_of  # noqa: E402
from compression_layer.compress.structural.log_lossy import reduce_log  # noqa: E402
from compression_layer.compress.structural.logs import compress_log  # noqa: E402
from compression_layer.compress.types import Domain  # noqa: E402
from compression_layer.originals.select import select  # noqa: E402
from compression_layer.tokens import count_tokens  # noqa: E402

LOG = Domain(kind="log")
HANDLE = "o_0123456789"
_COUNT = re.compile(r"^(\d+) ")
_SPREAD = re.compile(r"\(spread over (\d+)\)")

QUALITY: list[tuple[str, Callable[[], log_samples.Sample], float]] = [
    ("app log (interleaved, 2 traces)", lambda: log_samples.app_log(3400), 0.05),
    ("nginx access log", lambda: log_samples.nginx_log(3000), 0.05),
    ("kubernetes JSON log", lambda: log_samples.k8s_json_log(3000), 0.05),
    ("pytest -v, 3 failures", lambda: log_samples.pytest_output(400), 0.1),
    ("npm test (jest), 1 failure", lambda: log_samples.jest_output(60), 0.1),
    ("mocha spec, 1 failure", lambda: log_samples.mocha_output(300), 0.1),
    ("cargo test, 2 failures", lambda: log_samples.cargo_output(400), 0.1),
    ("go test -v, 2 failures", lambda: log_samples.go_test_output(300), 0.1),
]

SPEED: list[tuple[str, Callable[[], str]]] = [
    ("app log 5 MB", lambda: log_samples.big_app_log(5).text),
    ("app log 20 MB", lambda: log_samples.big_app_log(20).text),
    ("nginx 5 MB", lambda: log_samples.nginx_log(35000).text),
    ("kubernetes JSON 5 MB", lambda: log_samples.k8s_json_log(34000).text),
]


def _selected_lines(original: list[str], selector: dict[str, str]) -> int:
    if "lines" in selector:
        total = 0
        for part in selector["lines"].split(","):
            first, _, last = part.partition("-")
            total += int(last or first) - int(first) + 1
        return total
    return sum(1 for line in original if selector["match"] in line)


def quality(name: str, sample: log_samples.Sample, rate: float) -> dict[str, Any]:
    text = sample.text
    tokens = count_tokens(text)
    budget = max(1, round(tokens * rate))
    started = time.perf_counter()
    out = reduce_log(text, LOG, budget=budget, query=None, handle=HANDLE)
    elapsed = time.perf_counter() - started
    assert out is not None, name
    shown = out.text.split("\n")
    shown_set = set(shown)
    lines = text.split("\n")
    markers = exact = 0
    covered: set[int] = set()
    for found in MARKER_RE.finditer(out.text):
        markers += 1
        selector = selector_of(found)
        part = select(text, "log", **selector).split("\n")
        what = found.group("what")
        claimed = int(_COUNT.match(what).group(1))  # type: ignore[union-attr]
        spread = _SPREAD.search(what)
        if len(part) == (int(spread.group(1)) if spread else claimed):
            exact += 1
        covered.update(part)
    accounted = all(line in shown_set or line in covered for line in lines if line.strip())
    lossless = count_tokens(compress_log(text).text)
    lossy = count_tokens(out.text)
    return {
        "input": name,
        "kind": sample.kind,
        "rate": rate,
        "budget": budget,
        "tokens_original": tokens,
        "tokens_lossless": lossless,
        "tokens_lossy": lossy,
        "reduction": round(1 - lossy / tokens, 4),
        "within_budget": lossy <= budget,
        "must_keep": len(sample.must_keep),
        "must_keep_kept": sum(1 for line in sample.must_keep if line in shown_set),
        "markers": markers,
        "markers_exact": exact,
        "accounted": accounted,
        "ms": round(elapsed * 1000, 1),
        "notes": out.notes,
    }


def speed(name: str, text: str, rounds: int) -> dict[str, Any]:
    mb = len(text.encode("utf-8")) / 1e6
    budget = max(1, len(text) // 4 // 20)
    row: dict[str, Any] = {"input": name, "mb": round(mb, 2), "lines": text.count("\n")}
    for label, run in (
        ("reduce_log", lambda: reduce_log(text, LOG, budget=budget, query=None, handle=HANDLE)),
        ("compress_log", lambda: compress_log(text)),
    ):
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        row[label] = {
            "median_mb_s": round(mb / statistics.median(times), 1),
            "best_mb_s": round(mb / min(times), 1),
            "seconds": [round(t, 3) for t in times],
        }
        print(f"  {name}: {label} median {row[label]['median_mb_s']} MB/s", file=sys.stderr)
    return row


def pipeline(text: str) -> dict[str, Any]:
    """One compress() call with an original store in a temporary data dir, end to end."""
    with tempfile.TemporaryDirectory() as home:
        os.environ["COMPRESSION_LAYER_HOME"] = home
        from compression_layer import compress
        from compression_layer.originals.store import OriginalStore

        store = OriginalStore.open(Path(home) / "originals.db")
        started = time.perf_counter()
        result = compress(text, rate=0.05, domain="log", originals=store)
        elapsed = time.perf_counter() - started
        return {
            "mb": round(len(text.encode("utf-8")) / 1e6, 2),
            "seconds": round(elapsed, 2),
            "mb_s": round(len(text.encode("utf-8")) / 1e6 / elapsed, 2),
            "tokens_original": result.tokens_original,
            "tokens_compressed": result.tokens_compressed,
            "handle": bool(result.handle),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pipeline", action="store_true")
    args = parser.parse_args()
    count_tokens("warm up")
    reduce_log("a 1\nb 2\nERROR c\n" * 50, LOG, budget=20, query=None, handle=HANDLE)
    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_before": os.getloadavg(),
        },
        "quality": [],
        "throughput": [],
    }
    for name, make, rate in QUALITY:
        row = quality(name, make(), rate)
        report["quality"].append(row)
        print(
            f"{name}: {row['tokens_original']} -> {row['tokens_lossy']} tokens "
            f"({row['reduction']:.1%} fewer; lossless {row['tokens_lossless']}), kept "
            f"{row['must_keep_kept']}/{row['must_keep']}, markers exact "
            f"{row['markers_exact']}/{row['markers']}, accounted {row['accounted']}",
            file=sys.stderr,
        )
    for name, make in SPEED:
        report["throughput"].append(speed(name, make(), args.rounds))
    if args.pipeline:
        report["pipeline"] = pipeline(log_samples.app_log(3400).text)
        print(f"pipeline: {report['pipeline']}", file=sys.stderr)
    report["machine"]["load_after"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "log_passes.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
