"""``train generate``: corpus loaders, chunking by domain, teacher calls through the real SDKs
against the local fake API (tests/validation/val_fake_api.py), filtering, resume, budget, keys."""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from compression_layer.settings import GenerateSettings, ValidationSettings
from compression_layer.tokens import count_tokens
from compression_layer.training.data import read_pairs_file
from compression_layer.training.generate.chunks import (
    chunk_documents,
    hard_split,
    split_document,
)
from compression_layer.training.generate.corpus import Document, load_corpus
from compression_layer.training.generate.output import meta_path, rejected_path
from compression_layer.training.generate.run import generate
from compression_layer.training.generate.teacher import clean_output
from compression_layer.validation.costs import estimate_cost
from compression_layer.validation.errors import MissingKeyError
from val_fake_api import FakeAPI, start
from val_settings import KEYS, jaccard, make_settings

STOPWORDS = frozenset(("the", "a", "an", "of", "and", "to", "in", "is", "that", "it", "as", "was",
                       "with", "by", "on", "are", "be", "this", "or", "at"))  # fmt: skip

PROSE = (
    "The harbour bridge was opened in 1932 by the city council, and it carries about 160,000 "
    "vehicles a day across the water. It was designed by John Bradfield, who had argued for a "
    "single arch in the face of a strong opposition from the ferry companies.\n\n"
    "The arch is made of steel and it is painted every few years. Maintenance is done by a team "
    "of painters and riggers who work on the structure at night when the traffic is light.\n"
)
MARKDOWN = (
    "# Service notes\n\n"
    "The service reads its settings from the environment and it refuses to start when a value is "
    "missing. The timeout is 30 seconds and the retry limit is 5 by default.\n\n"
    "```python\n"
    "def load(env):\n"
    "    # the timeout is in seconds and it is applied to every request\n"
    "    return {'timeout': int(env.get('TIMEOUT', 30)), 'retries': 5}\n"
    "```\n\n"
    "The loader is called once at start-up and the result is cached for the life of the process.\n"
)
CODE = """import os

# the default port of the service, used when the environment has none
DEFAULT_PORT = 8080


def port_of(env):
    # read the port from the environment and fall back to the default one
    value = env.get("PORT")
    return int(value) if value else DEFAULT_PORT


@staticmethod
def host_of(env):
    # the host is the loopback address unless it is set in the environment
    return env.get("HOST", "127.0.0.1")


class Server:
    # a tiny server wrapper that is used by the tests of the service
    def __init__(self, env):
        self.port = port_of(env)
        self.host = host_of(env)
"""
DATA = [{"id": i, "name": f"item-{i}", "status": "ok" if i % 7 else "failed"} for i in range(40)]
RECORDS = [
    json.dumps({"text": "The garden is full of purple flowers in the spring and it is watered "
                "by a small pump that is powered by the sun on the roof of the shed."}),
    "{broken json",
    json.dumps({"content": "Zorblat report: the plant shipped 4,210 units in March 2024 at a "
                "price of 19.99 USD each, and the return rate was 2.5 percent of the total."}),
    json.dumps({"messages": [
        {"role": "system", "content": "Compress."},
        {"role": "user", "content": "Compress:\nThe library was founded in 1850 and it holds "
         "the oldest collection of maps in the region, which is open to the public on Sundays."},
        {"role": "assistant", "content": "Library: founded 1850; oldest regional map collection."},
    ]}),
    json.dumps({"id": 7}),
]  # fmt: skip


def fake_answer(api: str, system: str, prompt: str) -> str:
    """Teacher: drop stopwords (and, on cue, what the tests want lost). Tasks: an answer that
    depends on whether 'purple' is in the context, so losing it fails cross-model validation."""
    if "writing training examples" in system:
        text = prompt.split("<<<\n", 1)[1].rsplit("\n>>>", 1)[0]
        words = [w for w in text.split() if w.lower() not in STOPWORDS and w != "purple"]
        if "Zorblat" in text:
            words = [w for w in words if not any(ch.isdigit() for ch in w)]
        return " ".join(words)
    if "purple" in prompt:
        return "The flowers in the garden are purple and bloom in spring."
    return "It computes the answer, 42."


