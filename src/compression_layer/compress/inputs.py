"""Reading and checking inputs before any engine sees them."""

from __future__ import annotations

from pathlib import Path

from compression_layer.errors import InputError


def _human(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    return f"{n / 1_000:.1f} KB" if n >= 1_000 else f"{n} B"


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


def check_text(text: str, *, max_bytes: int, source: str = "input") -> str:
    """Refuse empty, whitespace-only, NUL-containing or oversized text."""
    if not isinstance(text, str):
        raise InputError(f"{source} must be text (str), got {type(text).__name__}")
    if not text.strip():
        raise InputError(f"{source} is empty (or whitespace only): nothing to compress")
    if "\x00" in text:
        raise InputError(f"{source} contains NUL characters; only text is supported")
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise InputError(
            f"{source} is {_human(size)}, over the {_human(max_bytes)} limit "
            "(set COMPRESSION_LAYER_COMPRESS__MAX_INPUT_BYTES to raise it)"
        )
    return text


def read_path(path: Path, *, max_bytes: int) -> str:
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
        raise InputError(
            f"{source} is {_human(size)}, over the {_human(max_bytes)} limit "
            "(set COMPRESSION_LAYER_COMPRESS__MAX_INPUT_BYTES to raise it)"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({exc.strerror})") from None
    return check_text(decode_bytes(data, source=source), max_bytes=max_bytes, source=source)
