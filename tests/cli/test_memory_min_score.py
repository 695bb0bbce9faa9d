"""``memory search --min-score``: the weaker hits are dropped; a bad value is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compression_layer.cli import memory as cli
from memory_fakes import FakeCompressor, FakeEmbedder

runner = CliRunner()


@pytest.fixture(autouse=True)
def _fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.STORE_OPTIONS, "compressor", FakeCompressor())
    monkeypatch.setitem(cli.STORE_OPTIONS, "embedder", FakeEmbedder())


def search(db: str, *extra: str) -> tuple[int, str]:
    args = ["search", "staging database password", "--db", db, "--json", *extra]
    result = runner.invoke(cli.app, args)
    return result.exit_code, result.stdout + result.stderr


def test_min_score_option(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    for note in ("The staging database password rotates on Mondays.", "Lunch is at noon."):
        assert runner.invoke(cli.app, ["store", note, "--db", db]).exit_code == 0
    code, out = search(db)
    every = json.loads(out)
    assert code == 0 and len(every) == 2 and every[0]["score"] > every[1]["score"]
    code, out = search(db, "--min-score", str(every[0]["score"]))
    assert code == 0 and [h["id"] for h in json.loads(out)] == [every[0]["id"]]
    code, out = search(db, "--min-score", "1.5")
    assert code != 0 and "min_score" in out
