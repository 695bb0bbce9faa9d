"""The promotion gate: score a candidate adapter and the one it would replace, then decide.

This is the one gate: :func:`decide` holds the rules and :func:`promote` the procedure; what
scores an adapter is a plain callable ``(record) -> GateMetrics`` (an *evaluator*), so tests
inject a fake and the CLI picks one by name from :data:`EVALUATORS`:

- ``builtin`` (:func:`builtin_evaluator`): the adapter's engine at ``gate_rate`` on a small
  held-out set (the first paragraphs of ``../shared/data/squad`` when present, else a sample
  written for this module): token reduction (o200k), facts kept, answers kept verbatim;
- ``training`` (:func:`training_evaluator`): ``eval adapter``'s measurement (SQuAD held-out
  articles 4-7, loose answer retention, a generative adapter after its fact guard).

The baseline is what serves the kind now: the registry's active adapter, else the packaged
built-in default (``extractive-default``), so a first extractive adapter must match the one
users already get.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from compression_layer.adapters.manifest import AdapterError
from compression_layer.adapters.registry import AdapterRecord, AdapterRegistry
from compression_layer.compress.engines import engine_for_adapter
from compression_layer.compress.facts import kept_ratio
from compression_layer.compress.types import CompressRequest, Domain
from compression_layer.settings import AdapterSettings, load_area
from compression_layer.tokens import count_tokens

METRICS = ("token_reduction", "fact_retention", "answer_retention")


class GateMetrics(BaseModel):
    """What the gate compares; every metric is higher-is-better."""

    token_reduction: float = Field(description="1 - compressed/original tokens (o200k), pooled")
    fact_retention: float = Field(description="mean share of protected facts kept")
    answer_retention: float = Field(description="share of reference answers kept verbatim")
    items: int = 0
    evaluator: str = "builtin"


class GateDecision(BaseModel):
    """The gate's verdict on one candidate, with the reasons it failed (if any)."""

    candidate: str
    kind: str
    passed: bool
    reasons: list[str] = Field(default_factory=list)
    metrics: GateMetrics
    baseline: GateMetrics | None = None
    baseline_name: str | None = None
    baseline_source: str | None = Field(
        default=None, description="registry (the active adapter) or packaged (built-in default)"
    )


Evaluator = Callable[[AdapterRecord], GateMetrics]


class HeldOutItem(BaseModel):
    text: str
    answers: list[str]


# Written for this module (no external source): used when the shared SQuAD data is absent.
_SAMPLE = [
    ("The Harlow Bridge opened on 12 March 1931 after four years of work. It spans 412 metres "
     "across the Tesk river and carried about 18,000 vehicles a day by 1990, when a second deck "
     "was added. The engineer, Maria Ostrand, had earlier designed two dams in Norway.",
     ["12 March 1931", "412 metres", "Maria Ostrand"]),
    ("Kelp forests grow in cold, nutrient-rich water, usually below 20 °C. Giant kelp can grow "
     "up to 60 cm in a single day. Sea otters protect the forests by eating sea urchins, which "
     "would otherwise graze the kelp down to bare rock, a state called an urchin barren.",
     ["20 °C", "60 cm", "sea urchins"]),
    ("The town council approved a budget of $4.2 million for 2024, up 6% from the year before. "
     "Most of the increase goes to road repairs on Elm Street and to two new librarians. The vote "
     "passed 7 to 2; councillors Diaz and Okafor voted against it.",
     ["$4.2 million", "6%", "Diaz and Okafor"]),
    ("Version 3.2 of the parser drops support for Python 3.8 and adds streaming input. Files "
     "larger than 2 GB are now read in 64 MB chunks. The release notes are at "
     "https://example.org/parser/3.2 and the maintainers ask for bug reports by 30 June.",
     ["3.2", "Python 3.8", "64 MB", "30 June"]),
    ("Ada Lovelace wrote the first published algorithm intended for a machine in 1843, in her "
     "notes on Charles Babbage's Analytical Engine. Her Note G described how to compute Bernoulli "
     "numbers. The engine itself was never completed during Babbage's lifetime.",
     ["1843", "Note G", "Bernoulli numbers"]),
    ("The clinic is open Monday to Friday from 8:30 am to 6 pm and on Saturday mornings. "
     "Appointments can be booked by phone at 555-0142 or online. New patients should bring an ID "
     "card and arrive 15 minutes early to fill in a health questionnaire.",
     ["8:30 am", "555-0142", "15 minutes"]),
]  # fmt: skip


