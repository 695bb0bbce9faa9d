"""Offline checks of a compression: tokens, facts, operators, similarity, AST, answer retention.

Nothing here needs a key or the network (Claude / Gemini token counts are estimates unless an
exact counter has been registered with ``tokens.register_exact_counter``).
"""

from __future__ import annotations

import ast

from compression_layer import tokens
from compression_layer.compress import facts, operators
from compression_layer.validation.metrics import (
    SimilarityFn,
    ast_equivalent,
    default_similarity,
    normalize_answer,
)
from compression_layer.validation.report import OfflineChecks, TokenReduction
from compression_layer.validation.tasks import Question, looks_like_code

# (label, what tokens.count / count_tokens takes)
_TOKENIZERS = (
    ("o200k_base", "o200k_base"),
    ("cl100k_base", "cl100k_base"),
    ("claude", "claude"),
    ("gemini", "gemini"),
)


def token_reductions(original: str, compressed: str) -> list[TokenReduction]:
    """Token counts of both texts under o200k, cl100k and the Claude / Gemini counts."""
    out: list[TokenReduction] = []
    for label, name in _TOKENIZERS:
        if name.endswith("_base"):
            a, b = tokens.count_tokens(original, name), tokens.count_tokens(compressed, name)
            estimated = False
        else:
            ca, cb = tokens.count(original, name), tokens.count(compressed, name)
            a, b, estimated = ca.tokens, cb.tokens, ca.estimated or cb.estimated
        out.append(
            TokenReduction(
                tokenizer=label,
                original=a,
                compressed=b,
                reduction=round(1.0 - b / a, 4) if a else 0.0,
                estimated=estimated,
            )
        )
    return out


def answer_retention(
    original: str, compressed: str, questions: list[Question]
) -> tuple[float | None, int]:
    """Share of gold answers present in the original that are also present in the compression.

    Returns ``(retention, answers_checked)``; ``None`` when no gold answer occurs in the original.
    """
    norm_orig, norm_comp = normalize_answer(original), normalize_answer(compressed)
    present = kept = 0
    for question in questions:
        golds = [normalize_answer(a) for a in question.answers if normalize_answer(a)]
        in_original = [g for g in golds if g in norm_orig]
        if in_original:
            present += 1
            kept += any(g in norm_comp for g in in_original)
    return (kept / present if present else None), present


def offline_checks(
    original: str,
    compressed: str,
    questions: list[Question] | None = None,
    similarity: SimilarityFn | None = None,
) -> OfflineChecks:
    """All offline checks of one pair (CPU-bound: call through a thread from async code)."""
    notes: list[str] = []
    sim = (similarity or default_similarity)(original, compressed)
    checks = OfflineChecks(
        tokens=token_reductions(original, compressed),
        similarity=round(sim, 4),
        facts_missing=facts.missing(original, compressed),
        operators_missing=operators.missing(original, compressed),
        notes=notes,
    )
    checks.is_code = looks_like_code(original)
    if checks.is_code:
        checks.ast_equal = ast_equivalent(original, compressed)
        checks.ast_equal_ignoring_docstrings = ast_equivalent(
            original, compressed, ignore_docstrings=True
        )
        try:
            ast.parse(compressed)
            checks.compressed_parses = True
        except (SyntaxError, ValueError):
            checks.compressed_parses = False
        if checks.ast_equal is None:
            notes.append("AST equivalence not checked: one of the texts is not valid Python")
    lost = bool(checks.facts_missing) or bool(checks.operators_missing)
    checks.passed = not lost and checks.compressed_parses is not False
    if checks.operators_missing:
        notes.append(f"meaning operators lost: {', '.join(checks.operators_missing)}")
    if questions:
        checks.answer_retention, checks.answers_checked = answer_retention(
            original, compressed, questions
        )
    return checks
