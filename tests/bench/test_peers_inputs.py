"""bench/peer_inputs.py: the generators are deterministic and the fidelity checks can fail."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("peer_inputs", ROOT / "bench" / "peer_inputs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["peer_inputs"] = module
    spec.loader.exec_module(module)
    return module


P = _load()
needs_squad = pytest.mark.skipif(not P.SQUAD.exists(), reason="SQuAD data not present")


def test_generators_are_deterministic_and_seeded() -> None:
    assert P.app_log(3, 400) == P.app_log(3, 400)
    assert P.app_log(3, 400) != P.app_log(4, 400)
    for gen in (P.pytest_output, P.jest_output, P.cargo_output, P.go_output, P.jsonl_events):
        assert gen() == gen()
    assert P.config_file() == P.config_file()


@needs_squad
def test_input_set_is_deterministic_and_each_row_has_something_to_check() -> None:
    first, second = P.inputs(), P.inputs()
    assert [(x.name, x.text) for x in first] == [(x.name, x.text) for x in second]
    assert len({x.name for x in first}) == len(first)
    by_kind = {x.kind for x in first}
    assert {"log", "runner", "json", "jsonl", "code:python", "code:javascript"} <= by_kind
    for item in first:
        if item.kind in ("log", "runner"):
            assert item.must_keep, item.name
    search = next(x for x in first if x.name.startswith("search"))
    assert P.query_rows(search.text, search.query, search.rows_path)
    issues = next(x for x in first if x.name.startswith("issue"))
    assert len(P.error_rows(issues.text, issues.rows_path)) == 1


def test_log_must_keep_finds_errors_warnings_and_exception_lines() -> None:
    log = P.app_log()
    keep = P.log_must_keep(log)
    assert any(" ERROR " in line for line in keep)
    assert any(" WARN " in line for line in keep)
    assert any(line.startswith(("java.lang.", "httpx.")) for line in keep)
    assert not any(" INFO " in line for line in keep)


def test_missing_lines_catches_a_dropped_and_a_reordered_line() -> None:
    log = P.app_log(14, 1500)
    keep = P.log_must_keep(log)
    assert P.missing_lines(log, keep) == []
    dropped = log.replace(keep[1] + "\n", "", 1)
    assert P.missing_lines(dropped, keep) == [keep[1]]
    lines = log.splitlines()
    a, b = lines.index(keep[0]), lines.index(keep[1])
    lines[a], lines[b] = lines[b], lines[a]
    assert P.missing_lines("\n".join(lines), keep)
    # a line counts only whole: a prefix of it does not keep it
    assert P.missing_lines(log.replace(keep[0], keep[0][:-3], 1), keep[:1]) == keep[:1]


def test_runner_patterns_pick_failures_and_assertions() -> None:
    text = P.pytest_output()
    keep = P.runner_must_keep(text, P.PYTEST_KEEP)
    assert any(line.startswith("E       assert") for line in keep)
    assert any(line.startswith("FAILED ") for line in keep)
    assert not any(line.endswith("PASSED [ 50%]") for line in keep)
    cargo = P.runner_must_keep(P.cargo_output(), P.CARGO_KEEP)
    assert any("panicked at" in line for line in cargo)
    assert any(line.startswith("test result:") for line in cargo)


def test_missing_rows_catches_a_dropped_and_a_reversed_row() -> None:
    rows = [{"url": f"https://x/{i}", "n": i} for i in range(5)]
    text = json.dumps(rows)
    assert P.missing_rows(text, rows, "url") == []
    assert P.missing_rows(json.dumps(rows[:2] + rows[3:]), rows, "url") == [rows[2]]
    assert P.missing_rows(json.dumps(rows[::-1]), rows, "url")


def test_parse_checks_catch_broken_code() -> None:
    py = "def f(x):\n    return x + 1\n"
    assert P.parses(py, "code:python")
    assert not P.parses(py.replace("return", "return )"), "code:python")
    js = "function f(x) {\n  return x + 1\n}\n"
    assert P.parses(js, "code:javascript")
    assert not P.parses(js + "# [marker]\n", "code:javascript")
    assert not P.parses(js[:-2], "code:javascript")
    assert P.same_python(py, "def f(x):\n    return x+1  # same\n")
    assert not P.same_python(py, "def f(x):\n    return x + 2\n")


def test_marker_checks_catch_wrong_parts() -> None:
    text = "a\nb\nc\nd\n"
    assert P.marker_exact(text, "log", {"lines": "2-3"}, "b\nc")
    assert not P.marker_exact(text, "log", {"lines": "2-3"}, "c\nd")
    assert P.marker_exact(text, "log", {"match": "d"}, "d")
    doc = json.dumps({"items": [{"n": i} for i in range(4)]}, indent=2)
    good = json.dumps([{"n": 1}, {"n": 2}])
    assert P.marker_exact(doc, "json", {"path": "$.items", "rows": "1-2"}, good)
    reversed_rows = json.dumps([{"n": 2}, {"n": 1}])
    assert not P.marker_exact(doc, "json", {"path": "$.items", "rows": "1-2"}, reversed_rows)
    lines = '{"a": 1}\n{"a": 2}\n{"a": 3}\n'
    assert P.marker_exact(lines, "jsonl", {"path": "$", "rows": "1-2"}, '{"a": 2}\n{"a": 3}')
    assert not P.marker_exact(lines, "jsonl", {"path": "$", "rows": "1-2"}, '{"a": 2}')


def test_check_markers_reports_a_bad_retrieval_and_a_bad_whole() -> None:
    original = "one\ntwo\nthree\n"
    output = "one\n[2 lines omitted: retrieve o_0123456789 lines=2-3]\n"

    def good(handle: str, **selector: str) -> str:
        return "two\nthree" if selector else original

    def bad(handle: str, **selector: str) -> str:
        return "two" if selector else original[:-1]

    ok = P.check_markers(output, original, "log", good)
    assert ok["markers"] == ok["exact"] == 1 and ok["whole_exact"]
    wrong = P.check_markers(output, original, "log", bad)
    assert wrong["exact"] == 0 and not wrong["whole_exact"] and wrong["bad"]
