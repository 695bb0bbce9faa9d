"""Cold start of the CLI: wall time of ``compression-layer --help`` and of each group's ``--help``.

The groups (and top-level commands) are read from the CLI itself, so a new one is measured too.
Each command runs as a fresh process ``--runs`` times (after one unrecorded warm-up run that fills
the OS file cache and Python's bytecode cache); the median and p90 (nearest rank) of the wall time
are reported, together with the CPU time (user + sys) of the child, which other jobs on a shared
machine disturb less than the wall time. The load average and CPU count are recorded beside them,
and the import time of each ``compression_layer.cli`` module (``-X importtime``, one run) says
which command module a slow start comes from.
Writes ``bench/results/cold_start.json``.

    .venv/bin/python bench/cold_start.py [--runs 7] [--exe .venv/bin/compression-layer]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TARGET_S = 1.0


def groups() -> list[str]:
    """The top-level commands and groups, read from the CLI's click tree (in this process)."""
    import typer

    from compression_layer.cli.main import app

    return list(getattr(typer.main.get_command(app), "commands", {}))


def default_exe() -> str:
    script = Path(sys.executable).with_name("compression-layer")
    return str(script) if script.is_file() else "compression-layer"


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv``, which must exit 0."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, env=env, timeout=120, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        err = out.stderr.decode("utf-8", "replace")
        raise SystemExit(f"{' '.join(argv)} exited {out.returncode}:\n{err}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(exe: str, args: list[str], runs: int, env: dict[str, str]) -> dict[str, Any]:
    argv = [exe, *args, "--help"]
    run_once(argv, env)  # warm-up: file cache and __pycache__
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = run_once(argv, env)
        walls.append(wall)
        cpus.append(cpu)
    return {
        "command": " ".join(["compression-layer", *args, "--help"]),
        "runs": runs,
        "wall_median_s": round(statistics.median(walls), 4),
        "wall_p90_s": round(p90(walls), 4),
        "cpu_median_s": round(statistics.median(cpus), 4),
        "wall_s": [round(w, 4) for w in walls],
    }


def import_times(env: dict[str, str]) -> dict[str, float]:
    """Cumulative import time (ms, one run of ``-X importtime``) of each ``cli`` module and of
    the CLI as a whole: which command module costs what at start."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import compression_layer.cli.main"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    times: dict[str, float] = {}
    for line in out.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[2].strip().startswith("compression_layer.cli"):
            times[parts[2].strip()] = round(int(parts[1]) / 1000, 1)
    return dict(sorted(times.items(), key=lambda kv: -kv[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command")
    parser.add_argument("--exe", default=default_exe(), help="the compression-layer script")
    parser.add_argument("--out", type=Path, default=RESULTS / "cold_start.json")
    args = parser.parse_args()

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "120"}
    load_before = os.getloadavg()[0]
    rows = []
    for group in [None, *groups()]:
        row = measure(args.exe, [group] if group else [], args.runs, env)
        rows.append(row)
        print(
            f"{row['command']:<45} median {row['wall_median_s']:.3f} s  "
            f"p90 {row['wall_p90_s']:.3f} s  cpu {row['cpu_median_s']:.3f} s",
            flush=True,
        )
    worst = max(r["wall_p90_s"] for r in rows)
    report = {
        "target_s": TARGET_S,
        "all_under_target": worst < TARGET_S,
        "worst_p90_s": worst,
        "commands": rows,
        "import_ms": import_times(env),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_1m_before": round(load_before, 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"worst p90 {worst:.3f} s (target < {TARGET_S} s); wrote {args.out}")


if __name__ == "__main__":
    main()