@pytest.fixture
def fake_api() -> Iterator[FakeAPI]:
    fake = FakeAPI(answer=fake_answer)
    server = start(fake)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    return dict(KEYS)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.md").write_text(MARKDOWN, encoding="utf-8")
    (folder / "history.txt").write_text(PROSE, encoding="utf-8")
    (folder / "sub" / "server.py").write_text(CODE, encoding="utf-8")
    (folder / "sub" / "items.json").write_text(json.dumps(DATA, indent=2), encoding="utf-8")
    (folder / "records.jsonl").write_text("\n".join(RECORDS) + "\n", encoding="utf-8")
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "secret.md").write_text("not corpus", encoding="utf-8")
    return folder


def gen_settings(**overrides: Any) -> GenerateSettings:
    values: dict[str, Any] = {
        "teacher": "claude",
        "validate_models": ["gpt"],
        "chunk_tokens": 120,
        "min_chunk_tokens": 10,
        "min_reduction": 0.05,
        "min_similarity": 0.3,
        "min_facts_kept": 0.8,
        "workers": 2,
    }
    values.update(overrides)
    return GenerateSettings(**values)


async def run(
    fake: FakeAPI, inputs: list[Path], out: Path, settings: GenerateSettings, **kw: Any
) -> Any:
    validation: ValidationSettings = kw.pop("validation", None) or make_settings(fake.url)
    return await generate(inputs, out, settings, validation=validation, similarity=jaccard, **kw)


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- loaders -------------------------------------------------------------------------------


def test_loaders_read_every_type_and_report_broken_lines(corpus: Path) -> None:
    loaded = load_corpus([corpus])
    by_origin = {Path(d.origin.split(":")[0]).name + d.origin[len(d.origin.split(":")[0]) :]: d
                 for d in loaded.documents}  # fmt: skip
    assert set(by_origin) == {
        "history.txt", "notes.md", "records.jsonl:1", "records.jsonl:3", "records.jsonl:4",
        "items.json", "server.py",
    }  # fmt: skip
    assert by_origin["server.py"].domain == "code:python"
    assert by_origin["items.json"].domain == "json"
    assert by_origin["notes.md"].domain is None  # detected per chunk
    assert by_origin["records.jsonl:4"].text.startswith("The library was founded")  # chat row
    assert [e.split(": ", 1)[0].rsplit("/", 1)[-1] for e in loaded.errors] == [
        "records.jsonl:2",
        "records.jsonl:5",
    ]
    assert "no text" in loaded.errors[1]
    assert [Path(p).name for p in loaded.skipped_files] == ["logo.png"]


def test_loaders_report_unreadable_files_and_refuse_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"a": 1,\n "b": }', encoding="utf-8")
    (tmp_path / "binary.md").write_bytes(b"abc\x00def")
    (tmp_path / "ok.log").write_text("2024-01-01 10:00:00 INFO up\n", encoding="utf-8")
    loaded = load_corpus([tmp_path / "bad.json", tmp_path / "binary.md", tmp_path / "ok.log"])
    assert [d.domain for d in loaded.documents] == ["log"]
    assert loaded.errors[0].startswith(f"{tmp_path / 'bad.json'}:2: not valid JSON")
    assert "binary" in loaded.errors[1]
    with pytest.raises(ValueError, match="no such file or folder"):
        load_corpus([tmp_path / "nope"])


# --- chunking ------------------------------------------------------------------------------


