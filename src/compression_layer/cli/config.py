"""``compression-layer config``: the effective settings and where each came from; the folders.

``show [AREA] [--json]`` prints every key of every area (or one) with its source: ``default``,
``packaged <file>``, ``user <file>``, ``env <VARIABLE>`` or ``flag``; secrets are masked.
``path`` prints the user config dir, the data dir and the packaged defaults' folder. Plain text,
no tables: the output is meant to be read, grepped and pasted into bug reports.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from compression_layer.errors import CompressionLayerError

if TYPE_CHECKING:
    from compression_layer.settings import AreaReport

# The settings package (pydantic-settings, YAML) is imported inside the commands: every
# `compression-layer --help` would pay for it otherwise.

app = typer.Typer(
    help="Configuration: effective settings with their sources, and where files live.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON")]


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _print_report(report: AreaReport) -> None:
    typer.echo(f"[{report.area}]")
    for origin, exists in report.files:
        if exists or origin.kind == "user":
            typer.echo(f"  {origin.kind} file: {origin.where}{'' if exists else ' (absent)'}")
    width = max((len(row.key) for row in report.rows), default=0)
    for row in report.rows:
        typer.echo(f"  {row.key.ljust(width)} = {_value(row.value)}  <- {row.origin}")
    if report.secrets:
        typer.echo("  secrets in the environment:")
        for var, value in report.secrets.items():
            typer.echo(f"    {var} = {value}" if value is not None else f"    {var} (not set)")


@app.command()
def show(
    area: Annotated[
        str | None,
        typer.Argument(help="one area (compress, memory, server, ...); default: all"),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Effective settings of every area (or AREA), each with where its value came from."""
    from compression_layer.settings import AREAS, explain, report_json

    if area is not None and area not in AREAS:
        typer.echo(f"error: unknown area {area!r}; areas: {', '.join(AREAS)}", err=True)
        raise typer.Exit(2)
    names = [area] if area is not None else list(AREAS)
    failed = False
    payload: dict[str, Any] = {}
    for i, name in enumerate(names):
        try:
            report = explain(AREAS[name])
        except CompressionLayerError as exc:
            failed = True
            payload[name] = {"error": str(exc)}
            typer.echo(f"error: {exc}", err=True)
            continue
        if as_json:
            payload[name] = report_json(report)
        else:
            if i:
                typer.echo("")
            _print_report(report)
    if as_json:
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    if failed:
        raise typer.Exit(2)


def _how(env: str) -> str:
    return f"from ${env}" if os.environ.get(env) else f"platform default; set ${env} to move it"


@app.command()
def path(as_json: JsonFlag = False) -> None:
    """The user config dir, the data dir and the packaged defaults; area files found."""
    from compression_layer.settings import (
        AREAS,
        CONFIG_DIR_ENV,
        HOME_ENV,
        PACKAGED_CONFIG_DIR,
        config_dir,
        data_dir,
    )

    cfg = config_dir()
    found = sorted(p.name for p in cfg.glob("*.yaml")) if cfg.is_dir() else []
    known = {cls.yaml_file for cls in AREAS.values()}
    unknown = [name for name in found if name not in known]
    info = {
        "config_dir": str(cfg),
        "config_dir_exists": cfg.is_dir(),
        "data_dir": str(data_dir(create=False)),
        "packaged_config_dir": str(PACKAGED_CONFIG_DIR),
        "user_files": found,
        "unknown_files": unknown,
    }
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    state = "" if info["config_dir_exists"] else " (absent: create it to add <area>.yaml files)"
    typer.echo(f"config dir: {cfg}{state}  ({_how(CONFIG_DIR_ENV)})")
    typer.echo(f"data dir:   {info['data_dir']}  ({_how(HOME_ENV)})")
    typer.echo(f"packaged:   {PACKAGED_CONFIG_DIR}")
    if found:
        typer.echo(f"user files: {', '.join(found)}")
    for name in unknown:
        typer.echo(
            f"warning: {cfg / name} is not read: area files are {', '.join(sorted(known))}",
            err=True,
        )
