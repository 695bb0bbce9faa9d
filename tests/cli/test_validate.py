"""The CLI (pair, batch with resume and bad lines) and the offline-only path with real MiniLM."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from compression_layer.cli.validate import app
from compression_layer.validation import validate_pair
from val_fake_api import FakeAPI
from val_settings import KEYS, make_settings

ORIGINAL = "The bridge opened in 1932 and carries 160,000 vehicles a day across the harbour."
COMPRESSED = "Bridge opened 1932; carries 160,000 vehicles/day across harbour."


@pytest.fixture
def configured(fake_api: FakeAPI, keys: dict[str, str]) -> FakeAPI:
    """A validation.yaml in the test's config dir, pointing every provider at the fake."""
    settings = make_settings(fake_api.url, budget_usd=1.0, max_retries=1)
    config = settings.model_dump(mode="json", exclude={"providers": {"local"}})
    path = Path(os.environ["COMPRESSION_LAYER_CONFIG_DIR"]) / "validation.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
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