def test_chunking_respects_domains_and_the_token_size(corpus: Path) -> None:
    limit = 60
    chunks, dropped = chunk_documents(load_corpus([corpus]).documents, limit, min_tokens=5)
    assert chunks and all(c.tokens <= limit and count_tokens(c.text) == c.tokens for c in chunks)
    assert dropped == {"too_small": 0, "duplicate": 0}
    python = [c for c in chunks if c.origin.split("#")[0].endswith("server.py")]
    assert len(python) > 1 and all(c.domain == "code:python" for c in python)
    for chunk in python:
        ast.parse(chunk.text)  # cut at top-level statements only
    texts = [c.text for c in python]
    assert any("has none\nDEFAULT_PORT = 8080" in t for t in texts)  # comment kept above
    assert any(t.startswith("@staticmethod\ndef host_of") for t in texts)  # decorator with def
    items = [c for c in chunks if "items.json" in c.origin]
    assert len(items) > 1 and all(c.domain == "json" for c in items)
    assert sum(len(json.loads(c.text)) for c in items) == len(DATA)  # every element, once
    for chunk in (c for c in chunks if "notes.md" in c.origin):
        fences = [ln for ln in chunk.text.splitlines() if ln.startswith("```")]
        assert len(fences) % 2 == 0  # a fenced block is never cut open
    assert {c.domain for c in chunks if "notes.md" in c.origin} <= {"prose", "mixed", "code:python"}
    assert len({c.id for c in chunks}) == len(chunks)


def test_chunking_falls_back_to_finer_cuts() -> None:
    sentence = "The quick brown fox jumps over the lazy dog near the river bank. "
    long_paragraph = sentence * 30
    pieces = split_document(long_paragraph, "prose", 40)
    assert len(pieces) > 1 and all(count_tokens(p) <= 40 for p in pieces)
    assert "".join(pieces) == long_paragraph  # lossless: cut at sentence ends
    assert all(p.endswith(". ") for p in pieces)
    log = "".join(
        f"2024-05-01 10:00:{i:02d} ERROR worker failed\n  Traceback line {i}\n" for i in range(30)
    )
    log_pieces = split_document(log, "log", 50)
    assert all(p.startswith("2024-05-01") for p in log_pieces)  # continuation lines stay
    assert all(count_tokens(p) <= 50 for p in log_pieces)
    blob = "x" * 5000
    assert all(count_tokens(p) <= 30 for p in hard_split(blob, 30))
    assert "".join(hard_split(blob, 30)) == blob
    big_fence = "Intro text here.\n\n```go\n" + "".join(
        f"func f{i}() int {{ return {i} }}\n\n" for i in range(40)
    ) + "```\n"  # fmt: skip
    md = split_document(big_fence, "mixed", 60)
    code_pieces = [p for p in md if "func" in p]
    assert len(code_pieces) > 1
    for piece in code_pieces:  # each piece of the oversized block is fenced again, as go
        fences = [ln for ln in piece.splitlines() if ln.startswith("```")]
        assert fences == ["```go", "```"] and piece.rstrip().endswith("```")


def test_small_and_repeated_chunks_are_dropped() -> None:
    docs = [Document("tiny", "a.md"), Document(PROSE, "b.md"), Document(PROSE, "c.md")]
    chunks, dropped = chunk_documents(docs, 500, min_tokens=10)
    assert len(chunks) == 1 and dropped == {"too_small": 1, "duplicate": 1}


def test_clean_output_unwraps_a_wrapping_fence_only() -> None:
    assert clean_output("<think>hmm</think>\n```text\nA→B\n```", "plain prose") == "A→B"
    fenced = "```python\nx = 1\n```"
    assert clean_output(fenced, fenced) == fenced


# --- the run: teacher, filter, resume, cache, budget, keys ---------------------------------


