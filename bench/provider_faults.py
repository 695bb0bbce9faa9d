"""Provider faults end to end: what ``validate pair`` says and does for each fault, per provider.

Starts the fake API of the tests (``tests/support/val_fake_api.py``: the Anthropic, OpenAI and
Gemini wire formats on one loopback port) and, for each provider (claude, gpt, gemini) and each
fault, runs ``compression-layer validate pair original compressed -m <model> --json`` through the
real SDKs with that fault on every request: HTTP 401 / 403 / 404 / 429 (short and 1 h
Retry-After) / 500 / 503, a proxy's 502 page, a login page, a JSON string, missing and wrong-typed
fields, truncated JSON, an endpoint that never answers, connection refused and DNS failure.

Recorded per row: the report's ``status``, the exit code, the failed call's ``reason`` and message,
whether any key showed up in the output, and the wall time of the command in this process
(CliRunner, after an untimed warm-up: interpreter start-up, imports and model loading excluded).
The table runs with ``--deadline`` (default 5 s).

Then ``hang_subprocess``: the real console script, as a user runs it, against endpoints that never
answer, with ``--deadline`` and (unless ``--quick``) with every packaged default (timeout_s 60,
max_retries 3, pair 90 s, run 120 s): exit code and wall time, interpreter start-up included;
``offline_only_subprocess_wall_s`` is the same command without models, for the start-up and
offline-check share of that time.

Writes ``bench/results/provider_faults.json``.

    .venv/bin/python bench/provider_faults.py [--deadline 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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

from val_fake_api import UNRESOLVABLE_URL, FakeAPI, closed_port_url, start  # noqa: E402
from val_settings import KEYS, make_settings  # noqa: E402

MODELS = {"claude": "anthropic", "gpt": "openai", "gemini": "gemini"}
# (label, the fake's fault, its Retry-After in seconds)
FAULTS: list[tuple[str, str, float]] = [
    ("none", "none", 0.0),
    ("401", "401", 0.0),
    ("403", "403", 0.0),
    ("404", "404", 0.0),
    ("429 (Retry-After 0.5 s)", "429-wait", 0.5),
    ("429 (Retry-After 3600 s)", "429-wait", 3600.0),
    ("500", "500", 0.0),
    ("503", "503", 0.0),
    ("502 HTML page", "html-502", 0.0),
    ("200 HTML login page", "html", 0.0),
    ("200 JSON string", "string", 0.0),
    ("200 missing fields", "missing", 0.0),
    ("200 wrong-typed fields", "wrong-type", 0.0),
    ("200 truncated JSON", "malformed", 0.0),
    ("hang", "hang", 0.0),
    ("connection refused", "refused", 0.0),
    ("DNS failure", "dns", 0.0),
]
ORIGINAL = (
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris. It is 330 metres tall "
    "and was designed by the company of Gustave Eiffel."
)
COMPRESSED = "Eiffel Tower: completed 1889, Paris World's Fair, 330 m, Gustave Eiffel's company."
# Realistic retry settings, a little quicker than the defaults so the table runs in minutes.
BENCH_SETTINGS: dict[str, Any] = {
    "timeout_s": 10.0,
    "max_retries": 2,
    "retry_initial_delay_s": 0.2,
    "retry_after_max_s": 30.0,
    "budget_usd": 1.0,
}


def _write_config(config_dir: Path, url: str, **overrides: Any) -> None:
    import yaml

    settings = make_settings(url, **{**BENCH_SETTINGS, **overrides})
    data = settings.model_dump(mode="json", exclude={"providers": {"local"}})
    for key in ("pair_deadline_s", "run_deadline_s", "batch_deadline_s"):
        data.pop(key, None)  # the packaged defaults apply
    (config_dir / "validation.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")


def _run_row(fake: FakeAPI, model: str, fault: str, files: list[str], deadline: float) -> dict:
    from typer.testing import CliRunner

    from compression_layer.cli.validate import app
    from compression_layer.settings import get_settings

    api = MODELS[model]
    url = {"refused": closed_port_url(), "dns": UNRESOLVABLE_URL}.get(fault, fake.url)
    _write_config(Path(os.environ["COMPRESSION_LAYER_CONFIG_DIR"]), url)
    get_settings.cache_clear()
    fake.always.clear()
    fake.scripts.clear()
    if fault not in ("none", "refused", "dns"):
        fake.always[api] = fault
    before = fake.count(api)
    args = ["pair", *files, "-m", model, "--json", "--deadline", f"{deadline:g}"]
    started = time.perf_counter()
    result = CliRunner().invoke(app, args)
    wall = time.perf_counter() - started
    row: dict[str, Any] = {
        "provider": api,
        "model": model,
        "fault": fault,
        "exit_code": result.exit_code,
        "wall_s": round(wall, 3),
        "requests": fake.count(api) - before,
        "key_leaked": any(key in result.output for key in KEYS.values()),
    }
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        row.update(outcome="crash", reason=None, message=result.output[-500:])
        return row
    task = report["models"][0]["tasks"][0]
    row.update(
        outcome=report["status"],
        reason=task.get("reason"),
        timed_out=task.get("timed_out"),
        message=task.get("error"),
    )
    return row


def _subprocess_wall(files: list[str], env: dict[str, str]) -> float:
    """The console script with no models (offline checks only): start-up and model loading."""
    script = Path(sys.executable).parent / "compression-layer"
    started = time.perf_counter()
    subprocess.run([str(script), "validate", "pair", *files, "--json"], env=env,
                   capture_output=True, timeout=600, check=True)  # fmt: skip
    return round(time.perf_counter() - started, 2)


def _hang_subprocess(url: str, files: list[str], env: dict[str, str], deadline: float | None):
    """The console script against three hanging endpoints; exit code and wall time.

    With ``deadline`` None every timing setting is the packaged default (timeout_s 60,
    max_retries 3, pair_deadline_s 90, run_deadline_s 120): one hung call would take 4 x 60 s,
    so only the deadline can end the run.
    """
    config = Path(env["COMPRESSION_LAYER_CONFIG_DIR"])
    if deadline is None:
        _write_config(config, url, timeout_s=60.0, max_retries=3, retry_initial_delay_s=1.0,
                      retry_after_max_s=30.0)  # fmt: skip
    else:
        _write_config(config, url)
    script = Path(sys.executable).parent / "compression-layer"
    args = [str(script), "validate", "pair", *files, "-m", "claude,gpt,gemini", "--json"]
    if deadline is not None:
        args += ["--deadline", f"{deadline:g}"]
    started = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    report = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    return {
        "deadline": "--deadline " + f"{deadline:g}" if deadline is not None else "defaults",
        "exit_code": proc.returncode,
        "wall_s": round(wall, 2),
        "status": report.get("status"),
        "timed_out_tasks": sum(
            t.get("timed_out", False) for m in report.get("models", []) for t in m["tasks"]
        ),
        "first_error": next(
            (t["error"] for m in report.get("models", []) for t in m["tasks"] if t.get("error")),
            None,
        ),
        "key_leaked": any(key in proc.stdout + proc.stderr for key in KEYS.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", type=float, default=5.0, help="--deadline for the table")
    parser.add_argument(
        "--quick", action="store_true", help="skip the run with the default deadlines (90-120 s)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home, config = Path(tmp) / "home", Path(tmp) / "config"
        config.mkdir()
        os.environ.update(KEYS)
        os.environ["COMPRESSION_LAYER_HOME"] = str(home)
        os.environ["COMPRESSION_LAYER_CONFIG_DIR"] = str(config)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        original, compressed = Path(tmp) / "original.txt", Path(tmp) / "compressed.txt"
        original.write_text(ORIGINAL, encoding="utf-8")
        compressed.write_text(COMPRESSED, encoding="utf-8")
        files = [str(original), str(compressed)]

        fake = FakeAPI(echo_key_on_401=True)
        server = start(fake)
        rows: list[dict[str, Any]] = []
        try:
            # Untimed warm-up: SDK imports, tokenizers and MiniLM load once per process (seconds
            # here), which would otherwise eat the first rows' deadline.
            os.environ["COMPRESSION_LAYER_HOME"] = str(home / "warm-up")
            for model in MODELS:
                _run_row(fake, model, "none", files, 600)
            for label, fault, retry_after in FAULTS:
                fake.retry_after_s = retry_after
                for model in MODELS:
                    # The answer cache would serve a repeated call: a fresh data dir per row.
                    os.environ["COMPRESSION_LAYER_HOME"] = str(home / f"{model}-{len(rows)}")
                    row = _run_row(fake, model, fault, files, args.deadline)
                    row["fault"] = label
                    rows.append(row)
                    print(
                        f"{label:26} {model:7} exit {row['exit_code']} {row['outcome']:10} "
                        f"{row['wall_s']:6.2f}s  {row['message'] or ''}",
                        flush=True,
                    )
            for api in MODELS.values():
                fake.always[api] = "hang"
            env = {**os.environ, "COMPRESSION_LAYER_HOME": str(home / "subprocess")}
            _write_config(config, fake.url)
            offline_wall = _subprocess_wall(files, env)
            print(f"offline checks only, subprocess: {offline_wall} s", flush=True)
            hangs = [_hang_subprocess(fake.url, files, env, args.deadline)]
            if not args.quick:
                hangs.append(_hang_subprocess(fake.url, files, env, None))
            for hang in hangs:
                print(f"hang, subprocess, {hang['deadline']}: exit {hang['exit_code']}, "
                      f"{hang['wall_s']} s", flush=True)  # fmt: skip
        finally:
            server.shutdown()
            server.server_close()

    from compression_layer.settings import ValidationSettings

    defaults = ValidationSettings.model_fields
    out = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "settings": {
            **BENCH_SETTINGS,
            "table_deadline_s": args.deadline,
            "default_pair_deadline_s": defaults["pair_deadline_s"].default,
            "default_run_deadline_s": defaults["run_deadline_s"].default,
        },
        "exit_codes": {
            "0": "passed",
            "1": "compression failed",
            "2": "usage or config error",
            "3": "no model answered",
            "4": "a model produced no answer (others did)",
        },
        "summary": {
            "rows": len(rows),
            "crashes": sum(r["outcome"] == "crash" for r in rows),
            "keys_leaked": sum(bool(r["key_leaked"]) for r in rows),
            "exit_codes": {
                str(code): sum(r["exit_code"] == code for r in rows)
                for code in sorted({r["exit_code"] for r in rows})
            },
            "max_wall_s": max(r["wall_s"] for r in rows),
        },
        "rows": rows,
        "offline_only_subprocess_wall_s": offline_wall,
        "hang_subprocess": hangs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / "provider_faults.json"
    target.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
