"""validate_compression: offline checks through MCP, the harness report mapped to the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp import Client
from mcp.server.mcpserver import MCPServer
from srv_helpers import PROSE, error_text, server_settings, structured

from compression_layer.server.state import EngineState, ServerState
from compression_layer.server.validate import run_validation
from compression_layer.settings import CompressSettings
from compression_layer.validation.report import OfflineChecks, TokenReduction, ValidationReport

Server = MCPServer[Any]
SHORT = "Quarterly review 14 March 2024 Berlin: revenue +12.5% to $4.2 million."


async def test_offline_validation_through_mcp(server: Server) -> None:
    async with Client(server) as client:
        out = structured(
            await client.call_tool("validate_compression", {"original": PROSE, "compressed": SHORT})
        )
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
