"""The extractive engine on the packaged adapter: budgets, facts, layout, query, long inputs."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from compression_layer.compress import facts
from compression_layer.compress.extractive.engine import (
    ExtractiveEngine,
    neighbour_mean,
    packaged_adapter_dir,
)
from compression_layer.compress.extractive.head import make_windows
from compression_layer.compress.extractive.text import is_stopword, split_units
from compression_layer.errors import EngineError
from compression_layer.tokens import count_tokens

PROSE = (
    "The old lighthouse stood on a rocky point at the northern end of the island, where the "
    "keepers had watched the shipping lanes for well over a century. Every evening the lamp was "
    "lit by hand, and its beam could be seen by fishermen returning from the distant banks. "
    "During the great storm the keepers stayed at their post for three days without relief, "
    "and their careful log described the waves breaking over the gallery. Today the tower is a "
    "small museum that welcomes visitors during the summer months, and volunteers explain how "
    "the heavy lens was cleaned and polished before every long winter night."
)


@pytest.fixture(scope="module")
def engine() -> ExtractiveEngine:
    return ExtractiveEngine.load()


def test_packaged_adapter_is_small_and_named(engine: ExtractiveEngine) -> None:
    folder = packaged_adapter_dir()
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < 5 * 1024 * 1024
    assert {"adapter_config.json", "manifest.json"} <= {p.name for p in folder.iterdir()}
    assert engine.adapter_name == "extractive-default"


@pytest.mark.parametrize("rate", [0.3, 0.5, 0.7])
def test_rate_controls_the_share_of_tokens_kept(engine: ExtractiveEngine, rate: float) -> None:
    out = engine.compress(PROSE, rate=rate)
    assert out.kept_ratio == pytest.approx(count_tokens(out.text) / count_tokens(PROSE))
    assert rate - 0.08 <= out.kept_ratio <= rate + 0.03


def test_target_tokens_is_a_budget(engine: ExtractiveEngine) -> None:
    out = engine.compress(PROSE, target_tokens=40)
    assert 30 <= count_tokens(out.text) <= 42


def test_protected_facts_survive_a_hard_cut(engine: ExtractiveEngine) -> None:
    text = (
        "On 14 March 2021 the council approved a budget of $4.2 million for the bridge, "
        "according to the report at https://example.org/reports/2021-bridge.pdf. The work "
        "was led by Maria Gonzalez and finished 18% under budget in /srv/data/bridge.csv, "
        "with the id BRIDGE_2021_07 recorded in the ledger."
    )
    out = engine.compress(text, rate=0.3)
    assert facts.missing(text, out.text) == []
    assert "https://example.org/reports/2021-bridge.pdf" in out.text
    assert any("budget" in note for note in out.notes) or out.kept_ratio <= 0.35


def test_newlines_and_list_markers_are_kept(engine: ExtractiveEngine) -> None:
    text = (
        "# Packing list for the field trip\n\n"
        "- a waterproof jacket that will keep you dry in the heavy rain\n"
        "- sturdy walking boots which have already been worn in before the trip\n"
        "- a packed lunch and plenty of water for the whole long day\n"
        "\n1. Meet at the school gate at eight in the morning.\n"
        "2. The bus leaves promptly, so please do not be late for it.\n"
    )
    out = engine.compress(text, rate=0.4)
    lines = out.text.splitlines()
    assert lines[0].startswith("#")
    assert sum(1 for ln in lines if ln.startswith("- ")) == 3
    assert any(ln.startswith("1.") for ln in lines) and any(ln.startswith("2.") for ln in lines)
    assert out.text.count("\n") >= 6


def test_query_favours_the_relevant_sentence(engine: ExtractiveEngine) -> None:
    relevant = "every evening the lamp was lit by hand"
    plain = engine.compress(PROSE, rate=0.35)
    asked = engine.compress(PROSE, rate=0.35, query="Who lit the lamp every evening, and how?")

    def overlap(out: str) -> int:
        words = set(out.lower().split())
        return sum(w in words for w in relevant.split())

    assert overlap(asked.text) > overlap(plain.text)
    assert count_tokens(asked.text) <= count_tokens(PROSE) * 0.38


def test_long_input_is_processed_in_windows_without_truncation(engine: ExtractiveEngine) -> None:
    paragraphs = [
        f"Section {i}: the survey team counted {100 + i} birds near lake number {i} "
        f"and wrote that the water level was {i}.5 metres below the usual summer mark."
        for i in range(60)
    ]
    text = " ".join(paragraphs)
    windows = make_windows(engine._adapter.tokenizer, [split_units(text)], window=256)
    assert len(windows) > 3
    out = engine.compress(text, rate=0.5)
    # The numbers of the very last section are facts: present only if the end was processed.
    assert "159 birds" in out.text or ("159" in out.text and "59.5" in out.text)
    assert facts.missing(text, out.text) == []
    assert 0.4 <= out.kept_ratio <= 0.62


def test_batch_matches_single_calls_and_threads_agree(engine: ExtractiveEngine) -> None:
    texts = [PROSE, PROSE[:200], "Short line with 42 apples."]
    batch = [o.text for o in engine.compress_batch(texts, rate=0.5)]
    single = [engine.compress(t, rate=0.5).text for t in texts]
    # Every window is encoded alone (int8 activation scales are per input tensor), so a text's
    # output does not depend on the texts it is batched with.
    assert batch == single
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda t: engine.compress(t, rate=0.5).text, texts * 3))
    assert threaded == single * 3


def test_empty_input_passes_through(engine: ExtractiveEngine) -> None:
    assert engine.compress("", rate=0.5).text == ""


def _copy_adapter(tmp_path: Path) -> Path:
    dest = tmp_path / "my-adapter"
    shutil.copytree(packaged_adapter_dir(), dest)
    return dest


def test_missing_folder_names_the_adapter(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"'nowhere'.*folder not found"):
        ExtractiveEngine.load(tmp_path / "nowhere")


@pytest.mark.parametrize("victim", ["manifest.json", "adapter_config.json", "head.safetensors"])
def test_missing_file_names_the_adapter_and_file(tmp_path: Path, victim: str) -> None:
    folder = _copy_adapter(tmp_path)
    (folder / victim).unlink()
    with pytest.raises(EngineError, match=rf"'my-adapter'.*missing {victim}"):
        ExtractiveEngine.load(folder)


def test_corrupt_weights_and_config_name_the_adapter(tmp_path: Path) -> None:
    folder = _copy_adapter(tmp_path)
    (folder / "head.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(EngineError, match=r"'my-adapter'.*corrupt head.safetensors"):
        ExtractiveEngine.load(folder)
    folder = _copy_adapter(tmp_path / "b")
    (folder / "adapter_config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(EngineError, match=r"'my-adapter'.*corrupt"):
        ExtractiveEngine.load(folder)


def test_neighbour_mean_averages_each_unit_with_its_neighbours() -> None:
    scores = np.array([3.0, 0.0, 0.0, 6.0])
    assert neighbour_mean(scores, 1).tolist() == [1.5, 1.0, 2.0, 3.0]
    assert neighbour_mean(scores, 8).tolist() == [2.25] * 4
    assert neighbour_mean(np.zeros(0), 1).size == 0


def test_coherence_raises_words_between_well_scored_neighbours(tmp_path: Path) -> None:
    # Same adapter with and without coherence: a word's score moves toward its neighbours',
    # so of two equally scored words the one inside a strong phrase ranks higher.
    plain_dir = tmp_path / "plain"
    shutil.copytree(packaged_adapter_dir(), plain_dir)
    config = json.loads((plain_dir / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["coherence"] > 0  # the shipped adapter uses it
    config["coherence"] = 0.0
    (plain_dir / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    plain = ExtractiveEngine.load(plain_dir).prepare([PROSE])[0]
    shipped = ExtractiveEngine.load().prepare([PROSE])[0]
    own = plain.logits - 4.0 * np.array(
        [u.is_word and not is_stopword(u.text) for u in plain.units], dtype=np.float64
    )
    expected = plain.logits + 0.25 * neighbour_mean(own, 1)
    assert np.allclose(shipped.logits, expected)
