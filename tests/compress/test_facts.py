"""Protected spans: each fact kind, overlap rules, and ``missing`` under reformatting."""

from __future__ import annotations

import itertools
import json
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compression_layer.compress.facts import (
    KINDS,
    Fact,
    extract,
    kept_ratio,
    missing,
    protected_spans,
)


def found(text: str, kind: str | None = None) -> list[str]:
    return [f.text for f in extract(text) if kind is None or f.kind == kind]


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("It grew 42 times.", "number", "42"),
        ("Pi is about 3.14159 here.", "number", "3.14159"),
        ("Sales rose 12.5% last year.", "number", "12.5%"),
        ("We shipped 1,200,000 units.", "number", "1,200,000"),
        ("In the 20th century it changed.", "number", "20th"),
        ("A 3.5GHz chip.", "number", "3.5GHz"),
        ("A timeout of 200ms applies.", "number", "200ms"),
        ("The road is 12 km long.", "number", "12 km"),
        ("It costs $1,200.50 now.", "money", "$1,200.50"),
        ("Funding of €3m arrived.", "money", "€3m"),
        ("Pay 5 USD at the door.", "money", "5 USD"),
        ("Released 2024-03-01 at noon.", "date", "2024-03-01"),
        ("Seen on March 3, 2021 in town.", "date", "March 3, 2021"),
        ("Seen on 3 March 2021 in town.", "date", "3 March 2021"),
        ("Logged 2024-03-01T10:30:00Z by cron.", "date", "2024-03-01T10:30:00Z"),
        ("Meet at 10:30 tomorrow.", "time", "10:30"),
        ("Meet at 10:30 PM tomorrow.", "time", "10:30 PM"),
        ("Docs at https://example.com/a/b?x=1.", "url", "https://example.com/a/b?x=1"),
        ("See www.example.org/docs for more.", "url", "www.example.org/docs"),
        ("Mail jane.doe@example.co.uk today.", "email", "jane.doe@example.co.uk"),
        ("Edit /etc/nginx/nginx.conf first.", "path", "/etc/nginx/nginx.conf"),
        ("Run ./scripts/build.sh now.", "path", "./scripts/build.sh"),
        ("Open src/compression_layer/facts.py please.", "path", "src/compression_layer/facts.py"),
        ("Open C:\\Users\\bob\\notes.txt now.", "path", "C:\\Users\\bob\\notes.txt"),
        ("Requires v1.2.3 or later.", "version", "v1.2.3"),
        ("Try 2.0.0-rc1 first.", "version", "2.0.0-rc1"),
        ("Needs Python 3.11 to run.", "version", "3.11"),
        ("Call get_value() then.", "identifier", "get_value"),
        ("Call parseHttp() then.", "identifier", "parseHttp"),
        ("Subclass BaseModel here.", "identifier", "BaseModel"),
        ("Use os.path.join for that.", "identifier", "os.path.join"),
        ("Import pydantic.BaseModel first.", "identifier", "pydantic.BaseModel"),
        ("Override __init__ too.", "identifier", "__init__"),
        ('He said "hello there" twice.', "quote", '"hello there"'),
        ("She wrote 'single quoted' once.", "quote", "'single quoted'"),
        ("Use `pip install x` to install.", "quote", "`pip install x`"),
        ("It was Barack Obama who spoke.", "name", "Barack Obama"),
        ("They moved to New York City last year.", "name", "New York City"),
        ("Data came from NASA and ESA.", "name", "NASA"),
        ("Sent over HTTP by default.", "name", "HTTP"),
        ("The Bank of America opened.", "name", "Bank of America"),
        ("A study by Lutosławski followed.", "name", "Lutosławski"),
    ],
)
def test_each_kind_is_found(text: str, kind: str, expected: str) -> None:
    assert expected in found(text, kind)


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("The cat sat on the mat.", "The"),  # sentence-initial word is not a name
        ("It rained. Afterwards we left.", "Afterwards"),
        ("In Paris it rained.", "In Paris"),  # the opener is stripped ...
        ("Although John left, he stayed.", "Although John"),
        ("Use e.g. a hammer.", "e.g"),  # abbreviations are not dotted identifiers
        ("It is an either/or choice at 60 km/h.", "/or"),
        ("We're sure Newton's laws hold.", "Newton's"),  # possessive is not part of the name
        ("I think so.", "I"),
        ("A plain sentence with words only.", None),
    ],
)
def test_false_positives_are_avoided(text: str, absent: str | None) -> None:
    texts = found(text)
    if absent is None:
        assert texts == []
    else:
        assert absent not in texts


def test_opener_is_stripped_but_name_kept() -> None:
    assert "Paris" in found("In Paris it rained.", "name")
    assert "John" in found("Although John left, he stayed.", "name")
    assert "Smith" in found("We met Dr. Smith there.", "name")


