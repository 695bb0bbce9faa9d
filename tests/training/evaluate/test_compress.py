"""``eval compress``: the extractive engine against the baselines on data in the shared layout."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from compression_layer.cli.main import app
from shared_layout import write_shared

CONTEXT = (
    "The Harlow Bridge opened on 12 March 1931 after four years of work by the county engineers. "
    "It spans 412 metres across the Tesk river and carried trams until the line closed in 1962. "
    "Its designer, Mary Okafor, was the first woman admitted to the regional institute of "
    "engineers, and the bridge was listed as a protected monument in 1988."
)


def shared_data(root: Path) -> Path:
    """8 SQuAD articles, 450 NQ rows (tune and held-out parts) and 2 seed-pair valid rows."""
    seed = [(f"{CONTEXT} Note {i}.", f"Harlow Bridge: opened 12 March 1931, 412 m ({i})")
            for i in range(2)]  # fmt: skip
    return write_shared(
        root, CONTEXT, squad_qa=("Who designed it?", "Mary Okafor"),
        nq_qa=("How long?", "412 metres"), nq_rows=450, seed_rows=seed,
    )  # fmt: skip


def test_eval_compress_reports_every_set_method_and_rate(tmp_path: Path) -> None:
    data = shared_data(tmp_path / "shared")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        ["eval", "compress", "--data", str(data), "--rate", "0.5", "--limit", "2",
         "--no-speed", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["rates"] == sorted({0.5, report["default_rate"]})
    sets = report["datasets"]
    assert set(sets) == {
        "seed-valid",
        "squad-tune (articles 0-3)",
        "squad-heldout (articles 4-7)",
        "nq-tune (rows 0-399)",
        "nq-heldout (rows 400+)",
    }
    assert "teacher" in sets["seed-valid"] and "random" in sets["nq-heldout (rows 400+)"]
    row = sets["squad-heldout (articles 4-7)"]["extractive"]["0.50"]
    assert 0.3 < row["token_reduction"] < 0.7
    assert row["facts_kept"] >= 0.9 and row["answer_retention"] == 1.0
    # a table per rate on stdout, the default rate among them
    assert result.stdout.count("prose compression at rate") == len(report["rates"])


def test_eval_compress_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "compress", "--data", str(tmp_path / "absent")])
    assert result.exit_code == 2 and "data folder not found" in result.output