def _squad_dir(settings: AdapterSettings) -> Path | None:
    """The configured SQuAD data, or None (the packaged sample); never a working-dir guess."""
    return settings.heldout_path


def heldout_items(settings: AdapterSettings | None = None) -> list[HeldOutItem]:
    """The gate's held-out set: SQuAD paragraphs with answers, else the packaged sample."""
    cfg = settings or load_area(AdapterSettings)
    source = _squad_dir(cfg)
    items: list[HeldOutItem] = []
    files = sorted(source.glob("*.json")) if source and source.is_dir() else [source]
    for path in files:
        if path is None or not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        for article in data.get("data", []):
            for para in article.get("paragraphs", []):
                answers = {a["text"] for qa in para.get("qas", []) for a in qa.get("answers", [])}
                if answers:
                    items.append(HeldOutItem(text=para["context"], answers=sorted(answers)))
                if len(items) >= cfg.heldout_items:
                    return items
    if items:
        return items
    return [HeldOutItem(text=t, answers=a) for t, a in _SAMPLE][: cfg.heldout_items]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def score(
    compress: Callable[[str], str], items: list[HeldOutItem], evaluator: str = "builtin"
) -> GateMetrics:
    """Metrics of a compress function over ``items``."""
    n_orig = n_comp = 0
    facts = answers = 0.0
    n_answers = 0
    for item in items:
        out = compress(item.text)
        n_orig += count_tokens(item.text)
        n_comp += count_tokens(out)
        facts += kept_ratio(item.text, out)
        low = _norm(out)
        answers += sum(_norm(a) in low for a in item.answers)
        n_answers += len(item.answers)
    return GateMetrics(
        token_reduction=round(1 - n_comp / n_orig, 4) if n_orig else 0.0,
        fact_retention=round(facts / len(items), 4) if items else 0.0,
        answer_retention=round(answers / n_answers, 4) if n_answers else 1.0,
        items=len(items),
        evaluator=evaluator,
    )


def builtin_evaluator(settings: AdapterSettings | None = None) -> Evaluator:
    """The default evaluator: the adapter's engine on the held-out set at ``gate_rate``."""
    cfg = settings or load_area(AdapterSettings)

    def evaluate(record: AdapterRecord) -> GateMetrics:
        engine = engine_for_adapter(record.kind, record.path, record.name)
        request = CompressRequest(engine=engine.name, rate=cfg.gate_rate, target_tokens=None)
        prose = Domain(kind="prose", confidence=1.0)
        return score(lambda t: engine.run(t, prose, request).text, heldout_items(cfg))

    return evaluate


def training_evaluator(
    data: Path | None = None,
    *,
    limit: int = 20,
    rate: float | None = None,
    settings: AdapterSettings | None = None,
) -> Evaluator:
    """``eval adapter``'s scoring as an evaluator: SQuAD held-out articles 4-7 under ``data``
    (else the folder above ``heldout_path``; the packaged sample when neither), answer
    retention (every content word of a gold answer kept), facts kept and token reduction at
    ``rate`` (default ``gate_rate``); a generative adapter is scored after its fact guard, as
    users get it."""
    from compression_layer.training.evaluate.adapters import (
        adapter_compressor,
        score_outputs,
        timed,
    )
    from compression_layer.training.evaluate.compress import Item, load_squad

    cfg = settings or load_area(AdapterSettings)
    use_rate = rate if rate is not None else cfg.gate_rate
    # The shared-data root: --data, else the folder above a configured SQuAD folder.
    squad = cfg.heldout_path
    root = data or (squad.parent if squad is not None and squad.is_dir() else None)

    def evaluate(record: AdapterRecord) -> GateMetrics:
        if root is not None and (root / "squad").is_dir():
            items = load_squad(root, range(4, 8))[:limit]
        else:
            items = [Item(h.text, [("", h.answers)]) for h in heldout_items(cfg)][:limit]
        compress, _ = adapter_compressor(record, use_rate)
        outs, lat = timed(compress, [it.context for it in items])
        got = score_outputs(items, outs, lat)
        return GateMetrics(
            token_reduction=got.token_reduction,
            fact_retention=got.facts_kept,
            answer_retention=got.answer_retention if got.answer_retention is not None else 1.0,
            items=got.items,
            evaluator="training.evaluate" if root is not None else "training.evaluate (sample)",
        )

    return evaluate