def test_facts_are_sorted_non_overlapping_and_exact() -> None:
    text = (
        "On 2024-03-01 Barack Obama paid $1,200.50 via https://pay.example.com/x and "
        'said "see ./a/b.py" while v1.2.3 ran os.path.join in 200ms.'
    )
    facts = extract(text)
    assert facts == sorted(facts, key=lambda f: f.start)
    for a, b in itertools.pairwise(facts):
        assert a.end <= b.start
    for f in facts:
        assert isinstance(f, Fact) and f.kind in KINDS
        assert text[f.start : f.end] == f.text


def test_longest_and_most_specific_wins() -> None:
    # The date contains numbers and a time; the URL contains an identifier-like host.
    assert found("At 2024-03-01T10:30:00Z it ran.") == ["2024-03-01T10:30:00Z"]
    assert found("See https://docs.example.com/x now.") == ["https://docs.example.com/x"]
    assert [f.kind for f in extract("Costs $5 today.")] == ["money"]
    # A quote wins over the name inside it.
    assert [f.kind for f in extract('He wrote "Barack Obama spoke".')] == ["quote"]


def test_kinds_filter_after_overlap() -> None:
    text = "Released 2024-03-01 with 42 fixes by Ada Lovelace."
    assert [f.text for f in extract(text, kinds={"number"})] == ["42"]
    assert [f.text for f in extract(text, kinds=["name", "date"])] == [
        "2024-03-01",
        "Ada Lovelace",
    ]
    with pytest.raises(ValueError, match="unknown fact kinds"):
        extract(text, kinds={"colour"})


def test_protected_spans_merge_touching_facts() -> None:
    text = 'x "a" "b" y'
    assert protected_spans(text) == [(2, 5), (6, 9)]
    assert protected_spans("nothing here at all") == []
    spans = protected_spans("Pay $5 to Ada Lovelace.")
    assert spans == [(4, 6), (10, 22)]


def test_missing_is_empty_for_identity_and_whitespace_changes() -> None:
    text = "On March 3, 2021  Barack Obama\n\tpaid $1,200.50 for   12 km of road."
    assert missing(text, text) == []
    assert missing(text, re.sub(r"\s+", " ", text)) == []
    assert kept_ratio(text, text) == 1.0


def test_missing_tolerates_number_formats_and_units() -> None:
    original = "The budget was $1,200,000 for 12 km on the 3rd March."
    assert missing(original, "budget $1200000, 12km, 3 Mar") == []
    assert [f.text for f in extract(original, kinds={"date"})] == ["3rd March"]


def test_missing_tolerates_minified_json() -> None:
    data = {"user_name": "Ada Lovelace", "ids": [1, 2, 3], "ratio": 0.75, "url": "https://x.io/a"}
    pretty = json.dumps(data, indent=4)
    minified = json.dumps(data, separators=(",", ":"))
    assert missing(pretty, minified) == []


def test_missing_tolerates_reindented_code() -> None:
    code = textwrap.dedent(
        '''
        def fetch_user(user_id: int) -> dict:
            """Load the user."""
            row = db.query_one("SELECT * FROM users WHERE id = %s", user_id)
            return {"id": row.id, "name": row.full_name, "limit": 1_000}
        '''
    )
    reindented = "\n".join("  " + line.strip() for line in code.splitlines())
    assert missing(code, reindented) == []


def test_missing_reports_real_drops_in_order_without_duplicates() -> None:
    original = (
        "Barack Obama met Angela Merkel in Berlin on 2015-06-07; they discussed 42 items, "
        "then Barack Obama left. See /srv/app/config.yaml and call load_config()."
    )
    compressed = "Obama met Merkel in Berlin; discussed items. See config."
    lost = missing(original, compressed)
    assert lost == [
        "Barack Obama",
        "Angela Merkel",
        "2015-06-07",
        "42",
        "/srv/app/config.yaml",
        "load_config",
    ]
    assert 0.0 < kept_ratio(original, compressed) < 0.5


def test_missing_catches_a_changed_number() -> None:
    assert missing("Revenue was 4.5 billion.", "Revenue was 4.6 billion.") == ["4.5"]
    assert missing("Port 8080 is open.", "Port 8081 is open.") == ["8080"]


