"""Corpus loading for ``train generate``: files and folders of markdown, code, JSON, JSONL, logs.

A file's extension says how it is read: markdown / text are documents whose domain is detected
(prose or mixed), code files carry their language, ``.json`` is one JSON document, ``.log`` a log,
and every line of a ``.jsonl`` file is one document (its ``text``, ``content`` or ``original``
field, or the user turn of a chat row). A broken line or an unreadable file is reported (with its
line number) and loading goes on. Chunking lives in :mod:`generate_chunks`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from compression_layer.compress.inputs import decode_bytes
from compression_layer.errors import InputError
from compression_layer.training.data import PROMPT_PREFIX

PROSE_SUFFIXES = frozenset({".md", ".markdown", ".mdx", ".txt", ".rst"})
CODE_SUFFIXES: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".cc": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".sh": "shell",
    ".bash": "shell",
    ".sql": "sql",
}
JSON_SUFFIXES = frozenset({".json"})
RECORD_SUFFIXES = frozenset({".jsonl", ".ndjson"})
LOG_SUFFIXES = frozenset({".log"})
TEXT_FIELDS = ("text", "content", "original")


@dataclass(frozen=True)
class Document:
    """One text to chunk. ``domain`` is forced by the file type (``code:python``, ``json``,
    ``log``) or ``None`` to detect it per chunk; ``origin`` is ``path`` or ``path:line``."""

    text: str
    origin: str
    domain: str | None = None


@dataclass
class Corpus:
    """Documents read, problems met (``"<path>[:<line>]: <why>"``) and files skipped by type."""

    documents: list[Document] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)


def domain_of_suffix(suffix: str) -> str | None:
    """The forced domain label of a file extension; ``None`` for markdown / text (detected)."""
    suffix = suffix.lower()
    if suffix in CODE_SUFFIXES:
        return f"code:{CODE_SUFFIXES[suffix]}"
    if suffix in JSON_SUFFIXES:
        return "json"
    if suffix in LOG_SUFFIXES:
        return "log"
    return None


def is_corpus_file(path: Path) -> bool:
    """Whether the extension is one the loaders read."""
    suffix = path.suffix.lower()
    return (
        suffix in PROSE_SUFFIXES
        or suffix in CODE_SUFFIXES
        or suffix in JSON_SUFFIXES
        or suffix in RECORD_SUFFIXES
        or suffix in LOG_SUFFIXES
    )


def _walk(folder: Path) -> Iterator[Path]:
    """Files under ``folder``, sorted, hidden files and folders (``.git``, ``.venv``) left out."""
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if any(part.startswith(".") for part in parts) or not path.is_file():
            continue
        yield path


def _record_text(row: object) -> tuple[str, str | None]:
    """(text, forced domain) of one JSONL record; raises ``ValueError`` with the reason."""
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    text: object = None
    if "messages" in row:
        messages = row["messages"]
        if isinstance(messages, list):
            turns = {m.get("role"): m.get("content") for m in messages if isinstance(m, dict)}
            text = turns.get("user")
            if isinstance(text, str):
                text = text.removeprefix(PROMPT_PREFIX)
    else:
        text = next((row[k] for k in TEXT_FIELDS if k in row), None)
    if not isinstance(text, str):
        raise ValueError(
            f"no text: expected a string field {', '.join(TEXT_FIELDS)} or chat 'messages'"
        )
    if not text.strip():
        raise ValueError("the text is empty")
    domain = row.get("domain")
    if domain is not None:
        if not isinstance(domain, str):
            raise ValueError("'domain' must be a string")
        from compression_layer.compress.pipeline import parse_domain

        try:
            parse_domain(domain)
        except InputError as exc:
            raise ValueError(str(exc)) from None
    return text, domain


def read_records(path: Path, text: str, corpus: Corpus) -> None:
    """Every line of a JSONL corpus file as a document; broken lines go to ``corpus.errors``."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            body, domain = _record_text(json.loads(line))
        except ValueError as exc:  # JSONDecodeError is a ValueError
            corpus.errors.append(f"{path}:{number}: {str(exc).splitlines()[0]}")
            continue
        corpus.documents.append(Document(body, f"{path}:{number}", domain))


def read_file(path: Path, corpus: Corpus, max_bytes: int) -> None:
    """Read one corpus file into ``corpus`` (documents, or an error naming the file)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"{size} bytes, over max_file_bytes ({max_bytes})")
        text = decode_bytes(path.read_bytes(), source="file")
    except (OSError, InputError) as exc:
        corpus.errors.append(f"{path}: {exc}")
        return
    if not text.strip():
        corpus.errors.append(f"{path}: empty")
        return
    suffix = path.suffix.lower()
    if suffix in RECORD_SUFFIXES:
        read_records(path, text, corpus)
        return
    if suffix in JSON_SUFFIXES:
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            corpus.errors.append(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}")
            return
    corpus.documents.append(Document(text, str(path), domain_of_suffix(suffix)))


def load_corpus(inputs: Sequence[Path], *, max_file_bytes: int = 5_000_000) -> Corpus:
    """Documents of every corpus file given, or found under a folder given (recursively).

    A path that does not exist is an :class:`InputError` (nothing is read); a file of another
    type inside a folder is listed in ``skipped_files``; one given by name is read as text.
    """
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise InputError(f"no such file or folder: {', '.join(missing)}")
    corpus = Corpus()
    for item in inputs:
        if item.is_dir():
            for path in _walk(item):
                if is_corpus_file(path):
                    read_file(path, corpus, max_file_bytes)
                else:
                    corpus.skipped_files.append(str(path))
        else:
            read_file(item, corpus, max_file_bytes)
    return corpus
