"""Periodic evaluation of a Tinker run: validation loss and scored greedy samples.

The validation loss is a ``forward`` pass (no gradients) over the first ``val_batches`` batches
of the valid split, the same rows every time so evaluations compare. Then the current weights
are published to a sampling client (``save_weights_and_get_sampling_client``, an ephemeral
snapshot) and the first ``eval_samples`` valid rows are sampled greedily; each output is scored
like a compression: o200k token reduction against the input, and the share of the input's
facts (:func:`compress.facts.kept_ratio`) it kept.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from compression_layer.settings import TrainingSettings
from compression_layer.training.curves import MetricsLog
from compression_layer.training.tinker.data import Example, to_datum, weighted_nll
from compression_layer.training.tinker.sdk import LOSS_FN


class Evaluator:
    """Evaluates a training client's current weights and appends the scores to the run."""

    def __init__(
        self,
        settings: TrainingSettings,
        valid: list[Example],
        metrics: MetricsLog,
        samples: Path,
        training_client: Any,
        tokenizer: Any,
    ) -> None:
        from compression_layer.training.tinker.sdk import import_tinker

        self.settings, self.valid, self.metrics, self.samples = settings, valid, metrics, samples
        self.tc, self.tokenizer = training_client, tokenizer
        self.types = import_tinker().types

    def forget_from(self, step: int) -> None:
        """Drop the samples of evaluations a resumed run redoes (``step`` on), as
        :meth:`MetricsLog.truncate_after` does for their scores."""
        if not self.samples.is_file():
            return
        lines = self.samples.read_text(encoding="utf-8").splitlines()
        kept = [x for x in lines if x.strip() and json.loads(x).get("step", 0) < step]
        self.samples.write_text("".join(x + "\n" for x in kept), encoding="utf-8")

    async def run_at(self, step: int) -> dict[str, Any]:
        """Evaluate now (after ``step`` optimizer steps); the row written to ``metrics.jsonl``."""
        settings = self.settings
        valid = self.valid
        if not valid:
            return {}
        limit = (
            len(valid) if settings.val_batches < 0 else settings.val_batches * settings.batch_size
        )
        rows = valid[:limit]
        size = settings.batch_size
        chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
        futures = [
            self.tc.forward(data=[to_datum(self.types, e) for e in chunk], loss_fn=LOSS_FN)
            for chunk in chunks
        ]
        outputs = [await f for f in futures]  # submitted together, awaited in order
        total = weight = 0.0
        for output, chunk in zip(outputs, chunks, strict=True):
            nll, w = weighted_nll(output, chunk)
            total, weight = total + nll, weight + w
        row: dict[str, Any] = {
            "step": step,
            "val_loss": round(total / max(weight, 1.0), 5),
            "val_tokens": sum(e.tokens for e in rows),
        }
        picks = valid[: settings.tinker.eval_samples]
        if picks:
            row.update(await self._samples(step, picks))
        self.metrics.append(row)
        return row

    async def _samples(self, step: int, picks: list[Example]) -> dict[str, Any]:
        from compression_layer.compress import facts
        from compression_layer.compress.generative.prompt import strip_thinking
        from compression_layer.tokens import count_tokens

        types, opts = self.types, self.settings.tinker
        sampler = await self.tc.save_weights_and_get_sampling_client()
        params = types.SamplingParams(
            max_tokens=opts.max_new_tokens, temperature=0.0, seed=self.settings.seed
        )
        responses = await asyncio.gather(
            *(
                sampler.sample(
                    prompt=types.ModelInput.from_ints(e.prompt),
                    num_samples=1,
                    sampling_params=params,
                )
                for e in picks
            )
        )
        tokens_in = tokens_out = sampled = 0
        kept: list[float] = []
        lines = []
        for example, response in zip(picks, responses, strict=True):
            ids = list(response.sequences[0].tokens)
            sampled += len(ids)
            text = strip_thinking(self.tokenizer.decode(ids, skip_special_tokens=True)).strip()
            n_in, n_out = count_tokens(example.source), count_tokens(text)
            tokens_in, tokens_out = tokens_in + n_in, tokens_out + n_out
            kept.append(facts.kept_ratio(example.source, text))
            lines.append(
                {
                    "step": step,
                    "source": example.source,
                    "output": text,
                    "token_reduction": round(1 - n_out / max(n_in, 1), 4),
                    "facts_kept": round(kept[-1], 4),
                }
            )
        with self.samples.open("a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        return {
            "sample_token_reduction": round(1 - tokens_out / max(tokens_in, 1), 4),
            "sample_facts_kept": round(sum(kept) / len(kept), 4),
            "sample_prompt_tokens": sum(len(e.prompt) for e in picks),
            "sample_tokens": sampled,
        }
