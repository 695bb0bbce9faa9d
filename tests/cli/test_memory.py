"""The ``memory`` CLI through typer's runner, with the fake compressor and embedder injected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compression_layer.cli import memory as cli
from memory_fakes import FakeCompressor, FakeEmbedder

runner = CliRunner()


@pytest.fixture(autouse=True)
def _fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.STORE_OPTIONS, "compressor", FakeCompressor())
    monkeypatch.setitem(cli.STORE_OPTIONS, "embedder", FakeEmbedder())


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(cli.app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_store_search_get_list_stats_delete(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    code, out, _ = invoke(
        "store",
        "The deploy key rotates every ninety days",
        "--db",
        db,
        "-n",
        "ops",
        "-t",
        "security",
        "--metadata",
        '{"owner": "sre"}',
        "--json",
    )
    assert code == 0
    memory = json.loads(out)
    assert memory["status"] == "created" and memory["metadata"] == {"owner": "sre"}
    code, out, _ = invoke("store", "--db", db, "-n", "ops", stdin="Lunch is at noon on Fridays\n")
    assert code == 0 and out.split("\t")[1] == "created"

    code, out, _ = invoke("search", "deploy key rotation", "--db", db, "-n", "ops", "--json")
    hits = json.loads(out)
    assert code == 0 and hits[0]["id"] == memory["id"]
    code, out, _ = invoke("search", "deploy key", "--db", db, "-n", "ops", "--original")
    assert "The deploy key rotates every ninety days" in out

    code, out, _ = invoke("get", memory["id"], "--db", db)
    assert code == 0 and out.strip() == "The deploy key rotates every ninety days"
    code, out, _ = invoke("list", "--db", db, "-n", "ops", "--json")
    assert json.loads(out)["items"][0]["id"] == memory["id"]
    code, out, _ = invoke("stats", "--db", db, "--json")
    assert json.loads(out)["namespaces"] == {"ops": 2}

    code, out, _ = invoke("delete", memory["id"], "--db", db)
    assert code == 0
    code, _, err = invoke("get", memory["id"], "--db", db)
    assert code == 2 and "was deleted at" in err and "restorable until" in err
    code, out, _ = invoke("delete", "--all", "-n", "ops", "--db", db)
    assert code == 0 and "deleted 1" in out


def test_storing_the_same_content_again_merges_new_tags_and_metadata(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    text = "The deploy key rotates every ninety days"
    code, out, _ = invoke("store", text, "--db", db, "-t", "security", "--json")
    first = json.loads(out)
    code, out, err = invoke(
        "store", text, "--db", db, "-t", "ops", "-t", "security", "--metadata", '{"ticket": 7}'
    )
    assert code == 0 and out.split("\t")[:2] == [first["id"], "existing"]
    assert "note: tags added: ops" in err and "note: metadata keys set: ticket" in err
    code, out, _ = invoke("search", "deploy key", "--db", db, "-t", "ops", "--json")
    hits = json.loads(out)
    assert [h["id"] for h in hits] == [first["id"]]
    assert hits[0]["tags"] == ["security", "ops"] and hits[0]["metadata"] == {"ticket": 7}


def test_export_import_is_lossless(tmp_path: Path) -> None:
    src, dst = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    meta = {"quote": 'it\'s "here"', "n": [1, 2.5, None], "sql": "'; DROP TABLE x; --"}
    for i, ns in enumerate(["one", "two", "two"]):
        assert (
            invoke(
                "store",
                f"memory {i} with unicode ✓ and\nnewlines",
                "--db",
                src,
                "-n",
                ns,
                "--metadata",
                json.dumps(meta),
                "-t",
                f"t{i}",
            )[0]
            == 0
        )
    dump = tmp_path / "dump.jsonl"
    code, _, _ = invoke("export", str(dump), "--db", src)
    assert code == 0
    code, out, _ = invoke("import", str(dump), "--db", dst)
    assert code == 0 and "imported 3" in out
    code, out, _ = invoke("import", str(dump), "--db", dst)
    assert "imported 0 memories, 3 already present" in out
    code, again, _ = invoke("export", "--db", dst)
    assert again == dump.read_text(encoding="utf-8")
    code, out, _ = invoke("search", "memory unicode", "--db", dst, "-n", "two", "--json")
    assert len(json.loads(out)) == 2


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["store", "", "--db", "{db}"], None, "content is empty"),
        (["store", "x", "-n", "bad/ns", "--db", "{db}"], None, "invalid namespace"),
        (["store", "x", "--metadata", "{nope", "--db", "{db}"], None, "not JSON"),
        (["store", "x", "--metadata", "[1]", "--db", "{db}"], None, "JSON object"),
        (["get", "mem_missing", "--db", "{db}"], None, "no memory with id"),
        (["delete", "mem_missing", "--db", "{db}"], None, "no memory with id"),
        (["delete", "--all", "--db", "{db}"], None, "--all needs --namespace"),
        (["search", "x", "-k", "0", "--db", "{db}"], None, "k must be"),
        (["search", "x", "--mode", "fuzzy", "--db", "{db}"], None, "mode must be"),
        (["list", "--cursor", "abc", "--db", "{db}"], None, "invalid cursor"),
        (["import", "-", "--db", "{db}"], "{not json}\n", "line 1: not JSON"),
        (["import", "-", "--db", "{db}"], '{"id": "x"}\n', "record 1: missing"),
        (["import", "/nonexistent/file.jsonl", "--db", "{db}"], None, "No such file"),
        (["stats", "--db", "/proc/forbidden/m.db"], None, "error:"),
    ],
)
def test_errors_exit_2_with_a_message_and_no_traceback(
    tmp_path: Path, args: list[str], stdin: str | None, message: str
) -> None:
    db = str(tmp_path / "m.db")
    code, _, err = invoke(*[a.replace("{db}", db) for a in args], stdin=stdin)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_store_says_why_a_memory_was_stored_uncompressed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compression_layer.errors import EngineError

    def broken(text: str) -> object:
        raise EngineError("cannot load the extractive adapter")

    monkeypatch.setitem(cli.STORE_OPTIONS, "compressor", broken)
    code, out, err = invoke(
        "store", "The deploy key rotates every ninety days", "--db", str(tmp_path / "m.db")
    )
    assert code == 0 and out.split("\t")[1] == "created" and "(none)" in out
    assert "note: stored uncompressed: cannot load the extractive adapter" in err


def test_scopes_filters_update_history_restore_purge(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    text = "The staging password rotates every Monday"
    code, out, _ = invoke(
        "store", text, "--db", db, "--user", "alice", "--metadata", '{"priority": 2}', "--json"
    )
    assert code == 0
    alice = json.loads(out)
    assert alice["user_id"] == "alice"
    code, out, _ = invoke("store", text, "--db", db, "--user", "bob", "--run", "r1", "--json")
    bob = json.loads(out)
    assert bob["id"] != alice["id"]

    code, out, _ = invoke("search", "password", "--db", db, "--user", "alice", "--json")
    assert [h["id"] for h in json.loads(out)] == [alice["id"]]
    code, out, _ = invoke("search", "password", "--db", db, "--json")
    assert json.loads(out) == []
    code, out, _ = invoke(
        "list", "--db", db, "--all-scopes", "--filter", '{"priority": {"gte": 2}}'
    )
    assert code == 0 and out.count("\n") == 1 and "\tuser=alice\t" in out
    code, out, _ = invoke("list", "--db", db, "--user", "bob", "--all-scopes")
    assert "user=bob,run=r1" in out
    code, _, err = invoke("list", "--db", db, "--filter", '{"priority": {"like": 1}}')
    assert code == 2 and "unknown filter operator 'like'" in err
    code, _, err = invoke("list", "--db", db, "--filter", "[1]")
    assert code == 2 and "--filter must be a JSON object" in err
    code, out, _ = invoke("namespaces", "--db", db)
    assert out == "default\t2\n"
    code, out, _ = invoke("scopes", "--db", db)
    assert out == "user=alice\t1\nuser=bob,run=r1\t1\n"

    code, out, _ = invoke(
        "update", alice["id"], "--db", db, "--meta", "priority=5", "--meta", "note=hi",
        "--tag", "ops", "--clear", "user", "--json",
    )  # fmt: skip
    assert code == 0
    updated = json.loads(out)
    assert updated["metadata"] == {"priority": 5, "note": "hi"} and updated["tags"] == ["ops"]
    assert updated["user_id"] is None
    code, out, _ = invoke("update", alice["id"], "--db", db, "--drop-meta", "note")
    assert code == 0 and out.startswith(f"updated {alice['id']}")
    code, _, err = invoke("update", alice["id"], "--db", db)
    assert code == 2 and "nothing to update" in err
    code, _, err = invoke("update", alice["id"], "--db", db, "--meta", "novalue")
    assert code == 2 and "KEY=VALUE" in err

    code, out, err = invoke("delete", alice["id"], "--db", db)
    assert code == 0 and out == f"deleted {alice['id']}\n" and "for 30 days" in err
    code, out, _ = invoke("get", alice["id"], "--db", db, "--deleted", "--json")
    assert json.loads(out)["deleted_at"] is not None
    code, out, _ = invoke("stats", "--db", db)
    assert "(1 deleted" in out
    code, out, _ = invoke("restore", alice["id"], "--db", db)
    assert code == 0 and out.strip() == f"restored {alice['id']}"
    code, out, _ = invoke("history", alice["id"], "--db", db)
    lines = out.splitlines()
    actions = [line.split("\t")[2] for line in lines if line.startswith("#")]
    assert actions == [
        "create",
        "update by cli",
        "update by cli",
        "delete by cli",
        "restore by cli",
    ]
    assert '  metadata: {"priority": 2} -> {"note": "hi", "priority": 5}' in lines
    assert '  user_id: "alice" -> null' in lines
    code, out, _ = invoke("history", alice["id"], "--db", db, "--json")
    assert [e["action"] for e in json.loads(out)][-1] == "restore"

    invoke("delete", bob["id"], "--db", db)
    code, out, _ = invoke("purge", "--db", db)
    assert out.strip() == "purged 0 deleted memories"  # within the restore period
    code, out, _ = invoke("purge", "--older-than-days", "0", "--db", db)
    assert out.strip() == "purged 1 deleted memories"
    code, _, err = invoke("restore", bob["id"], "--db", db)
    assert code == 2 and "no memory with id" in err
