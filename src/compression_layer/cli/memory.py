"""``compression-layer memory``: store, search, get, delete, list, stats, import, export.

Every command takes ``--db PATH`` (default: the ``memory`` settings' db_path, else
``<data dir>/memory.sqlite3``). Errors print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from compression_layer.cli.memory_migrate import migrate_cmd
from compression_layer.errors import CompressionLayerError, InputError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from compression_layer.memory.search import SearchMode
    from compression_layer.memory.store import MemoryStore

app = typer.Typer(
    help="Agent memory: compressed memories with hybrid (dense + BM25) search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Extra keyword arguments for MemoryStore.open (tests put fake compressor/embedder here).
STORE_OPTIONS: dict[str, Any] = {}

T = TypeVar("T")

DbOpt = Annotated[Path | None, typer.Option("--db", help="database file (default: settings)")]
NsOpt = Annotated[str, typer.Option("--namespace", "-n", help="namespace")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", "-t", help="tag (repeatable)")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _run(db: Path | None, work: Callable[[MemoryStore], Awaitable[T]]) -> T:
    """Open the store, run ``work``, close; package errors become exit code 2."""

    # The store (aiosqlite, numpy, tokenizers) and settings load here, not at import: every
    # `compression-layer --help` would pay for them otherwise.
    from compression_layer.memory.store import MemoryStore
    from compression_layer.settings import MemorySettings, load_area

    async def main() -> T:
        settings = load_area(MemorySettings)
        async with MemoryStore.open(db, settings=settings, **STORE_OPTIONS) as store:
            return await work(store)

    try:
        return asyncio.run(main())
    except (CompressionLayerError, OSError) as exc:
        raise _fail(str(exc)) from None


def _emit(value: BaseModel | list[Any] | dict[str, Any]) -> None:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        typer.echo(value.model_dump_json(indent=2))
    else:
        data = [v.model_dump() if isinstance(v, BaseModel) else v for v in value]
        typer.echo(json.dumps(data if isinstance(value, list) else value, ensure_ascii=False))


def _read_text(text: str | None) -> str:
    if text is not None and text != "-":
        return text
    if sys.stdin.isatty():
        raise _fail("give the memory as an argument or on stdin")
    return sys.stdin.read()


@app.command("store")
def store_cmd(
    text: Annotated[str | None, typer.Argument(help="the memory; '-' or omitted: stdin")] = None,
    namespace: NsOpt = "default",
    tag: TagOpt = None,
    metadata: Annotated[str | None, typer.Option(help="JSON object kept with it")] = None,
    no_compress: Annotated[bool, typer.Option("--no-compress", help="store as is")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Store one memory (compressed; the original is kept)."""
    content = _read_text(text)
    try:
        meta = json.loads(metadata) if metadata else None
    except json.JSONDecodeError as exc:
        raise _fail(f"--metadata is not JSON: {exc}") from None
    if meta is not None and not isinstance(meta, dict):
        raise _fail("--metadata must be a JSON object")
    memory = _run(
        db,
        lambda s: s.store(
            content, namespace=namespace, tags=tag or (), metadata=meta, compress=not no_compress
        ),
    )
    if as_json:
        _emit(memory)
    else:
        typer.echo(
            f"{memory.id}\t{memory.status}\t{memory.tokens_original} -> "
            f"{memory.tokens_compressed} tokens ({memory.engine})"
        )
        for note in memory.notes:  # merged labels, or why it was stored uncompressed
            typer.echo(f"note: {note}", err=True)


