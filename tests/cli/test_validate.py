"""The CLI (pair, batch with resume and bad lines) and the offline-only path with real MiniLM."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from compression_layer.cli.validate import EXIT_INCOMPLETE, EXIT_NO_ANSWERS, app
from compression_layer.validation import validate_pair
from val_fake_api import FakeAPI
from val_settings import KEYS, make_settings

ORIGINAL = "The bridge opened in 1932 and carries 160,000 vehicles a day across the harbour."
COMPRESSED = "Bridge opened 1932; carries 160,000 vehicles/day across harbour."


def _configure(fake_api: FakeAPI, **overrides: Any) -> None:
    settings = make_settings(fake_api.url, budget_usd=1.0, max_retries=1, **overrides)
    config = settings.model_dump(mode="json", exclude={"providers": {"local"}})
    path = Path(os.environ["COMPRESSION_LAYER_CONFIG_DIR"]) / "validation.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")


@pytest.fixture
def configured(fake_api: FakeAPI, keys: dict[str, str]) -> FakeAPI:
    """A validation.yaml in the test's config dir, pointing every provider at the fake."""
    _configure(fake_api)
    return fake_api


def _pairs_file(tmp_path: Path) -> Path:
    rows = [
        json.dumps({"id": "a", "original": ORIGINAL, "compressed": COMPRESSED}),
        "{not json",
        json.dumps({"id": "b", "original": "Water boils at 100 C at sea level.",
                    "compressed": "Water boils 100 C (sea level)."}),
        json.dumps({"id": "c", "original": "", "compressed": "x"}),
        json.dumps({"messages": [
            {"role": "system", "content": "Compress."},
            {"role": "user", "content": "Compress:\nPython 3.11 added TaskGroup to asyncio."},
            {"role": "assistant", "content": "Py3.11: asyncio.TaskGroup added."},
        ]}),
    ]  # fmt: skip
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _ids(out: Path) -> list[str]:
    return [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]


def test_batch_reports_bad_lines_resumes_and_reuses_the_cache(
    configured: FakeAPI, tmp_path: Path
) -> None:
    pairs, out = _pairs_file(tmp_path), tmp_path / "out.jsonl"
    runner = CliRunner()
    first = runner.invoke(
        app, ["batch", str(pairs), "--models", "gpt,gemini", "--out", str(out), "--json"]
    )
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (summary["total"], summary["validated"], summary["skipped"]) == (5, 3, 0)
    assert [e["line"] for e in summary["errors"]] == [2, 4]
    assert "line 2" in first.stderr and "line 4" in first.stderr
    ids = _ids(out)
    assert ids[:2] == ["a", "b"] and len(ids) == 3
    calls = configured.count()
    assert calls == summary["calls"] == 3 * 2 * 2  # pairs x models x (original, compressed)

    again = runner.invoke(
        app, ["batch", str(pairs), "--models", "gpt,gemini", "--out", str(out), "--json"]
    )
    assert json.loads(again.stdout)["skipped"] == 3 and configured.count() == calls

    fresh = tmp_path / "fresh.jsonl"
    third = runner.invoke(
        app, ["batch", str(pairs), "-m", "gpt,gemini", "--out", str(fresh), "--json"]
    )
    assert json.loads(third.stdout)["cached"] == calls and configured.count() == calls
    assert _ids(fresh) == ids


def test_batch_budget_stops_then_a_larger_budget_resumes(
    configured: FakeAPI, tmp_path: Path
) -> None:
    pairs, out = _pairs_file(tmp_path), tmp_path / "out.jsonl"
    runner = CliRunner()
    low = runner.invoke(
        app,
        ["batch", str(pairs), "-m", "claude", "--out", str(out), "--budget", "0.0005", "--json"],
    )
    summary = json.loads(low.stdout)
    assert summary["budget_exhausted"] and summary["validated"] < 3
    assert "budget reached" in low.stderr
    done = _ids(out) if out.exists() else []
    more = runner.invoke(app, ["batch", str(pairs), "-m", "claude", "--out", str(out), "--json"])
    assert json.loads(more.stdout)["skipped"] == len(done)
    assert len(_ids(out)) == 3


