"""The ``compress_documents`` tool: one token budget across several documents (RAG chunks).

The documents and the query are encoded in one batch; the budget goes where the query points
(:mod:`compression_layer.compress.documents`), each document keeps its own boundaries, and one
too far from the query to be worth a few words is dropped whole. What the model reads is the kept
documents, each under a ``[n]`` line with its index in the call, then one line of figures.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import anyio
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from compression_layer.compress.inputs import check_query, check_text, utf8_size
from compression_layer.errors import InputError
from compression_layer.server.tools import ServerContext, as_tool_errors, state_of, tool_result
from compression_layer.settings.areas import CompressSettings, ServerSettings, setting_name


class DocumentOut(BaseModel):
    """One document of the call, in its input position."""

    index: int
    compressed: str = Field(description="empty when the document was dropped")
    tokens_original: int
    tokens_compressed: int
    rank: int = Field(description="0: the document most relevant to the query")
    dropped: bool = False


class DocumentsResult(BaseModel):
    """Every document in input order, the totals (o200k_base) and notes."""

    documents: list[DocumentOut]
    tokens_original: int
    tokens_compressed: int
    notes: list[str] = Field(default_factory=list)


def documents_text(result: DocumentsResult) -> str:
    """``[n]`` then each kept document; one closing line of figures and the dropped indexes."""
    parts = [f"[{d.index}]\n{d.compressed}" for d in result.documents if not d.dropped]
    dropped = [d.index for d in result.documents if d.dropped]
    line = f"[{result.tokens_original}->{result.tokens_compressed} tokens"
    if dropped:
        line += f"; dropped as least relevant: {', '.join(map(str, dropped))}"
    parts.append(line + "]")
    return "\n\n".join(parts)


def check_documents(
    documents: list[str], cfg: CompressSettings, server: ServerSettings
) -> list[str]:
    """Refuse no documents, too many, an empty or binary one, or more bytes than one input may."""
    if not documents:
        raise InputError("documents is empty: pass at least one text")
    if len(documents) > server.max_paths:
        raise InputError(
            f"{len(documents)} documents, over the limit of {server.max_paths} per call "
            f"(set {setting_name(ServerSettings, 'max_paths')} to raise it)"
        )
    for i, doc in enumerate(documents):
        check_text(doc, max_bytes=cfg.max_input_bytes, source=f"document {i}")
    total = sum(utf8_size(d) for d in documents)
    if total > cfg.max_input_bytes:
        name = setting_name(CompressSettings, "max_input_bytes")
        raise InputError(
            f"documents hold {total:,} bytes together, over the {cfg.max_input_bytes:,}-byte "
            f"limit of one input (set {name} to raise it)"
        )
    return documents


def _run(documents: list[str], target_tokens: int, query: str | None) -> DocumentsResult:
    from compression_layer.compress.documents import compress_documents

    out = compress_documents(documents, target_tokens=target_tokens, query=query)
    return DocumentsResult(
        documents=[
            DocumentOut(
                index=d.index,
                compressed=d.text,
                tokens_original=d.tokens_original,
                tokens_compressed=d.tokens_compressed,
                rank=d.rank,
                dropped=d.dropped,
            )
            for d in out.documents
        ],
        tokens_original=out.tokens_original,
        tokens_compressed=out.tokens_compressed,
        notes=out.notes,
    )


async def compress_documents(
    ctx: ServerContext,
    documents: Annotated[
        list[str], Field(description="The documents (retrieved chunks, search results) to fit")
    ],
    target_tokens: Annotated[int, Field(gt=0, description="Token budget for all of them")],
    query: Annotated[
        str, Field(description="The question they are for: the budget goes where it points")
    ] = "",
) -> Annotated[CallToolResult, DocumentsResult]:
    """Fit several documents (RAG chunks, search results) into one token budget for a question.

    Documents most related to `query` get most of the budget; each is compressed on its own
    (numbers, names, identifiers and words like not / may / unless kept), and one too far from
    the query to be worth a few words is dropped whole. Returns each kept document under `[n]`,
    its index in `documents`, then one line: tokens before and after, and the dropped indexes.
    """
    state = state_of(ctx)
    with as_tool_errors():
        cfg = state.engines.current.settings
        asked = check_query(query, max_chars=cfg.max_query_chars)
        docs = check_documents(list(documents), cfg, state.settings)
        result: Any = await anyio.to_thread.run_sync(
            partial(_run, docs, target_tokens, asked), limiter=state.compress_limiter
        )
        return tool_result(documents_text(result), result)