async def test_teacher_pairs_flow_filter_and_resume_without_calls(
    fake_api: FakeAPI, keys: dict[str, str], corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "pairs.jsonl"
    first = await run(fake_api, [corpus], out, gen_settings())
    assert first.chunks == first.processed == first.accepted + first.rejected > 3
    assert [Path(e.split(":")[0]).name for e in first.bad_lines] == ["records.jsonl"] * 2
    assert first.teacher_calls == fake_api.count("anthropic") == first.chunks
    assert first.validation_calls == fake_api.count("openai") > 0
    assert first.failed == 0 and first.cost_usd > 0

    accepted = rows(out)
    rejected = rows(rejected_path(out))
    assert len(accepted) == first.accepted and len(rejected) == first.rejected
    pairs, broken = read_pairs_file(out)  # `train dataset` reads the output as it is
    assert not broken and len(pairs) == len(accepted)
    row = accepted[0]
    assert set(row) >= {"id", "messages", "domain", "source", "teacher", "scores"}
    assert row["messages"][1]["content"].startswith("Compress:\n")
    assert row["teacher"] == "claude" and "models" in row["scores"]
    assert row["scores"]["models"]["gpt"]["passed"] is True
    assert {r["domain"] for r in accepted} >= {"code:python", "json", "prose"}
    # what the teacher wrote is what the pair holds
    source = row["messages"][1]["content"].removeprefix("Compress:\n")
    assert row["messages"][2]["content"] == fake_answer("anthropic", "writing training examples",
                                                         f"<<<\n{source}\n>>>")  # fmt: skip

    reasons = {r["input"].split()[0]: r["reasons"] for r in rejected}
    assert reasons["The"][0].startswith("transfer:")  # lost 'purple': models answer otherwise
    assert reasons["Zorblat"][0].startswith("facts:") and "4,210" in reasons["Zorblat"][0]
    assert first.rejected_by == {"facts": 1, "transfer": 1}
    zorblat_calls = [r for r in fake_api.requests if r.api == "openai" and "Zorblat" in str(r.body)]
    assert not zorblat_calls  # offline rejection: no model was asked about it

    calls = len(fake_api.requests)
    again = await run(fake_api, [corpus], out, gen_settings())
    assert len(fake_api.requests) == calls  # resume: nothing redone, no HTTP at all
    assert again.already_done == first.chunks and again.processed == 0
    assert len(rows(out)) == len(accepted)

    fresh = tmp_path / "fresh.jsonl"
    third = await run(fake_api, [corpus], fresh, gen_settings())
    assert len(fake_api.requests) == calls  # another out: every answer from the cache
    assert third.teacher_cached == first.chunks and third.teacher_calls == 0
    assert third.cost_usd == 0.0
    assert sorted(r["id"] for r in rows(fresh)) == sorted(r["id"] for r in accepted)
    meta = json.loads(meta_path(out).read_text(encoding="utf-8"))
    assert meta["runs"] == 2 and meta["teacher"] == "claude"


async def test_resume_refuses_other_settings_and_repairs_a_cut_line(
    fake_api: FakeAPI, keys: dict[str, str], corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pairs.jsonl"
    settings = gen_settings(validate_models=[])
    first = await run(fake_api, [corpus], out, settings, limit=3)
    assert first.processed == 3
    with out.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "half-writ')  # an interrupted write
    rest = await run(fake_api, [corpus], out, settings)
    assert rest.already_done == 3 and rest.processed == rest.chunks - 3
    assert all(isinstance(r, dict) for r in rows(out))  # the cut line was dropped, not appended to
    with pytest.raises(ValueError, match="other settings: teacher='claude'"):
        await run(fake_api, [corpus], out, gen_settings(teacher="gemini", validate_models=[]))


async def test_budget_stops_the_run_and_a_rerun_resumes(
    fake_api: FakeAPI, keys: dict[str, str], tmp_path: Path
) -> None:
    from compression_layer.training.generate.chunks import chunk_documents as chunk
    from compression_layer.training.generate.teacher import teacher_request
    from compression_layer.validation.providers import resolve_model

    folder = tmp_path / "c"
    folder.mkdir()
    for n in (1, 2, 3):
        (folder / f"r{n}.txt").write_text(PROSE.replace("1932", f"193{n}"), encoding="utf-8")
    settings = gen_settings(validate_models=[], workers=1, chunk_tokens=500)
    validation = make_settings(fake_api.url)
    docs = load_corpus([folder]).documents
    chunks, _ = chunk(docs, settings.chunk_tokens, settings.min_chunk_tokens)
    model = resolve_model("claude", validation)
    costs = [
        estimate_cost(model, r.system, r.prompt, r.max_tokens)
        for r in (teacher_request(c, model.model, settings.teacher_max_tokens) for c in chunks)
    ]
    assert len(set(costs)) == 1  # same-size chunks: the cap fits exactly one call
    out = tmp_path / "pairs.jsonl"

    nothing = await run(fake_api, [folder], out, settings, budget_usd=0.0)
    assert nothing.budget_exhausted and nothing.stopped_early and fake_api.count() == 0
    assert nothing.processed == 0 and rows(out) == []

    one = await run(fake_api, [folder], out, settings, budget_usd=costs[0])
    assert one.budget_exhausted and one.processed == 1 and fake_api.count("anthropic") == 1
    assert 0 < one.cost_usd <= costs[0]

    rest = await run(fake_api, [folder], out, settings, budget_usd=1.0)
    assert not rest.budget_exhausted and rest.already_done == 1 and rest.processed == 2
    assert len(rows(out)) + len(rows(rejected_path(out))) == 3


async def test_missing_key_is_named_before_any_work(
    fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch, corpus: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEYS["ANTHROPIC_API_KEY"])
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "pairs.jsonl"
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        await run(fake_api, [corpus], out, gen_settings())
    assert fake_api.count() == 0 and not out.exists() and not meta_path(out).exists()


async def test_provider_errors_are_redacted_and_redone(
    fake_api: FakeAPI, keys: dict[str, str], corpus: Path, tmp_path: Path
) -> None:
    fake_api.echo_key_on_401 = True
    fake_api.script("anthropic", "401")
    out = tmp_path / "pairs.jsonl"
    settings = gen_settings(workers=1)
    first = await run(fake_api, [corpus], out, settings)
    assert first.failed == 1 and first.processed == first.chunks - 1
    assert "401" in first.errors[0] and "***" in first.errors[0]
    again = await run(fake_api, [corpus], out, settings)
    assert again.processed == 1 and again.failed == 0  # the failed chunk was not written
    home = Path(os.environ["COMPRESSION_LAYER_HOME"])
    stored = [out, rejected_path(out), meta_path(out), *home.rglob("*")]
    blobs = [p.read_bytes() for p in stored if p.is_file()]
    blobs.append((first.model_dump_json() + again.model_dump_json()).encode())
    assert any(b"cache" in str(p).encode() for p in stored)  # the cache was looked at too
    for secret in keys.values():
        assert all(secret.encode() not in blob for blob in blobs)


def test_cli_generate_with_config_files(
    fake_api: FakeAPI,
    keys: dict[str, str],
    corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from compression_layer.cli.main import app

    config = Path(os.environ["COMPRESSION_LAYER_CONFIG_DIR"])
    validation = make_settings(fake_api.url).model_dump(mode="json")
    (config / "validation.yaml").write_text(yaml.safe_dump(validation), encoding="utf-8")
    generate_yaml = {"chunk_tokens": 120, "min_chunk_tokens": 10, "min_similarity": 0.2,
                     "min_reduction": 0.05}  # fmt: skip
    (config / "generate.yaml").write_text(yaml.safe_dump(generate_yaml), encoding="utf-8")
    out = tmp_path / "pairs.jsonl"
    args = ["train", "generate", str(corpus), "--out", str(out), "--teacher", "claude",
            "--validate-models", "gpt"]  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["accepted"] == len(rows(out)) > 0 and summary["processed"] == summary["chunks"]
    assert "records.jsonl:2" in result.stderr and "records.jsonl:5" in result.stderr
    assert "generating" in result.stderr  # the progress bar, on stderr
    calls = fake_api.count()

    again = runner.invoke(app, args)
    assert again.exit_code == 0 and fake_api.count() == calls
    assert f"{summary['chunks']} already done" in again.stderr
    assert re.search(r"accepted 0, rejected 0, failed 0; cost \$0\.0+\b", again.stderr)

    monkeypatch.delenv("ANTHROPIC_API_KEY")
    missing = runner.invoke(app, [*args[:-2], "--out", str(tmp_path / "other.jsonl")])
    assert missing.exit_code == 2 and "ANTHROPIC_API_KEY" in missing.stderr
    assert all(secret not in missing.output for secret in keys.values())
