"""Keep/drop labels for the extractive engine, aligned from a teacher's abstractive compressions.

The seed pairs were written by a frontier model that abbreviates, swaps words for symbols and
reorders phrases, so a word-by-word diff finds little. Instead each input word is looked up among
the target's words near where the alignment currently stands (a windowed greedy walk): it is
*kept* when it, its normalised form (case, dots, plural, number words) or an abbreviation of it
(a target word of three or more letters that begins it) is found and not already used.
Function words only match close to the current position, because they occur everywhere.
Meaning operators (negations, modals, conditions, comparisons) are always labelled *keep*.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from compression_layer.compress.extractive.text import (
    Unit,
    is_stopword,
    normalise,
    split_units,
    units_in_spans,
)
from compression_layer.errors import InputError

PROMPT_PREFIX = "Compress:\n"
_TARGET_WORD_RE = re.compile(r"(?:[A-Za-z]\.){2,}|\w+(?:[-'’.,]\w+)*|[^\w\s]")
_CODE_LINE_RE = re.compile(r"\s*(def |class |import |from \S+ import|@\w|return\b|    \S)")


@dataclass(frozen=True)
class Pair:
    """One training pair: the input text and the teacher's compression of it."""

    source: str
    target: str


@dataclass
class CleanReport:
    """What :func:`clean_pairs` removed, and why."""

    total: int = 0
    kept: int = 0
    target_not_shorter: int = 0
    duplicate_input: int = 0
    not_prose: int = 0
    notes: list[str] = field(default_factory=list)


