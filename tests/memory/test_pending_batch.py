"""Batched compression of a store_many batch: the default compressor scores a batch's prose in one
encoder pass (memory/compressing.py) and the writer hands it the whole batch (pending.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from compression_layer import compress
from compression_layer.compress.extractive.service import load_extractive
from compression_layer.errors import CompressionLayerError
from compression_layer.memory import MemoryStore
from compression_layer.memory.compressing import DefaultCompressor, Prescored
from compression_layer.settings import CompressSettings, MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder, FakeResult

PROSE = [
    "Caroline went to the LGBTQ support group on 7 May 2023 and said it was really powerful, "
    "because the stories people shared there made her feel accepted and much less alone.",
    "Melanie painted a sunrise over the lake last weekend; she said she would not sell it, "
    "since it reminds her of the camping trip she took with her kids in 2022.",
    "The quarterly report was due on Friday, but the team could not finish it because the "
    "database migration failed twice and Dana had to restore the backup from Tuesday night.",
]
JSON_TEXT = json.dumps({"items": [{"id": i, "name": f"item {i}", "ok": True} for i in range(8)]})
CODE = "def add(a, b):\n    return a + b\n\n\nprint(add(2, 3))\n"


def test_one_prose_text_in_a_batch_compresses_as_compress_does() -> None:
    # A batch holding one prose text scores it alone: the very result compress() gives. Other
    # domains always go through compress() unchanged.
    texts = [PROSE[0], JSON_TEXT, CODE]
    results = DefaultCompressor().compress_many(texts)
    for text, result in zip(texts, results, strict=True):
        alone = compress(text)
        assert result.compressed == alone.compressed
        assert (result.engine, result.domain) == (alone.engine, alone.domain)
        assert result.tokens_compressed == alone.tokens_compressed
    assert results[0].engine == "extractive"
    assert results[0].tokens_compressed < results[0].tokens_original


def test_a_batch_of_prose_is_compressed_with_its_facts() -> None:
    results = DefaultCompressor().compress_many([*PROSE, PROSE[1]])
    assert [r.engine for r in results] == ["extractive"] * 4
    assert results[3].compressed == results[1].compressed  # a repeated text, scored once
    for text, result in zip(PROSE, results[:3], strict=True):
        assert result.tokens_compressed < result.tokens_original
        # The meaning guard runs per text as in compress(): what it could not keep is listed.
        for fact in ("2023", "2022", "Friday", "Tuesday", "Caroline", "Melanie", "Dana"):
            if fact in text:
                assert fact in result.compressed or fact in result.facts_missing


def test_a_batch_gives_each_text_what_compress_gives_it_alone() -> None:
    # The encoder runs window by window, so the company of other texts changes nothing: the
    # same memory is compressed the same way by store() and by store_many().
    # Texts of several lengths: batched by 16, the shortest windows were padded beside the
    # longest and one of these came out different.
    texts = [p[:k] for p in PROSE for k in (70, 100, 130, len(p))]
    texts += [f"{PROSE[0]} {PROSE[2]}", f"{PROSE[1]} {PROSE[0]} {PROSE[2]}"]
    results = DefaultCompressor().compress_many(texts)
    assert [r.compressed for r in results] == [compress(t).compressed for t in texts]


def test_one_bad_text_does_not_fail_the_batch() -> None:
    results = DefaultCompressor().compress_many([PROSE[0], "bad \x00 text", PROSE[2]])
    assert isinstance(results[1], CompressionLayerError)
    assert "NUL" in str(results[1])
    assert results[0].engine == results[2].engine == "extractive"


def test_prescored_falls_back_to_the_model_for_other_texts_and_queries() -> None:
    model = load_extractive()
    scored = Prescored(model, dict(zip(PROSE[:1], model.prepare(PROSE[:1]), strict=True)))
    assert scored.adapter_name == model.adapter_name
    assert scored.default_rate == model.default_rate
    for text, query in [(PROSE[0], None), (PROSE[1], None), (PROSE[0], "Where did she go?")]:
        mine = scored.compress(text, rate=0.5, query=query)
        theirs = model.compress(text, rate=0.5, query=query)
        assert mine.text == theirs.text
    with pytest.raises(CompressionLayerError, match="rate must be in"):
        scored.compress(PROSE[0], rate=1.5)


@dataclass
class BatchingCompressor(FakeCompressor):
    """The fake compressor with a batch method; records each batch."""

    batches: list[list[str]] = field(default_factory=list)

    def compress_many(self, texts: list[str]) -> list[FakeResult | CompressionLayerError]:
        self.batches.append(list(texts))
        return [
            CompressionLayerError("engine refused it") if "refuse" in t else self(t) for t in texts
        ]


async def test_store_many_hands_the_whole_batch_to_compress_many(tmp_path: Path) -> None:
    compressor = BatchingCompressor()
    settings = MemorySettings(near_duplicate_policy="keep", synchronous="NORMAL")
    async with MemoryStore.open(
        tmp_path / "m.db", settings=settings, compressor=compressor, embedder=FakeEmbedder()
    ) as store:
        texts = [
            "the deployment window moved to Thursday evening",
            "please refuse this one politely",
            "the deployment window moved to Thursday evening",  # a repeat: compressed once
            "remember that Alex prefers short written summaries",
        ]
        stored = await store.store_many(texts, namespace="b")
        assert compressor.batches == [[texts[0], texts[1], texts[3]]]
        assert stored[0].compressed == "deployment window moved Thursday evening"
        assert stored[0].engine == "fake"
        assert stored[1].compressed == texts[1] and stored[1].engine == "none"
        assert any("engine refused it" in n for n in stored[1].notes)
        assert stored[2].id == stored[0].id
        # A single store goes through the plain call.
        await store.store("one more memory about the quarterly planning meeting", namespace="b")
        assert len(compressor.batches) == 1
        assert compressor.calls[-1].startswith("one more memory")


async def test_the_default_store_compressor_batches(tmp_path: Path) -> None:
    settings = MemorySettings(near_duplicate_policy="keep", synchronous="NORMAL")
    async with MemoryStore.open(tmp_path / "d.db", settings=settings, embedder=FakeEmbedder()) as s:
        stored = await s.store_many(PROSE, namespace="d")
        for text, memory in zip(PROSE, stored, strict=True):
            assert memory.content == text
            assert memory.engine == "extractive"
            assert memory.tokens_compressed < memory.tokens_original
            got = await s.get(memory.id)
            assert got.compressed == memory.compressed


def test_settings_given_by_the_caller_are_read_at_each_call() -> None:
    chosen = [CompressSettings(engine="structural")]
    compressor = DefaultCompressor(settings=lambda: chosen[0])
    assert compressor(PROSE[0]).engine == "structural"
    assert [r.engine for r in compressor.compress_many(PROSE[:2])] == ["structural"] * 2
    chosen[0] = CompressSettings(engine="extractive")
    assert [r.engine for r in compressor.compress_many(PROSE[:2])] == ["extractive"] * 2
