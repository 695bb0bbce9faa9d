"""``compression-layer memory``: store, search, get, list, update, history, delete, restore,
purge, namespaces, scopes, stats, import, export (and migrate).

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
UserOpt = Annotated[str | None, typer.Option("--user", help="scope: user id")]
AgentOpt = Annotated[str | None, typer.Option("--agent", help="scope: agent id")]
RunOpt = Annotated[str | None, typer.Option("--run", help="scope: run (session) id")]
FilterOpt = Annotated[
    str | None,
    typer.Option(
        "--filter",
        help='metadata conditions as JSON: \'{"priority": {"gte": 2}, "source": "call"}\' '
        "(eq, in, gt, gte, lt, lte; numbers or ISO dates)",
    ),
]
AllScopesOpt = Annotated[
    bool, typer.Option("--all-scopes", help="every scope matching --user/--agent/--run given")
]
ACTOR = "cli"


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


def _json_object(value: str | None, option: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise _fail(f"{option} is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise _fail(f"{option} must be a JSON object")
    return parsed


def _scoped(
    user: str | None,
    agent: str | None,
    run: str | None,
    filters: str | None = None,
    all_scopes: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {"user_id": user, "agent_id": agent, "run_id": run}
    conditions = _json_object(filters, "--filter")
    if conditions is not None:
        out["filters"] = conditions
    if all_scopes:
        out["all_scopes"] = True
    return out


def _scope_label(memory: Any) -> str:
    parts = [
        f"{name}={value}"
        for name, value in (
            ("user", memory.user_id),
            ("agent", memory.agent_id),
            ("run", memory.run_id),
        )
        if value
    ]
    return ",".join(parts) or "-"


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
    user: UserOpt = None,
    agent: AgentOpt = None,
    run: RunOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Store one memory (compressed; the original is kept), optionally in a user/agent/run scope."""
    content = _read_text(text)
    meta = _json_object(metadata, "--metadata")
    scope = _scoped(user, agent, run)
    memory = _run(
        db,
        lambda s: s.store(
            content,
            namespace=namespace,
            tags=tag or (),
            metadata=meta,
            compress=not no_compress,
            **scope,
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
    min_score: Annotated[
        float | None, typer.Option(help="drop hits scoring below this (0-1; default: setting)")
    ] = None,
    original: Annotated[bool, typer.Option(help="print originals, not compressed")] = False,
    user: UserOpt = None,
    agent: AgentOpt = None,
    run: RunOpt = None,
    filters: FilterOpt = None,
    all_scopes: AllScopesOpt = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search a namespace (in one scope, unless --all-scopes); hits best first."""
    search_mode: SearchMode = mode  # type: ignore[assignment]  # checked by the store
    scope = _scoped(user, agent, run, filters, all_scopes)
    hits = _run(
        db,
        lambda s: s.search(
            query,
            namespace=namespace,
            k=k,
            tags=tag,
            max_tokens=max_tokens,
            mode=search_mode,
            min_score=min_score,
            **scope,
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
    deleted: Annotated[bool, typer.Option("--deleted", help="show it even if deleted")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one memory (its original text unless --compressed)."""
    memory = _run(db, lambda s: s.get(memory_id, include_deleted=deleted))
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
    """Delete one memory by id, or (--all --namespace NS) a whole namespace. Deleted memories
    are restorable (memory restore) for memory.soft_delete_days, then purged."""
    if all_:
        if namespace is None or memory_id is not None:
            raise _fail("--all needs --namespace and no id")
        ns = namespace
        count = _run(db, lambda s: s.delete_namespace(ns, actor=ACTOR))
        typer.echo(f"deleted {count} memories from {ns}")
        return
    if memory_id is None:
        raise _fail("give a memory id, or --all --namespace NS")
    mid = memory_id

    async def work(store: MemoryStore) -> tuple[Any, float]:
        return await store.delete(mid, actor=ACTOR), store.settings.soft_delete_days

    memory, days = _run(db, work)
    typer.echo(f"deleted {mid}")
    typer.echo(
        f"note: deleted at {memory.deleted_at}; `memory restore {mid}` brings it back for "
        f"{days:g} days",
        err=True,
    )


@app.command("restore")
def restore_cmd(
    memory_id: Annotated[str, typer.Argument(help="id of a deleted memory")],
    db: DbOpt = None,
) -> None:
    """Bring back a deleted memory (before it is purged)."""
    _run(db, lambda s: s.restore(memory_id, actor=ACTOR))
    typer.echo(f"restored {memory_id}")


@app.command("purge")
def purge_cmd(
    older_than_days: Annotated[
        float | None,
        typer.Option(help="purge deletes older than this (default memory.soft_delete_days)"),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Remove deleted memories for good once past the restore period."""
    count = _run(db, lambda s: s.purge(older_than_days))
    typer.echo(f"purged {count} deleted memories")


@app.command("update")
def update_cmd(
    memory_id: Annotated[str, typer.Argument(help="memory id")],
    content: Annotated[
        str | None, typer.Option("--content", help="new text ('-': stdin); recompressed")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="new tag list (repeatable)")
    ] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", help="KEY=VALUE to set (VALUE read as JSON if it parses)"),
    ] = None,
    drop_meta: Annotated[
        list[str] | None, typer.Option("--drop-meta", help="metadata KEY to remove")
    ] = None,
    user: UserOpt = None,
    agent: AgentOpt = None,
    run: RunOpt = None,
    clear: Annotated[
        list[str] | None, typer.Option("--clear", help="scope part to remove: user, agent, run")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a memory in place; the old values go to its history (memory history ID)."""
    text = _read_text(content) if content is not None else None
    sets: dict[str, Any] = {}
    for item in meta or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise _fail(f"--meta takes KEY=VALUE, got {item!r}")
        try:
            sets[key] = json.loads(raw)
        except json.JSONDecodeError:
            sets[key] = raw
    scope: dict[str, str | None] = {}
    for name, value in (("user_id", user), ("agent_id", agent), ("run_id", run)):
        if value is not None:
            scope[name] = value
    for part in clear or []:
        if part not in ("user", "agent", "run"):
            raise _fail(f"--clear takes user, agent or run, got {part!r}")
        scope[f"{part}_id"] = None
    if text is None and tag is None and not sets and not drop_meta and not scope:
        raise _fail("nothing to update: give --content, --tag, --meta, --drop-meta or a scope")

    async def work(store: MemoryStore) -> Any:
        metadata = None
        if sets or drop_meta:
            old = await store.get(memory_id)
            metadata = {
                k: v for k, v in {**old.metadata, **sets}.items() if k not in (drop_meta or [])
            }
        return await store.update(
            memory_id, content=text, tags=tag, metadata=metadata, scope=scope or None, actor=ACTOR
        )

    memory = _run(db, work)
    if as_json:
        _emit(memory)
    else:
        typer.echo(f"updated {memory.id}\t{memory.tokens_original} -> {memory.tokens_compressed}")


@app.command("history")
def history_cmd(
    memory_id: Annotated[str, typer.Argument(help="memory id")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every change of a memory, oldest first, with old and new values."""
    entries = _run(db, lambda s: s.history(memory_id))
    if as_json:
        _emit(entries)
        return
    for e in entries:
        by = f" by {e.actor}" if e.actor else ""
        typer.echo(f"#{e.seq}\t{e.at}\t{e.action}{by}")
        for field, change in e.changes.items():
            old, new = (json.dumps(change.get(k), ensure_ascii=False) for k in ("old", "new"))
            typer.echo(f"  {field}: {old} -> {new}")


@app.command("namespaces")
def namespaces_cmd(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Namespaces with their number of live memories."""
    names = _run(db, lambda s: s.list_namespaces())
    if as_json:
        _emit(names)
        return
    for n in names:
        typer.echo(f"{n.namespace}\t{n.memories}")


@app.command("scopes")
def scopes_cmd(namespace: NsOpt = "default", db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The user/agent/run scopes of a namespace with their number of memories."""
    scopes = _run(db, lambda s: s.list_scopes(namespace))
    if as_json:
        _emit(scopes)
        return
    for sc in scopes:
        typer.echo(f"{_scope_label(sc)}\t{sc.memories}")


@app.command("list")
def list_cmd(
    namespace: NsOpt = "default",
    all_namespaces: Annotated[bool, typer.Option(help="list every namespace")] = False,
    limit: Annotated[int, typer.Option(help="page size")] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    user: UserOpt = None,
    agent: AgentOpt = None,
    run: RunOpt = None,
    filters: FilterOpt = None,
    all_scopes: AllScopesOpt = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List memories (of one scope, unless --all-scopes) in insertion order, page by page."""
    ns = None if all_namespaces else namespace
    scope = _scoped(user, agent, run, filters, all_scopes)
    page = _run(db, lambda s: s.list(ns, limit=limit, cursor=cursor, **scope))
    if as_json:
        _emit(page)
        return
    for m in page.items:
        preview = " ".join(m.content.split())[:80]
        counts = f"{m.tokens_original}->{m.tokens_compressed}"
        typer.echo(f"{m.id}\t{m.namespace}\t{_scope_label(m)}\t{counts}\t{preview}")
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
    typer.echo(
        f"memories: {stats.memories} in {len(stats.namespaces)} namespaces "
        f"({stats.deleted} deleted, restorable until purged)"
    )
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