def read_pairs(path: Path) -> list[Pair]:
    """Read a chat-format JSONL of ``Compress:`` pairs; raises :class:`InputError` on bad rows."""
    pairs: list[Pair] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                messages = {m["role"]: m["content"] for m in json.loads(line)["messages"]}
                source = messages["user"]
                target = messages["assistant"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise InputError(f"{path}:{lineno}: not a chat pair ({exc})") from exc
            pairs.append(Pair(source.removeprefix(PROMPT_PREFIX), target))
    return pairs


def looks_like_code(text: str) -> bool:
    """Cheap check for source code (the seed pairs' code half belongs to the structural engine)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return False
    return sum(1 for ln in lines if _CODE_LINE_RE.match(ln)) / len(lines) > 0.2


def clean_pairs(pairs: list[Pair], *, prose_only: bool = True) -> tuple[list[Pair], CleanReport]:
    """Drop the rows the data README warns about (target not shorter, repeated input) and code."""
    report = CleanReport(total=len(pairs))
    seen: set[str] = set()
    kept: list[Pair] = []
    for pair in pairs:
        if len(pair.target) >= len(pair.source):
            report.target_not_shorter += 1
            continue
        if pair.source in seen:
            report.duplicate_input += 1
            continue
        seen.add(pair.source)
        if prose_only and looks_like_code(pair.source):
            report.not_prose += 1
            continue
        kept.append(pair)
    report.kept = len(kept)
    return kept, report


def _matches(word: str, norm: str, candidate: str) -> bool:
    if candidate == norm:
        return True
    # Teacher abbreviations: "dev" for "development", "cent" for "century", "max" for "maximize".
    if len(candidate) >= 3 and len(norm) > len(candidate) and norm.startswith(candidate):
        return True
    # "2.8 million" written "2.8m", "10 times" written "10x".
    if norm[:1].isdigit() and candidate.startswith(norm) and candidate[len(norm) :].isalpha():
        return True
    # Shared stem: "learned" / "learns", "expansion" / "expanding" (first 6 letters).
    return len(norm) >= 7 and len(candidate) >= 7 and norm[:6] == candidate[:6]


def align(source: str, target: str, *, window: int = 24, stop_window: int = 4) -> list[bool]:
    """Keep label of each unit of :func:`split_units(source)` against the teacher's ``target``."""
    units = split_units(source)
    targets = _target_words(target)
    used = [False] * len(targets)
    labels = [False] * len(units)
    pos = 0
    n_units = max(1, len(units))
    for i, unit in enumerate(units):
        norm = normalise(unit.text)
        stop = is_stopword(unit.text) or not unit.is_word
        span = stop_window if stop else window
        # Search outward from the current position, then around where a proportional
        # alignment would put this word (the teacher reorders whole clauses).
        anchors = [pos] if stop else [pos, round(i * len(targets) / n_units)]
        found = -1
        for anchor in anchors:
            found = _search(unit.text, norm, targets, used, anchor, span)
            if found >= 0:
                break
        if found >= 0:
            labels[i] = True
            used[found] = True
            pos = found + 1
    return _force_operators(source, units, _complete_names(units, labels))


def _force_operators(source: str, units: list[Unit], labels: list[bool]) -> list[bool]:
    """Keep every meaning operator (not, n't, may, unless, more than, ?) whatever the teacher did.

    The teacher drops about half of them ("did not approve" -> "approve"), and a head trained on
    those labels learns to drop them too; the engine forces them at inference, and the labels
    agree so that the head spends its capacity on the words that are really optional.
    """
    from compression_layer.compress import operators

    forced = units_in_spans(units, operators.protected_spans(source))
    return [label or i in forced for i, label in enumerate(labels)]


def _target_words(target: str) -> list[str]:
    """Normalised target words; "post-romantic" and "1890-1930" also yield their parts."""
    words: list[str] = []
    for word in _TARGET_WORD_RE.findall(target):
        words.append(normalise(word))
        parts = re.split(r"[-/]", word)
        if len(parts) > 1:
            words.extend(normalise(part) for part in parts if part)
    return words


def _complete_names(units: list[Unit], labels: list[bool]) -> list[bool]:
    """Keep whole capitalised runs ("Pierre Boulez") when the teacher kept any part of them.

    The teacher often shortens names to a surname; answers quote them whole, so our labels
    keep the run (a deliberate departure from the teacher, measured by answer retention).
    """
    out = list(labels)
    i = 0
    while i < len(units):
        j = i
        while j < len(units) and _is_name_word(units[j], first=j == i or "\n" in units[j].gap):
            j += 1
        if j - i > 1 and any(out[i:j]):
            out[i:j] = [True] * (j - i)
        i = max(j, i + 1)
    return out


def _is_name_word(unit: Unit, *, first: bool) -> bool:
    text = unit.text
    return unit.is_word and text[:1].isupper() and not (first and is_stopword(text))


def _search(
    word: str, norm: str, targets: list[str], used: list[bool], anchor: int, span: int
) -> int:
    for offset in range(span + 1):
        for j in (anchor + offset, anchor - offset - 1):
            if 0 <= j < len(targets) and not used[j] and _matches(word, norm, targets[j]):
                return j
    return -1


@dataclass
class LabelQuality:
    """How well the labels explain the targets on a sample of pairs."""

    rows: int
    keep_rate: float
    target_coverage: float
    content_coverage: float
    target_chars_ratio: float


def label_quality(pairs: list[Pair], *, sample: int = 100, seed: int = 0) -> LabelQuality:
    """Share of the target's words explained by kept source words, on a random sample.

    ``target_coverage`` counts every target word; ``content_coverage`` only words of four or
    more letters, where a miss means the teacher paraphrased (or the aligner failed).
    """
    rng = random.Random(seed)
    chosen = rng.sample(pairs, min(sample, len(pairs)))
    kept = total = covered = content = content_cov = 0
    chars = 0.0
    for pair in chosen:
        labels = align(pair.source, pair.target)
        kept += sum(labels)
        total += len(labels)
        kept_norms = [
            normalise(u.text)
            for u, lab in zip(split_units(pair.source), labels, strict=True)
            if lab
        ]
        for word in _TARGET_WORD_RE.findall(pair.target):
            if not any(ch.isalnum() for ch in word):
                continue
            norm = normalise(word)
            hit = any(
                k == norm or _matches(k, k, norm) or _matches(norm, norm, k) for k in kept_norms
            )
            covered += hit
            total_word = 1
            content += total_word if len(norm) >= 4 else 0
            content_cov += hit if len(norm) >= 4 else 0
        chars += len(pair.target) / max(1, len(pair.source))
    target_words = sum(
        sum(1 for w in _TARGET_WORD_RE.findall(p.target) if any(c.isalnum() for c in w))
        for p in chosen
    )
    return LabelQuality(
        rows=len(chosen),
        keep_rate=kept / max(1, total),
        target_coverage=covered / max(1, target_words),
        content_coverage=content_cov / max(1, content),
        target_chars_ratio=chars / max(1, len(chosen)),
    )


def units_and_labels(pair: Pair) -> tuple[list[Unit], list[bool]]:
    """Units of the source with their labels (the trainer's input)."""
    return split_units(pair.source), align(pair.source, pair.target)


def data_hash(paths: list[Path]) -> str:
    """sha256 over the bytes of the training files, in the given order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()
