"""reduce_log: errors, warnings and failures verbatim, the rest as templates behind exact markers.

Every test checks what a model would rely on: the lines the generator marked as must-keep
appear verbatim (as whole output lines), the output fits the budget, and every marker retrieves,
through the original store's own ``select``, exactly the lines it says it stands for; together,
verbatim lines and markers account for every non-blank line of the input.
"""

from __future__ import annotations

import re

import pytest

import log_samples
from compression_layer.compress.reversible import MARKER_RE, selector_of
from compression_layer.compress.structural.log_lossy import reduce_log
from compression_layer.compress.types import Domain
from compression_layer.originals.select import select
from compression_layer.tokens import count_tokens

HANDLE = "o_0123456789"
LOG = Domain(kind="log")
_COUNT = re.compile(r"^(\d+) ")
_SPREAD = re.compile(r"\(spread over (\d+)\)")


def _reduce(text: str, rate: float, query: str | None = None):
    budget = max(1, round(count_tokens(text) * rate))
    out = reduce_log(text, LOG, budget=budget, query=query, handle=HANDLE)
    assert out is not None
    return out, budget


def _line_numbers(original: str, selected: str, selector: dict[str, str]) -> set[int]:
    """1-based numbers of the original lines a selector returned (lines= or match=)."""
    lines = original.split("\n")
    if "lines" in selector:
        numbers: set[int] = set()
        for part in selector["lines"].split(","):
            first, _, last = part.partition("-")
            numbers.update(range(int(first), int(last or first) + 1))
        return numbers
    needle = selector["match"]
    return {n for n, line in enumerate(lines, start=1) if needle in line}


def check_markers(original: str, output: str) -> set[int]:
    """Every marker retrieves exactly what its text claims; returns the lines they cover."""
    lines = original.split("\n")
    covered: set[int] = set()
    for found in MARKER_RE.finditer(output):
        assert found.group("handle") == HANDLE
        selector = selector_of(found)
        assert selector, f"marker without a selector: {found.group(0)}"
        part = select(original, "log", **selector)
        numbers = _line_numbers(original, part, selector)
        assert part == "\n".join(lines[n - 1] for n in sorted(numbers))
        what = found.group("what")
        claimed = int(_COUNT.match(what).group(1))  # type: ignore[union-attr]
        spread = _SPREAD.search(what)
        assert len(numbers) == (int(spread.group(1)) if spread else claimed), found.group(0)
        covered |= numbers
    return covered


def check_accounted(original: str, output: str) -> None:
    """Each non-blank input line is an output line or retrievable through a marker."""
    shown = set(output.split("\n"))
    covered = check_markers(original, output)
    for n, line in enumerate(original.split("\n"), start=1):
        if line.strip():
            assert line in shown or n in covered, f"line {n} neither shown nor retrievable"


def check_kept(sample: log_samples.Sample, output: str) -> None:
    shown = output.split("\n")
    missing = [line for line in sample.must_keep if line not in shown]
    assert not missing, missing[:3]
    positions = [shown.index(line) for line in dict.fromkeys(sample.must_keep)]
    assert positions == sorted(positions), "kept lines must stay in their original order"