def test_pair_reads_stdin_and_prints_json(configured: FakeAPI, tmp_path: Path) -> None:
    original = tmp_path / "original.txt"
    original.write_text(ORIGINAL, encoding="utf-8")
    result = CliRunner().invoke(
        app, ["pair", str(original), "-", "--models", "claude", "--json"], input=COMPRESSED
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["models"][0]["model"] == "claude" and report["passed"] is True
    assert report["offline"]["tokens"][0]["compressed"] < report["offline"]["tokens"][0]["original"]


def test_pair_refuses_two_stdins_and_missing_keys(
    configured: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    both = runner.invoke(app, ["pair", "-", "-"], input="x")
    assert both.exit_code != 0 and "only one" in both.output
    monkeypatch.delenv("GEMINI_API_KEY")
    missing = runner.invoke(app, ["pair", __file__, __file__, "-m", "gemini,gpt"])
    assert missing.exit_code == 2 and "GEMINI_API_KEY" in missing.stderr
    assert configured.count() == 0
    assert all(key not in missing.output for key in KEYS.values())


async def test_validate_pair_without_models_runs_offline_checks_with_minilm() -> None:
    questions = [{"question": "When did it open?", "answers": ["1932"]}]
    report = await validate_pair(ORIGINAL, COMPRESSED, questions=questions)
    assert report.offline_only and report.models == [] and report.calls == 0
    assert 0.6 < report.offline.similarity <= 1.0
    assert {t.tokenizer for t in report.offline.tokens} == {
        "o200k_base",
        "cl100k_base",
        "claude",
        "gemini",
    }
    assert all(t.reduction > 0 for t in report.offline.tokens)
    assert report.offline.answer_retention == 1.0
    unrelated = await validate_pair(ORIGINAL, "Bananas are yellow and rich in potassium.")
    assert unrelated.offline.similarity < report.offline.similarity


def test_pair_exact_tokens_counts_claude_and_gemini_through_their_apis(
    configured: FakeAPI, tmp_path: Path
) -> None:
    from compression_layer import tokens

    original = tmp_path / "original.txt"
    original.write_text(ORIGINAL, encoding="utf-8")
    try:
        result = CliRunner().invoke(
            app, ["pair", str(original), "-", "--exact-tokens", "--json"], input=COMPRESSED
        )
    finally:
        tokens.unregister_exact_counter("claude")
        tokens.unregister_exact_counter("gemini")
    assert result.exit_code == 0, result.output
    counts = {t["tokenizer"]: t for t in json.loads(result.stdout)["offline"]["tokens"]}
    assert counts["claude"]["estimated"] is False and counts["gemini"]["estimated"] is False
    assert counts["claude"]["original"] == len(ORIGINAL.split())  # the fake counts words
    assert configured.count(kind="count") == 4


def _texts(tmp_path: Path) -> tuple[str, str]:
    original, compressed = tmp_path / "original.txt", tmp_path / "compressed.txt"
    original.write_text(ORIGINAL, encoding="utf-8")
    compressed.write_text(COMPRESSED, encoding="utf-8")
    return str(original), str(compressed)


def _invoke_bounded(args: list[str], bound_s: float = 90) -> Any:
    """``CliRunner.invoke`` in a daemon thread, waited for at most ``bound_s``."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(CliRunner().invoke(app, args)), daemon=True)
    thread.start()
    thread.join(bound_s)
    assert box, f"the command was still running after {bound_s} s"
    return box[0]


def test_pair_exits_3_and_says_why_when_every_call_failed(
    configured: FakeAPI, tmp_path: Path
) -> None:
    configured.echo_key_on_401 = True
    configured.always.update({"anthropic": "401", "openai": "404", "gemini": "html"})
    result = CliRunner().invoke(
        app, ["pair", *_texts(tmp_path), "-m", "claude,gpt,gemini", "--json"]
    )
    assert result.exit_code == EXIT_NO_ANSWERS == 3, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "no_answers" and report["passed"] is None
    err = result.stderr
    assert "no answers: none of claude, gpt, gemini answered" in err
    assert "claude: 1 of 1 tasks failed (no answer at all)" in err
    assert "401 Unauthorized: the key in ANTHROPIC_API_KEY was rejected" in err
    assert "404 Not Found: model 'gpt-4.1-mini' is not available" in err
    assert "HTML page titled 'Sign in - Corporate Proxy' instead of JSON" in err
    assert "is base_url" in err and "a Gemini-compatible API?" in err
    for key in KEYS.values():
        assert key not in result.output
    assert all(key not in p.read_text(encoding="utf-8", errors="replace")
               for p in Path(os.environ["COMPRESSION_LAYER_HOME"]).rglob("*.jsonl")
               for key in KEYS.values())  # fmt: skip


def test_pair_exits_4_when_one_model_gave_no_answer(configured: FakeAPI, tmp_path: Path) -> None:
    configured.dead.add("gemini")
    result = CliRunner().invoke(app, ["pair", *_texts(tmp_path), "-m", "claude,gemini"])
    assert result.exit_code == EXIT_INCOMPLETE == 4, result.output
    assert "incomplete: no answer from gemini" in result.stderr
    assert "gemini: 1 of 1 tasks failed (no answer at all)" in result.stderr
    assert "500: the API failed or is overloaded" in result.stderr


def test_pair_against_a_hanging_endpoint_ends_at_its_deadline(
    fake_api: FakeAPI, keys: dict[str, str], tmp_path: Path
) -> None:
    _configure(fake_api, timeout_s=60.0)  # the SDK timeout would not end it: the deadline must
    for api in ("anthropic", "openai", "gemini"):
        fake_api.always[api] = "hang"
    result = _invoke_bounded(
        ["pair", *_texts(tmp_path), "-m", "claude,gpt,gemini", "--deadline", "2", "--json"]
    )
    assert result.exit_code == EXIT_NO_ANSWERS, result.output
    report = json.loads(result.stdout)
    assert report["deadline_reached"] and report["status"] == "no_answers"
    assert all(t["timed_out"] for m in report["models"] for t in m["tasks"])
    assert "the run deadline of 2 s (run_deadline_s)" in result.stderr


def test_batch_exit_codes_unfinished_pairs_and_resume(configured: FakeAPI, tmp_path: Path) -> None:
    pairs, out = _pairs_file(tmp_path), tmp_path / "out.jsonl"
    runner = CliRunner()
    configured.dead.update({"openai", "gemini"})
    dead = runner.invoke(app, ["batch", str(pairs), "-m", "gpt,gemini", "--out", str(out),
                               "--json"])  # fmt: skip
    assert dead.exit_code == EXIT_NO_ANSWERS, dead.output
    summary = json.loads(dead.stdout)
    assert summary["status"] == "no_answers" and summary["validated"] == 0
    assert summary["stopped_early"] and set(summary["gave_up"]) == {"openai", "gemini"}
    assert "pair a: gpt: 1 of 1 tasks failed (no answer at all)" in dead.stderr
    assert not out.exists() or _ids(out) == []

    configured.dead.clear()
    configured.dead.add("gemini")
    half = runner.invoke(app, ["batch", str(pairs), "-m", "gpt,gemini", "--out", str(out),
                               "--json"])  # fmt: skip
    assert half.exit_code == EXIT_INCOMPLETE, half.output
    assert json.loads(half.stdout)["unfinished"] >= 1

    configured.dead.clear()
    again = runner.invoke(app, ["batch", str(pairs), "-m", "gpt,gemini", "--out", str(out),
                                "--json"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["validated"] == 3 and len(_ids(out)) == 3


def test_batch_deadline_stops_and_a_rerun_resumes(
    fake_api: FakeAPI, keys: dict[str, str], tmp_path: Path
) -> None:
    _configure(fake_api, timeout_s=60.0)
    fake_api.always["openai"] = "hang"
    pairs, out = _pairs_file(tmp_path), tmp_path / "out.jsonl"
    stopped = _invoke_bounded(
        ["batch", str(pairs), "-m", "gpt", "--out", str(out), "--deadline", "2", "--json"]
    )
    assert stopped.exit_code == EXIT_NO_ANSWERS, stopped.output  # gpt never answered
    summary = json.loads(stopped.stdout)
    assert summary["deadline_reached"] and summary["stopped_early"] and summary["validated"] == 0
    assert "deadline reached: batch stopped; run again to resume" in stopped.stderr
    assert "no answer within the batch deadline of 2 s (batch_deadline_s or --deadline)" in (
        stopped.stderr
    )
    fake_api.always.clear()
    resumed = _invoke_bounded(["batch", str(pairs), "-m", "gpt", "--out", str(out), "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert len(_ids(out)) == 3
