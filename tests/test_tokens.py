from __future__ import annotations

import gzip

import pytest

from compression_layer import tokens
from compression_layer.errors import TokenizerError


def test_o200k_matches_known_counts() -> None:
    enc = tokens.encoding("o200k_base")
    assert enc.encode_ordinary("hello world") == [24912, 2375]
    assert tokens.count_tokens("hello world") == 2
    assert tokens.count_tokens("") == 0


def test_cl100k_matches_known_counts() -> None:
    assert tokens.encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]


def test_special_tokens_are_plain_text() -> None:
    assert tokens.count_tokens("<|endoftext|>") > 1


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
    ],
)
def test_model_to_encoding(model: str, encoding: str) -> None:
    c = tokens.count("The quick brown fox.", model)
    assert c.encoding == encoding
    assert not c.estimated
    assert c.tokens == tokens.count_tokens("The quick brown fox.", encoding)


def test_claude_and_gemini_are_estimated_without_a_counter() -> None:
    text = "Compression keeps numbers like 42 and names like Ada Lovelace. " * 10
    base = tokens.count_tokens(text)
    claude = tokens.count(text, "claude-sonnet-4-5")
    assert claude.estimated and claude.ratio == tokens.ESTIMATE_RATIOS["claude"]
    assert claude.tokens == round(base * claude.ratio)
    gemini = tokens.count(text, "gemini-2.5-pro")
    assert gemini.estimated and gemini.tokens == round(base * tokens.ESTIMATE_RATIOS["gemini"])


def test_registered_exact_counter_wins() -> None:
    tokens.register_exact_counter("claude", lambda text, model: 7)
    try:
        c = tokens.count("anything", "claude-opus-4")
        assert c.tokens == 7 and not c.estimated
    finally:
        tokens.unregister_exact_counter("claude")


def test_checksum_mismatch_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeFile:
        def joinpath(self, name: str) -> FakeFile:
            return self

        def read_bytes(self) -> bytes:
            return gzip.compress(b"aGVsbG8= 0\n")

    monkeypatch.setattr(tokens.resources, "files", lambda pkg: FakeFile())
    with pytest.raises(TokenizerError, match="sha256"):
        tokens._load_ranks("o200k_base")


def test_unknown_encoding() -> None:
    with pytest.raises(TokenizerError, match="unknown encoding"):
        tokens._load_ranks("p50k_base")


_NASTY = ["\n", "\n\n", " ", "  ", "\t", "\r\n", "/", "//", ".", ",", "a", "Word", "12", "345",
          "é", "日本", "'s", "-", '"', "{", "}", "x/", " /", "\u00a0", "\x1c", "😀"]  # fmt: skip


@pytest.mark.parametrize("encoding_name", ["o200k_base", "cl100k_base"])
def test_pieces_count_as_the_whole(encoding_name: str) -> None:
    import random

    enc = tokens.encoding(encoding_name)
    rng = random.Random(5)
    for _ in range(40):
        text = "".join(rng.choice(_NASTY) for _ in range(4000))
        parts = tokens.pieces(text, size=50)
        assert "".join(parts) == text
        assert len(parts) > 10
        whole = len(enc.encode_ordinary(text))
        assert sum(len(enc.encode_ordinary(p)) for p in parts) == whole


def test_long_text_counted_on_threads_is_exact() -> None:
    line = 'GET /api/v1/items?id=42 HTTP/1.1" 200 "Mozilla/5.0" took 12.5ms\n  at frame()\n'
    text = line * (tokens.PARALLEL_CHARS // len(line) + 500)
    exact = len(tokens.encoding().encode_ordinary(text))
    assert tokens.count_tokens(text) == exact
    assert tokens.count_tokens_later(text).result() == exact
    assert tokens.count_tokens_upto(text, exact) == (exact, True)
    low, complete = tokens.count_tokens_upto(text, 1000)
    assert not complete and 1000 < low < exact
    assert tokens.count_tokens_upto("short text", 1) == (2, True)
    mid = text[:300_000]  # below the threaded size, still counted only up to the limit
    low, complete = tokens.count_tokens_upto(mid, 1000)
    assert not complete and 1000 < low < len(tokens.encoding().encode_ordinary(mid))
