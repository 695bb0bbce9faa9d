"""Input checks for the memory store. Every check runs before anything is written.

Tags and metadata may hold any text (SQL, quotes, emoji): they are stored verbatim through bound
parameters. What is refused is what cannot round-trip or would be ambiguous: empty content,
content over the size limit, NUL bytes, lone surrogates, namespaces outside a safe alphabet,
metadata that JSON would silently change (non-string keys, tuples, NaN).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from compression_layer.memory.errors import MemoryInputError

NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
MAX_TAGS = 64
MAX_TAG_CHARS = 200
MAX_METADATA_BYTES = 256_000
MAX_QUERY_CHARS = 10_000
MAX_K = 1000


def sha256(text: str) -> str:
    """Hex sha256 of the UTF-8 bytes of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _utf8_size(text: str, what: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise MemoryInputError(f"{what} is not valid Unicode (lone surrogate?)") from exc


def check_content(content: object, max_bytes: int) -> str:
    """The content as given, or MemoryInputError when empty, binary or too large."""
    if not isinstance(content, str):
        raise MemoryInputError(f"content must be a string, got {type(content).__name__}")
    if not content.strip():
        raise MemoryInputError("content is empty")
    if "\x00" in content:
        raise MemoryInputError("content holds NUL bytes (binary data is not stored)")
    size = _utf8_size(content, "content")
    if size > max_bytes:
        raise MemoryInputError(
            f"content is {size:,} bytes, over the limit of {max_bytes:,} (max_content_bytes)"
        )
    return content


def check_namespace(namespace: object) -> str:
    """A namespace of 1-128 letters, digits and ``_ . : @ -``, starting with a letter or digit."""
    if not isinstance(namespace, str) or not NAMESPACE_RE.match(namespace):
        raise MemoryInputError(
            f"invalid namespace {namespace!r}: use 1-128 characters from A-Z a-z 0-9 _ . : @ -, "
            "starting with a letter or digit"
        )
    return namespace


def check_scope_id(value: object, name: str = "scope id") -> str:
    """A ``user_id``, ``agent_id`` or ``run_id``: the namespace alphabet (an email fits)."""
    if not isinstance(value, str) or not NAMESPACE_RE.match(value):
        raise MemoryInputError(
            f"invalid {name} {value!r}: use 1-128 characters from A-Z a-z 0-9 _ . : @ -, "
            "starting with a letter or digit"
        )
    return value


def check_tags(tags: Iterable[object] | None) -> list[str]:
    """Tags de-duplicated in first-seen order; each a non-empty string without control chars."""
    if tags is None:
        return []
    if isinstance(tags, str):
        raise MemoryInputError("tags must be a list of strings, not one string")
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise MemoryInputError(f"invalid tag {tag!r}: tags are non-empty strings")
        if len(tag) > MAX_TAG_CHARS:
            raise MemoryInputError(f"tag of {len(tag)} characters, over {MAX_TAG_CHARS}")
        if any(ord(c) < 32 for c in tag):
            raise MemoryInputError(f"tag {tag!r} holds control characters")
        _utf8_size(tag, "a tag")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise MemoryInputError(f"{len(out)} tags, over the limit of {MAX_TAGS}")
    return out


def check_metadata(metadata: Mapping[str, Any] | None) -> str:
    """Metadata as canonical JSON text; refused unless it reads back equal to what was given."""
    if metadata is None:
        return "{}"
    if not isinstance(metadata, Mapping):
        raise MemoryInputError(f"metadata must be a JSON object, got {type(metadata).__name__}")
    try:
        text = json.dumps(dict(metadata), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MemoryInputError(f"metadata is not JSON-serialisable: {exc}") from exc
    # Equality after a round trip catches what json.dumps changes silently: int keys become
    # strings, tuples become lists. Such metadata would not come back as it was stored.
    if json.loads(text) != dict(metadata):
        raise MemoryInputError(
            "metadata would not round-trip through JSON (non-string keys or tuples?)"
        )
    if _utf8_size(text, "metadata") > MAX_METADATA_BYTES:
        raise MemoryInputError(f"metadata is over {MAX_METADATA_BYTES:,} bytes as JSON")
    return text


def check_query(query: object) -> str:
    """A non-empty search query of at most MAX_QUERY_CHARS characters."""
    if not isinstance(query, str) or not query.strip():
        raise MemoryInputError("query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise MemoryInputError(f"query of {len(query):,} characters, over {MAX_QUERY_CHARS:,}")
    _utf8_size(query, "query")
    return query


def check_k(k: object) -> int:
    """A result count between 1 and MAX_K."""
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise MemoryInputError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return k


def check_id(memory_id: object) -> str:
    """A memory id: a non-empty string (unknown ids are reported by the caller)."""
    if not isinstance(memory_id, str) or not memory_id or len(memory_id) > 200:
        raise MemoryInputError(f"invalid memory id {memory_id!r}")
    return memory_id
