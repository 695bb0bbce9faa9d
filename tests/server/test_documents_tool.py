"""The compress_documents tool: one budget across documents, through the SDK's in-memory client."""

from __future__ import annotations

from mcp import Client
from mcp.server.mcpserver import MCPServer

from compression_layer.server.documents_tool import DocumentsResult, documents_text
from compression_layer.server.state import ServerState
from compression_layer.tokens import count_tokens
from srv_helpers import content_text, error_text, structured

BRIDGE = (
    "The Harbour Bridge was designed by the engineer Ada Lindqvist in 1931. Construction took "
    "six years and cost 4.2 million pounds. The bridge did not open to rail traffic until 1940, "
    "because the approach viaducts were not finished. Its main span is 503 metres long, and the "
    "deck carries two railway tracks, eight traffic lanes and a footpath on the eastern side."
)
WEATHER = (
    "Rainfall in the region averages 1,200 millimetres a year, most of it falling between May "
    "and August. Summers are mild and winters are wet; frost is rare near the coast but common "
    "on the plateau, where snow may fall in July. Farmers grow wheat, barley and canola, and "
    "sheep graze the higher pastures through the cooler months of the year."
)
MARKETS = (
    "The fish market opens at 5 a.m. on weekdays and sells the morning catch by auction to "
    "restaurants and shops. Visitors can buy oysters, prawns and snapper at the retail stalls, "
    "which stay open until 4 p.m., and a cooking school runs classes on Saturday mornings for "
    "anyone who wants to learn to prepare seafood at home."
)


async def test_the_budget_goes_where_the_query_points(server: MCPServer[ServerState]) -> None:
    docs = [WEATHER, BRIDGE, MARKETS]
    async with Client(server) as client:
        result = await client.call_tool(
            "compress_documents",
            {"documents": docs, "target_tokens": 120, "query": "Who designed the bridge?"},
        )
    assert not result.is_error
    out = DocumentsResult.model_validate(structured(result))
    assert [d.index for d in out.documents] == [0, 1, 2]
    bridge = out.documents[1]
    assert bridge.rank == 0 and not bridge.dropped
    assert "Ada Lindqvist" in bridge.compressed and "not" in bridge.compressed
    assert out.tokens_original == sum(count_tokens(d) for d in docs)
    assert out.tokens_compressed < out.tokens_original
    text = content_text(result)
    assert text == documents_text(out)
    assert text.startswith(("[0]\n", "[1]\n")) and "[1]\n" in text
    # What the model reads is the documents plus one short line, not the structured result.
    assert count_tokens(text) < out.tokens_compressed + 12 + 4 * len(docs)


async def test_bad_documents_are_clear_errors(server: MCPServer[ServerState]) -> None:
    async with Client(server) as client:
        empty = await client.call_tool("compress_documents", {"documents": [], "target_tokens": 9})
        assert empty.is_error and "documents is empty" in error_text(empty)
        blank = await client.call_tool(
            "compress_documents", {"documents": [BRIDGE, "  "], "target_tokens": 50}
        )
        assert blank.is_error and "document 1 is empty" in error_text(blank)
        many = await client.call_tool(
            "compress_documents", {"documents": [BRIDGE] * 65, "target_tokens": 50}
        )
        assert many.is_error and "over the limit of 64" in error_text(many)
