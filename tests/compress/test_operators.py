"""Meaning operators: minimal pairs, the guard in every engine, and what checks report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from compression_layer import compress
from compression_layer.compress import operators
from compression_layer.compress.engines import DEFAULT_ENGINES, EngineTable
from compression_layer.compress.extractive.service import ExtractiveAdapterEngine
from compression_layer.compress.types import CompressRequest, Domain, Engine
from compression_layer.settings import CompressSettings
from compression_layer.validation.offline import offline_checks

# (original, a compression that reverses or weakens what it asserts, the operator lost)
MINIMAL_PAIRS = [
    ("The committee did not approve the merger.", "The committee approved the merger.", "not"),
    ("The board didn't sign the contract.", "The board signed the contract.", "not"),
    ("I haven't had a chance to check it.", "I had a chance to check it.", "not"),
    ("She never replied to the email.", "She replied to the email.", "never"),
    ("No patients were harmed.", "Patients were harmed.", "no"),
    ("He left without paying.", "He left paying.", "without"),
    ("Revenue grew more than 60% last year.", "Revenue grew 60% last year.", "more than"),
    ("Revenue grew more than 60% last year.", "Revenue grew exactly 60% last year.", "more than"),
    ("Give at least 30 days notice.", "Give 30 days notice.", "at least"),
    ("Loans of up to $5,000 are approved.", "Loans of $5,000 are approved.", "up to"),
    ("The drug may cause dizziness.", "The drug causes dizziness.", "may"),
    ("Visitors must register first.", "Visitors register first.", "must"),
    ("Refunds are paid unless the seal is broken.", "Refunds are paid, seal broken.", "unless"),
    ("Only members can vote.", "Members can vote.", "only"),
    ("Is the office open on Sunday?", "The office open on Sunday.", "?"),
    ("She is older than her brother.", "She is old, her brother.", "older than"),
]


@pytest.mark.parametrize(("original", "compressed", "lost"), MINIMAL_PAIRS)
def test_minimal_pairs_report_the_lost_operator(original: str, compressed: str, lost: str) -> None:
    assert lost in operators.missing(original, compressed)
    assert operators.missing(original, original) == []


@pytest.mark.parametrize(("original", "compressed", "lost"), MINIMAL_PAIRS)
def test_offline_checks_fail_a_pair_that_loses_an_operator(
    original: str, compressed: str, lost: str
) -> None:
    checks = offline_checks(original, compressed, similarity=lambda a, b: 0.99)
    assert checks.operators_missing and checks.passed is False
    assert offline_checks(original, original, similarity=lambda a, b: 1.0).passed is True


def test_counts_not_presence() -> None:
    original = "He did not go. She did not stay. They did not call."
    assert operators.missing(original, "He did not go. She stayed. They called.") == ["not (x2)"]


def test_contractions_and_spelling_variants_count_as_the_same_negation() -> None:
    assert operators.missing("It is not ready.", "It isn't ready.") == []
    assert operators.missing("We cannot ship.", "We can't ship.") == []
    assert operators.missing("It won’t work.", "It will not work.") == []


def test_month_may_is_not_modality() -> None:
    assert [op.key for op in operators.extract("It opened on 3 May 2020 and May 5.")] == []
    assert [op.key for op in operators.extract("It may open.")] == ["may"]


def test_quantity_words_only_count_before_a_number() -> None:
    assert [op.key for op in operators.extract("over 60 people came")] == ["over"]
    assert operators.extract("the game is over now") == []


def test_sentences_with_returns_the_sentences_holding_lost_operators() -> None:
    text = "The sky is blue. The committee did not approve it. Prices may rise."
    assert operators.sentences_with(text, ["not", "may"]) == [
        "The committee did not approve it.",
        "Prices may rise.",
    ]


# --- the default (extractive) engine keeps them --------------------------------------------

PROSE = (
    "The committee did not approve the merger after months of review, and the company said "
    "it would not appeal the decision, according to a statement released on Friday. Analysts "
    "expect that shares may fall by more than 10% unless a new buyer appears within at least "
    "30 days. Only two of the nine directors voted in favour. Is the deal dead?"
)


def test_extractive_keeps_every_operator_at_its_default_rate() -> None:
    r = compress(PROSE)
    assert r.engine == "extractive"
    assert r.operators_missing == [] and r.facts_missing == []
    assert operators.missing(PROSE, r.compressed) == []
    assert r.tokens_compressed < r.tokens_original
    for word in ("not", "would", "may", "more than", "unless", "at least", "Only", "?"):
        assert word in r.compressed


def test_an_all_operator_input_comes_back_unchanged_never_longer() -> None:
    text = "not if only may?"
    r = compress(text, engine="extractive", rate=0.3)
    assert r.tokens_compressed <= r.tokens_original
    assert r.operators_missing == []


def test_guard_that_cannot_hold_the_rate_says_so() -> None:
    text = "He may not, unless asked, and only if at least 3 or more than 5 agree; never 9?"
    r = compress(text, engine="extractive", rate=0.1)
    assert r.operators_missing == []
    assert any("above the budget" in n or "not shorter" in n for n in r.notes)


# --- lossy engines that drop an operator go through the guard ------------------------------


@dataclass
class _Out:
    text: str


class DropsNot:
    """A fake extractive model that deletes every "not" (the defect this guard exists for)."""

    adapter_name = "drops-not"

    def compress(self, text: str, **kw: Any) -> _Out:
        return _Out(text.split(". ", 1)[-1].replace(" not", "").replace("Prices", "Costs"))


@pytest.fixture
def drops_not() -> EngineTable:
    """An engine table (the test's own) whose extractive engine drops every "not"."""
    return DEFAULT_ENGINES.copy(extractive=lambda s: ExtractiveAdapterEngine(DropsNot()))


TEXT = (
    "The weather was pleasant all week long in the northern valley region this year. "
    "The committee did not approve the merger. Prices rose sharply in the spring season."
)


def test_pipeline_appends_the_sentence_of_a_lost_operator(drops_not: EngineTable) -> None:
    r = compress(TEXT, engines=drops_not)
    assert r.operators_missing == []
    assert r.compressed.endswith("The committee did not approve the merger.")
    assert r.tokens_compressed < r.tokens_original
    assert any("operator guard" in n for n in r.notes)


def test_pipeline_reports_lost_operators_when_the_guard_is_off(drops_not: EngineTable) -> None:
    r = compress(TEXT, settings=CompressSettings(fact_guard="off"), engines=drops_not)
    assert r.operators_missing == ["not"]


def test_an_output_not_shorter_than_its_input_is_replaced_by_the_input(
    drops_not: EngineTable,
) -> None:
    text = "It did not rain. It did not snow at all during the long cold winter months."
    r = compress(text, engines=drops_not)
    assert r.compressed == text and r.operators_missing == [] and r.facts_missing == []
    assert any("not shorter than the input" in n for n in r.notes)


def test_generative_guard_appends_or_falls_back() -> None:
    from compression_layer.compress.generative.guard import guard_output
    from compression_layer.compress.types import EngineOutput
    from compression_layer.settings import GenerativeSettings

    original = "The committee did not approve the merger. It met on 3 May."
    lossy = EngineOutput("committee approved merger; met 3 May", "generative")
    request = CompressRequest(rate=0.5)
    domain = Domain(kind="prose")

    def unavailable() -> Engine:
        raise AssertionError("append mode must not fall back")

    out = guard_output(
        original, lossy, domain, request, GenerativeSettings(fact_guard="append"), unavailable
    )
    assert "The committee did not approve the merger." in out.text
    assert operators.missing(original, out.text) == []

    class Fallback:
        name = "extractive"

        def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput:
            return EngineOutput(text, "extractive")

    lossy = EngineOutput("committee approved merger; met 3 May", "generative")
    out = guard_output(
        original, lossy, domain, request, GenerativeSettings(fact_guard="fallback"), Fallback
    )
    assert out.engine == "extractive"
    assert any("missing operator" in n for n in out.notes)


def test_dropping_words_inside_a_comparison_is_not_a_lost_operator() -> None:
    assert (
        operators.missing("Towers need less water flow than lakes.", "need less than lakes") == []
    )
    assert "more than" in operators.missing("It grew more than 5%.", "It grew than 5%.")


def test_operators_brought_together_by_a_cut_are_not_lost() -> None:
    # "should only be started up if" -> "should only if": both operators are still there; the
    # phrase "only if" they now form must not read as one "only" and one "if" lost.
    original = "Companies should only be started up if they had 200,000 krone."
    assert operators.missing(original, "Companies should only if 200,000 krone.") == []
    assert operators.kept(original, "Companies should only if 200,000 krone.") == (3, 3)
    assert operators.missing("It was not ready, yet.", "not yet") == []
    # A phrase lost whole is still reported, and so is a part lost from it.
    assert operators.missing("Apply only if you are 18.", "Apply if you are 18.") == [
        "only if",
        "only",
    ]
    assert "only" in operators.missing("Only staff, if asked.", "staff, if asked.")


def test_a_quantity_operator_keeps_its_number_word() -> None:
    text = "Downton Abbey aired over six series and nearly half of the cast stayed."
    r = compress(text, engine="extractive", rate=0.3)
    assert "over six" in r.compressed and "nearly half" in r.compressed
    assert r.operators_missing == []
