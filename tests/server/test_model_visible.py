"""What the model reads: compress_context's text is the compressed text plus one line of figures.

Through the SDK's in-memory client (the stdio process is checked in test_stdio.py); the
presentation rules themselves on hand-made results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from compression_layer.server.models import CompressContextResult
from compression_layer.server.tools import FIGURES_BUDGET, compression_text, figures_line
from compression_layer.tokens import count_tokens
from srv_helpers import (
    PROSE,
    SAMPLE_SERVICE,
    api_json,
    check_compress_result,
    content_text,
    service_log,
    visible_tokens,
)

Server = MCPServer[Any]
INPUTS = {
    "prose": lambda: PROSE,
    "code": lambda: SAMPLE_SERVICE.read_text(encoding="utf-8"),
    "json": api_json,
    "log": service_log,
}


@pytest.mark.parametrize("kind", list(INPUTS))
async def test_text_content_is_the_compressed_text(server: Server, kind: str) -> None:
    original = INPUTS[kind]()
    async with Client(server) as client:
        result = await client.call_tool("compress_context", {"text": original})
    out = check_compress_result(result, original)
    assert out["text_form"] == "compressed"  # every sample compresses by more than the line
    assert out["domain"].startswith({"prose": "prose", "code": "code"}.get(kind, kind))
    assert out["tokens_original"] == count_tokens(original)


async def test_json_text_is_not_parsed_into_an_object(server: Server) -> None:
    """The SDK parses JSON-looking strings for non-`str` parameters; `text` must stay text."""
    async with Client(server) as client:
        result = await client.call_tool("compress_context", {"text": '{"a": [1, 2], "b": null}'})
        listed = {t.name: t for t in (await client.list_tools()).tools}
    assert not result.is_error, content_text(result)
    schema = listed["compress_context"].output_schema
    assert schema is not None
    assert {"compressed", "tokens_compressed", "text_form", "tokens_visible"} <= set(
        schema["properties"]
    )


async def test_paths_keep_the_contract(server: Server, root: Path) -> None:
    (root / "orders.json").write_text(api_json(), encoding="utf-8")
    async with Client(server) as client:
        one = await client.call_tool("compress_context", {"paths": ["orders.json"]})
        both = await client.call_tool(
            "compress_context", {"paths": ["orders.json", "total.py"], "engine": "structural"}
        )
    check_compress_result(one, api_json())
    out = check_compress_result(both, "")
    assert content_text(both).startswith("=== orders.json ===")
    assert [f["path"] for f in out["files"]] == ["orders.json", "total.py"]


async def test_nothing_saved_returns_the_original(server: Server) -> None:
    async with Client(server) as client:
        result = await client.call_tool("compress_context", {"text": "hello there"})
    out = check_compress_result(result, "hello there")
    assert out["text_form"] == "original"
    assert content_text(result) == "hello there"
    assert visible_tokens(result) == 2


def result_of(original: str, compressed: str, **fields: Any) -> CompressContextResult:
    n_orig, n_comp = count_tokens(original), count_tokens(compressed)
    return CompressContextResult(
        compressed=compressed,
        engine=fields.pop("engine", "extractive"),
        domain="prose",
        tokens_original=n_orig,
        tokens_compressed=n_comp,
        ratio=round(n_comp / n_orig, 4),
        latency_ms=1.0,
        **fields,
    )


def test_figures_line_lists_losses_within_budget() -> None:
    original = PROSE * 3
    compressed = " ".join(original.split()[::2])
    facts = [f"fact number {i} with a rather long description attached" for i in range(12)]
    result = result_of(
        original,
        compressed,
        facts_missing=facts,
        notes=["fact guard appended 2 missing fact(s)"] * 4,
        operators_missing=["not", "unless"],
    )
    text = compression_text(result, original)
    body, _, line = text.rpartition("\n")
    assert body == compressed
    assert line.startswith("[compressed ") and "facts missing:" in line
    assert "operators missing:" in line
    assert count_tokens(line) + 1 <= FIGURES_BUDGET
    assert count_tokens(text) <= result.tokens_compressed + FIGURES_BUDGET
    assert result.tokens_visible == count_tokens(text)


def test_no_losses_no_lists() -> None:
    original = PROSE * 2
    result = result_of(original, " ".join(original.split()[::2]))
    line = compression_text(result, original).rpartition("\n")[2]
    assert line == (
        f"[compressed {result.tokens_original}→{result.tokens_compressed} tokens, extractive]"
    )


def test_not_shorter_means_the_original_without_a_line() -> None:
    original = "Revenue grew by 12.5% to $4.2 million in 2024."
    result = result_of(original, original.replace("12.5%", "12.5 %"))
    assert compression_text(result, original) == original
    assert result.text_form == "original"
    assert result.tokens_visible == count_tokens(original)


def test_notes_that_do_not_fit_are_left_out_not_counted() -> None:
    # At shown=0 a count of facts still says something ("facts missing: 12"); "notes: 4" does not.
    original = PROSE * 3
    result = result_of(
        original,
        " ".join(original.split()[::2]),
        facts_missing=[f"fact {i}" for i in range(12)],
        notes=["a long note that explains a fallback in many words " * 3] * 4,
    )
    line = figures_line(result, 0)
    assert "facts missing: 12" in line and "notes" not in line
    assert "notes: " in figures_line(result, 1)
