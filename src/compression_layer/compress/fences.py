"""Markdown fences: split a text into prose and fenced code blocks, losslessly (CommonMark)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Segment", "split_fences"]

_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})([^\n]*)")
_FENCE_CLOSE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
_FENCE_ALIASES = {
    **dict.fromkeys(("py", "python3", "py3", "ipython", "pycon"), "python"),
    **dict.fromkeys(("js", "jsx", "node", "mjs", "cjs"), "javascript"),
    **dict.fromkeys(("ts", "tsx"), "typescript"),
    "golang": "go",
    "rs": "rust",
    "h": "c",
    **dict.fromkeys(("c++", "cc", "cxx", "hpp", "hxx"), "cpp"),
    **dict.fromkeys(
        ("sh", "bash", "zsh", "ksh", "console", "shell-session", "shellsession"), "shell"
    ),
    **dict.fromkeys(("postgres", "postgresql", "mysql", "sqlite", "plsql", "tsql"), "sql"),
    **dict.fromkeys(("jsonl", "json5", "jsonc"), "json"),
}


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a markdown text: prose (``text``) or the body of a fenced ``code`` block.

    ``fence_open`` is the opening fence line with its newline, ``fence_close`` the closing one
    (empty when the block runs to the end); ``raw`` is the exact source of the piece and
    ``start``/``end`` its offsets in the input.
    """

    kind: Literal["text", "code"]
    text: str
    language: str | None
    fence_open: str
    fence_close: str
    start: int
    end: int

    @property
    def raw(self) -> str:
        """The exact input text this segment came from."""
        return self.fence_open + self.text + self.fence_close


def split_fences(text: str) -> list[Segment]:
    """Split markdown into prose and fenced code (```` ``` ```` or ``~~~``), losslessly.

    Follows CommonMark: a fence is three or more backticks or tildes indented at most three
    spaces; it closes on a line of the same character at least as long, or at the end of input.
    ``"".join(s.raw for s in split_fences(t)) == t`` for every ``t``.
    """
    lines = text.splitlines(keepends=True)
    segments: list[Segment] = []
    pos = text_start = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        opener = _FENCE_OPEN.fullmatch(line.rstrip("\r\n"))
        if opener is None or (opener.group(1)[0] == "`" and "`" in opener.group(2)):
            pos += len(line)
            i += 1
            continue
        if pos > text_start:
            segments.append(_text(text, text_start, pos))
        fence = opener.group(1)
        j = i + 1
        while j < len(lines) and not _closes(lines[j], fence):
            j += 1
        body = "".join(lines[i + 1 : j])
        close = lines[j] if j < len(lines) else ""
        end = pos + len(line) + len(body) + len(close)
        language = _fence_language(opener.group(2))
        segments.append(Segment("code", body, language, line, close, pos, end))
        pos = text_start = end
        i = j + 1
    if len(text) > text_start:
        segments.append(_text(text, text_start, len(text)))
    return segments


def _text(source: str, start: int, end: int) -> Segment:
    return Segment("text", source[start:end], None, "", "", start, end)


def _closes(line: str, fence: str) -> bool:
    m = _FENCE_CLOSE.fullmatch(line.rstrip("\r\n"))
    return m is not None and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)


def _fence_language(info: str) -> str | None:
    word = info.strip().split(maxsplit=1)[0] if info.strip() else ""
    word = word.strip("{}.").lower()
    if not word:
        return None
    return _FENCE_ALIASES.get(word, word)
