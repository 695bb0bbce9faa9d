"""The code guard: output that does not re-parse to the input is replaced by the input."""

from __future__ import annotations

import json

import pytest

from compression_layer.compress.codeguard import check_code_output
from compression_layer.compress.structural.code import compress_python
from compression_layer.compress.structural.data import compress_json

MODULE = '''\
"""Parcels and their weight limits.

A parcel heavier than the carrier accepts is refused before a label is printed.
"""

import datetime

MAX_WEIGHT_KG = 31.5


class Parcel:
    """One parcel of an order."""

    def __init__(self, weight: float, sent: datetime.date) -> None:
        """Refuse a parcel the carrier would not take."""
        if weight > MAX_WEIGHT_KG:
            raise ValueError(f"{weight} kg is over the limit")
        self.weight = weight
        self.sent = sent
'''


def test_identical_output_passes() -> None:
    assert check_code_output(MODULE, MODULE, "python") == (MODULE, None)


def test_structural_output_passes() -> None:
    out = compress_python(MODULE).text
    assert out != MODULE
    assert check_code_output(MODULE, out, "python") == (out, None)


def test_output_that_does_not_parse_gives_back_the_input() -> None:
    # What a keep/drop engine does to code: words gone, a colon and a bracket with them.
    broken = MODULE.replace("if weight > MAX_WEIGHT_KG:", "if weight > MAX_WEIGHT_KG")
    text, note = check_code_output(MODULE, broken, "python")
    assert text == MODULE
    assert note is not None and "unchanged" in note and "python" in note


def test_output_that_parses_to_other_code_gives_back_the_input() -> None:
    for changed in (
        MODULE.replace("weight > MAX_WEIGHT_KG", "weight >= MAX_WEIGHT_KG"),
        MODULE.replace("        self.sent = sent\n", ""),
        MODULE.replace("31.5", "31"),
    ):
        text, note = check_code_output(MODULE, changed, "python")
        assert (text, note is not None) == (MODULE, True)


def test_shorter_docstrings_are_allowed() -> None:
    shorter = MODULE.replace(
        "A parcel heavier than the carrier accepts is refused before a label is printed.\n", ""
    ).replace('"""Refuse a parcel the carrier would not take."""', '"""Refuse heavy parcels."""')
    assert check_code_output(MODULE, shorter, "python") == (shorter, None)
    no_docstrings = compress_python(MODULE, strip_docstrings=True).text
    assert '"""' not in no_docstrings
    assert check_code_output(MODULE, no_docstrings, "PYTHON") == (no_docstrings, None)


def test_a_docstring_turned_into_code_is_caught() -> None:
    # Dropping docstrings from both sides must not hide a docstring replaced by a statement.
    changed = MODULE.replace('"""One parcel of an order."""', "limit = 1")
    assert check_code_output(MODULE, changed, "python")[0] == MODULE


def test_an_indented_fragment_is_compared_as_a_fragment() -> None:
    method = "    def total(self):\n        return sum(self.items)\n"
    assert check_code_output(method, "def total(self):return sum(self.items)", "python") == (
        "def total(self):return sum(self.items)",
        None,
    )
    assert check_code_output(method, "def total(self):return sum(items)", "py")[0] == method


def test_an_original_that_does_not_parse_is_not_judged() -> None:
    python2 = 'print "hello"\nexec code in ns\n'
    assert check_code_output(python2, 'print "hi"', "python") == ('print "hi"', None)


def test_crlf_and_byte_order_mark_are_read_as_python_reads_them() -> None:
    original = "\ufeffx = 1\r\nif x:\r\n    y = 2\r\n"
    assert check_code_output(original, "x=1\nif x:y=2\n", "python") == ("x=1\nif x:y=2\n", None)


def test_nesting_too_deep_to_parse_does_not_raise() -> None:
    deep = "x = a" + ".b" * 200_000 + "\n"
    assert check_code_output(deep, "x = 1\n", "python") == ("x = 1\n", None)
    assert check_code_output("x = 1\n", deep, "python")[0] == "x = 1\n"


DOCUMENT = {"id": 7, "ok": True, "ratio": 0.5, "tags": ["a", "b"], "owner": None}


def test_json_with_the_same_values_passes() -> None:
    original = json.dumps(DOCUMENT, indent=2)
    minified = json.dumps(DOCUMENT, separators=(",", ":"))
    assert check_code_output(original, minified, "json") == (minified, None)
    reordered = json.dumps(dict(reversed(list(DOCUMENT.items()))))
    assert check_code_output(original, reordered, "json") == (reordered, None)


@pytest.mark.parametrize(
    "changed",
    [
        {**DOCUMENT, "id": 8},
        {**DOCUMENT, "ok": 1},  # Python says True == 1; JSON does not
        {**DOCUMENT, "id": 7.0},
        {**DOCUMENT, "tags": ["a"]},
        {k: v for k, v in DOCUMENT.items() if k != "owner"},
    ],
)
def test_json_with_other_values_gives_back_the_input(changed: dict[str, object]) -> None:
    original = json.dumps(DOCUMENT, indent=2)
    text, note = check_code_output(original, json.dumps(changed), "json")
    assert text == original
    assert note is not None and "json" in note


def test_json_that_no_longer_parses_gives_back_the_input() -> None:
    original = json.dumps(DOCUMENT)
    assert check_code_output(original, original[:-1], "json")[0] == original


def test_json_lines_are_compared_line_by_line() -> None:
    original = '{"event": "a", "n": 1}\n{"event": "b", "n": 2}\n'
    minified = '{"event":"a","n":1}\n{"event":"b","n":2}'
    assert check_code_output(original, minified, "jsonl") == (minified, None)
    assert check_code_output(original, '{"event":"a","n":1}', "json")[0] == original


def test_nan_equals_itself_and_invalid_json_is_not_judged() -> None:
    assert check_code_output('{"x": NaN}', '{"x":NaN}', "json") == ('{"x":NaN}', None)
    assert check_code_output("{not json", "{not", "json") == ("{not", None)


def test_structural_json_output_passes_when_it_is_json() -> None:
    original = json.dumps({"a": [1, 2, 3], "b": {"c": "d"}}, indent=4)
    out = compress_json(original).text
    assert check_code_output(original, out, "json") == (out, None)


@pytest.mark.parametrize("language", [None, "javascript", "go", "shell", "code"])
def test_languages_without_a_parser_come_back_unchanged(language: str | None) -> None:
    assert check_code_output("let x = 1;", "let x =", language) == ("let x =", None)