SAMPLES = {
    "app": lambda: log_samples.app_log(3400),
    "nginx": lambda: log_samples.nginx_log(2500),
    "k8s-json": lambda: log_samples.k8s_json_log(2500),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_long_logs_lose_95_percent_and_keep_every_error_and_warning(name: str) -> None:
    sample = SAMPLES[name]()
    tokens = count_tokens(sample.text)
    assert tokens > 100_000
    out, budget = _reduce(sample.text, 0.05)
    assert count_tokens(out.text) <= budget
    assert count_tokens(out.text) <= 0.05 * tokens
    check_kept(sample, out.text)
    check_accounted(sample.text, out.text)
    assert out.omitted > 0.9 * sum(1 for line in sample.text.split("\n") if line.strip())


def test_interleaved_templates_are_mined_across_the_log() -> None:
    text = log_samples.app_log(3000).text
    out, _ = _reduce(text, 0.05)
    scheduler = [line for line in out.text.split("\n") if "[scheduler] job * started" in line]
    assert len(scheduler) == 1  # one template line for hundreds of interleaved lines
    found = MARKER_RE.search(scheduler[0])
    assert found is not None
    selector = selector_of(found)
    part = select(text, "log", **selector).split("\n")
    expected = [
        line for line in text.split("\n") if "[scheduler] job " in line and "started" in line
    ]
    assert part == expected
    assert int(found.group("what").split()[0]) == len(expected) > 50


def test_varying_values_are_summarised() -> None:
    out, _ = _reduce(log_samples.app_log(3000).text, 0.05)
    web = next(line for line in out.text.split("\n") if "GET /api/products?page=" in line)
    assert re.search(r"duration_ms=\{~?\d+\.\.\d+\}", web)
    assert re.search(r"page=\{~?\d+\.\.\d+\}", web)
    assert "request_id=*" in web
    cache = next(line for line in out.text.split("\n") if "[cache]" in line and "key=" in line)
    assert "{~hit|miss}" in cache or "{~miss|hit}" in cache


def test_stack_traces_keep_head_exception_and_first_and_last_frames() -> None:
    text = log_samples.app_log(3400).text
    out, _ = _reduce(text, 0.05)
    shown = out.text.split("\n")
    lines = text.split("\n")
    head = lines.index("Traceback (most recent call last):")
    assert (
        shown[shown.index(lines[head]) + 1 : shown.index(lines[head]) + 3]
        == lines[head + 1 : head + 3]
    )
    assert "app.db.pool.PoolTimeout: no connection within 5.0s" in shown
    exception = shown.index("app.db.pool.PoolTimeout: no connection within 5.0s")
    assert shown[exception - 2 : exception] == lines[head + 9 : head + 11]  # the last frame
    middle = shown[shown.index(lines[head]) + 3]
    found = MARKER_RE.fullmatch(middle)
    assert found is not None and found.group("what") == "6 frame lines"
    assert select(text, "log", **selector_of(found)) == "\n".join(lines[head + 3 : head + 9])
    java = shown.index(next(line for line in lines if line.startswith("java.lang.NullPointer")))
    assert shown[java + 1].startswith("\tat com.example.billing.InvoiceService.total")
    assert any(line.startswith("Caused by: java.lang.IllegalStateException") for line in shown)


def test_a_tight_budget_folds_frames_into_one_marker_and_keeps_the_errors() -> None:
    sample = log_samples.app_log(3400)
    out, budget = _reduce(sample.text, 0.002)
    check_kept(sample, out.text)
    check_accounted(sample.text, out.text)
    assert "\tat com.example.billing.InvoiceService.total(InvoiceService.java:212)" not in out.text
    assert any(m.group("what").endswith("frame lines") for m in MARKER_RE.finditer(out.text))
    assert count_tokens(out.text) <= budget or out.notes


def test_error_lines_get_a_marker_for_the_lines_before_them() -> None:
    text = log_samples.app_log(3400).text
    out, _ = _reduce(text, 0.05)
    shown = out.text.split("\n")
    at = next(k for k, line in enumerate(shown) if "ERROR [queue] delivery failed" in line)
    gap = next(
        MARKER_RE.fullmatch(line) for line in reversed(shown[:at]) if MARKER_RE.fullmatch(line)
    )
    assert gap is not None and gap.group("what").endswith(" lines")
    last = int(selector_of(gap)["lines"].split("-")[-1])
    assert shown[shown.index(gap.group(0)) + 1] == text.split("\n")[last]  # the next line


@pytest.mark.parametrize(
    "make",
    [
        log_samples.pytest_output,
        log_samples.jest_output,
        log_samples.mocha_output,
        log_samples.cargo_output,
        log_samples.go_test_output,
    ],
)
def test_test_runner_output_keeps_every_failure_and_assertion_line(make) -> None:
    sample = make()
    out, budget = _reduce(sample.text, 0.3)
    check_kept(sample, out.text)
    check_accounted(sample.text, out.text)
    assert count_tokens(out.text) <= budget
    assert out.text.startswith(f"[{sample.kind} output")
    passing = re.compile(r" PASSED |✓|✔|\.\.\. ok$|--- PASS:")
    before = sum(1 for line in sample.text.split("\n") if passing.search(line))
    after = sum(1 for line in out.text.split("\n") if passing.search(line))
    assert after <= before / 10


def test_passing_tests_collapse_to_counts() -> None:
    sample = log_samples.cargo_output(300)
    out, _ = _reduce(sample.text, 0.3)
    line = next(line for line in out.text.split("\n") if line.startswith("test * ... ok"))
    found = MARKER_RE.search(line)
    assert found is not None and found.group("what") == "298 such lines"


def test_budget_below_the_failures_keeps_them_and_says_so() -> None:
    sample = log_samples.jest_output()
    out = reduce_log(sample.text, LOG, budget=60, query=None, handle=HANDLE)
    assert out is not None
    check_kept(sample, out.text)
    check_accounted(sample.text, out.text)
    assert out.notes and "over the budget of 60" in out.notes[0]


def test_more_budget_shows_more_and_never_exceeds_it() -> None:
    text = log_samples.app_log(2000).text
    sizes = []
    for rate in (0.01, 0.03, 0.1):
        out, budget = _reduce(text, rate)
        sizes.append(count_tokens(out.text))
        assert sizes[-1] <= budget
        check_accounted(text, out.text)
    assert sizes == sorted(sizes)


def test_query_lines_are_kept_verbatim() -> None:
    text = log_samples.app_log(3000).text
    out, _ = _reduce(text, 0.05, query="what did ivan do")
    shown = out.text.split("\n")
    ivan = [line for line in text.split("\n") if " user ivan " in line]
    assert sum(1 for line in ivan if line in shown) >= min(10, len(ivan))
    check_accounted(text, out.text)


def test_nothing_to_do_when_the_text_fits() -> None:
    text = "2024-01-01 INFO start\n2024-01-01 INFO done\n"
    assert reduce_log(text, LOG, budget=1000, query=None, handle=HANDLE) is None
    assert reduce_log("one line", LOG, budget=1, query=None, handle=HANDLE) is None


@pytest.mark.parametrize(
    "text",
    [
        "".join(f"2024-01-01T00:00:{n % 60:02d} INFO tick {n}\r\n" for n in range(500)),
        "".join(f"İstanbul worker {n} INFO code {n}\n" for n in range(300)) + "İ ERROR x\n",
        "\x00\x00 job 1\n" * 200 + "ERROR boom\n",
        "x" * 50_000 + "\nERROR at the end\n" + "y 1\n" * 300,
        "\n\n\n" + "".join(f"line {n}\n" for n in range(400)) + "\n\n",
    ],
    ids=["crlf", "unicode-lower", "nul", "huge-line", "blanks"],
)
def test_odd_inputs_stay_exact(text: str) -> None:
    out = reduce_log(text, LOG, budget=200, query="worker", handle=HANDLE)
    assert out is not None
    assert count_tokens(out.text) < count_tokens(text)
    check_accounted(text, out.text)
    for line in text.split("\n"):
        if "ERROR" in line:
            assert line in out.text.split("\n")


def test_error_storm_is_kept_verbatim() -> None:
    text = "".join(f"2024-01-01T00:00:00Z ERROR db timeout after {n}ms\n" for n in range(300))
    text += "".join(f"2024-01-01T00:00:01Z INFO ok {n}\n" for n in range(300))
    out = reduce_log(text, LOG, budget=500, query=None, handle=HANDLE)
    assert out is not None
    shown = set(out.text.split("\n"))
    assert all(line in shown for line in text.split("\n") if "ERROR" in line)
    assert out.notes
    check_accounted(text, out.text)


def test_through_compress_with_an_original_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from compression_layer.compress.pipeline import compress
    from compression_layer.originals.store import FILENAME, OriginalStore

    sample = log_samples.app_log(3400)
    store = OriginalStore(tmp_path / FILENAME)
    result = compress(sample.text, rate=0.05, domain="log", originals=store)
    assert result.handle is not None
    assert result.tokens_compressed <= 0.05 * result.tokens_original
    check_kept(sample, result.compressed)
    for found in MARKER_RE.finditer(result.compressed):
        assert found.group("handle") == result.handle
        part = store.retrieve(result.handle, **selector_of(found))
        assert part == select(sample.text, "log", **selector_of(found))
    assert store.retrieve(result.handle) == sample.text
