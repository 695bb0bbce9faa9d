"""The structural engine: deterministic passes that shorten text without changing its meaning.

``compress_structural`` routes by domain:

* ``code``: Python through ``tokenize``/``ast`` (``compress_python``), javascript, typescript, go,
  rust, java, c, cpp and shell through tree-sitter (``compress_code``), other languages through a
  string-aware whitespace pass;
* ``json``: minified, uniform object arrays as tables (``compress_json``, reversed by
  ``json_expand``);
* ``log``: runs of repeated and near-repeated lines collapsed with their values (``compress_log``);
* ``prose``: layout only (``compress_prose_layout``);
* ``mixed``: markdown split at code fences, each part routed as above, fences kept.

Each pass checks its own output (AST equality, re-parse and token equality, JSON round trip,
values kept) and falls back to a safer pass when the check fails; ``checks`` and ``notes`` on the
result record both.
"""

from __future__ import annotations

from collections.abc import Callable

from compression_layer.compress.structural.code import compress_code, compress_python
from compression_layer.compress.structural.data import compress_json
from compression_layer.compress.structural.layout import compress_prose_layout
from compression_layer.compress.structural.logs import compress_log
from compression_layer.compress.structural.output import StructuralOutput
from compression_layer.compress.types import Domain

__all__ = ["compress_structural"]

_PYTHON = frozenset({"python", "py", "python3", "py3"})
_JSON = frozenset({"json", "jsonl", "ndjson", "jsonlines"})
_LOG = frozenset({"log", "logs"})
# Fence tags of program output or plain text, whose spacing may be the point.
_VERBATIM = frozenset(
    {"text", "txt", "plaintext", "plain", "output", "console", "terminal", "shell-session",
     "shellsession"}
)  # fmt: skip


def compress_structural(
    text: str,
    domain: Domain,
    *,
    strip_docstrings: bool = False,
    prose: Callable[[str], str] | None = None,
) -> StructuralOutput:
    """Compress ``text`` with the deterministic pass for its ``domain``.

    ``prose`` (mixed input only) compresses the prose between code fences, so a lossy engine can
    handle the text while every fence still goes through the lossless pass for its language.
    Invalid JSON under a ``json`` domain raises :class:`InputError`; every other input gets a
    result, at worst the text with layout-only changes and a note saying why.
    """
    if domain.kind == "json":
        return compress_json(text, defer_check=True)  # checked when the pipeline returns it
    if domain.kind == "log":
        return compress_log(text)
    if domain.kind == "code":
        return _compress_code_block(text, domain.language, strip_docstrings)
    if domain.kind == "mixed":
        return _compress_mixed(text, strip_docstrings, prose)
    return compress_prose_layout(text)


def _compress_code_block(text: str, language: str | None, strip: bool) -> StructuralOutput:
    if language is None:
        from compression_layer.compress.languages import detect_language

        language = detect_language(text)
    lang = (language or "").lower()
    if lang in _PYTHON:
        return compress_python(text, strip_docstrings=strip)
    if lang in _JSON:
        return _json_or_layout(text)
    if lang in _LOG:
        return compress_log(text)
    if lang in _VERBATIM:
        return StructuralOutput(text=text, checks={"unchanged": True})
    return compress_code(text, lang or None)


def _json_or_layout(text: str) -> StructuralOutput:
    """JSON inside a fence or mislabelled: a parse error is a note here, not an error."""
    from compression_layer.errors import InputError

    try:
        return compress_json(text)
    except InputError as exc:
        return StructuralOutput(text=text, checks={"unchanged": True}, notes=[str(exc)])


def _compress_mixed(
    text: str, strip: bool, prose: Callable[[str], str] | None = None
) -> StructuralOutput:
    from compression_layer.compress.fences import split_fences

    parts: list[str] = []
    checks: dict[str, bool] = {}
    notes: list[str] = []
    for seg in split_fences(text):
        if seg.kind == "code":
            tag = seg.fence_open.strip().lstrip("`~").lower().split()  # the tag as written
            if tag and tag[0] in _VERBATIM:
                out = StructuralOutput(text=seg.text, checks={"unchanged": True})
            else:
                out = _compress_fenced(seg.text, seg.language, strip)
            body = out.text
            if seg.text.endswith("\n") and not body.endswith("\n"):
                body += "\n"  # the closing fence must stay on its own line
            parts.append(f"{seg.fence_open}{body}{seg.fence_close}")
        else:
            out = compress_prose_layout(seg.text)
            parts.append(_apply_prose(out.text, prose) if prose else out.text)
        for name, ok in out.checks.items():
            checks[name] = checks.get(name, True) and ok
        notes.extend(out.notes)
    return StructuralOutput(text="".join(parts), checks=checks, notes=notes)


def _apply_prose(text: str, prose: Callable[[str], str]) -> str:
    """Run ``prose`` on the words of a segment, keeping the newlines that frame the fences."""
    body = text.strip()
    if not body:
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return lead + prose(body).strip() + trail


def _compress_fenced(body: str, language: str | None, strip: bool) -> StructuralOutput:
    if not body.strip():
        return StructuralOutput(text=body)
    if language:
        return _compress_code_block(body, language, strip)
    from compression_layer.compress.domain import detect

    found = detect(body)
    if found.kind == "code" and found.language:
        return _compress_code_block(body, found.language, strip)
    if found.kind == "json":
        return _json_or_layout(body)
    if found.kind == "log":
        return compress_log(body)
    # An untagged block of unknown content: fences often hold output whose spacing matters.
    return StructuralOutput(text=body, checks={"unchanged": True})
