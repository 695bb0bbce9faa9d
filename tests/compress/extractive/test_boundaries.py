"""Token boundaries and empty outputs: what the engine keeps stays readable as what it was.

Dropped words never fuse their neighbours ("12.5% to $4.2" never reads "12.5%$4.2"), every fact
that counts as kept stands as its own token, and a non-empty input never comes back empty.
The property tests draw texts from a seeded generator (numbers, percentages, money, units,
dates, times, identifiers and filler words), so a failure names its seed and is reproducible.
"""

from __future__ import annotations

import itertools
import random
import re

import pytest

from compression_layer import compress
from compression_layer.compress import facts
from compression_layer.compress.extractive.engine import TINY_TOKENS, ExtractiveEngine
from compression_layer.compress.extractive.text import join_units, split_units
from compression_layer.tokens import count_tokens

FILLER = (
    "the revenue grew by to from and was in on at for price launch team moved report rose fell "
    "costs budget after before with paid shipped about roughly since"
)
WORDS = tuple(FILLER.split())
# Marks that may touch a token without fusing it: the engine leans them on a neighbour.
LEANS_LEFT = set(".,;:!?)]}…”’")
LEANS_RIGHT = set("([{“‘")


def _decimal(rng: random.Random) -> str:
    return f"{rng.randint(0, 99)}.{rng.randint(0, 9)}"


def _piece(rng: random.Random) -> str:
    n = rng.randint(1, 9999)
    month = rng.choice(["March", "June", "October", "Jan."])
    choices = [
        lambda: str(n),
        lambda: _decimal(rng),
        lambda: f"{_decimal(rng)}%",
        lambda: f"${_decimal(rng)} million",
        lambda: f"${n:,}",
        lambda: f"€{n}",
        lambda: f"£{_decimal(rng)}bn",
        lambda: f"{n} USD",
        lambda: f"{n} km",
        lambda: f"{n}ms",
        lambda: f"{rng.randint(1, 64)}GB",
        lambda: f"{rng.randint(1, 28)} {month} {rng.randint(1990, 2030)}",
        lambda: f"{month.rstrip('.')} {rng.randint(1, 28)}",
        lambda: f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        lambda: f"{rng.randint(1, 12)} pm",
        lambda: f"{rng.randint(0, 23)}:{rng.randint(0, 59):02d}",
        lambda: f"FIN-2023-{rng.randint(1, 99)}",
        lambda: rng.choice(["user_id", "os.path.join", "v1.2.3", "getUserName"]),
        lambda: f"({_decimal(rng)}%)",
    ]
    if rng.random() < 0.45:
        return rng.choice(WORDS)
    return rng.choice(choices)()


def random_text(seed: int) -> str:
    """A few sentences mixing facts and filler words, spaced and punctuated as prose is."""
    rng = random.Random(seed)
    sentences = []
    for _ in range(rng.randint(1, 4)):
        pieces = [_piece(rng) for _ in range(rng.randint(4, 14))]
        line = " ".join(p + ("," if rng.random() < 0.1 else "") for p in pieces)
        sentences.append(line[0].upper() + line[1:].rstrip(",") + rng.choice([".", ".", "!", ";"]))
    return " ".join(sentences)


def stands_alone(fact: facts.Fact, original: str, out: str) -> bool:
    """``fact.text`` occurs in ``out`` with nothing glued on: beside it is whitespace, an edge,
    a punctuation mark that leans on it, or what stood beside it in the original."""
    before_ok = {original[f.start - 1] for f in [fact] if f.start} | LEANS_RIGHT
    after_ok = {original[f.end] for f in [fact] if f.end < len(original)} | LEANS_LEFT
    for m in re.finditer(re.escape(fact.text), out):
        left = out[m.start() - 1] if m.start() else " "
        right = out[m.end()] if m.end() < len(out) else " "
        if (left.isspace() or left in before_ok) and (right.isspace() or right in after_ok):
            return True
    return False


@pytest.fixture(scope="module")
def engine() -> ExtractiveEngine:
    return ExtractiveEngine.load()


# --- the join -----------------------------------------------------------------------------------


def test_dropped_words_leave_a_space_between_numbers_and_symbols() -> None:
    text = "Revenue grew by 12.5% to $4.2 million, at 5 pm $250 and (see) 40%."
    units = split_units(text)
    drop = {"Revenue", "grew", "by", "to", "and", "see", ","}
    out = join_units(units, [u.text not in drop for u in units])
    assert out == "12.5% $4.2 million at 5 pm $250 () 40%."


