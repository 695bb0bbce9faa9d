"""Validation tasks: what each model is asked about the original and about the compression.

Every task becomes two calls with the same prompt, one over each context, at temperature 0; the
two answers are then compared (``metrics.py``). Prompts are package data under
``compression_layer/data/prompts/validation/``; ``{{name}}`` marks a slot (not ``str.format``,
because code contexts are full of braces).
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, Field

from compression_layer.errors import InputError
from compression_layer.validation.providers.base import CompletionRequest

TaskKind = Literal["qa", "summary", "reasoning", "code_explain", "code_output", "code_complete"]
TASK_KINDS: tuple[TaskKind, ...] = (
    "qa",
    "summary",
    "reasoning",
    "code_explain",
    "code_output",
    "code_complete",
)
CODE_TASKS: tuple[TaskKind, ...] = ("code_explain", "code_output", "code_complete")
PROSE_TASKS: tuple[TaskKind, ...] = ("summary",)

_PROMPTS = "compression_layer.data.prompts.validation"


class Question(BaseModel):
    """A question about the original; ``answers`` are gold answers when known."""

    question: str = Field(min_length=1)
    answers: list[str] = Field(default_factory=list)


class Task(BaseModel):
    """One thing to ask every model, over both contexts."""

    id: str
    kind: TaskKind
    question: Question | None = None


@lru_cache(maxsize=32)
def load_prompt(name: str) -> str:
    """The packaged prompt ``<name>.txt``."""
    try:
        return resources.files(_PROMPTS).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"no packaged prompt named {name!r}") from exc


def render(template: str, **values: str) -> str:
    """Fill ``{{key}}`` slots; values are inserted verbatim and never re-scanned."""
    pattern = re.compile(r"\{\{(\w+)\}\}")

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"prompt slot {{{{{key}}}}} has no value")
        return values[key]

    return pattern.sub(fill, template)


def looks_like_code(text: str) -> bool:
    """Whether ``text`` is code, by the shared domain detector (so tasks match the compressor's
    routing)."""
    from compression_layer.compress.domain import detect

    return bool(detect(text).kind == "code")


def plan_tasks(
    original: str, questions: list[Question] | None = None, kinds: list[str] | None = None
) -> list[Task]:
    """Tasks for a pair: one ``qa`` per question, plus ``kinds`` (default: by domain)."""
    unknown = [k for k in kinds or [] if k not in TASK_KINDS]
    if unknown:
        raise InputError(f"unknown task kinds {unknown}; known: {', '.join(TASK_KINDS)}")
    chosen: list[TaskKind] = [k for k in TASK_KINDS if k in (kinds or [])]
    if not chosen:
        chosen = list(CODE_TASKS if looks_like_code(original) else PROSE_TASKS)
    tasks: list[Task] = []
    for i, question in enumerate(questions or []):
        digest = hashlib.sha256(question.question.encode("utf-8")).hexdigest()[:8]
        tasks.append(Task(id=f"qa{i + 1}-{digest}", kind="qa", question=question))
    tasks.extend(Task(id=kind, kind=kind) for kind in chosen if kind != "qa")
    return tasks


def task_request(task: Task, context: str, model: str, max_tokens: int) -> CompletionRequest:
    """The call that asks ``task`` over ``context``."""
    values = {"context": context}
    if task.kind == "qa":
        if task.question is None:
            raise InputError(f"qa task {task.id} has no question")
        values["question"] = task.question.question
    return CompletionRequest(
        model=model,
        system=load_prompt("system").strip(),
        prompt=render(load_prompt(task.kind), **values),
        max_tokens=max_tokens,
    )


def question_request(original: str, n: int, model: str, max_tokens: int) -> CompletionRequest:
    """The call that asks a model to write ``n`` questions (with answers) about ``original``."""
    return CompletionRequest(
        model=model,
        system=load_prompt("questions_system").strip(),
        prompt=render(load_prompt("questions"), context=original, n=str(n)),
        max_tokens=max_tokens,
    )


def parse_json_reply(text: str) -> object:
    """JSON from a model reply, tolerating a fenced block or prose around it; None if absent."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    candidate = fenced.group(1) if fenced else text
    for opener, closer in (("[", "]"), ("{", "}")):
        start, end = candidate.find(opener), candidate.rfind(closer)
        if start != -1 and end > start:
            try:
                return json.loads(candidate[start : end + 1])
            except json.JSONDecodeError:
                continue
    return None


def parse_questions(text: str, limit: int) -> list[Question]:
    """Questions from a generator reply; malformed items are dropped, not fatal."""
    data = parse_json_reply(text)
    items = data if isinstance(data, list) else []
    out: list[Question] = []
    for item in items:
        if isinstance(item, dict) and str(item.get("question", "")).strip():
            answer = str(item.get("answer", "")).strip()
            out.append(
                Question(question=str(item["question"]).strip(), answers=[answer] if answer else [])
            )
    return out[:limit]