EVALUATORS: dict[str, str] = {
    "training": "eval adapter's held-out SQuAD scoring (loose answers, generative after its guard)",
    "builtin": "the gate's own held-out set at gate_rate (answers kept verbatim)",
}


def evaluator_named(
    name: str, *, data: Path | None = None, limit: int = 20, settings: AdapterSettings | None = None
) -> Evaluator:
    """The evaluator :data:`EVALUATORS` names; AdapterError lists the choices when unknown."""
    if name == "training":
        return training_evaluator(data, limit=limit, settings=settings)
    if name == "builtin":
        return builtin_evaluator(settings)
    raise AdapterError(f"unknown evaluator {name!r}; choose one of {', '.join(EVALUATORS)}")


def decide(
    name: str,
    kind: str,
    metrics: GateMetrics,
    baseline: GateMetrics | None,
    settings: AdapterSettings,
    baseline_name: str | None = None,
) -> GateDecision:
    """Absolute minimums always; against the baseline, no metric may drop > tolerance."""
    reasons: list[str] = []
    minimums = {
        "token_reduction": settings.min_token_reduction,
        "fact_retention": settings.min_fact_retention,
        "answer_retention": settings.min_answer_retention,
    }
    for metric, floor in minimums.items():
        value = getattr(metrics, metric)
        if value < floor:
            reasons.append(f"{metric} {value:.4f} is below the minimum {floor:.4f}")
    if baseline is not None:
        for metric in METRICS:
            new, old = getattr(metrics, metric), getattr(baseline, metric)
            if new < old - settings.tolerance:
                reasons.append(
                    f"{metric} regressed: {new:.4f} vs {old:.4f} for {baseline_name!r} "
                    f"(tolerance {settings.tolerance:.4f})"
                )
    return GateDecision(
        candidate=name,
        kind=kind,
        passed=not reasons,
        reasons=reasons,
        metrics=metrics,
        baseline=baseline,
        baseline_name=baseline_name,
    )


class GateRefused(AdapterError):
    """``promote`` refused the candidate; ``decision`` holds the metrics and reasons."""

    def __init__(self, decision: GateDecision) -> None:
        self.decision = decision
        reasons = "\n".join(f"  - {r}" for r in decision.reasons)
        super().__init__(f"gate refused adapter {decision.candidate!r}:\n{reasons}")


def promote(
    registry: AdapterRegistry,
    name: str,
    evaluator: Evaluator | None = None,
    settings: AdapterSettings | None = None,
) -> GateDecision:
    """Gate ``name`` against what serves its kind now (the active adapter, else the packaged
    default); activate it on success, raise :class:`GateRefused` otherwise."""
    cfg = settings or load_area(AdapterSettings)
    evaluate = evaluator or builtin_evaluator(cfg)
    record = registry.show(name)
    if record.builtin:
        raise AdapterError(
            f"{name!r} is the built-in default: it serves whenever no {record.kind} adapter is "
            "active, so there is nothing to promote"
        )
    current = registry.effective(record.kind)
    if current is not None and current.name == name:
        current = None  # promoting the active one again: the minimums only
    baseline = evaluate(current) if current is not None else None
    decision = decide(
        name, record.kind, evaluate(record), baseline, cfg, current.name if current else None
    )
    decision.baseline_source = current.source if current is not None else None
    if not decision.passed:
        raise GateRefused(decision)
    registry.activate(name, gate=decision.model_dump(mode="json"))
    return decision
