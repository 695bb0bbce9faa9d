"""Answer equivalence: is the answer from the compression the answer from the original?

Scores are in [0, 1]. The method depends on what is known:
- gold answers (QA): token F1 against the gold, relative to the original's own F1, so a question
  the model misses on the original too does not count against the compression;
- code answers: AST equality of the code the two answers contain (1.0), else MiniLM similarity;
- everything else: MiniLM cosine similarity of the two answers.
An optional LLM judge (``judge_request`` / ``parse_verdict``) replaces the score with its verdict.
"""

from __future__ import annotations

import ast
import re
import string
from collections import Counter
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel

from compression_layer.validation.providers.base import CompletionRequest
from compression_layer.validation.tasks import Task, load_prompt, parse_json_reply, render

SimilarityFn = Callable[[str, str], float]
Verdict = Literal["equivalent", "partial", "different"]
VERDICT_SCORES: dict[str, float] = {"equivalent": 1.0, "partial": 0.5, "different": 0.0}

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_FENCE = re.compile(r"```[\w+-]*\n(.*?)```", re.DOTALL)


def default_similarity(a: str, b: str) -> float:
    """MiniLM cosine similarity (offline, packaged model), clipped to [0, 1]."""
    from compression_layer.embeddings import similarity

    return max(0.0, min(1.0, similarity(a, b)))


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: list[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: list[str]) -> float:
    """Best bag-of-tokens F1 of ``prediction`` against any gold answer."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        ref = normalize_answer(gold).split()
        if not pred or not ref:
            best = max(best, float(pred == ref))
            continue
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            precision, recall = common / len(pred), common / len(ref)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def extract_code(text: str) -> str:
    """The first fenced block of ``text``, or ``text`` itself."""
    match = _FENCE.search(text)
    return (match.group(1) if match else text).strip()


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def ast_equivalent(a: str, b: str, *, ignore_docstrings: bool = False) -> bool | None:
    """Whether two Python sources have the same AST; ``None`` when either does not parse."""
    try:
        tree_a: ast.AST = ast.parse(a)
        tree_b: ast.AST = ast.parse(b)
    except (SyntaxError, ValueError):
        return None
    if ignore_docstrings:
        tree_a, tree_b = _strip_docstrings(tree_a), _strip_docstrings(tree_b)
    return ast.dump(tree_a) == ast.dump(tree_b)


class TaskScore(BaseModel):
    """How close the answer from the compression is to the answer from the original."""

    score: float
    method: str
    similarity: float | None = None
    exact_match: float | None = None
    f1_original: float | None = None
    f1_compressed: float | None = None
    ast_equal: bool | None = None
    verdict: str | None = None
    reason: str | None = None


def score_answers(
    task: Task, answer_original: str, answer_compressed: str, similarity: SimilarityFn
) -> TaskScore:
    """Score one task's pair of answers (see the module docstring for the method used)."""
    golds = task.question.answers if task.question else []
    if not answer_original.strip() and not answer_compressed.strip():
        return TaskScore(score=1.0, method="both-empty")
    if golds:
        f1_orig = token_f1(answer_original, golds)
        f1_comp = token_f1(answer_compressed, golds)
        em = exact_match(answer_compressed, golds)
        if f1_orig > 0:
            return TaskScore(
                score=min(1.0, f1_comp / f1_orig),
                method="gold-f1",
                exact_match=em,
                f1_original=f1_orig,
                f1_compressed=f1_comp,
            )
        sim = similarity(answer_original, answer_compressed)
        return TaskScore(
            score=sim, method="similarity", similarity=sim, exact_match=em, f1_original=0.0,
            f1_compressed=f1_comp,
        )  # fmt: skip
    if task.kind == "code_output" and normalize_answer(answer_original) == normalize_answer(
        answer_compressed
    ):
        return TaskScore(score=1.0, method="exact", exact_match=1.0)
    if task.kind == "code_complete":
        same = ast_equivalent(extract_code(answer_original), extract_code(answer_compressed))
        if same:
            return TaskScore(score=1.0, method="ast", ast_equal=True)
        sim = similarity(answer_original, answer_compressed)
        return TaskScore(score=sim, method="similarity", similarity=sim, ast_equal=same)
    sim = similarity(answer_original, answer_compressed)
    return TaskScore(score=sim, method="similarity", similarity=sim)


class JudgeVerdict(BaseModel):
    """The LLM judge's verdict under the rubric, with its one-sentence reason."""

    verdict: Verdict
    reason: str
    score: float


def judge_request(
    task_prompt: str, answer_original: str, answer_compressed: str, model: str, max_tokens: int
) -> CompletionRequest:
    """The call that asks a judge model to compare two answers under the rubric."""
    return CompletionRequest(
        model=model,
        system=load_prompt("judge_system").strip(),
        prompt=render(
            load_prompt("judge"),
            task=task_prompt,
            answer_original=answer_original,
            answer_compressed=answer_compressed,
        ),
        max_tokens=max_tokens,
    )


def parse_verdict(text: str) -> JudgeVerdict | None:
    """The verdict in a judge reply, or ``None`` when the reply does not follow the format."""
    data = parse_json_reply(text)
    if not isinstance(data, dict):
        return None
    verdict = str(data.get("verdict", "")).strip().lower()
    if verdict not in VERDICT_SCORES:
        return None
    return JudgeVerdict(
        verdict=verdict,  # type: ignore[arg-type]
        reason=str(data.get("reason", "")).strip(),
        score=VERDICT_SCORES[verdict],
    )
