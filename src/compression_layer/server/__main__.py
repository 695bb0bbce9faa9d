"""``python -m compression_layer.server serve|install-claude``: the server without the full CLI."""

from __future__ import annotations

import typer

from compression_layer.cli.serve import register

app = typer.Typer(
    name="compression-layer-server", no_args_is_help=True, pretty_exceptions_enable=False
)
register(app)

if __name__ == "__main__":
    app()
