"""What a Tinker run keeps on disk between attempts: ``run.json`` and ``checkpoints/last.json``.

``last.json`` is the resume point (the step and the ``tinker://`` path of the training state
saved after it); it is replaced whole, so an interruption while writing leaves the previous one.
``run.json`` is the record a person reads: Tinker paths, the estimate made before the start,
rows used, tokens trained, the status of the last attempt and its measured cost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from compression_layer.adapters.manifest import Manifest, now
from compression_layer.settings import TinkerOptions, TrainingSettings, data_dir
from compression_layer.training.config import resolved_dict
from compression_layer.training.tinker.data import Split, TinkerEstimate

LAST = "last.json"


@dataclass(frozen=True)
class LastCheckpoint:
    """The resume point: training state saved on Tinker after ``step`` optimizer steps."""

    step: int
    path: str
    trained_tokens: int


def read_last(run: Path) -> LastCheckpoint | None:
    """``checkpoints/last.json`` of a run folder, or None when the run never saved one."""
    marker = run / "checkpoints" / LAST
    if not marker.is_file():
        return None
    data = json.loads(marker.read_text(encoding="utf-8"))
    return LastCheckpoint(int(data["step"]), str(data["path"]), int(data.get("trained_tokens", 0)))


def write_last(run: Path, step: int, path: str, trained_tokens: int) -> None:
    """Record a saved training state as the resume point (temp file, then rename)."""
    folder = run / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{LAST}.tmp"
    payload = {
        "step": step,
        "path": path,
        "trained_tokens": trained_tokens,
        "saved_at": datetime.now(UTC).isoformat(),
    }
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    tmp.replace(folder / LAST)


def run_name(settings: TrainingSettings) -> str:
    """The configured name, else one derived from the config (same config -> same run)."""
    if settings.name:
        return settings.name
    digest = hashlib.sha256(json.dumps(resolved_dict(settings), sort_keys=True).encode())
    model = settings.tinker.base_model.rsplit("/", 1)[-1].lower()
    return f"tinker-{model}-{digest.hexdigest()[:8]}"


def run_dir(settings: TrainingSettings) -> Path:
    """``<out or data dir/runs>/<name>``."""
    return (settings.out or data_dir() / "runs") / run_name(settings)


class RunRecord(BaseModel):
    """``run.json``."""

    name: str
    base_model: str
    rank: int
    status: Literal["new", "running", "trained", "interrupted", "failed", "done"] = "new"
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    attempts: int = 0
    estimate: dict[str, Any] = Field(default_factory=dict)
    train_rows: int = 0
    valid_rows: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)
    planned_tokens: int = 0
    trained_tokens: int = 0
    checkpoints: list[dict[str, Any]] = Field(default_factory=list)
    sampler_path: str | None = None
    export_path: str | None = None
    registered_as: str | None = None
    error: str | None = None
    _path: Path = PrivateAttr(default=Path("run.json"))

    @classmethod
    def load(
        cls, run: Path, name: str, settings: TrainingSettings, estimate: TinkerEstimate
    ) -> RunRecord:
        """The run's record (a new one for a new run), with this attempt counted."""
        path = run / "run.json"
        if path.is_file():
            record = cls.model_validate_json(path.read_text(encoding="utf-8"))
        else:
            record = cls(
                name=name, base_model=settings.tinker.base_model, rank=settings.tinker.rank
            )
        record._path = path
        record.estimate = estimate.model_dump()
        record.attempts += 1
        return record

    def note_data(self, train: Split, valid: Split, planned_tokens: int) -> None:
        """Record the rows the run trains and validates on, and those it left out."""
        self.train_rows, self.valid_rows = len(train.examples), len(valid.examples)
        self.skipped = {
            "train_too_long": train.too_long,
            "valid_too_long": valid.too_long,
            "no_reply": train.no_reply + valid.no_reply,
        }
        self.planned_tokens = planned_tokens
        self.save()

    def save(self) -> None:
        """Write ``run.json`` whole (temp file, then rename)."""
        self.updated_at = datetime.now(UTC)
        tmp = self._path.with_name(self._path.name + ".tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        tmp.replace(self._path)

    def cost_summary(self, rows: list[dict[str, Any]], opts: TinkerOptions) -> dict[str, Any]:
        """Tokens the run really processed (the model's own tokens) and their cost at the
        configured prices: training, valid-loss forwards and samples."""
        forward = sum(int(r.get("val_tokens", 0)) for r in rows)
        prompt = sum(int(r.get("sample_prompt_tokens", 0)) for r in rows)
        sampled = sum(int(r.get("sample_tokens", 0)) for r in rows)
        usd = (
            self.trained_tokens * opts.price_usd_per_mtok_train
            + (forward + prompt) * opts.price_usd_per_mtok_prefill
            + sampled * opts.price_usd_per_mtok_sample
        ) / 1_000_000
        return {
            "trained_tokens": self.trained_tokens,
            "eval_forward_tokens": forward,
            "eval_prompt_tokens": prompt,
            "eval_sampled_tokens": sampled,
            "cost_usd": round(usd, 4),
        }

    def manifest(
        self, settings: TrainingSettings, metrics: dict[str, Any], data_hash: str, command: str
    ) -> Manifest:
        """``manifest.json`` of the mlx-lm adapter folder (what ``train mlx`` writes, plus where
        the weights live on Tinker)."""
        opts = settings.tinker
        return Manifest(
            kind="generative",
            name=self.name,
            base_model=opts.mlx_base_model or opts.base_model,
            data_hash=data_hash,
            metrics=metrics,
            created_at=now(),
            command=command,
            trainer="tinker",
            run_dir=str(self._path.parent),
            tinker={
                "base_model": opts.base_model,
                "rank": opts.rank,
                "sampler_path": self.sampler_path,
                "export_path": self.export_path,
                "state_path": self.checkpoints[-1]["path"] if self.checkpoints else None,
            },
        )


def eval_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Sample scores of the first and the last evaluation."""
    evals = [r for r in rows if "sample_token_reduction" in r]
    if not evals:
        return {}
    first, last = evals[0], evals[-1]
    return {
        "sample_token_reduction_first": first["sample_token_reduction"],
        "sample_token_reduction_last": last["sample_token_reduction"],
        "sample_facts_kept_first": first["sample_facts_kept"],
        "sample_facts_kept_last": last["sample_facts_kept"],
    }
