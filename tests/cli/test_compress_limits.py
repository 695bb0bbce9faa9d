"""``compression-layer compress`` takes the limits of ``compress()`` and the server, and names
the setting that governs each refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from compression_layer.cli.main import app

runner = CliRunner()


def test_stdin_over_the_limit_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__MAX_INPUT_BYTES", "1000")
    res = runner.invoke(app, ["compress", "-"], input="word " * 1000)
    assert res.exit_code == 2
    assert "stdin is over the 1.0 KB limit" in res.stderr
    assert "COMPRESSION_LAYER_COMPRESS__MAX_INPUT_BYTES" in res.stderr
    ok = runner.invoke(app, ["compress", "-", "--engine", "structural"], input="word  word\n")
    assert ok.exit_code == 0 and ok.stdout.strip() == "word word"


def test_file_over_the_limit_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000, encoding="utf-8")
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__MAX_INPUT_BYTES", "1000")
    res = runner.invoke(app, ["compress", str(big)])
    assert res.exit_code == 2
    assert "5.0 KB, over the 1.0 KB limit" in res.stderr
    assert "compress.max_input_bytes" in res.stderr


def test_a_query_over_its_limit_fails_once_before_any_file(tmp_path: Path) -> None:
    files = []
    for name in ("a.txt", "b.txt"):
        path = tmp_path / name
        path.write_text("The committee met on Monday.", encoding="utf-8")
        files.append(str(path))
    res = runner.invoke(app, ["compress", *files, "--query", "why " * 1000])
    assert res.exit_code == 2
    assert res.stderr.count("over the 2,000-character limit") == 1
    assert "COMPRESSION_LAYER_COMPRESS__MAX_QUERY_CHARS" in res.stderr
    assert res.stdout == ""
