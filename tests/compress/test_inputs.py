from __future__ import annotations

import io
from pathlib import Path

import pytest

from compression_layer.compress.inputs import (
    check_query,
    check_text,
    decode_bytes,
    read_path,
    read_stream,
)
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


def test_every_refusal_names_the_setting_that_governs_it(tmp_path: Path) -> None:
    with pytest.raises(InputError) as text:
        check_text("x" * 101, max_bytes=100)
    big = tmp_path / "big.txt"
    big.write_text("a" * 500, encoding="utf-8")
    with pytest.raises(InputError) as file:
        read_path(big, max_bytes=100)
    for refused in (text, file):
        message = str(refused.value)
        assert "compress.max_input_bytes" in message
        assert "COMPRESSION_LAYER_COMPRESS__MAX_INPUT_BYTES" in message


def test_size_is_in_utf8_bytes_not_characters() -> None:
    assert check_text("é" * 50, max_bytes=100) == "é" * 50
    with pytest.raises(InputError, match="over the 100 B limit"):
        check_text("é" * 51, max_bytes=100)


def test_query_has_its_own_limit() -> None:
    assert check_query("what?", max_chars=5) == "what?"
    assert check_query("   ", max_chars=5) is None
    assert check_query(None, max_chars=5) is None
    with pytest.raises(InputError) as refused:
        check_query("why?" * 10, max_chars=20)
    message = str(refused.value)
    assert "40 characters" in message and "20-character limit" in message
    assert "compress.max_query_chars" in message
    assert "COMPRESSION_LAYER_COMPRESS__MAX_QUERY_CHARS" in message


class CountingStream(io.BytesIO):
    """A stream that records how much was asked of it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.asked.append(-1 if size is None else size)
        return super().read(size)


def test_stdin_is_read_no_further_than_the_limit() -> None:
    stream = CountingStream(b"word " * 10_000)
    with pytest.raises(InputError, match=r"stdin is over the 1.0 KB limit .*MAX_INPUT_BYTES"):
        read_stream(stream, max_bytes=1_000)
    assert stream.asked == [1_001]
    assert read_stream(io.BytesIO("héllo".encode()), max_bytes=6) == "héllo"
    with pytest.raises(InputError, match="binary"):
        read_stream(io.BytesIO(b"a\x00b"), max_bytes=100)
