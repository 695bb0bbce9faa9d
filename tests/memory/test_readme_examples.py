"""The README's agent-memory examples, run as written: the Python block in an event loop, the
shell block as subprocesses of the installed CLI, with the real extractive engine and MiniLM.

The blocks are read from README.md at test time, so the test fails when the README drifts. The
CLI lines use two placeholders, as a reader would: ``ID`` (the id ``memory store`` printed) and
``[--option]`` (run without, then with it). Both examples run twice in one fresh data dir: the
second time the memory restored by ``import`` is already there.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from compression_layer.memory import MemoryNotFoundError, MemoryStore

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
CLI_PREFIX = ".venv/bin/compression-layer"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_STORED = re.compile(r"^(mem_\w+)\t(\w+)\t(\d+) -> (\d+) tokens \((\w+)\)$")
_IMPORTED = re.compile(r"imported (\d+) memories, (\d+) already present")


def memory_blocks() -> dict[str, list[str]]:
    """Fenced blocks of the README's "Agent memory" section, by language."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Agent memory\n")
    end = text.find("\n## ", start + 1)
    blocks: dict[str, list[str]] = {}
    for lang, body in _FENCE.findall(text[start : end if end > 0 else None]):
        blocks.setdefault(lang, []).append(body)
    return blocks


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "compression-layer"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "compression_layer.cli"]


@dataclass
class Line:
    """One README command line: its arguments, optional flags, and where ``>`` sends stdout."""

    text: str
    args: list[str]
    optional: list[str]
    stdout_to: str | None

    @property
    def command(self) -> str:
        return self.args[1]


def parse_cli_block(block: str) -> list[Line]:
    lines = []
    for raw in block.splitlines():
        if not raw.strip():
            continue
        words = shlex.split(raw, comments=True)
        assert words[:2] == [CLI_PREFIX, "memory"], f"not a memory command: {raw}"
        stdout_to = None
        if ">" in words:
            at = words.index(">")
            stdout_to, words = words[at + 1], words[:at]
        optional = [w[1:-1] for w in words if w.startswith("[") and w.endswith("]")]
        args = [w for w in words[1:] if not (w.startswith("[") and w.endswith("]"))]
        lines.append(Line(raw, args, optional, stdout_to))
    return lines


async def run_python_block(block: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """Run the block as a reader pasting it into ``python -m asyncio`` would; its names."""
    code = compile(block, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    names: dict[str, Any] = {}
    result = eval(code, names)  # top-level await: a coroutine to run in this event loop
    if result is not None:
        await result
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    names["__stdout__"] = out
    return names


def check_python_outcome(names: dict[str, Any]) -> None:
    m, hits, page = names["m"], names["hits"], names["page"]
    assert m.status == "created" and m.namespace == "project-x"  # deleted at the end of a run
    assert m.engine == "extractive" and m.tokens_compressed < m.tokens_original
    # The second time, the memory the CLI example restored is a hit too.
    assert m.id in [h.id for h in hits] and sum(h.tokens_compressed for h in hits) <= 200
    assert m.id in [item.id for item in page.items]
    printed = names["__stdout__"]
    assert all(h.compressed in printed for h in hits) and "tokens_saved=" in printed


def run_cli_block(lines: list[Line], cwd: Path, env: dict[str, str], run: int) -> str:
    """Run every line (each optional flag without, then with it); returns the stored id."""
    memory_id = ""
    content = ""
    backed_up: set[str] = set()
    for line in lines:
        variants = [line.args] + [[*line.args, flag] for flag in line.optional]
        for args in variants:
            argv = cli_command() + [memory_id if a == "ID" else a for a in args]
            if line.command != "store":
                assert memory_id, f"{line.text}: no id yet (store must come first)"
            done = subprocess.run(
                argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
            )
            where = f"run {run}: {line.text}\n{done.stderr[-3000:]}"
            assert done.returncode == 0 and "Traceback" not in done.stderr, where
            out = done.stdout
            if line.stdout_to:
                (cwd / line.stdout_to).write_text(out, encoding="utf-8")
            if line.command == "store":
                found = _STORED.match(out.strip())
                assert found, where + out
                memory_id, status, before, after, engine = found.groups()
                content = args[2]
                # The first run stores it (the first store in a fresh data dir, encoders not
                # exported yet: it must compress like any other); the second finds the copy
                # that import restored.
                assert status == ("created" if run == 1 else "existing"), out
                assert engine == "extractive" and int(after) < int(before), out + done.stderr
            elif line.command == "search":
                assert out.split("\t")[1] == memory_id, out
            elif line.command == "get":
                shown = out.rstrip("\n")
                if "--compressed" in args:
                    assert shown and len(shown) < len(content), out
                else:
                    assert shown == content, out
            elif line.command == "list":
                assert memory_id in out, out
            elif line.command == "stats":
                assert "memories: " in out and "saved" in out, out
            elif line.command == "export":
                records = [json.loads(r) for r in out.splitlines()]
                backed_up = {r["id"] for r in records}
                # A backup taken after the delete would hold nothing to restore.
                assert memory_id in backed_up, f"{where}: export before delete\n{out}"
            elif line.command == "delete":
                assert out.strip() == f"deleted {memory_id}", out
            elif line.command == "import":
                counts = _IMPORTED.search(out)
                assert counts, out
                created, present = map(int, counts.groups())
                assert created + present == len(backed_up) and created >= 1, out
    return memory_id


def test_the_readme_has_the_memory_examples() -> None:
    blocks = memory_blocks()
    assert len(blocks.get("python", [])) == 1 and len(blocks.get("bash", [])) == 1
    commands = [line.command for line in parse_cli_block(blocks["bash"][0])]
    assert commands[0] == "store" and {"search", "get", "export", "import"} <= set(commands)


async def test_readme_memory_examples_run_twice_in_a_fresh_data_dir(
    _isolated_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    blocks = memory_blocks()
    python_block, cli_lines = blocks["python"][0], parse_cli_block(blocks["bash"][0])
    # The CLI gets no shared encoder cache: its first store exports both MiniLM encoders into
    # the fresh data dir, compressing and embedding at once (where imports used to race).
    env = {k: v for k, v in os.environ.items() if k != "COMPRESSION_LAYER_MODEL_CACHE"}
    work = tmp_path / "cwd"
    work.mkdir()
    for run in (1, 2):
        names = await run_python_block(python_block, capsys)
        check_python_outcome(names)
        memory_id = run_cli_block(cli_lines, work, env, run)
        async with MemoryStore.open() as store:
            with pytest.raises(MemoryNotFoundError):
                await store.get(names["m"].id)  # the Python example deletes what it stored
            restored = await store.get(memory_id)  # the CLI example restores its backup
            assert restored.tags == ["launch"] and restored.namespace == "project-x"
            assert (await store.stats()).namespaces == {"project-x": 1}
    assert (_isolated_home / "models" / "onnx").is_dir()  # the CLI's own encoder cache
