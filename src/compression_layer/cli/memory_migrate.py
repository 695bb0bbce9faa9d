"""``compression-layer memory migrate --to postgresql://...``: copy the SQLite memory database
into Postgres + pgvector, verified by counts and content hashes; safe to run again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from compression_layer.errors import CompressionLayerError

# Extra keyword arguments for MemoryStore.open (tests put a fake compressor/embedder here).
STORE_OPTIONS: dict[str, Any] = {}


def migrate_cmd(
    to: Annotated[str, typer.Option("--to", help="target: postgresql://user@host:port/db")],
    db: Annotated[
        Path | None, typer.Option("--db", help="source SQLite file (default: settings)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Copy every memory, vector and history entry into Postgres, then verify both sides."""
    # Heavy imports here, not at module import: `compression-layer --help` stays fast.
    from compression_layer.memory.postgres import is_postgres_url, redact_url

    if not is_postgres_url(to):
        typer.echo("error: --to must be a postgresql:// URL", err=True)
        raise typer.Exit(2)
    try:
        report = asyncio.run(_migrate(to, db, None if as_json else _progress))
    except (CompressionLayerError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
        return
    typer.echo(
        f"migrated {report['memories']} memories to {redact_url(to)}: {report['created']} "
        f"copied, {report['existing']} already there; vectors copied {report['vectors_copied']}, "
        f"computed {report['vectors_computed']}; history {report['history']}; verified"
    )


def _progress(done: int) -> None:
    typer.echo(f"... {done} memories", err=True)


async def _migrate(to: str, db: Path | None, progress: object) -> dict[str, object]:
    from compression_layer.memory import MemoryStore
    from compression_layer.memory.postgres.migrate import CopiedVectors, MigrationReport, migrate
    from compression_layer.memory.postgres.store import PostgresMemoryStore
    from compression_layer.memory.postgres.urls import redact_url
    from compression_layer.memory.store import DEFAULT_EMBED_MODEL, default_db_path
    from compression_layer.settings import MemorySettings, load_area

    settings = load_area(MemorySettings).model_copy(update={"db_url": None})
    path = Path(db).expanduser() if db else default_db_path(settings)
    if not path.is_file():
        raise CompressionLayerError(f"no memory database at {path}")
    options = dict(STORE_OPTIONS)
    async with MemoryStore.open(path, settings=settings, **options) as source:
        report = MigrationReport(source=str(path), target=redact_url(to))
        model = source.embed_model or DEFAULT_EMBED_MODEL
        fallback: Any = options.get("embedder")
        if fallback is None:
            from compression_layer.embeddings import embed as fallback
        vectors = CopiedVectors(path, model, fallback, report)
        target_options = {**options, "embedder": vectors, "embed_model": model}
        async with MemoryStore.open(to, settings=settings, **target_options) as target:
            assert isinstance(target, PostgresMemoryStore)
            await migrate(source, path, target, report, progress)  # type: ignore[arg-type]
    return report.as_dict()
