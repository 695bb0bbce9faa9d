"""``compression-layer train generate``: teacher pairs from a corpus, validated, resumable."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from compression_layer.errors import CompressionLayerError

err = Console(stderr=True, soft_wrap=True)  # paths and line numbers stay on one line
_SHOWN_BAD_LINES = 20


def _models(option: str | None) -> list[str] | None:
    """``None`` keeps the configured list; ``""`` or ``none`` means offline checks only."""
    if option is None:
        return None
    if option.strip().lower() == "none":
        return []
    return [m.strip() for m in option.split(",") if m.strip()]


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items() if n)


def generate_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="corpus files or folders (.md .txt .py .js .go ... .json .jsonl .log)"),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="accepted pairs (JSONL); rerun to resume it")
    ],
    teacher: Annotated[
        str | None,
        typer.Option(help="teacher model: a validation catalog name or provider:model-id"),
    ] = None,
    validate_models: Annotated[
        str | None,
        typer.Option(
            "--validate-models",
            "-m",
            help="comma-separated models each pair is validated on; 'none': offline checks only",
        ),
    ] = None,
    chunk_tokens: Annotated[int | None, typer.Option(help="largest chunk (o200k tokens)")] = None,
    min_chunk_tokens: Annotated[int | None, typer.Option(help="smaller chunks skipped")] = None,
    budget: Annotated[float | None, typer.Option("--budget", help="USD cap for this run")] = None,
    workers: Annotated[int | None, typer.Option(help="chunks in flight at once")] = None,
    limit: Annotated[int | None, typer.Option(help="take at most N new chunks this run")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Compress a corpus with a teacher model, validate each pair, keep the ones that pass."""
    from compression_layer.settings import GenerateSettings, load_area
    from compression_layer.training.generate.run import generate

    try:
        settings = load_area(
            GenerateSettings,
            teacher=teacher,
            validate_models=_models(validate_models),
            chunk_tokens=chunk_tokens,
            min_chunk_tokens=min_chunk_tokens,
            workers=workers,
        )
        columns = (
            TextColumn("generating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err, transient=False) as progress:
            bar = progress.add_task("chunks", total=None)
            summary = asyncio.run(
                generate(
                    inputs,
                    out,
                    settings,
                    budget_usd=budget,
                    limit=limit,
                    on_total=lambda n: progress.update(bar, total=n),
                    on_chunk=lambda: progress.advance(bar),
                )
            )
    except CompressionLayerError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    for line in summary.bad_lines[:_SHOWN_BAD_LINES]:
        err.print(f"[yellow]skipped[/] {line}", highlight=False)
    if len(summary.bad_lines) > _SHOWN_BAD_LINES:
        err.print(f"[yellow]... and {len(summary.bad_lines) - _SHOWN_BAD_LINES} more[/]")
    for problem in summary.errors:
        err.print(f"[red]failed[/] {problem}", highlight=False)
    if summary.budget_exhausted:
        err.print(
            "[yellow]budget reached: the run stopped; rerun with the same --out (and a larger "
            "--budget) to resume[/]"
        )
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    dropped = _counts(summary.dropped)
    reasons = _counts(summary.rejected_by)
    err.print(
        f"corpus: {summary.documents} documents, {len(summary.bad_lines)} bad lines, "
        f"{summary.skipped_files} files of other types; {summary.chunks} chunks"
        + (f" ({dropped} dropped)" if dropped else "")
        + f", {summary.already_done} already done\n"
        f"teacher: {summary.teacher_calls} calls, {summary.teacher_cached} cached; "
        f"validation: {summary.validation_calls} calls, {summary.validation_cached} cached\n"
        f"accepted {summary.accepted}, rejected {summary.rejected}"
        + (f" ({reasons})" if reasons else "")
        + f", failed {summary.failed}; cost ${summary.cost_usd:.6f}\n"
        f"wrote {summary.out} and {summary.rejected_out}",
        highlight=False,
    )


HELP = (
    "Compress a corpus with a teacher model, validate each pair, keep the ones that pass.\n\n"
    "Accepted pairs go to --out in the training chat format (with scores, source and domain), "
    "rejected ones with their reasons to <out stem>.rejected.jsonl. Rerunning with the same "
    "--out skips every chunk already decided; calls already paid for come from the cache."
)


def register(app: typer.Typer) -> None:
    """Add ``generate`` to the ``train`` app."""
    app.command("generate", help=HELP)(generate_command)
