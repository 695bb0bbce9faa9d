"""Readable structure through the extractive engine: headings, labels, tables, spacing."""

from __future__ import annotations

import re

import pytest

from compression_layer import compress
from compression_layer.compress.extractive.engine import ExtractiveEngine
from compression_layer.compress.extractive.text import join_units, split_units


@pytest.fixture(scope="module")
def engine() -> ExtractiveEngine:
    return ExtractiveEngine.load()


MARKDOWN = """## Summary

The quarterly review found that the new onboarding process was considerably faster than the
previous approach, although several teams reported that the documentation was still incomplete.

### Next steps for the platform team

- Publish the remaining documentation pages before the end of the month.
- Schedule a follow-up review with every team that reported problems during the rollout.

| Team | Status | Comment |
|---|---|---|
| Payments | done | migrated every service before the deadline without incidents |
| Search | late | waiting for the new cluster to be provisioned by operations |
"""


def test_headings_keep_their_words(engine: ExtractiveEngine) -> None:
    out = engine.compress(MARKDOWN, rate=0.4).text
    assert "## Summary" in out
    assert "### Next steps for the platform team" in out


def test_list_markers_and_table_structure_survive(engine: ExtractiveEngine) -> None:
    out = engine.compress(MARKDOWN, rate=0.4).text
    assert len(re.findall(r"^- \w", out, re.M)) == 2  # markers, each with a word
    rows = [ln for ln in out.splitlines() if ln.startswith("|")]
    assert len(rows) == 4
    assert all(row.count("|") == 4 for row in rows)  # columns stay columns
    assert "|---|---|---|" in out


TRANSCRIPT = """Caroline: I went to the LGBTQ support group yesterday and it was really powerful.
Melanie: That is great to hear! I haven't had a chance to check out that hiking spot yet.
Assistant: Would you like some more recommendations for trails near the lake this weekend?
Dr. Smith: The results will not be ready until next Tuesday at the earliest, I am afraid.
"""


def test_speaker_labels_survive(engine: ExtractiveEngine) -> None:
    out = engine.compress(TRANSCRIPT, rate=0.4).text
    labels = [line.split(":", 1)[0] for line in out.splitlines()]
    assert labels == ["Caroline", "Melanie", "Assistant", "Dr. Smith"]
    assert "haven't" in out and "not" in out and "?" in out


def test_transcript_through_auto_keeps_labels_and_negations() -> None:
    r = compress(TRANSCRIPT)
    assert r.operators_missing == [] and r.facts_missing == []
    assert "Melanie:" in r.compressed and "haven't" in r.compressed


def test_neighbouring_tokens_are_never_glued(engine: ExtractiveEngine) -> None:
    text = (
        "The workshop runs from 3 pm to 5 pm on Saturday, and the tickets cost between $250 "
        "and $600 depending on the seat; the organisers said that prices are final."
    )
    out = engine.compress(text, rate=0.4).text
    assert "pm$" not in out and "$250$" not in out
    assert re.search(r"\$250\s+\S*\s*\$600", out)


def test_sentence_ends_survive(engine: ExtractiveEngine) -> None:
    text = (
        "The first experiment measured the boiling point of water at high altitude. "
        "The second experiment repeated the measurement at sea level with new equipment. "
        "The third experiment compared both results against the published tables."
    )
    out = engine.compress(text, rate=0.5).text
    assert out.count(".") == 3
    assert ". ." not in out


def test_join_restores_the_input_when_everything_is_kept() -> None:
    units = split_units(MARKDOWN)
    assert join_units(units, [True] * len(units)) == MARKDOWN.rstrip("\n")
