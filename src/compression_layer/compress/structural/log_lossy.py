"""Lossy pass for logs and test-runner output (reversible tier: see compress.reversible).

What the model reads, in the order of the original (first-seen order for templates):

* every error, warning and failure line verbatim (:mod:`.log_signals` says which), and the
  exception and ``Caused by:`` lines of each stack trace; the frames of a trace as its first and
  last frame around a marker for the middle (or one marker for all of them when the budget is
  tight);
* every other line through its template (:mod:`.log_templates`): one line with the values that
  vary summarised, and a marker that retrieves exactly that template's lines;
* as the budget allows: lines seen once verbatim, the line before and after each error, richer
  summaries (time ranges), and a marker before each error for the lines since the last one kept;
* lines of templates the budget had no room for: one marker at the end.

Test-runner output (pytest, jest/npm, mocha, cargo test, go test) goes the same way: failures,
assertion lines (``E   ...``, ``Expected:``/``Received:``, ``left:``/``right:``) and summaries
are the important lines; passing tests collapse into templates with counts.

The output honours ``budget`` (o200k_base tokens) except when the important lines alone exceed
it: they are kept anyway, and a note says so. Per line, the work is a share of a few whole-text
scans (``str.translate``, ``str.find``, literal-led regexes) and one dictionary lookup.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from compression_layer.compress.reversible import LossyOutput, marker
from compression_layer.compress.structural.log_signals import Signals, find, frame_runs
from compression_layer.compress.structural.log_templates import (
    Template,
    group,
    mine,
    render,
    selector,
    shapes_of,
)
from compression_layer.compress.types import Domain
from compression_layer.tokens import count_tokens

_QUERY_WORD = re.compile(r"\w{3,}")
_QUERY_HITS = 20  # lines kept per query word
_COUNT_LIMIT = 400_000  # characters up to which the input's own tokens are counted
_LEAST = 8  # tokens under which no further item is tried
_MISSES = 64  # items of a stage that did not fit, after which the stage stops
_MIN_GAP = 3  # fewest omitted lines before an error block that get a marker of their own

# What the budget is spent on, in order: (stage of the items, level they are raised to).
_FRAMES, _QUERY, _TEMPLATES, _SINGLES, _CONTEXT = range(1, 6)
_SPENDING = (
    (_FRAMES, 1),
    (_QUERY, 1),
    (_TEMPLATES, 1),
    (_SINGLES, 1),
    (_CONTEXT, 1),
    (_TEMPLATES, 2),
)


@dataclass
class _Item:
    """One piece of the output at a line of the original, shown at one of several levels."""

    line: int
    stage: int
    build: Callable[[int], tuple[str, list[int]]]  # level -> (text, lines shown verbatim)
    levels: int
    order: int = 1
    key: tuple[int, ...] = ()
    level: int = 0
    cache: dict[int, tuple[str, list[int], int]] = field(default_factory=dict)

    def at(self, level: int) -> tuple[str, list[int], int]:
        """(text, verbatim lines, tokens) at ``level``."""
        if level not in self.cache:
            text, shown = self.build(level)
            self.cache[level] = (text, shown, count_tokens(text) + 1 if text else 0)
        return self.cache[level]


def reduce_log(
    text: str, domain: Domain, *, budget: int, query: str | None, handle: str
) -> LossyOutput | None:
    """Errors, warnings and failures verbatim, the rest as templates with counts, in budget.

    Returns None when the text already fits ``budget`` or has too few lines to summarise.
    """
    del domain
    if len(text) <= budget or text.count("\n") < 2:
        return None
    plan = _Plan(text, handle)
    if query:
        plan.query_lines(query)
    out = plan.fit(budget)
    if len(text) <= _COUNT_LIMIT and count_tokens(out.text) >= count_tokens(text):
        return None
    return out


class _Plan:
    """The candidate items of one log and the choice of levels that fits a budget."""

    def __init__(self, text: str, handle: str) -> None:
        self.handle = handle
        self.text = text
        self.lines = lines = text.split("\n")
        self.signals: Signals = find(text, lines)
        framed = {i for frames in self.signals.frames.values() for i in frames}
        self.important = sorted(self.signals.important - framed)
        skip = framed | set(self.important)
        self.groups = group(lines, shapes_of(text), skip)
        self.templates = mine(self.groups)
        self.skip = sorted(skip)
        self.items: list[_Item] = []
        self.mandatory = 0
        for i in self.important:
            self._add(i, 0, self._verbatim(i, always=True), 1)
        for frames in self.signals.frames.values():
            for run in frame_runs(lines, frames):
                self._add(run[0][0], _FRAMES, self._frames(run), 2, order=2, key=(run[0][0],))
        for template in self.templates:
            if len(template.lines) == 1:
                i = template.lines[0]
                self._add(i, _SINGLES, self._verbatim(i), 2, key=(i,))
            else:
                self._add(
                    template.lines[0],
                    _TEMPLATES,
                    self._template(template),
                    3,
                    key=(-len(template.lines), template.lines[0]),
                )
        for before, after in self._blocks():
            for i in (before, after):
                if 0 <= i < len(lines) and lines[i].strip() and i not in skip:
                    self._add(i, _CONTEXT, self._verbatim(i), 2, key=(i,))

    def _add(
        self,
        line: int,
        stage: int,
        build: Callable[[int], tuple[str, list[int]]],
        levels: int,
        *,
        order: int = 1,
        key: tuple[int, ...] = (),
    ) -> None:
        self.items.append(_Item(line, stage, build, levels, order, key))

    def _verbatim(self, i: int, *, always: bool = False) -> Callable[[int], tuple[str, list[int]]]:
        def build(level: int) -> tuple[str, list[int]]:
            return (self.lines[i], [i]) if level or always else ("", [])

        return build

    def _blocks(self) -> list[tuple[int, int]]:
        """(line before, line after) each run of important and frame lines."""
        out: list[tuple[int, int]] = []
        start = prev = -2
        for i in self.skip:
            if i != prev + 1:
                if prev >= 0:
                    out.append((start - 1, prev + 1))
                start = i
            prev = i
        if prev >= 0:
            out.append((start - 1, prev + 1))
        return out

    def _frames(self, run: list[list[int]]) -> Callable[[int], tuple[str, list[int]]]:
        flat = [i for unit in run for i in unit]

        def build(level: int) -> tuple[str, list[int]]:
            if level == 0 and len(flat) > 1:
                return self._omitted(flat[0], flat[-1], "frame lines"), []
            head, tail = run[0], run[-1]
            if len(run) <= 2 or len(flat) - len(head) - len(tail) <= 1:
                return "\n".join(self.lines[i] for i in flat), flat
            middle = self._omitted(head[-1] + 1, tail[0] - 1, "frame lines")
            shown = [*head, *tail]
            text = "\n".join(
                [*(self.lines[i] for i in head), middle, *(self.lines[i] for i in tail)]
            )
            return text, shown

        return build

    def _omitted(self, first: int, last: int, what: str) -> str:
        """A marker for lines ``first``..``last`` (0-based, inclusive)."""
        span = f"{first + 1}-{last + 1}" if last > first else str(first + 1)
        count = last - first + 1
        return marker(self.handle, f"{count} {what if count > 1 else what[:-1]}", lines=span)

    def _template(self, template: Template) -> Callable[[int], tuple[str, list[int]]]:
        made: list[tuple[str, str, str]] = []

        def build(level: int) -> tuple[str, list[int]]:
            if level == 0:
                return "", []
            if not made:
                shown = render(template, self.lines)
                chosen, covered = selector(
                    template, shown.anchors, self.lines, self.groups, self.skip
                )
                count = len(template.lines)
                what = f"{count} such lines"
                if covered != count:
                    what += f" (spread over {covered})"
                made.append((shown.compact, shown.rich, marker(self.handle, what, **chosen)))
            compact, rich, tail = made[0]
            return f"{compact if level == 1 else rich}  {tail}", []

        return build

    def query_lines(self, query: str) -> None:
        """Lines that hold a word of ``query``: kept verbatim early, as far as the budget goes."""
        lowered = self.text.lower()
        if len(lowered) != len(self.text):
            return
        taken = set(self.skip)
        for word in dict.fromkeys(_QUERY_WORD.findall(query.lower())):
            pos, line, counted, hits = lowered.find(word), 0, 0, 0
            while pos != -1 and hits < _QUERY_HITS:
                line += lowered.count("\n", counted, pos)
                counted = pos
                if line not in taken:
                    taken.add(line)
                    hits += 1
                    self._add(line, _QUERY, self._verbatim(line), 2, key=(hits, line))
                end = lowered.find("\n", pos)
                pos = -1 if end == -1 else lowered.find(word, end + 1)

    def fit(self, budget: int) -> LossyOutput:
        """Spend ``budget`` stage by stage; the important lines are shown whatever it is."""
        items = self.items
        header = self._header()
        reserve = 40  # the closing marker for templates left out
        used = count_tokens(header) + 1 + sum(item.at(0)[2] for item in items)
        floor = used
        for stage, level in _SPENDING:
            misses = 0
            for item in sorted((it for it in items if it.stage == stage), key=lambda it: it.key):
                if item.level != level - 1 or level >= item.levels:
                    continue
                room = budget - used - reserve
                if room < _LEAST or misses >= _MISSES:
                    break  # full: the rest of this stage would not fit either
                if item.build is not None and self._too_long(item, room):
                    misses += 1
                    continue
                cost = item.at(level)[2] - item.at(item.level)[2]
                if cost <= room:
                    item.level = level
                    used += cost
                else:
                    misses += 1
        gaps = self._gaps(budget - used - reserve)
        text = self._assemble(header, gaps)
        tokens = count_tokens(text)
        while tokens > budget and self._drop_one():  # the estimate was short: give some back
            text = self._assemble(header, [])
            tokens = count_tokens(text)
        notes = []
        if tokens > budget:
            notes.append(
                f"log: the {len(self.important)} error/warning/failure lines and trace markers "
                f"alone take {floor} tokens, near or over the budget of {budget}; kept them all"
            )
        shown = {i for item in items for i in item.at(item.level)[1]}
        kept = len(self.skip) + sum(len(t.lines) for t in self.templates)  # non-blank lines
        omitted = kept - len(shown)
        return LossyOutput(text=text, omitted=max(0, omitted), notes=notes)

    def _too_long(self, item: _Item, room: int) -> bool:
        """A verbatim line that cannot fit (a token holds at most ~16 characters here)."""
        return item.stage in (_SINGLES, _CONTEXT, _QUERY) and len(self.lines[item.line]) > 16 * room

    def _drop_one(self) -> bool:
        """Take back the last thing the budget was spent on; False when nothing is left."""
        for stage, level in reversed(_SPENDING):
            for item in sorted(
                (it for it in self.items if it.stage == stage), key=lambda it: it.key, reverse=True
            ):
                if item.level == level:
                    item.level -= 1
                    return True
        return False

    def _header(self) -> str:
        runner = self.signals.runner
        n = len(self.lines) - (1 if self.lines and not self.lines[-1] else 0)
        if runner:
            return f"[{runner} output, {n} lines: failures verbatim, passing tests as counts]"
        return (
            f"[log, {n} lines: errors and warnings verbatim, other lines as templates with counts]"
        )

    def _gaps(self, room: int) -> list[tuple[int, str]]:
        """Markers for the lines between each error block and the verbatim line before it."""
        visible = {i for item in self.items for i in item.at(item.level)[1]}
        shown = sorted(visible)
        out: list[tuple[int, str]] = []
        k = 0
        for before, _ in self._blocks():
            start = before + 1
            while start - 1 in visible:  # the context line shown before the block
                start -= 1
            while k < len(shown) and shown[k] < start:
                k += 1
            previous = shown[k - 1] if k else -1
            if start - previous - 1 >= _MIN_GAP:  # fewer: their templates cover them
                text = self._omitted(previous + 1, start - 1, "lines")
                cost = count_tokens(text) + 1
                if cost > room:
                    break
                room -= cost
                out.append((start, text))
        return out

    def _assemble(self, header: str, gaps: list[tuple[int, str]]) -> str:
        pieces: list[tuple[int, int, str]] = [(line, 0, text) for line, text in gaps]
        hidden: list[int] = []
        hidden_templates = 0
        emitted: set[int] = set()
        for item in self.items:
            text, verbatim, _ = item.at(item.level)
            if verbatim and emitted.issuperset(verbatim):
                continue  # the same line as context and as a line seen once: shown once
            emitted.update(verbatim)
            if text:
                pieces.append((item.line, item.order, text))
            elif item.stage in (_TEMPLATES, _SINGLES):
                hidden_templates += 1
        for template, item in self._template_items():
            if item.level == 0:
                hidden.extend(template.lines)
        pieces.sort(key=lambda p: (p[0], p[1]))
        out = [header, *(text for _, _, text in pieces)]
        if hidden:
            hidden.sort()
            spans = _cover(hidden)
            covered = sum(b - a + 1 for a, b in spans)
            what = f"{len(hidden)} more lines of {hidden_templates} templates"
            what = what.replace("1 more lines", "1 more line").replace(
                " 1 templates", " 1 template"
            )
            if covered != len(hidden):
                what += f" (spread over {covered})"
            ranges = ",".join(f"{a + 1}-{b + 1}" if b > a else str(a + 1) for a, b in spans)
            out.append(marker(self.handle, what, lines=ranges))
        return "\n".join(out)

    def _template_items(self) -> list[tuple[Template, _Item]]:
        templated = [it for it in self.items if it.stage in (_TEMPLATES, _SINGLES)]
        return list(zip(self.templates, templated, strict=True))


def _cover(found: list[int], most: int = 3) -> list[tuple[int, int]]:
    """At most ``most`` spans covering the sorted lines ``found``, split at the widest gaps."""
    gaps = sorted(range(1, len(found)), key=lambda k: found[k] - found[k - 1], reverse=True)
    cuts = sorted(k for k in gaps[: most - 1] if found[k] - found[k - 1] > 1)
    out, start = [], 0
    for cut in [*cuts, len(found)]:
        out.append((found[start], found[cut - 1]))
        start = cut
    return out
