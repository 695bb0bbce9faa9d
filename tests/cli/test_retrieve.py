"""``compression-layer retrieve`` and ``compress --keep-original``: markers back to exact text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compression_layer.cli.main import app
from compression_layer.compress import lossy
from compression_layer.compress.reversible import MARKER_RE, LossyOutput, marker, selector_of
from compression_layer.compress.types import Domain
from compression_layer.originals.select import split_lines
from compression_layer.originals.store import OriginalStore

runner = CliRunner()

LOG = "".join(f"2024-05-01 10:00:{i % 60:02d} INFO request {i} ok\r\n" for i in range(300)) + (
    "2024-05-01 10:05:00 ERROR disk full\n"
)


def head_and_errors(
    text: str, domain: Domain, *, budget: int, query: str | None, handle: str
) -> LossyOutput:
    """A fake log pass: the first line, the ERROR line, a marker for the rest."""
    del domain, budget, query
    lines = split_lines(text)
    middle = marker(handle, f"{len(lines) - 2} lines", lines=f"2-{len(lines) - 1}")
    return LossyOutput("\n".join([lines[0], middle, lines[-1]]), omitted=len(lines) - 2)


@pytest.fixture
def fake_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(lossy.PASSES, "log", head_and_errors)


def test_compress_with_a_budget_keeps_the_original_and_retrieve_gets_it_back(
    tmp_path: Path, fake_pass: None
) -> None:
    source = tmp_path / "app.log"
    source.write_bytes(LOG.encode("utf-8"))
    out = runner.invoke(app, ["compress", str(source), "--rate", "0.1", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    handle = result["handle"]
    assert handle and handle in result["compressed"]
    found = MARKER_RE.search(result["compressed"])
    assert found is not None
    whole = runner.invoke(app, ["retrieve", handle])
    assert whole.exit_code == 0
    assert whole.stdout_bytes == source.read_bytes()  # byte for byte, \r\n included
    args = [f"--{key}={value}" for key, value in selector_of(found).items()]
    part = runner.invoke(app, ["retrieve", handle, *args])
    assert part.stdout_bytes.decode("utf-8") == "\n".join(LOG.split("\n")[1:300])
    matched = runner.invoke(app, ["retrieve", handle, "--match", "ERROR", "--json"])
    payload = json.loads(matched.stdout)
    assert payload["text"] == "2024-05-01 10:05:00 ERROR disk full"
    assert payload["domain"] == "log" and payload["selector"] == {"match": "ERROR"}


def test_no_keep_original_stays_lossless(tmp_path: Path, fake_pass: None) -> None:
    source = tmp_path / "app.log"
    source.write_text(LOG, encoding="utf-8")
    out = runner.invoke(
        app, ["compress", str(source), "--rate", "0.1", "--json", "--no-keep-original"]
    )
    result = json.loads(out.stdout)
    assert result["handle"] is None
    assert "omitted" not in result["compressed"]
    assert any("give an original store" in note for note in result["notes"])
    assert OriginalStore.open().stats().entries == 0


def test_the_setting_turns_it_off(
    tmp_path: Path, fake_pass: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPRESSION_LAYER_ORIGINALS__CLI", "false")
    source = tmp_path / "app.log"
    source.write_text(LOG, encoding="utf-8")
    result = json.loads(
        runner.invoke(app, ["compress", str(source), "--rate", "0.1", "--json"]).stdout
    )
    assert result["handle"] is None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["o_0123456789"], "unknown handle o_0123456789"),
        (["nothing"], "is not a handle"),
    ],
)
def test_bad_handles_are_clear_errors(args: list[str], says: str) -> None:
    out = runner.invoke(app, ["retrieve", *args])
    assert out.exit_code == 2
    assert says in out.stderr


def test_a_bad_selector_is_a_clear_error() -> None:
    handle = OriginalStore.open().put("a\nb\n", domain="log")
    out = runner.invoke(app, ["retrieve", handle, "--lines", "2-9"])
    assert out.exit_code == 2
    assert "has 2 lines" in out.stderr
    other = runner.invoke(app, ["retrieve", handle, "--namespace", "elsewhere"])
    assert "unknown handle" in other.stderr
