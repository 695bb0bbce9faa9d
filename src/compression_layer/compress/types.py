"""Types shared by every engine: the request, the domain and the result contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, Field

DomainKind = Literal["prose", "code", "mixed", "json", "log"]


class Domain(BaseModel):
    """What kind of text this is; ``language`` is set for code (python, javascript, go, ...)."""

    kind: DomainKind
    language: str | None = None
    confidence: float = Field(1.0, ge=0.0, le=1.0)

    def label(self) -> str:
        return f"code:{self.language}" if self.kind == "code" and self.language else self.kind


class CompressRequest(BaseModel):
    """Options of one compression, grouped so engines take one argument instead of many."""

    engine: str = "auto"
    rate: float | None = Field(None, gt=0.0, le=1.0, description="fraction of tokens kept")
    target_tokens: int | None = Field(None, gt=0)
    query: str | None = None
    strip_docstrings: bool = False


class CompressionResult(BaseModel):
    """The contract of ``compress()``, the CLI's ``--json`` and the MCP tool."""

    compressed: str
    engine: str
    domain: str
    tokens_original: int
    tokens_compressed: int
    ratio: float = Field(description="tokens_compressed / tokens_original (o200k_base)")
    latency_ms: float
    facts_missing: list[str] = Field(default_factory=list)
    operators_missing: list[str] = Field(
        default_factory=list,
        description="meaning operators (not, may, unless, more than, ?) the output has fewer of",
    )
    adapter: str | None = None
    notes: list[str] = Field(default_factory=list, description="fallbacks and guard actions")
    handle: str | None = Field(
        None,
        description="where the original is kept when parts were left out behind markers "
        "'[... omitted: retrieve <handle> ...]'; retrieve(handle, **selector) gets them back",
    )


@dataclass
class EngineOutput:
    text: str
    engine: str
    adapter: str | None = None
    notes: list[str] = field(default_factory=list)
    # A structural pass whose own check passed (AST / token stream / round trip equal): it only
    # removed comments, docstrings (when asked) and layout, never code, data or prose words.
    verified: bool = False


class Engine(Protocol):
    """What the pipeline needs from an engine: compress one text of a known domain."""

    name: str

    def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput: ...
