from __future__ import annotations

from pathlib import Path

import pytest

from compression_layer.compress.inputs import check_text, decode_bytes, read_path
from compression_layer.errors import InputError


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_refused(text: str) -> None:
    with pytest.raises(InputError, match="empty"):
        check_text(text, max_bytes=100)


def test_size_limit() -> None:
    with pytest.raises(InputError, match=r"over the .* limit"):
        check_text("x" * 101, max_bytes=100)


def test_binary_and_invalid_utf8() -> None:
    with pytest.raises(InputError, match="binary"):
        decode_bytes(b"abc\x00def")
    with pytest.raises(InputError, match="not valid UTF-8 \\(byte offset 3\\)"):
        decode_bytes(b"abc\xff")
    assert decode_bytes("\ufeffhé".encode()) == "hé"


def test_read_path_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_path(tmp_path / "missing.txt", max_bytes=100)
    with pytest.raises(InputError, match="directory"):
        read_path(tmp_path, max_bytes=100)
    big = tmp_path / "big.txt"
    big.write_text("a" * 500, encoding="utf-8")
    with pytest.raises(InputError, match="limit"):
        read_path(big, max_bytes=100)
    ok = tmp_path / "ok.txt"
    ok.write_text("hello", encoding="utf-8")
    assert read_path(ok, max_bytes=100) == "hello"
