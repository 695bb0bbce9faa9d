"""The lossless log pass: near-repeats collapse with every value, in order, facts whole."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import log_samples
from compression_layer.compress.facts import missing
from compression_layer.compress.structural.logs import compress_log
from compression_layer.tokens import count_tokens

HEARTBEAT = [f"2024-01-01T10:00:{i:02d} INFO worker 7 heartbeat ok" for i in range(1, 51)]


def test_near_repeats_collapse_with_every_value() -> None:
    text = "\n".join(HEARTBEAT)
    out = compress_log(text)
    assert out.checks == {"values_kept": True}
    assert out.text.startswith("[x50] {2024-01-01T10:00:01|2024-01-01T10:00:02|")
    assert out.text.endswith("|2024-01-01T10:00:50} INFO worker 7 heartbeat ok")
    for line in HEARTBEAT:
        assert line.split()[0] in out.text
    assert missing(text, out.text) == []
    assert count_tokens(out.text) < 0.75 * count_tokens(text)


def test_exact_repeats_and_order() -> None:
    text = (
        "start\nERROR boom at 0xdeadbeef\nERROR boom at 0xdeadbeef\nERROR boom at 0xdeadbeef\nend"
    )
    out = compress_log(text)
    assert out.text == "start\nERROR boom at 0xdeadbeef [x3]\nend"


def test_grouping_keeps_per_line_values_in_order() -> None:
    text = "\n".join(
        [
            "req 1 took 5ms from 10.0.0.1",
            "req 2 took 7ms from 10.0.0.2",
            "req 3 took 5ms from 10.0.0.1",
            "",
            "",
            "",
            "GET /a 200",
            "POST /b 500",
            "GET /a 200",
        ]
    )
    out = compress_log(text)
    assert out.text.split("\n") == [
        "[x3] req {1|2|3} took {5ms|7ms|5ms} from {10.0.0.1|10.0.0.2|10.0.0.1}",
        "",
        "GET /a 200",  # a group would not be shorter here
        "POST /b 500",
        "GET /a 200",
    ]
    assert missing(text, out.text) == []


def test_min_repeat_and_short_runs() -> None:
    text = "a 1\na 2\nb\nb\nb"
    assert compress_log(text, min_repeat=3).text == "a 1\na 2\nb [x3]"
    with pytest.raises(ValueError, match="min_repeat"):
        compress_log(text, min_repeat=1)


def test_log_values_kept_on_mixed_log() -> None:
    rng = random.Random(5)
    lines = []
    for i in range(200):
        kind = rng.choice(["heartbeat", "heartbeat", "request", "error"])
        stamp = f"2024-03-0{1 + i // 100} 12:{i // 60:02d}:{i % 60:02d},{rng.randint(0, 999):03d}"
        if kind == "heartbeat":
            lines.append(f"{stamp} INFO heartbeat worker={rng.randint(1, 3)}")
        elif kind == "request":
            lines.append(
                f"{stamp} INFO GET /api/items/{rng.randint(1, 99)} id={rng.getrandbits(64):x}"
            )
        else:
            lines.append(f"{stamp} ERROR timeout after {rng.randint(1, 30)}s")
    text = "\n".join(lines)
    out = compress_log(text)
    field = re.compile(r"\d+")
    assert set(field.findall(text)) <= set(field.findall(out.text))
    assert missing(text, out.text) == []
    assert count_tokens(out.text) < count_tokens(text)


_TEMPLATE = re.compile(r"^\[x(\d+)\] (.*)$")
_EXACT = re.compile(r"^(.*) \[x(\d+)\]$")
_VALUE = re.compile(r"[^\s\"'{}\[\](),;=|]+")


def expand(out: str, original_lines: list[str]) -> list[str]:
    """The non-blank original lines the output stands for, checked line by line.

    A plain line must be the next original line; ``<line> [xN]`` the next N lines, all equal;
    ``[xN] <template>`` the next N lines, each of whose words the template holds in order (a
    word that varies sits in a ``{v1|v2|...}`` field with the other lines' values).
    """
    rebuilt: list[str] = []
    queue = [line for line in original_lines if line.strip()]
    for line in out.split("\n"):
        if not line:
            continue
        exact = _EXACT.match(line)
        if exact and all(queue[k] == exact.group(1) for k in range(int(exact.group(2)))):
            rebuilt += [exact.group(1)] * int(exact.group(2))
            del queue[: int(exact.group(2))]
            continue
        template = _TEMPLATE.match(line)
        if template:
            n = int(template.group(1))
            run = queue[:n]
            assert len(run) == n
            for original in run:
                assert _in_order(template.group(2), _VALUE.findall(original)), (line, original)
            rebuilt += run
            del queue[:n]
            continue
        assert queue and queue[0] == line, line
        rebuilt.append(queue.pop(0))
    assert not queue
    return rebuilt


def _in_order(template: str, words: list[str]) -> bool:
    pos = 0
    for word in words:
        found = template.find(word, pos)
        if found < 0:
            return False
        pos = found + len(word)
    return True


@pytest.mark.parametrize(
    "make",
    [
        lambda: log_samples.app_log(1500),
        lambda: log_samples.nginx_log(800),
        lambda: log_samples.k8s_json_log(800),
        log_samples.pytest_output,
        log_samples.jest_output,
        log_samples.cargo_output,
        log_samples.go_test_output,
    ],
    ids=["app", "nginx", "k8s", "pytest", "jest", "cargo", "go"],
)
def test_samples_rebuild_exactly_with_every_fact(make) -> None:
    text = make().text
    out = compress_log(text).text
    lines = [line.rstrip() for line in text.split("\n")]
    assert expand(out, lines) == [line for line in lines if line]
    assert missing(text, out) == []
    assert count_tokens(out) <= count_tokens(text)


def test_interleaved_app_log_collapses_consecutive_repeats() -> None:
    text = "".join(
        f"2024-03-01 12:00:{i % 60:02d},{i:03d} INFO [scheduler] tick {i} ok\n" for i in range(40)
    )
    text += "2024-03-01 12:01:00,000 ERROR [db] down\n"
    out = compress_log(text).text.split("\n")
    assert out[0].startswith("[x40] {2024-03-01 12:00:00,000|2024-03-01 12:00:01,001|")
    assert "ERROR [db] down" in out[1]
    assert missing(text, "\n".join(out)) == []


WORDS = st.sampled_from(["INFO", "WARN", "ok", "x=1", "x=2", '"a b"', '"c"', "7", "8", "-", ""])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(WORDS, min_size=1, max_size=5), min_size=1, max_size=12))
def test_any_run_rebuilds(rows: list[list[str]]) -> None:
    lines = [" ".join(row).rstrip() for row in rows]
    text = "\n".join(lines)
    out = compress_log(text).text
    assert expand(out, lines) == [line for line in lines if line]
