from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compression_layer.cli.main import app
from repo_paths import PACKAGE_DIR

runner = CliRunner()
SAMPLE = PACKAGE_DIR / "data/samples/sample_service.py"


def test_compress_json_contract() -> None:
    res = runner.invoke(app, ["compress", str(SAMPLE), "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout.strip().splitlines()[0])
    for key in (
        "compressed",
        "engine",
        "domain",
        "tokens_original",
        "tokens_compressed",
        "ratio",
        "latency_ms",
        "facts_missing",
    ):
        assert key in obj
    assert obj["domain"] == "code:python" and obj["engine"] == "structural"
    assert obj["tokens_compressed"] < obj["tokens_original"]


def test_compress_table_and_stdout(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"a": [1, 2, 3], "b": {"c": "d"}}, indent=4), encoding="utf-8")
    res = runner.invoke(app, ["compress", str(data)])
    assert res.exit_code == 0
    assert '{"a":[1,2,3],"b":{"c":"d"}}' in res.stdout


def test_stdin() -> None:
    res = runner.invoke(app, ["compress", "-", "--json", "--engine", "structural"], input="a  b\n")
    assert res.exit_code == 0
    assert json.loads(res.stdout)["compressed"].strip() == "a b"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d / "missing.txt", "no such file"),
        (lambda d: d, "directory"),
        (lambda d: _write(d / "bin.dat", b"\x00\x01\x02"), "binary"),
        (lambda d: _write(d / "latin.txt", b"caf\xe9"), "UTF-8"),
        (lambda d: _write(d / "empty.txt", b"  \n"), "empty"),
        (lambda d: _write(d / "bad.json", b'{"a": 1,,}'), "JSON"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, setup, message: str) -> None:  # type: ignore[no-untyped-def]
    path = setup(tmp_path)
    res = runner.invoke(app, ["compress", str(path)])
    assert res.exit_code == 2
    assert message in res.stderr
    assert "Traceback" not in res.output + res.stderr


def test_size_limit_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = _write(tmp_path / "big.txt", b"word " * 1000)
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__MAX_INPUT_BYTES", "1000")
    res = runner.invoke(app, ["compress", str(big)])
    assert res.exit_code == 2 and "limit" in res.stderr


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    res = runner.invoke(app, ["compress", str(tmp_path / "nope.py"), str(SAMPLE), "--json"])
    assert res.exit_code == 2
    assert len(res.stdout.strip().splitlines()) == 1


def test_tokens_command() -> None:
    res = runner.invoke(app, ["tokens", str(SAMPLE), "--model", "gpt-4o", "--model", "claude-x"])
    assert res.exit_code == 0
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("gpt-4o\t") and "estimated" in lines[1]


def test_console_script_runs_as_a_process(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "compression_layer.cli", "compress", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "no such file" in out.stderr and "Traceback" not in out.stderr


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_tokens_reads_stdin_no_further_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__MAX_INPUT_BYTES", "1000")
    res = runner.invoke(app, ["tokens", "-"], input="a" * 5000)
    assert res.exit_code == 2
    assert "compress.max_input_bytes" in res.stderr
