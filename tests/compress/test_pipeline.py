from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any

import pytest

from compression_layer import CompressionResult, compress
from compression_layer.compress.engines import DEFAULT_ENGINES, EngineTable
from compression_layer.compress.extractive import service
from compression_layer.compress.extractive.service import ExtractiveAdapterEngine
from compression_layer.compress.pipeline import parse_domain
from compression_layer.compress.types import EngineOutput
from compression_layer.errors import InputError
from compression_layer.settings import CompressSettings

PY = '''
import os  # standard library


def join(a, b):
    """Join two paths."""
    # comments go
    return os.path.join( a, b )
'''


@dataclass
class _Out:
    text: str


class FirstHalf:
    """A fake extractive model: keeps the first half of the words (drops facts on purpose)."""

    adapter_name = "fake-half"

    def compress(self, text: str, **kw: Any) -> _Out:
        self.last_kwargs = kw
        words = text.split()
        return _Out(" ".join(words[: max(1, len(words) // 2)]))


@pytest.fixture
def fake_extractive() -> FirstHalf:
    return FirstHalf()


def table_with(model: Any) -> EngineTable:
    """A caller-owned engine table whose extractive engine is ``model``."""
    return DEFAULT_ENGINES.copy(extractive=lambda s: ExtractiveAdapterEngine(model))


def test_python_goes_structural_and_keeps_ast() -> None:
    r = compress(PY)
    assert isinstance(r, CompressionResult)
    assert r.engine == "structural" and r.domain == "code:python"
    assert r.tokens_compressed < r.tokens_original
    assert r.ratio == round(r.tokens_compressed / r.tokens_original, 4)
    assert r.facts_missing == []
    assert ast.dump(ast.parse(r.compressed)) == ast.dump(ast.parse(PY))


def test_facts_only_in_comments_are_noted_not_missing() -> None:
    code = "RATE = 0.19  # set by finance policy FIN-2023-14 in March 2023\n"
    r = compress(code, domain="code:python")
    assert r.facts_missing == []
    assert any("FIN-2023-14" in n and "comments" in n for n in r.notes)


def test_json_minified_and_exact() -> None:
    data = {"items": [{"id": i, "name": f"n{i}", "price": 1.10} for i in range(5)]}
    r = compress(json.dumps(data, indent=2))
    assert r.domain == "json" and r.engine == "structural"
    assert r.ratio < 0.7
    from compression_layer.compress.structural.data import json_expand

    assert json_expand(r.compressed) == data
    assert r.facts_missing == []


def test_forced_json_that_does_not_parse_is_an_error() -> None:
    with pytest.raises(InputError, match="line 1"):
        compress('{"a": 1,, }', domain="json")


def test_log_keeps_values() -> None:
    log = "".join(
        f"2024-05-01T10:00:{i:02d} INFO worker 7 heartbeat ok seq={i}\n" for i in range(30)
    )
    r = compress(log)
    assert r.domain == "log" and r.tokens_compressed < r.tokens_original * 0.8
    assert r.compressed.startswith("[x30]")
    assert r.facts_missing == []


def test_missing_adapter_falls_back_to_structural(tmp_path: Any) -> None:
    settings = CompressSettings(extractive_adapter=str(tmp_path / "nope"))
    service.clear_cache()
    prose = "The Eiffel Tower, completed in 1889, is 330 metres tall.  It stands in Paris."
    r = compress(prose, settings=settings)
    assert r.engine == "structural"
    assert any("extractive engine unavailable" in n and "nope" in n for n in r.notes)
    assert r.facts_missing == []


def test_prose_uses_extractive_with_default_rate_and_fact_guard(
    fake_extractive: FirstHalf,
) -> None:
    prose = "Ada Lovelace wrote the first program. Charles Babbage designed the engine in 1837."
    r = compress(prose, engines=table_with(fake_extractive))
    assert r.engine == "extractive" and r.adapter == "fake-half"
    assert fake_extractive.last_kwargs["rate"] == 0.5  # the configured default
    assert "facts:" in r.compressed and "1837" in r.compressed  # guard appended lost facts
    assert r.facts_missing == []
    assert any("fact guard" in n for n in r.notes)


def test_fact_guard_off_reports_missing(fake_extractive: FirstHalf) -> None:
    prose = "Ada Lovelace wrote the first program. Charles Babbage designed the engine in 1837."
    r = compress(
        prose, settings=CompressSettings(fact_guard="off"), engines=table_with(fake_extractive)
    )
    assert "1837" in r.facts_missing


def test_mixed_routes_fences_and_prose(fake_extractive: FirstHalf) -> None:
    doc = (
        "Intro words that are plenty long enough to be cut in half here.\n\n"
        "```python\nx = foo( 1 )  # note\n```\n\nOutro text also long enough to halve.\n"
    )
    r = compress(doc, rate=0.5, engines=table_with(fake_extractive))
    assert r.domain == "mixed" and r.engine == "extractive"
    assert "```python\nx=foo(1)\n```" in r.compressed
    assert "Intro words that are plenty long" in r.compressed
    assert "halve" not in r.compressed.split("facts:")[0]


def test_target_tokens_on_mixed_becomes_one_rate(fake_extractive: FirstHalf) -> None:
    doc = "Some prose here for the model.\n\n```\nraw\n```\n"
    compress(doc, target_tokens=5, engines=table_with(fake_extractive))
    assert fake_extractive.last_kwargs["target_tokens"] is None
    assert 0 < fake_extractive.last_kwargs["rate"] <= 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "zip"}, "unknown engine"),
        ({"rate": 0.0}, "rate must be in"),
        ({"rate": 1.5}, "rate must be in"),
        ({"target_tokens": 0}, "target_tokens"),
        ({"domain": "yaml"}, "unknown domain"),
    ],
)
def test_bad_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        compress("some text to compress", **kwargs)