def test_a_closing_mark_leans_on_the_word_before_a_dropped_stretch() -> None:
    units = split_units("It grew quickly. Then it (mostly) stopped.")
    keep = [u.text in {"It", "grew", ".", "(", ")", "stopped"} for u in units]
    assert join_units(units, keep) == "It grew. () stopped."


@pytest.mark.parametrize("seed", range(300))
def test_property_join_never_glues_what_whitespace_separated(seed: int) -> None:
    """Two kept units touch in the output only where they touched in the original, or where
    one is punctuation leaning on the other: dropping words never fuses tokens."""
    rng = random.Random(seed)
    text = random_text(seed)
    units = split_units(text)
    keep = [rng.random() < rng.choice([0.2, 0.5, 0.8]) for _ in units]
    out = join_units(units, keep)
    touching = {(a.text, b.text) for a, b in itertools.pairwise(units) if not b.gap}
    after = split_units(out)
    assert [u.text for u in after] == [u.text for u, k in zip(units, keep, strict=True) if k]
    for a, b in itertools.pairwise(after):
        if not b.gap:
            leaning = b.text in LEANS_LEFT or a.text in LEANS_RIGHT
            assert leaning or (a.text, b.text) in touching, (seed, a.text, b.text, out)


# --- the engine ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_property_every_kept_fact_stands_as_its_own_token(
    engine: ExtractiveEngine, seed: int
) -> None:
    text = random_text(seed)
    rate = random.Random(seed).choice([0.2, 0.35, 0.5, 0.7])
    out = engine.compress(text, rate=rate).text
    lost = set(facts.missing(text, out))
    for fact in facts.extract(text):
        if fact.text not in lost:
            assert stands_alone(fact, text, out), (seed, fact, out)


def test_money_and_percent_stay_apart_at_any_rate(engine: ExtractiveEngine) -> None:
    text = "Revenue grew by 12.5% to $4.2 million, and support costs fell 3% to €1.1bn."
    for rate in (0.1, 0.3, 0.5, 0.7):
        out = engine.compress(text, rate=rate).text
        assert "12.5% $4.2 million" in out, out
        assert facts.missing(text, out) == []
        assert "3% €1.1bn" in out, out
        assert not re.search(r"%[^\s.,;)]|[\w%][$€£¥]", out), out


@pytest.mark.parametrize("text", ["true", "null", "42", "-0.5e3", "Yes.", "Paid on 14 March."])
def test_tiny_inputs_come_back_unchanged_with_a_note(engine: ExtractiveEngine, text: str) -> None:
    assert count_tokens(text) < TINY_TOKENS
    out = engine.compress(text, rate=0.1)
    assert out.text == text and out.kept_ratio == 1.0
    assert any("too short to compress" in n for n in out.notes)


def test_one_huge_word_is_kept_rather_than_returned_empty(engine: ExtractiveEngine) -> None:
    text = "x" * 5000
    out = engine.compress(text)
    assert out.text == text and out.kept_ratio == 1.0
    assert any("no word fits the budget" in n for n in out.notes)


def test_a_budget_below_every_word_keeps_the_best_word(engine: ExtractiveEngine) -> None:
    text = "Extraordinarily unremarkable circumstances notwithstanding, everybody celebrated."
    out = engine.compress(text, target_tokens=1)
    kept = re.findall(r"\w+", out.text)
    assert kept and all(w in re.findall(r"\w+", text) for w in kept)
    assert any("no word fits the budget" in n for n in out.notes)


def test_punctuation_only_input_is_never_emptied(engine: ExtractiveEngine) -> None:
    text = "!!! ??? ... --- *** ;;; ::: ,,, ))) ((( ### @@@ %%% ^^^ ~~~"
    out = engine.compress(text, rate=0.2)
    assert out.text.strip()


@pytest.mark.parametrize("text", ["true", "null", "x" * 3000, "Dana moved the launch to 14 March."])
def test_pipeline_output_is_never_empty(text: str) -> None:
    result = compress(text)
    assert result.compressed.strip()
    assert result.ratio > 0


def test_a_sentence_initial_name_survives_the_memory_default() -> None:
    result = compress("Dana moved the launch to 14 March.")
    assert "Dana" in result.compressed and "14 March" in result.compressed
    assert result.facts_missing == []
