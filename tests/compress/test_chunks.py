"""Large inputs in bounded chunks: lossless cuts at the best boundary, one budget over all
chunks, and every fact and operator kept by the per-chunk guard."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from compression_layer import compress
from compression_layer.compress import chunks, facts, operators, pipeline
from compression_layer.compress.chunks import merge_notes, separator, split
from compression_layer.compress.engines import DEFAULT_ENGINES
from compression_layer.compress.types import CompressRequest, Domain, EngineOutput
from compression_layer.settings import CompressSettings
from compression_layer.tokens import count_tokens

SENTENCES = [
    "The committee of district {i} did not approve the merger on 14 March 2024.",
    "Revenue in district {i} grew by 12.5% to $4.2 million, driven by the subscription tier.",
    "Alice Chen will own rollout plan {i} unless the board objects before June.",
    "Support tickets of team {i} dropped by a third after the documentation rewrite.",
    "Migration {i} must finish before the end of June, or the old system may fail.",
    "Nobody expected more than 300 customers of region {i} to switch in the first week.",
    "Team {i} met in the old hall and discussed the long plan for the river and the roads.",
    "Marco Rossi said the figures of unit {i} were probably too optimistic for the quarter.",
]


def document(paragraphs: int, seed: int = 0) -> str:
    """Prose paragraphs of shuffled sentences; every sentence of the text is different (the
    guard appends a lost sentence once, so two equal ones would share one restoration)."""
    rng = random.Random(seed)
    out = []
    for i in range(paragraphs):
        picked = rng.sample(SENTENCES, k=5)
        out.append(f"Section {i + 1} of the review. " + " ".join(s.format(i=i) for s in picked))
    return "\n\n".join(out)


def facts_document(paragraphs: int) -> str:
    """Paragraphs whose second half holds the facts and no meaning operator."""
    return "\n\n".join(
        f"Section {i + 1}. The team met in the old hall and talked about the long plan for the "
        f"river and the roads and the school. Team {i} met Alice Chen in Berlin on 14 March "
        f"2024 and paid $4.{i} million for {300 + i} licences."
        for i in range(paragraphs)
    )


@pytest.mark.parametrize("max_chars", [2, 7, 50, 400, 5000])
def test_split_is_lossless_and_bounded(max_chars: int) -> None:
    text = document(30) + "\n" + "x" * 900 + " tail  words\n\n\n  indented line\n"
    pieces = list(split(text, max_chars))
    assert "".join(pieces) == text
    assert all(0 < len(p) <= max_chars for p in pieces)


def test_split_prefers_blank_lines_then_lines_then_sentences_then_spaces() -> None:
    paragraphs = list(split(document(20), 1000))
    assert all(p.endswith("\n\n") for p in paragraphs[:-1])
    lines = list(split("\n".join(["one line of words here"] * 200), 500))
    assert all(p.endswith("\n") for p in lines[:-1])
    sentences = list(split(" ".join(["A sentence of words ends here."] * 100), 500))
    assert all(p.endswith(". ") for p in sentences[:-1])
    words = list(split("word " * 1000, 500))
    assert all(p.endswith(" ") and len(p) <= 500 for p in words[:-1])


def test_one_token_longer_than_a_chunk_is_cut_anywhere() -> None:
    token = "ab" * 50_000
    pieces = list(split(token, 48_000))
    assert [len(p) for p in pieces] == [48_000, 48_000, 4_000]


def test_mixed_text_is_never_cut_inside_a_fence() -> None:
    fence = "```python\n" + "x = 1\n\n" * 400 + "```\n"
    text = "Intro words here.\n\n" * 40 + fence + "Outro words here.\n\n" * 40
    pieces = list(split(text, 1000, mixed=True))
    assert "".join(pieces) == text
    assert fence in pieces  # longer than a chunk: it is one chunk, whole
    for piece in pieces:
        assert piece.count("```") in (0, 2)


def test_separator_keeps_at_most_one_blank_line_and_the_indentation() -> None:
    assert separator("\n\n\n\n  ") == "\n\n  "
    assert separator(" \n") == "\n"
    assert separator("  \t") == " "
    assert separator("") == ""


def test_notes_alike_are_merged_with_a_count() -> None:
    merged = merge_notes(
        [
            ["fact guard appended 2 missing fact(s)", "kept 3"],
            ["fact guard appended 5 missing fact(s)"],
            ["fact guard appended 1 missing fact(s)"],
        ]
    )
    assert merged == [
        "fact guard appended 2 missing fact(s) (first chunk; 2 more chunks alike)",
        "kept 3",
    ]


class Halves:
    """A fake lossy engine: keeps the first half of each text's words; records what it got."""

    name = "halves"

    def __init__(self) -> None:
        self.seen: list[tuple[int, CompressRequest]] = []

    def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput:
        self.seen.append((len(text), request))
        words = text.split()
        return EngineOutput(" ".join(words[: max(1, len(words) // 2)]), self.name)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(pipeline, "CHUNK_CHARS", 1_000)
    return 1_000


def test_a_large_input_goes_to_the_engine_in_chunks_with_one_budget(small_chunks: int) -> None:
    fake = Halves()
    table = DEFAULT_ENGINES.copy(halves=lambda s: fake)
    text = facts_document(40)
    result = compress(text, engine="halves", target_tokens=500, engines=table)
    assert len(fake.seen) > 5
    assert all(size <= small_chunks for size, _ in fake.seen)
    # The token budget became one rate for every chunk: together they spend at most the budget.
    rates = {request.rate for _, request in fake.seen}
    assert len(rates) == 1 and rates.pop() == pytest.approx(500 / count_tokens(text))
    assert all(request.target_tokens is None for _, request in fake.seen)
    assert result.notes[0].startswith(f"compressed in {len(fake.seen)} chunks")
    # Each chunk's guard appended what that chunk lost, next to it: nothing is missing overall.
    assert result.facts_missing == [] and result.operators_missing == []
    assert facts.missing(text, result.compressed) == []
    assert operators.missing(text, result.compressed) == []
    assert result.compressed.count("facts:") > 1
    assert any("fact guard appended" in n and "more chunks alike" in n for n in result.notes)


def test_without_the_guard_what_each_chunk_lost_is_reported_once(small_chunks: int) -> None:
    fake = Halves()
    table = DEFAULT_ENGINES.copy(halves=lambda s: fake)
    text = document(40)
    settings = CompressSettings(fact_guard="off")
    result = compress(text, engine="halves", rate=0.5, settings=settings, engines=table)
    assert result.facts_missing == list(dict.fromkeys(result.facts_missing))
    assert set(result.facts_missing) == set(facts.missing(text, result.compressed))
    lost = {re.sub(r" \(x\d+\)$", "", op) for op in result.operators_missing}
    assert lost == {
        re.sub(r" \(x\d+\)$", "", op) for op in operators.missing(text, result.compressed)
    }


def test_small_inputs_and_lossless_engines_are_not_chunked(small_chunks: int) -> None:
    fake = Halves()
    table = DEFAULT_ENGINES.copy(halves=lambda s: fake)
    compress(document(2), engine="halves", engines=table)
    assert len(fake.seen) == 1
    structural = compress(document(40), engine="structural")
    assert not any("chunks" in n for n in structural.notes)


def test_real_engine_in_chunks_keeps_every_fact_and_operator_within_budget() -> None:
    text = document(400)  # ~190 KB: four chunks of the real extractive engine
    assert len(text) > 3 * chunks.CHUNK_CHARS
    n = count_tokens(text)
    result = compress(text, rate=0.4)
    assert result.engine == "extractive"
    assert result.notes[0].startswith("compressed in 4 chunks")
    assert result.facts_missing == [] and result.operators_missing == []
    assert facts.missing(text, result.compressed) == []
    assert operators.missing(text, result.compressed) == []
    # Without the guard's additions the words kept stay within the budget (one separator token
    # per chunk aside).
    bare = compress(text, rate=0.4, settings=CompressSettings(fact_guard="off"))
    assert bare.tokens_compressed <= 0.4 * n + 4
    assert result.tokens_compressed < n


def test_a_line_of_one_repeated_word_is_split_at_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    class Sizes(Halves):
        def run(self, text: str, domain: Domain, request: CompressRequest) -> Any:
            seen.append(len(text))
            return super().run(text, domain, request)

    fake = Sizes()
    line = "word " * 200_000  # one line of 1,000,000 characters
    result = compress(line, engine="halves", engines=DEFAULT_ENGINES.copy(halves=lambda s: fake))
    assert max(seen) <= chunks.CHUNK_CHARS and len(seen) >= 1_000_000 // chunks.CHUNK_CHARS
    assert result.tokens_compressed < result.tokens_original


def test_protected_share_estimates_what_no_rate_removes() -> None:
    plain = "the team met in the old hall and talked about the long plan for the river. " * 2000
    dense = "Invoice 4711 was paid on 14 March 2024: $4,200 to ACME-42 in Berlin. " * 2000
    low, high = chunks.protected_share(plain), chunks.protected_share(dense)
    assert 0.0 < low < 0.1 < 0.3 < high <= 1.0
    # Samples stand for the whole: a long text costs three slices, and reads the same.
    assert chunks.protected_share(dense * 20) == pytest.approx(high, abs=0.02)
