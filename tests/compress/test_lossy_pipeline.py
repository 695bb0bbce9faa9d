"""The reversible tier in compress(): keep, reduce, check, fall back; markers retrieve exactly.

Fake lossy passes (plain functions put in ``lossy.PASSES`` for one test) make each path of the
flow happen on purpose; the last tests run the real passes and check the invariant on whatever
they return.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from compression_layer.compress import lossy
from compression_layer.compress.engines import EngineTable
from compression_layer.compress.pipeline import compress
from compression_layer.compress.reversible import (
    MARKER_RE,
    LossyOutput,
    line_ranges,
    marker,
    selector_of,
)
from compression_layer.compress.types import (
    CompressRequest,
    Domain,
    EngineOutput,
)
from compression_layer.originals.select import select, split_lines
from compression_layer.originals.store import FILENAME, OriginalStore

LOG = "\n".join(
    [
        f"2024-05-01 10:00:{i % 60:02d} INFO worker-{i % 5} handled request {i} in {i % 97} ms"
        for i in range(400)
    ]
    + ["2024-05-01 10:07:00 ERROR worker-3 failed: disk full on /var/lib/app (errno 28)"]
    + [
        f"2024-05-01 10:08:{i % 60:02d} INFO worker-{i % 5} handled request {i} ok"
        for i in range(200)
    ]
)


def keep_errors(
    text: str, domain: Domain, *, budget: int, query: str | None, handle: str
) -> LossyOutput:
    """A fake log pass: keeps ERROR lines, one marker per run of omitted lines."""
    del domain, budget, query
    out: list[str] = []
    run: list[int] = []
    for number, line in enumerate(split_lines(text), start=1):
        if "ERROR" in line:
            if run:
                out.append(marker(handle, f"{len(run)} lines", lines=line_ranges(run)))
                run = []
            out.append(line)
        else:
            run.append(number)
    if run:
        out.append(marker(handle, f"{len(run)} lines", lines=line_ranges(run)))
    return LossyOutput("\n".join(out), omitted=len(split_lines(text)) - 1)


@pytest.fixture
def store(tmp_path: Path) -> OriginalStore:
    return OriginalStore(tmp_path / FILENAME)


@pytest.fixture
def fake_log_pass(monkeypatch: pytest.MonkeyPatch) -> Callable[..., LossyOutput]:
    monkeypatch.setitem(lossy.PASSES, "log", keep_errors)
    return keep_errors


def assert_reversible(text: str, result_text: str, handle: str, store: OriginalStore) -> int:
    """Every marker retrieves from the store what select gives on the original; whole is exact."""
    assert store.retrieve(handle) == text
    count = 0
    for found in MARKER_RE.finditer(result_text):
        assert found.group("handle") == handle
        selector = selector_of(found)
        assert store.retrieve(handle, **selector) == select(
            text, store.get(handle).domain, **selector
        )
        count += 1
    return count


def test_over_budget_log_is_kept_reduced_and_every_marker_retrieves_exactly(
    store: OriginalStore, fake_log_pass: object
) -> None:
    result = compress(LOG, rate=0.05, domain="log", originals=store)
    assert result.handle is not None
    assert "ERROR worker-3 failed: disk full" in result.compressed
    assert result.tokens_compressed < 0.05 * result.tokens_original
    assert assert_reversible(LOG, result.compressed, result.handle, store) == 2
    first = MARKER_RE.search(result.compressed)
    assert first is not None
    assert store.retrieve(result.handle, **selector_of(first)) == "\n".join(LOG.split("\n")[:400])
    assert any(f"retrieve {result.handle}" in note for note in result.notes)
    # Facts in omitted lines are reported, not appended back.
    assert "facts:" not in result.compressed
    assert result.facts_missing and len(result.facts_missing) <= 100
    assert any("only in omitted parts" in note for note in result.notes)


def test_a_result_that_already_fits_keeps_nothing(
    store: OriginalStore, fake_log_pass: object
) -> None:
    small = "2024-05-01 10:00:00 INFO one\n2024-05-01 10:00:01 ERROR two\n"
    result = compress(small, rate=1.0, domain="log", originals=store)
    assert result.handle is None
    assert store.stats().entries == 0


def test_no_budget_means_no_lossy_pass(store: OriginalStore, fake_log_pass: object) -> None:
    result = compress(LOG, domain="log", originals=store)
    assert result.handle is None and "omitted" not in result.compressed
    assert store.stats().entries == 0


def test_without_a_store_a_budget_stays_lossless_and_says_why(fake_log_pass: object) -> None:
    result = compress(LOG, target_tokens=100, domain="log")
    assert result.handle is None
    assert "omitted" not in result.compressed
    assert any("give an original store" in note for note in result.notes)


def test_a_store_that_cannot_write_falls_back_to_lossless(
    tmp_path: Path, fake_log_pass: object
) -> None:
    (tmp_path / "blocked").mkdir()
    broken = OriginalStore(tmp_path / "blocked")  # a folder where the file should be
    lossless = compress(LOG, domain="log")
    result = compress(LOG, rate=0.05, domain="log", originals=broken)
    assert result.handle is None
    assert result.compressed == lossless.compressed
    assert any("original store unavailable" in note for note in result.notes)


def test_a_full_store_says_what_it_evicted(tmp_path: Path, fake_log_pass: object) -> None:
    store = OriginalStore(tmp_path / FILENAME, max_bytes=int(len(LOG) * 1.5))
    first = compress(LOG, rate=0.05, domain="log", originals=store)
    second = compress(LOG + "\nmore", rate=0.05, domain="log", originals=store)
    assert first.handle and second.handle
    assert any("evicted the 1 oldest" in note for note in second.notes)
    assert store.retrieve(second.handle).endswith("\nmore")


@pytest.mark.parametrize(
    ("bad_marker", "says"),
    [
        ({"lines": "1-99999"}, "does not retrieve"),
        ({"symbol": "Nope"}, "does not retrieve"),
        ({"handle": "o_ffffffffff"}, "not this original's"),
        ({"none": True}, "left no marker"),
    ],
)
def test_a_pass_whose_markers_do_not_retrieve_is_dropped(
    store: OriginalStore, monkeypatch: pytest.MonkeyPatch, bad_marker: dict[str, object], says: str
) -> None:
    def bad(
        text: str, domain: Domain, *, budget: int, query: str | None, handle: str
    ) -> LossyOutput:
        del text, domain, budget, query
        if "none" in bad_marker:
            return LossyOutput("just a summary", omitted=600)
        selector = {k: v for k, v in bad_marker.items() if k != "handle"}
        name = str(bad_marker.get("handle", handle))
        return LossyOutput("kept\n" + marker(name, "600 lines", **selector), omitted=600)  # type: ignore[arg-type]

    monkeypatch.setitem(lossy.PASSES, "log", bad)
    result = compress(LOG, rate=0.05, domain="log", originals=store)
    assert result.handle is None
    assert result.compressed == compress(LOG, domain="log").compressed
    assert any(says in note for note in result.notes)


PY = "\n".join(
    f"def f{i}(x):\n    '''Doc {i}.'''\n    y = x * {i}\n    return y + {i}\n" for i in range(60)
)


def test_python_that_no_longer_parses_is_dropped(
    store: OriginalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(
        text: str, domain: Domain, *, budget: int, query: str | None, handle: str
    ) -> LossyOutput:
        del text, domain, budget, query
        return LossyOutput("def f0(x):\n" + marker(handle, "body", symbol="f0"), omitted=1)

    monkeypatch.setitem(lossy.PASSES, "code", broken)
    result = compress(PY, rate=0.1, domain="code:python", originals=store)
    assert result.handle is None
    assert any("does not parse" in note for note in result.notes)


def test_a_plain_sink_with_put_only_works(monkeypatch: pytest.MonkeyPatch) -> None:
    class DictSink:
        def __init__(self) -> None:
            self.kept: dict[str, str] = {}

        def put(self, text: str, *, domain: str) -> str:
            handle = f"o_{len(self.kept):010x}"
            self.kept[handle] = text
            return handle

    monkeypatch.setitem(lossy.PASSES, "log", keep_errors)
    sink = DictSink()
    result = compress(LOG, rate=0.05, domain="log", originals=sink)
    assert result.handle is not None and sink.kept[result.handle] == LOG


class HalvingEngine:
    """A fake word-level engine: keeps every other word (lossy, like the extractive one)."""

    name = "extractive"

    def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput:
        del domain
        words = text.split()
        keep = max(1, round(len(words) * (request.rate or 0.5)))
        return EngineOutput(" ".join(words[:keep]), engine=self.name)


PROSE = "\n\n".join(
    f"Paragraph {i} talks about topic {i} at some length, with details that go on and on."
    for i in range(40)
)


def test_prose_elision_runs_only_when_the_engine_overshoots_and_gets_squeeze(
    store: OriginalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def elide(
        text: str,
        domain: Domain,
        *,
        budget: int,
        query: str | None,
        handle: str,
        squeeze: Callable[[str, float], str] | None = None,
    ) -> LossyOutput:
        del domain, query
        calls.append(budget)
        assert squeeze is not None
        paragraphs = text.split("\n\n")
        head = squeeze(paragraphs[0], 0.5)
        last = len(split_lines(text))
        return LossyOutput(head + "\n" + marker(handle, "39 paragraphs", lines=f"3-{last}"), 39)

    class Overshooting(HalvingEngine):
        def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput:
            return EngineOutput(text, engine=self.name)  # keeps everything: over any budget

    monkeypatch.setitem(lossy.PASSES, "prose", elide)
    fits = EngineTable({"extractive": lambda settings: HalvingEngine()})
    result = compress(PROSE, rate=1.0, domain="prose", originals=store, engines=fits)
    assert calls == [] and result.handle is None  # the engine met the budget
    over = EngineTable({"extractive": lambda settings: Overshooting()})
    result = compress(PROSE, rate=0.2, domain="prose", originals=store, engines=over)
    assert calls and result.handle is not None
    assert result.compressed.startswith("Paragraph 0 talks about topic 0 at")
    assert assert_reversible(PROSE, result.compressed, result.handle, store) == 1


SAMPLES = {
    "log": ("log", LOG),
    "json": (
        "json",
        '{"items": ['
        + ",\n".join(f'{{"id": {i}, "name": "item {i}", "price": {i}.50}}' for i in range(300))
        + "]}",
    ),
    "python": ("code:python", PY),
    "javascript": (
        "code:javascript",
        "\n".join(
            f"export function f{i}(x) {{\n  const y = x * {i};\n  return y + {i};\n}}\n"
            for i in range(60)
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_real_passes_either_stay_lossless_or_retrieve_exactly(
    name: str, store: OriginalStore
) -> None:
    domain, text = SAMPLES[name]
    result = compress(text, rate=0.2, domain=domain, originals=store)
    if result.handle is None:
        assert MARKER_RE.search(result.compressed) is None
        assert result.tokens_compressed <= result.tokens_original
    else:
        assert assert_reversible(text, result.compressed, result.handle, store) >= 1
        assert result.tokens_compressed < compress(text, domain=domain).tokens_compressed


def test_large_inputs_do_not_list_facts_but_say_so(
    store: OriginalStore, fake_log_pass: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compression_layer.compress import pipeline

    monkeypatch.setattr(pipeline, "FACT_CHECK_CHARS", 1000)
    result = compress(LOG, rate=0.05, domain="log", originals=store)
    assert result.handle is not None
    assert result.facts_missing == [] and result.operators_missing == []
    assert any("facts and operators not listed" in note for note in result.notes)


def _long_log() -> str:
    lines = [
        f"2024-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z INFO api request id={i} took {i % 97} ms"
        if i % 500
        else f"2024-05-01T10:00:00Z ERROR api request id={i} failed: timeout"
        for i in range(24_000)
    ]
    text = "\n".join(lines) + "\n"
    assert len(text) > 1_200_000  # counted in pieces, and the lossless count stops early
    return text


def test_long_input_token_counts_stay_exact(store: OriginalStore, tmp_path: Path) -> None:
    from compression_layer.tokens import encoding

    text = _long_log()
    enc = encoding()
    result = compress(text, rate=0.05, domain="log", originals=store)
    assert result.handle
    assert result.tokens_original == len(enc.encode_ordinary(text))
    assert result.tokens_compressed == len(enc.encode_ordinary(result.compressed))
    # When the lossy pass cannot run, the lossless output stands with its exact count.
    (tmp_path / "blocked").mkdir()
    lossless = compress(
        text, rate=0.05, domain="log", originals=OriginalStore(tmp_path / "blocked")
    )
    assert lossless.handle is None
    assert lossless.tokens_compressed == len(enc.encode_ordinary(lossless.compressed))
    assert lossless.tokens_compressed > result.tokens_compressed
