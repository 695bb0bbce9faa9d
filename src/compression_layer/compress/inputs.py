"""Reading and checking inputs before any engine sees them.

Every limit is a setting declared once (``CompressSettings.max_input_bytes``,
``CompressSettings.max_query_chars``) and the same one is checked by ``compress()``, the CLI and
the MCP server; a refusal names the setting that governs it, so raising that setting is the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from compression_layer.errors import InputError
from compression_layer.settings import CompressSettings
from compression_layer.settings.areas import setting_name

INPUT_SETTING = setting_name(CompressSettings, "max_input_bytes")
QUERY_SETTING = setting_name(CompressSettings, "max_query_chars")


def human_bytes(n: int) -> str:
    """``5.0 MB``, ``12.3 KB``, ``87 B`` (decimal units, as the limits are written)."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    return f"{n / 1_000:.1f} KB" if n >= 1_000 else f"{n} B"


def too_large(source: str, size: int, limit: int, setting: str = INPUT_SETTING) -> InputError:
    """The one wording of a size refusal: what, how large, the limit and the setting to raise."""
    return InputError(
        f"{source} is {human_bytes(size)}, over the {human_bytes(limit)} limit "
        f"(set {setting} to raise it)"
    )


def decode_bytes(data: bytes, *, source: str = "input") -> str:
    """Strict UTF-8 decode; binary data (NUL bytes or invalid UTF-8) is refused with the offset."""
    nul = data.find(b"\x00")
    if nul != -1:
        raise InputError(
            f"{source} looks binary (NUL byte at offset {nul}); only text is supported"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source} is not valid UTF-8 (byte offset {exc.start}); convert it to UTF-8 text first"
        ) from None
    return text.removeprefix("\ufeff")


def utf8_size(text: str) -> int:
    """UTF-8 bytes of ``text`` (lone surrogates counted as they would be written)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", errors="surrogatepass"))


def check_text(
    text: str, *, max_bytes: int, source: str = "input", setting: str = INPUT_SETTING
) -> str:
    """Refuse empty, whitespace-only, NUL-containing or oversized text."""
    if not isinstance(text, str):
        raise InputError(f"{source} must be text (str), got {type(text).__name__}")
    # Four bytes per character at most: the size is only measured when it could be over.
    if len(text) * 4 > max_bytes and (size := utf8_size(text)) > max_bytes:
        raise too_large(source, size, max_bytes, setting)
    if not text.strip():
        raise InputError(f"{source} is empty (or whitespace only): nothing to compress")
    if "\x00" in text:
        raise InputError(f"{source} contains NUL characters; only text is supported")
    return text


def check_budget(rate: float | None, target_tokens: int | None) -> None:
    """InputError unless ``rate`` is in (0, 1] and ``target_tokens`` is positive (when given)."""
    if rate is not None and not 0.0 < rate <= 1.0:
        raise InputError(f"rate must be in (0, 1], got {rate}")
    if target_tokens is not None and target_tokens <= 0:
        raise InputError(f"target_tokens must be positive, got {target_tokens}")


def check_query(query: str | None, *, max_chars: int, setting: str = QUERY_SETTING) -> str | None:
    """Refuse a query longer than ``max_chars`` characters; blank means no query (None)."""
    if query is None:
        return None
    if not isinstance(query, str):
        raise InputError(f"query must be text (str), got {type(query).__name__}")
    if len(query) > max_chars:
        raise InputError(
            f"query is {len(query):,} characters, over the {max_chars:,}-character limit: a query "
            f"is the question the text is for, not more text to compress (set {setting} to "
            "raise it)"
        )
    return query if query.strip() else None


def read_path(path: Path, *, max_bytes: int, setting: str = INPUT_SETTING) -> str:
    """Read a text file for compression with clear errors for every way it can go wrong."""
    source = str(path)
    if not path.exists():
        raise InputError(f"{source}: no such file")
    if path.is_dir():
        raise InputError(f"{source} is a directory; pass files (or '-' for stdin)")
    if not path.is_file():
        raise InputError(f"{source} is not a regular file")
    size = path.stat().st_size
    if size > max_bytes:
        raise too_large(source, size, max_bytes, setting)
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # a file that grew since stat is still bounded
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise too_large(source, len(data), max_bytes, setting)
    text = decode_bytes(data, source=source)
    return check_text(text, max_bytes=max_bytes, source=source, setting=setting)


def read_stream(
    stream: BinaryIO, *, max_bytes: int, source: str = "stdin", setting: str = INPUT_SETTING
) -> str:
    """At most ``max_bytes`` of ``stream`` (stdin); more is refused without reading it all."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(
            f"{source} is over the {human_bytes(max_bytes)} limit (set {setting} to raise it)"
        )
    text = decode_bytes(data, source=source)
    return check_text(text, max_bytes=max_bytes, source=source, setting=setting)
