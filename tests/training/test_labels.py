"""Word-level alignment of inputs with abstractive targets, and the row cleaning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compression_layer.compress.extractive.text import join_units, split_units
from compression_layer.errors import InputError
from compression_layer.training.labels import (
    Pair,
    align,
    clean_pairs,
    label_quality,
    looks_like_code,
    read_pairs,
)


def kept_words(source: str, target: str) -> list[str]:
    units = split_units(source)
    return [u.text for u, keep in zip(units, align(source, target), strict=True) if keep]


def test_exact_words_are_kept_and_function_words_dropped() -> None:
    kept = kept_words(
        "The committee approved the new budget for the city on Monday.",
        "committee approved new budget | city | Monday",
    )
    assert kept == ["committee", "approved", "new", "budget", "city", "Monday"]


def test_normalised_forms_abbreviations_and_number_words() -> None:
    kept = kept_words(
        "Three rivers flow through the development zones of the U.S. in the 20th century.",
        "3 river → dev zones @ US | 20th cent",
    )
    assert kept == ["Three", "rivers", "development", "zones", "U.S.", "20th", "century"]


def test_hyphenated_targets_match_their_parts() -> None:
    kept = kept_words(
        "It ran from 1890 to 1930 in a post romantic style.", "1890-1930 | post-romantic"
    )
    assert kept == ["1890", "1930", "post", "romantic"]


def test_reordered_clause_is_found_by_the_proportional_anchor() -> None:
    source = (
        "Early in the morning the farmers harvested wheat and barley near the river, "
        "and in the evening they sold apples at the market."
    )
    target = "evening: sold apples @ market | morning: farmers harvested wheat + barley near river"
    kept = kept_words(source, target)
    for word in ("morning", "farmers", "harvested", "wheat", "barley", "river", "apples", "market"):
        assert word in kept


def test_a_word_is_matched_once_only() -> None:
    kept = kept_words("Paris is big. Paris is old. Paris is rich.", "Paris: big, old")
    assert kept.count("Paris") == 1


def test_name_runs_are_completed() -> None:
    kept = kept_words("The composer Pierre Boulez wrote it.", "composer Boulez wrote")
    assert kept == ["composer", "Pierre", "Boulez", "wrote"]


def test_units_rebuild_the_text_exactly() -> None:
    text = "The U.S. paid $3.5m (150,782 SEK) in 1901.\n- item one\n\n# Head\nEnd."
    units = split_units(text)
    assert "".join(u.gap + u.text for u in units) == text
    assert join_units(units, [True] * len(units)) == text


def test_clean_pairs_drops_bad_rows_and_code() -> None:
    good = Pair("Alpha beta gamma delta epsilon zeta.", "alpha beta")
    long_target = Pair("Short input.", "A much longer target than the input.")
    code = Pair("def f(x):\n    return x\n\nclass A:\n    pass\n", "f(x) → x")
    kept, report = clean_pairs([good, good, long_target, code])
    assert kept == [good]
    assert (report.duplicate_input, report.target_not_shorter, report.not_prose) == (1, 1, 1)
    assert looks_like_code(code.source) and not looks_like_code(good.source)


def test_read_pairs_strips_the_prompt_and_rejects_bad_rows(tmp_path: Path) -> None:
    row = {
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "Compress:\nSome text here."},
            {"role": "assistant", "content": "text"},
        ]
    }
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    assert read_pairs(path) == [Pair("Some text here.", "text")]
    path.write_text('{"messages": 3}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"train\.jsonl:1"):
        read_pairs(path)


def test_label_quality_on_the_seed_pairs(shared_data: Path) -> None:
    pairs, report = clean_pairs(read_pairs(shared_data / "seed-pairs" / "train.jsonl"))
    assert report.target_not_shorter > 0 and report.duplicate_input > 0
    quality = label_quality(pairs, sample=30)
    # Most of what the teacher wrote is explained by words we label as kept.
    assert quality.content_coverage > 0.85
    assert 0.2 < quality.keep_rate < 0.6