@app.command("search")
def search_cmd(
    query: Annotated[str, typer.Argument(help="what to look for")],
    namespace: NsOpt = "default",
    k: Annotated[int, typer.Option("-k", help="number of hits")] = 10,
    tag: TagOpt = None,
    max_tokens: Annotated[int | None, typer.Option(help="token budget of the hits")] = None,
    mode: Annotated[str, typer.Option(help="hybrid | dense | bm25")] = "hybrid",
    original: Annotated[bool, typer.Option(help="print originals, not compressed")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search a namespace; hits best first."""
    search_mode: SearchMode = mode  # type: ignore[assignment]  # checked by the store
    hits = _run(
        db,
        lambda s: s.search(
            query, namespace=namespace, k=k, tags=tag, max_tokens=max_tokens, mode=search_mode
        ),
    )
    if as_json:
        _emit(hits)
        return
    for hit in hits:
        text = hit.content if original else hit.compressed
        typer.echo(f"{hit.score:.4f}\t{hit.id}\t{' '.join(text.split())}")


@app.command("get")
def get_cmd(
    memory_id: Annotated[str, typer.Argument(help="memory id")],
    compressed: Annotated[bool, typer.Option(help="print the compressed form")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one memory (its original text unless --compressed)."""
    memory = _run(db, lambda s: s.get(memory_id))
    if as_json:
        _emit(memory)
    else:
        typer.echo(memory.compressed if compressed else memory.content)


@app.command("delete")
def delete_cmd(
    memory_id: Annotated[str | None, typer.Argument(help="memory id")] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="with --all: the namespace to empty")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="delete every memory of --namespace")] = False,
    db: DbOpt = None,
) -> None:
    """Delete one memory by id, or (--all --namespace NS) a whole namespace."""
    if all_:
        if namespace is None or memory_id is not None:
            raise _fail("--all needs --namespace and no id")
        ns = namespace
        count = _run(db, lambda s: s.delete_namespace(ns))
        typer.echo(f"deleted {count} memories from {ns}")
        return
    if memory_id is None:
        raise _fail("give a memory id, or --all --namespace NS")
    mid = memory_id
    _run(db, lambda s: s.delete(mid))
    typer.echo(f"deleted {mid}")


@app.command("list")
def list_cmd(
    namespace: NsOpt = "default",
    all_namespaces: Annotated[bool, typer.Option(help="list every namespace")] = False,
    limit: Annotated[int, typer.Option(help="page size")] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List memories in insertion order, one page at a time."""
    ns = None if all_namespaces else namespace
    page = _run(db, lambda s: s.list(ns, limit=limit, cursor=cursor))
    if as_json:
        _emit(page)
        return
    for m in page.items:
        preview = " ".join(m.content.split())[:80]
        typer.echo(f"{m.id}\t{m.namespace}\t{m.tokens_original}->{m.tokens_compressed}\t{preview}")
    if page.next_cursor:
        typer.echo(f"next cursor: {page.next_cursor}", err=True)


@app.command("stats")
def stats_cmd(
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="one namespace")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts and tokens saved."""
    stats = _run(db, lambda s: s.stats(namespace))
    if as_json:
        _emit(stats)
        return
    saved = stats.tokens_saved / stats.tokens_original if stats.tokens_original else 0.0
    typer.echo(f"db: {stats.db_path}")
    typer.echo(f"memories: {stats.memories} in {len(stats.namespaces)} namespaces")
    typer.echo(
        f"tokens: {stats.tokens_original} original, {stats.tokens_compressed} compressed, "
        f"{stats.tokens_saved} saved ({saved:.0%})"
    )


def _jsonl(path: Path | None) -> Iterator[dict[str, Any]]:
    lines = sys.stdin if path is None or str(path) == "-" else path.open(encoding="utf-8")
    try:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"line {number}: not JSON ({exc.msg})") from None
            yield record
    finally:
        if lines is not sys.stdin:
            lines.close()


@app.command("import")
def import_cmd(
    path: Annotated[
        Path | None, typer.Argument(help="JSONL from export; '-' or omitted: stdin")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Import memories exported as JSONL, exactly as they were (ids, texts, timestamps)."""
    try:
        records = list(_jsonl(path))
    except (InputError, OSError) as exc:
        raise _fail(str(exc)) from None
    counts = _run(db, lambda s: s.import_records(records))
    typer.echo(f"imported {counts['created']} memories, {counts['existing']} already present")


@app.command("export")
def export_cmd(
    path: Annotated[
        Path | None, typer.Argument(help="output JSONL; '-' or omitted: stdout")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="one namespace")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Export memories as JSONL (one memory per line, every field), lossless."""

    async def collect(store: MemoryStore) -> list[str]:
        return [json.dumps(r, ensure_ascii=False) async for r in store.export(namespace)]

    lines = _run(db, collect)
    text = "".join(line + "\n" for line in lines)
    if path is None or str(path) == "-":
        sys.stdout.write(text)
    else:
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise _fail(str(exc)) from None
        typer.echo(f"exported {len(lines)} memories to {path}", err=True)


app.command("migrate")(migrate_cmd)  # memory migrate --to postgresql://... (F2)
