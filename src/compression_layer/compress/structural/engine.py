"""The structural engine as the pipeline sees it: lossless passes, checked."""

from __future__ import annotations

from compression_layer.compress.structural.dispatch import compress_structural
from compression_layer.compress.types import CompressRequest, Domain, EngineOutput


class StructuralEngine:
    """Deterministic, lossless passes (code, JSON, logs, layout)."""

    name = "structural"

    def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput:
        out = compress_structural(text, domain, strip_docstrings=request.strip_docstrings)
        notes = list(out.notes)
        if request.rate is not None or request.target_tokens is not None:
            notes.append("structural engine is lossless: rate/target_tokens not applied")
        verified = bool(out.checks) and all(out.checks.values())
        return EngineOutput(out.text, self.name, notes=notes, verified=verified)
