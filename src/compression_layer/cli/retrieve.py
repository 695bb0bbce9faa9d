"""``compression-layer retrieve HANDLE``: get back what a marker left out, exactly."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from compression_layer.errors import CompressionLayerError


def _fail(message: str) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(2)


def retrieve(
    handle: Annotated[str, typer.Argument(help="the o_... handle of a marker or a --json result")],
    lines: Annotated[
        str | None, typer.Option(help="1-based inclusive line ranges, e.g. 220-1422,1500")
    ] = None,
    path: Annotated[str | None, typer.Option(help="JSON path, e.g. $.items[3]")] = None,
    rows: Annotated[
        str | None, typer.Option(help="0-based inclusive elements of the array at --path")
    ] = None,
    symbol: Annotated[
        str | None, typer.Option(help="function or class: Name, Class.method")
    ] = None,
    match: Annotated[str | None, typer.Option(help="only the lines containing this text")] = None,
    namespace: Annotated[
        str | None, typer.Option(help="the store's namespace (default: originals.namespace)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON object: handle, domain, text")
    ] = False,
) -> None:
    """Print the part of a kept original a marker names (no selector: all of it, byte for byte).

    Markers look like ``[1203 lines omitted: retrieve o_3fa9c2d1e0 lines=220-1422]``: pass the
    handle and the marker's selector as options.
    """
    from compression_layer.originals.store import OriginalStore

    selector = {"lines": lines, "path": path, "rows": rows, "symbol": symbol, "match": match}
    try:
        with OriginalStore.open(namespace=namespace) as store:
            original = store.get(handle)
            text = store.select(original.text, original.domain, **selector)
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        given = {k: v for k, v in selector.items() if v is not None}
        payload = {"handle": original.handle, "domain": original.domain, "selector": given}
        sys.stdout.write(json.dumps({**payload, "text": text}, ensure_ascii=False) + "\n")
    else:
        # Exactly the original's bytes: UTF-8, no newline added, no newline translation.
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add the ``retrieve`` command to ``app``."""
    app.command("retrieve")(retrieve)
