"""``compression-layer validate``: one pair, or a resumable batch of pairs, across models.

Exit codes (``pair``; ``batch`` uses 0, 2, 3 and 4):

- 0: every requested model answered and the pair passed (or offline checks only, and they passed);
- 1: the compression failed: a model scored below the pass mark, or meaning was lost offline;
- 2: usage or configuration error (bad file, unknown model, missing key); nothing was called;
- 3: models were requested and none produced an answer (every call failed or timed out);
- 4: incomplete: some model produced no answer at all while another did (``batch``: some pair is
  unfinished, or the run stopped early on the budget, the deadline or providers given up).

Failed calls are listed on stderr, per model, with the reason in words, whatever the exit code.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from compression_layer.errors import CompressionLayerError

if TYPE_CHECKING:
    from compression_layer.settings import ValidationSettings
    from compression_layer.validation.report import ValidationReport

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_ANSWERS, EXIT_INCOMPLETE = 0, 1, 2, 3, 4
EXIT_CODES = {"ok": EXIT_OK, "failed": EXIT_FAILED, "no_answers": EXIT_NO_ANSWERS,
              "incomplete": EXIT_INCOMPLETE}  # fmt: skip
EXIT_HELP = (
    "Exit codes: 0 passed; 1 compression failed; 2 usage or config error; 3 no model answered "
    "(every call failed); 4 incomplete (a model produced no answer; batch: unfinished pairs or "
    "stopped early)."
)

app = typer.Typer(
    help="Check that models answer from a compression as from the original.", epilog=EXIT_HELP
)
_err = Console(stderr=True)

ModelsOpt = Annotated[
    str | None,
    typer.Option(
        "--models",
        "-m",
        help="comma-separated model names (catalog keys or provider:model-id); "
        "default: 'models' in the validation settings (config show validation); "
        "none: offline checks only",
    ),
]
BudgetOpt = Annotated[float | None, typer.Option("--budget", help="USD cap for this run")]


def _deadline_opt(setting: str) -> Any:
    return typer.Option(
        "--deadline",
        min=0.0,
        help=f"seconds before the model calls are cut off (default: {setting}; 0: none)",
    )


def _settings(
    budget: float | None,
    threshold: float | None = None,
    *,
    deadline: tuple[str, float | None] | None = None,
) -> ValidationSettings:
    from compression_layer.settings import ValidationSettings, load_area

    settings = load_area(ValidationSettings, budget_usd=budget, threshold=threshold)
    if deadline is not None and deadline[1] is not None:
        settings = settings.model_copy(update={deadline[0]: deadline[1] or None})
    return settings


def _models(option: str | None, settings: ValidationSettings) -> list[str]:
    if option is None:
        return list(settings.models)
    return [m.strip() for m in option.split(",") if m.strip()]


def _read(path: str, stdin_used: list[bool]) -> str:
    if path == "-":
        if stdin_used:
            raise typer.BadParameter("only one of ORIGINAL / COMPRESSED can be '-' (stdin)")
        stdin_used.append(True)
        return sys.stdin.read()
    file = Path(path)
    if not file.is_file():
        raise typer.BadParameter(f"{path}: no such file")
    return file.read_text(encoding="utf-8")


def _load_questions(path: Path | None) -> list[dict[str, Any]] | None:
    if path is None:
        return None
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("["):
        data = json.loads(text)
    else:
        data = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [d if isinstance(d, dict) else {"question": str(d)} for d in data]


def _fail(exc: Exception) -> typer.Exit:
    _err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(code=EXIT_USAGE)


def _print_failures(lines: list[str], headline: str) -> None:
    """What failed, on stderr (so ``--json`` output stays parseable)."""
    if not lines and not headline:
        return
    if headline:
        _err.print(headline, highlight=False, soft_wrap=True)
    for line in lines:
        typer.echo(line, err=True)  # plain: a line a user greps or pastes stays whole


def _pair_headline(report: ValidationReport) -> str:
    silent = [m.model for m in report.models if m.answered == 0]
    if report.status == "no_answers":
        return (
            f"[red]no answers:[/red] none of {', '.join(silent)} answered; exit {EXIT_NO_ANSWERS}"
        )
    if report.status == "incomplete":
        return (
            f"[yellow]incomplete:[/yellow] no answer from {', '.join(silent)}; the scores cover "
            f"the other models only; exit {EXIT_INCOMPLETE}"
        )
    if report.failures:
        return "[yellow]some calls failed[/yellow] (every model answered at least one task):"
    return ""


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_report(report: ValidationReport) -> None:
    console = Console()
    off = report.offline
    table = Table(title="offline checks", show_header=True)
    for column in ("tokenizer", "original", "compressed", "reduction"):
        table.add_column(column)
    for t in off.tokens:
        mark = " (est.)" if t.estimated else ""
        table.add_row(t.tokenizer + mark, str(t.original), str(t.compressed), f"{t.reduction:.1%}")
    console.print(table)
    console.print(f"similarity {off.similarity:.3f}; facts missing: {off.facts_missing}")
    console.print(
        f"operators missing: {off.operators_missing}; offline checks passed: {off.passed}"
    )
    if off.is_code:
        loose = off.ast_equal_ignoring_docstrings
        console.print(f"AST equal: {off.ast_equal}; ignoring docstrings: {loose}")
    if off.answer_retention is not None:
        console.print(f"answer retention {off.answer_retention:.1%} of {off.answers_checked}")
    if report.models:
        models = Table(title=f"models (pass mark {report.threshold})")
        for column in ("model", "mean", "min", "passed", "failed"):
            models.add_column(column)
        for m in report.models:
            failed = f"{m.failed}/{len(m.tasks)} tasks failed" if m.failed else ""
            if m.timed_out:
                failed += f" ({m.timed_out} timed out)"
            models.add_row(m.model, _num(m.mean), _num(m.min), str(m.passed), failed)
        console.print(models)
        console.print(
            f"transfer {report.transfer}; calls {report.calls}, cached {report.cached}, "
            f"cost ${report.cost_usd:.6f}" + ("; PARTIAL" if report.partial else "")
        )
    for note in report.notes:
        console.print(f"note: {escape(note)}")


@app.command("pair")
def pair(
    original: Annotated[str, typer.Argument(help="file with the original text, or - for stdin")],
    compressed: Annotated[str, typer.Argument(help="file with the compression, or - for stdin")],
    models: ModelsOpt = None,
    questions: Annotated[
        Path | None, typer.Option(help="JSON / JSONL of {question, answers} (gold answers)")
    ] = None,
    budget: BudgetOpt = None,
    threshold: Annotated[float | None, typer.Option(help="pass mark for a model's mean")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    exact_tokens: Annotated[
        bool,
        typer.Option(
            "--exact-tokens", help="count Claude / Gemini tokens through their APIs (keys set)"
        ),
    ] = False,
    deadline: Annotated[float | None, _deadline_opt("run_deadline_s")] = None,
) -> None:
    """Validate one compression: offline checks, then each model's answers from both texts.

    Exit codes: 0 passed; 1 compression failed; 2 usage or config error; 3 no model answered;
    4 a model produced no answer (others did). Failed calls are listed on stderr.
    """
    from compression_layer.validation.counting import register_exact_counters
    from compression_layer.validation.harness import Harness

    try:
        stdin_used: list[bool] = []
        texts = _read(original, stdin_used), _read(compressed, stdin_used)
        settings = _settings(budget, threshold, deadline=("run_deadline_s", deadline))
        chosen = _models(models, settings)
        if exact_tokens:
            families = register_exact_counters(settings)
            if not families:
                _err.print("[yellow]--exact-tokens: no Claude / Gemini key set; estimates used")

        async def go() -> ValidationReport:
            async with Harness(settings, deadline_s=settings.run_deadline_s) as harness:
                return await harness.validate(*texts, chosen, _load_questions(questions))

        report = asyncio.run(go())
    except (CompressionLayerError, json.JSONDecodeError, OSError) as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        _print_report(report)
    _print_failures(report.failures, _pair_headline(report))
    code = EXIT_CODES[report.status]
    if code != EXIT_OK:
        raise typer.Exit(code=code)


@app.command("batch")
def batch(
    pairs: Annotated[Path, typer.Argument(help="JSONL of {id?, original, compressed, questions?}")],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL results; resumed if present")],
    models: ModelsOpt = None,
    budget: BudgetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    deadline: Annotated[float | None, _deadline_opt("batch_deadline_s")] = None,
) -> None:
    """Validate every pair of a JSONL file; pairs already in --out are skipped (resume).

    Exit codes: 0 every pair finished; 2 usage or config error; 3 no model ever answered;
    4 unfinished pairs (a model gave no answer) or stopped early (budget, deadline, providers
    given up): run again to resume.
    """
    from compression_layer.validation.batch import count_lines, run_batch
    from compression_layer.validation.harness import Harness

    if not pairs.is_file():
        raise _fail(FileNotFoundError(f"{pairs}: no such file"))
    try:
        settings = _settings(budget, deadline=("batch_deadline_s", deadline))
        chosen = _models(models, settings)
        total = count_lines(pairs)
        columns = (TextColumn("validating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=_err, transient=False) as progress:
            bar = progress.add_task("pairs", total=total)

            async def go() -> Any:
                async with Harness(
                    settings,
                    deadline_s=settings.batch_deadline_s,
                    deadline_name="batch deadline",
                    deadline_setting="batch_deadline_s or --deadline",
                ) as harness:
                    return await run_batch(
                        pairs, out, harness, chosen, on_pair=lambda *_: progress.advance(bar)
                    )

            summary = asyncio.run(go())
    except CompressionLayerError as exc:
        raise _fail(exc) from None
    for problem in summary.errors:
        _err.print(f"[yellow]skipped[/yellow] {problem.error}")
    if summary.budget_exhausted:
        _err.print("[yellow]budget reached: batch stopped; run again to resume[/yellow]")
    if summary.deadline_reached:
        _err.print("[yellow]deadline reached: batch stopped; run again to resume[/yellow]")
    for provider, last in summary.gave_up.items():
        typer.echo(f"given up: {provider} after repeated failures: {last}", err=True)
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
    else:
        _err.print(
            f"{summary.validated} validated, {summary.skipped} already done, "
            f"{summary.unfinished} unfinished, {len(summary.errors)} bad lines; "
            f"calls {summary.calls}, cached {summary.cached}, cost ${summary.cost_usd:.6f}"
        )
    headline = {
        "no_answers": f"[red]no answers:[/red] no model answered; exit {EXIT_NO_ANSWERS}",
        "incomplete": f"[yellow]incomplete:[/yellow] run again to resume; exit {EXIT_INCOMPLETE}",
    }.get(summary.status, "")
    _print_failures(summary.failures, headline)
    code = EXIT_CODES[summary.status]
    if code != EXIT_OK:
        raise typer.Exit(code=code)