def test_bad_text() -> None:
    with pytest.raises(InputError, match="empty"):
        compress("  \n ")
    with pytest.raises(InputError, match="limit"):
        compress("x" * 200, settings=CompressSettings(max_input_bytes=100))


def test_parse_domain() -> None:
    assert parse_domain("code:go").language == "go"
    assert parse_domain("JSON").kind == "json"
    with pytest.raises(InputError):
        parse_domain("json:python")


def test_no_rate_uses_the_extractive_adapters_own_default() -> None:
    from compression_layer.compress.extractive.engine import ExtractiveEngine
    from compression_layer.tokens import count_tokens

    text = " ".join(
        f"The committee of district {i} met in the old hall and discussed the long plan for "
        "the river, the roads and the school, and then the members went home for the evening."
        for i in range(12)
    )
    default = ExtractiveEngine.load(None).default_rate
    auto = compress(text)
    explicit = compress(text, rate=default)
    assert auto.engine == "extractive" and auto.compressed == explicit.compressed
    assert auto.tokens_compressed <= count_tokens(text) * default + 2
    # a configured rate still wins over the adapter's
    assert compress(text, rate=0.3).tokens_compressed < auto.tokens_compressed


def test_configured_rate_overrides_the_adapter_default(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "The committee met in the old hall and discussed the long plan for the river. " * 8
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__RATE", "0.3")
    assert compress(text).compressed == compress(text, rate=0.3).compressed


def test_code_output_that_does_not_reparse_returns_the_input() -> None:
    class Breaker:
        name = "breaker"

        def run(
            self, text: str, domain: Any, request: Any
        ) -> EngineOutput:  # drops a colon: no longer Python
            return EngineOutput(text.replace("):", ")", 1), "breaker")

    r = compress(PY, engine="breaker", engines=DEFAULT_ENGINES.copy(breaker=lambda s: Breaker()))
    assert "breaker" not in DEFAULT_ENGINES  # the caller's table, not the library's
    assert r.compressed == PY
    assert any("did not re-parse" in n for n in r.notes)
    assert ast.dump(ast.parse(r.compressed)) == ast.dump(ast.parse(PY))


def test_limits_are_the_compress_settings_and_named_in_the_refusal() -> None:
    settings = CompressSettings(max_input_bytes=100, max_query_chars=10)
    with pytest.raises(InputError, match=r"COMPRESSION_LAYER_COMPRESS__MAX_INPUT_BYTES"):
        compress("word " * 40, settings=settings)
    with pytest.raises(InputError, match=r"compress\.max_query_chars"):
        compress("word " * 10, query="what is this about?", settings=settings)
    assert compress("word " * 10, engine="structural", query="why?", settings=settings)


def test_the_limit_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__MAX_INPUT_BYTES", "100")
    with pytest.raises(InputError, match="over the 100 B limit"):
        compress("word " * 40)
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__MAX_QUERY_CHARS", "3")
    with pytest.raises(InputError, match="3-character limit"):
        compress("word " * 10, query="why?")


def test_a_json_table_says_nothing_about_comments_or_lost_facts() -> None:
    # Quoted ids and timestamps are facts; the table layout writes them as cells, which the
    # fact matcher reads another way. The round trip proved every value equal: no note blames
    # comments or docstrings (JSON has none) and nothing is reported missing.
    rows = [
        {"id": f"ord_{i:04x}a9", "created": f"2024-03-14T{9 + i:02d}:00:00Z", "status": "shipped"}
        for i in range(8)
    ]
    text = json.dumps({"object": "list", "data": rows}, indent=2)
    result = compress(text)
    assert result.domain == "json"
    assert result.facts_missing == []
    assert not any("comments/docstrings" in n for n in result.notes)
    # Every id is still there, its shared "ord_" prefix written once in the table's header.
    assert all(r["id"].removeprefix("ord_") in result.compressed for r in rows)
