"""The ``compression-layer`` command: one sub-app per area."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from compression_layer.cli import adapters, config, memory, retrieve, serve, train, validate
from compression_layer.cli import eval as evaluate
from compression_layer.errors import CompressionLayerError

if TYPE_CHECKING:
    from compression_layer.compress.types import CompressionResult

app = typer.Typer(
    name="compression-layer",
    help="Compress context for LLMs: engines, memory store, MCP server, validation and training.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)

app.add_typer(train.app, name="train")
app.add_typer(evaluate.app, name="eval")
app.add_typer(validate.app, name="validate")
app.add_typer(memory.app, name="memory")
app.add_typer(adapters.app, name="adapters")
app.add_typer(config.app, name="config")
serve.register(app)
retrieve.register(app)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _table(rows: list[tuple[str, CompressionResult]]) -> Table:
    table = Table(title="compression-layer", show_lines=False)
    for col in ("input", "domain", "engine", "tokens", "kept", "saved", "ms", "facts missing"):
        table.add_column(
            col, justify="right" if col in ("tokens", "kept", "saved", "ms") else "left"
        )
    for source, r in rows:
        table.add_row(
            source,
            r.domain,
            r.engine,
            f"{r.tokens_original} → {r.tokens_compressed}",
            f"{r.ratio:.0%}",
            f"{1 - r.ratio:.0%}",
            f"{r.latency_ms:.1f}",
            ", ".join(r.facts_missing) or "none",
        )
    return table


@app.command()
def compress(
    paths: Annotated[
        list[str] | None, typer.Argument(help="files to compress; '-' or nothing reads stdin")
    ] = None,
    engine: Annotated[str | None, typer.Option(help="auto | structural | extractive | ...")] = None,
    rate: Annotated[float | None, typer.Option(help="fraction of tokens to keep (0, 1]")] = None,
    target_tokens: Annotated[int | None, typer.Option(help="token budget instead of rate")] = None,
    query: Annotated[
        str | None, typer.Option(help="keep what is relevant to this question")
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(help="skip detection: prose|code[:lang]|mixed|json|log (default: by file)"),
    ] = None,
    strip_docstrings: Annotated[
        bool | None, typer.Option("--strip-docstrings/--keep-docstrings", help="Python only")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per input")] = False,
    keep_original: Annotated[
        bool | None,
        typer.Option(
            "--keep-original/--no-keep-original",
            help="with a budget, keep the input so parts can be left out and retrieved "
            "(default: originals.cli, on)",
        ),
    ] = None,
) -> None:
    """Compress files (or stdin) and print the result with its numbers.

    With --rate or --target-tokens the input is kept in the original store, and JSON, logs and
    code over the budget leave parts out behind markers; `compression-layer retrieve HANDLE`
    gets them back.
    """
    from compression_layer.compress.inputs import check_query, read_path, read_stream
    from compression_layer.compress.pipeline import compress as run
    from compression_layer.compress.pipeline import domain_for_path
    from compression_layer.originals.store import OriginalStore
    from compression_layer.settings import CompressSettings, OriginalsSettings, load_area

    try:
        settings = load_area(CompressSettings, engine=engine, strip_docstrings=strip_docstrings)
        kept = load_area(OriginalsSettings)
        keep = kept.cli if keep_original is None else keep_original
        budgeted = rate is not None or target_tokens is not None
        store = OriginalStore.open(settings=kept) if keep and budgeted else None
        # The same limits as compress() and the server (compress.max_input_bytes and
        # compress.max_query_chars): a query over its limit fails once, not once per file.
        check_query(query, max_chars=settings.max_query_chars)
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from None
    sources = paths or ["-"]
    rows: list[tuple[str, CompressionResult]] = []
    failed = 0
    for source in sources:
        try:
            if source == "-":
                # Bounded: more than the limit is refused without reading all of it.
                text = read_stream(sys.stdin.buffer, max_bytes=settings.max_input_bytes)
            else:
                text = read_path(Path(source), max_bytes=settings.max_input_bytes)
            result = run(
                text,
                rate=rate,
                target_tokens=target_tokens,
                query=query,
                domain=domain or (None if source == "-" else domain_for_path(source)),
                settings=settings,
                originals=store,
            )
        except CompressionLayerError as exc:
            failed += 1
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            continue
        if as_json:
            payload = {"input": source, **result.model_dump()}
            sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        else:
            if len(sources) > 1:
                err.rule(source)
            sys.stdout.write(result.compressed.rstrip("\n") + "\n")
            rows.append((source, result))
        sys.stdout.flush()
    if store is not None:
        store.close()
    if rows:
        err.print(_table(rows))
        for source, r in rows:
            for note in r.notes:
                err.print(f"[dim]{source}: {note}[/]", highlight=False)
    if failed:
        raise typer.Exit(2)


@app.command()
def tokens(
    path: Annotated[str, typer.Argument(help="file, or '-' for stdin")] = "-",
    model: Annotated[list[str] | None, typer.Option(help="model names (repeatable)")] = None,
) -> None:
    """Count tokens of a file for one or more models (estimates are marked)."""
    from compression_layer import tokens as tk
    from compression_layer.compress.inputs import read_path, read_stream
    from compression_layer.settings import CompressSettings, load_area

    settings = load_area(CompressSettings)
    try:
        if path == "-":
            text = read_stream(sys.stdin.buffer, max_bytes=settings.max_input_bytes)
        else:
            text = read_path(Path(path), max_bytes=settings.max_input_bytes)
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from None
    for name in model or ["gpt-4o", "gpt-4", "claude-sonnet-4-5", "gemini-2.5-pro"]:
        c = tk.count(text, name)
        mark = f" (estimated, ratio {c.ratio})" if c.estimated else ""
        sys.stdout.write(f"{name}\t{c.tokens}\t{c.encoding}{mark}\n")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except CompressionLayerError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
