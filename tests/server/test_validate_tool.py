"""validate_compression: offline checks through MCP, the harness report mapped to the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp import Client
from mcp.server.mcpserver import MCPServer

from compression_layer.server.models import ValidationResult
from compression_layer.server.state import EngineState, ServerState
from compression_layer.server.tools import validation_text
from compression_layer.server.validate import run_validation
from compression_layer.settings import CompressSettings
from compression_layer.validation.report import OfflineChecks, TokenReduction, ValidationReport
from srv_helpers import PROSE, content_text, error_text, server_settings, structured

Server = MCPServer[Any]
SHORT = "Quarterly review 14 March 2024 Berlin: revenue +12.5% to $4.2 million."


async def test_offline_validation_through_mcp(server: Server) -> None:
    async with Client(server) as client:
        result = await client.call_tool(
            "validate_compression", {"original": PROSE, "compressed": SHORT}
        )
    out = structured(result)
    first = content_text(result).splitlines()[0]
    assert first.startswith(f"{out['tokens_original']}→{out['tokens_compressed']} tokens")
    assert f"similarity {out['similarity']:.2f}" in first and "Alice Chen" in first
    assert out["tokens_compressed"] < out["tokens_original"]
    assert 0.0 < out["similarity"] <= 1.0
    assert "Alice Chen" in " ".join(out["facts_missing"])  # dropped from SHORT
    assert out["cross_model_available"] is True
    assert out["cross_model"]["offline_only"] is True


async def test_empty_compressed_is_an_error_result(server: Server) -> None:
    async with Client(server) as client:
        result = await client.call_tool(
            "validate_compression", {"original": PROSE, "compressed": ""}
        )
    assert "compressed is empty" in error_text(result)


async def test_harness_report_is_flattened(root: Path) -> None:
    calls: list[dict[str, Any]] = []

    async def fake_validate_pair(original: str, compressed: str, **kw: Any) -> ValidationReport:
        calls.append({"original": original, "compressed": compressed, **kw})
        offline = OfflineChecks(
            tokens=[
                TokenReduction(tokenizer="o200k_base", original=9, compressed=3, reduction=0.67)
            ],
            similarity=0.81,
            facts_missing=["Alice Chen"],
        )
        return ValidationReport(offline=offline, threshold=0.8, notes=["1 model skipped"])

    state = ServerState(server_settings(root), EngineState(CompressSettings()), [root])
    result = await run_validation(
        state, PROSE, SHORT, ["claude"], ["Who owns it?"], validator=fake_validate_pair
    )
    assert calls[0]["models"] == ["claude"] and calls[0]["questions"] == ["Who owns it?"]
    assert result.similarity == 0.81
    assert result.facts_missing == ["Alice Chen"]
    assert result.notes == ["1 model skipped"]
    assert result.cross_model is not None and result.cross_model["threshold"] == 0.8


def test_validation_text_has_one_line_per_model() -> None:
    report = {
        "offline_only": False,
        "threshold": 0.8,
        "passed": False,
        "cost_usd": 0.0042,
        "models": [
            {"model": "claude", "mean": 0.91, "min": 0.85, "passed": True},
            {"model": "gpt", "error": "OPENAI_API_KEY is not set"},
        ],
    }
    result = ValidationResult(
        tokens_original=92,
        tokens_compressed=20,
        ratio=0.2174,
        facts_missing=[],
        similarity=0.8,
        cross_model=report,
        cross_model_available=True,
        notes=["1 model skipped"],
    )
    assert validation_text(result).splitlines() == [
        "92→20 tokens (o200k, ratio 0.22); similarity 0.80; no facts missing",
        "claude: answers agree 0.91 (min 0.85), pass",
        "gpt: error: OPENAI_API_KEY is not set",
        "overall: fail at threshold 0.80, $0.0042",
        "notes: 1 model skipped",
    ]


async def test_a_lost_negation_fails_validation_through_mcp(server: Server) -> None:
    original = "The committee did not approve the merger on 3 May."
    async with Client(server) as client:
        lost = await client.call_tool(
            "validate_compression",
            {"original": original, "compressed": "committee approved merger 3 May"},
        )
        kept = await client.call_tool(
            "validate_compression",
            {"original": original, "compressed": "committee did not approve merger 3 May."},
        )
    out = structured(lost)
    assert out["operators_missing"] == ["not"] and out["facts_missing"] == []
    assert out["passed"] is False
    assert "operators missing" in content_text(lost) and "FAILED" in content_text(lost)
    assert structured(kept)["passed"] is True and structured(kept)["operators_missing"] == []


def test_offline_fallback_reports_operators() -> None:
    from compression_layer.server.validate import _offline

    result = _offline("Refunds are paid unless the seal is broken.", "Refunds paid.")
    assert result.operators_missing == ["unless"] and result.passed is False