# Text built from fact-like pieces, so that the property tests exercise every pass.
_PIECES = st.sampled_from(
    [
        "The",
        "Barack Obama",
        "NASA",
        "3.5GHz",
        "$1,200.50",
        "1,200",
        "2024-03-01",
        "10:30 PM",
        "https://x.io/a.",
        "a@b.co",
        "./a/b.py",
        "v1.2.3",
        "os.path",
        "snake_case",
        "camelCase",
        '"quoted text"',
        "'q'",
        "`c`",
        "3rd",
        "March",
        "of",
        "in",
        ".",
        ",",
        ";",
        ":",
        "\n",
        " ",
        "\t",
        "(",
        ")",
        "-",
        "12 km",
        "e.g.",
        "Dr.",
        "0.0.0.0,127.0.0.1",
        "€3m",
        "Jean-Paul",
    ]
)
_TEXTS = st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TEXTS)
def test_property_nothing_missing_from_itself(text: str) -> None:
    facts = extract(text)
    assert all(text[f.start : f.end] == f.text for f in facts)
    assert all(a.end <= b.start for a, b in itertools.pairwise(facts))
    assert missing(text, text) == []


@settings(max_examples=300, deadline=None)
@given(_TEXTS)
def test_property_whitespace_collapse_loses_nothing(text: str) -> None:
    assert missing(text, " ".join(text.split())) == []


def test_kept_ratio_without_facts_is_one() -> None:
    assert kept_ratio("just some lower case words", "") == 1.0
    assert missing("", "anything") == []


def test_seed_pairs_self_and_collapsed_whitespace(shared_data: Path) -> None:
    path = shared_data / "seed-pairs" / "valid.jsonl"
    inputs = [
        json.loads(line)["messages"][1]["content"].removeprefix("Compress:\n")
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert len(inputs) > 100
    n_facts = 0
    for text in inputs:
        n_facts += len(extract(text))
        assert missing(text, text) == []
        assert missing(text, re.sub(r"\s+", " ", text)) == []
    assert n_facts > 1000


# --- sentence-initial names -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Dana moved the launch to 14 March.", "Dana"),
        ("The launch slipped. Dana moved it to 14 March.", "Dana"),
        ("Paris was cold that winter.", "Paris"),
        ("Caroline: Melanie sent the photos.", "Melanie"),
        ("- Priyanka owns the rollout.", "Priyanka"),
        ("Okonkwo escaped again.", "Okonkwo"),
    ],
)
def test_sentence_initial_name_is_a_name(text: str, name: str) -> None:
    assert name in found(text, "name")


@pytest.mark.parametrize(
    "text",
    [
        "Revenue grew by 12% this year.",
        "Quarterly revenue grew.",
        "Exploring the cave took hours.",
        "Wow, that is great news.",
        "Thanks for the photos!",
        "Don't forget the keys.",
        "Support tickets dropped by a third.",
        "Yesterday it rained.",
    ],
)
def test_sentence_initial_common_word_is_not_a_name(text: str) -> None:
    assert found(text, "name") == []


def test_a_word_the_text_writes_in_lower_case_is_not_a_name_at_a_sentence_start() -> None:
    assert found("Pottery is fun. I love pottery.", "name") == []


def test_guard_reports_a_dropped_sentence_initial_name() -> None:
    assert missing("Dana moved the launch to 14 March.", "14 March.") == ["Dana"]
    assert missing("Dana moved the launch to 14 March.", "Dana 14 March.") == []


# --- fused boundaries ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compressed", "lost"),
    [
        ("12.5%$4.2 million", ["12.5%", "$4.2 million"]),
        ("12.5%.$4.2 million", ["12.5%", "$4.2 million"]),
        ("12.5% $4.2 million.", []),
        ("12.5%, $4.2 million", []),
        ("(12.5%) $4.2 million", []),
        # one clean occurrence is enough
        ("12.5%$4.2 million; 12.5% and $4.2 million", []),
    ],
)
def test_a_fact_glued_to_a_neighbour_is_missing(compressed: str, lost: list[str]) -> None:
    assert missing("Revenue grew by 12.5% to $4.2 million.", compressed) == lost


def test_glue_reports_at_least_one_fact_of_each_fused_pair() -> None:
    assert missing("at 5 pm $250 and $600 later", "5 pm $250$600") == ["$250"]
    assert missing("on 3rd March, $5 paid", "3rd March$5 paid") == ["3rd March", "$5"]


@pytest.mark.parametrize(
    ("original", "compressed"),
    [
        ("x = t.tokenizer + mark % 2", "x=t.tokenizer+mark%2"),  # minified code: spaces only
        ('{"a": 1, "b": [1, -2]}', '{"a":1,"b":[1,-2]}'),
        ("COVID-19 cases rose 10-12% by 2024-03-01.", "COVID-19 cases 10-12% 2024-03-01."),
        ("It rose 5%. Later 5%/yr was normal.", "5%/yr normal."),  # glue the original had
        ("The road is 12 km long.", "road 12km"),
    ],
)
def test_layout_and_the_originals_own_glue_are_not_fused(original: str, compressed: str) -> None:
    assert missing(original, compressed) == []
