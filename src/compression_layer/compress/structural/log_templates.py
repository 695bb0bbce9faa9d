"""Line templates of a log, mined across interleaved lines, with what varies summarised.

Grouping runs in two steps, so the work per line stays one ``str.translate`` (over the whole
text at once) and one dictionary lookup:

1. **Shape.** Digits and the letters a-f are deleted from every line: numbers, timestamps, IP
   addresses, hex ids and UUIDs disappear whatever their length, while words keep enough letters
   (``"rror"``, ``"GT /pi/usrs/"``) to tell lines apart. Lines with the same shape form a group.
2. **Templates.** Distinct shapes (a few dozen in a typical log, whatever its length) are split
   into words and separators and merged Drain-style: a shape is compared with the latest 32
   templates of the same separators, and joins the closest one whose words differ in at most one
   position in seven (one for short lines), with no more than a quarter of its words variable,
   no fewer constant words than variables, and a path's folder (what precedes its last ``/``)
   never variable; the positions that differ become variables. A separator pattern with 64
   templates already, or a log with 20,000, takes further shapes as they are (free text would
   otherwise cost a comparison per pair).

A template is shown as one line: its first line with every varying word replaced by a summary of
the values (``{3..812}`` for numbers, ``{200|304|404}`` for a few short values, ``{09:00:01Z..
09:59:58Z}`` for times, ``*`` otherwise) after the prefix and suffix all values share.

:func:`selector` finds how a marker gets exactly a template's lines back: their ``lines=`` ranges
when there are few, else a ``match=`` text that every line of the template contains and no other
line does (checked on every line), else the smallest covering spans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_DROP = str.maketrans("", "", "0123456789abcdefABCDEF\x00")
_SEP = re.compile(r"([\s,;\"'=(){}\[\]<>|]+)")
_BRACKETS = re.compile(r"[\[\]]")  # a marker's match= text may hold no "]"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_TIME = re.compile(r"[\d:.T+\-Z ]*\d:\d[\d:.T+\-Z ]*")
_VAR = "\x00"  # a variable position of a template pattern (shapes never hold NUL: _DROP)
_MAX_BUCKET = 32  # latest templates of the same length a shape is compared with
_MAX_SHAPES = 20_000  # templates past this many take no more shapes (free-text logs)
_MAX_OPEN = 64  # templates of one separator pattern past which new shapes are not compared
_SAMPLE = 100  # lines whose values are summarised per template (first and last among them)
_MAX_RANGES = 4
_MAX_MATCH = 80
_MAX_SHOWN = 400  # characters of a template line


@dataclass
class Template:
    """Lines (0-based, ascending) that share one template, and the shapes merged into it."""

    lines: list[int]
    shapes: list[str] = field(default_factory=list)


def shapes_of(text: str) -> list[str]:
    """Each line's shape (digits and a-f deleted); one ``translate`` over the whole text."""
    return text.translate(_DROP).split("\n")


def group(lines: list[str], shapes: list[str], skip: set[int]) -> dict[str, list[int]]:
    """The non-blank lines not in ``skip`` by shape, shapes in order of their first line."""
    groups: dict[str, list[int]] = {}
    for i, shape in enumerate(shapes):
        if i in skip:
            continue
        if not shape.strip() and not lines[i].strip():
            continue
        found = groups.get(shape)
        if found is None:
            groups[shape] = [i]
        else:
            found.append(i)
    return groups


def mine(groups: dict[str, list[int]]) -> list[Template]:
    """Templates of the grouped lines (see :func:`group`), in order of their first line."""
    merged: list[tuple[list[str], Template]] = []
    buckets: dict[tuple[str, ...], list[int]] = {}  # by separators: only those can merge
    for shape, members in groups.items():
        parts = _SEP.split(shape)
        words = parts[0::2]
        bucket = buckets.setdefault(tuple(parts[1::2]), [])
        best, best_diff = -1, 1 << 30
        if len(merged) < _MAX_SHAPES and len(bucket) < _MAX_OPEN:
            for index in bucket[-_MAX_BUCKET:]:
                diff = _merge_cost(merged[index][0], words)
                if diff is not None and diff < best_diff:
                    best, best_diff = index, diff
        if best < 0:
            bucket.append(len(merged))
            merged.append((words, Template(list(members), [shape])))
            continue
        pattern, template = merged[best]
        for k, word in enumerate(words):
            if pattern[k][:1] != _VAR and pattern[k] != word:
                pattern[k] = _VAR + _folder(word)  # a variable, within its folder
        template.lines.extend(members)
        template.shapes.append(shape)
    out = []
    for _, template in merged:
        if len(template.shapes) > 1:
            template.lines.sort()
        out.append(template)
    out.sort(key=lambda t: t.lines[0])
    return out


def _merge_cost(pattern: list[str], words: list[str]) -> int | None:
    """New variable positions if ``words`` joined ``pattern``; None when they may not join."""
    most_new, most_variables = max(1, len(words) // 7), max(1, len(words) // 4)
    new = 0
    for known, word in zip(pattern, words, strict=True):
        if known == word:
            continue
        if known[:1] == _VAR:
            if known[1:] != _folder(word):
                return None
            continue
        new += 1
        if new > most_new or _folder(known) != _folder(word):  # folders must agree
            return None
    if new == 0:
        return 0
    wild = sum(1 for known in pattern if known[:1] == _VAR)
    constants = sum(1 for known in pattern if known and known[:1] != _VAR) - new
    if wild + new > most_variables:
        return None
    if constants < wild + new:  # a template must say as much as it hides
        return None
    return new


def _folder(word: str) -> str:
    """What a path-like word holds before its last ``/`` (routes differ there, test ids do not)."""
    return word.rpartition("/")[0]


def _sample(template: Template) -> list[int]:
    found = template.lines
    if len(found) <= _SAMPLE:
        return found
    step = (len(found) - 1) / (_SAMPLE - 1)
    return [found[round(k * step)] for k in range(_SAMPLE)]


@dataclass
class Shown:
    """A template as shown: its line (compact and rich) and its shared texts for ``match=``."""

    compact: str
    rich: str
    anchors: list[str]


def render(template: Template, lines: list[str]) -> Shown:
    """The template's line, with varying words summarised (see the module docstring)."""
    picked = _sample(template)
    sampled = len(picked) < len(template.lines)
    rows = [_SEP.split(lines[i]) for i in picked]
    width = _most_common([len(r) for r in rows])
    rows = [r for r in rows if len(r) == width]
    first = rows[0]
    compact, rich = [], []
    anchors: list[str] = []
    run: list[str] = []
    for k in range(width):
        values = [r[k] for r in rows]
        if k % 2 or values.count(values[0]) == len(values):
            compact.append(first[k])
            rich.append(first[k])
            run.append(first[k])
            continue
        head, tail, cheap, full = _summarise(values, sampled)
        compact.append(head + cheap + tail)
        rich.append(head + full + tail)
        run.append(head)
        anchors.append("".join(run))
        run = [tail]
    anchors.append("".join(run))
    return Shown(
        _cut("".join(compact).rstrip()), _cut("".join(rich).rstrip()), _anchor_texts(anchors)
    )


def _cut(line: str) -> str:
    return line if len(line) <= _MAX_SHOWN else line[: _MAX_SHOWN - 1] + "…"


def _anchor_texts(anchors: list[str]) -> list[str]:
    pieces = [p.strip() for a in anchors for p in _BRACKETS.split(a)]
    out = []
    for text in sorted(pieces, key=len, reverse=True):
        text = text[:_MAX_MATCH].strip()
        if len(text) >= 4 and text.translate(_DROP).strip() and text not in out:
            out.append(text)
    return out[:3]


def _most_common(values: list[int]) -> int:
    counts: dict[int, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return max(counts, key=lambda v: counts[v])


def _kind(c: str) -> int:
    return 0 if c.isdigit() else 1 if c.isalpha() else 2


def _clean_cut(distinct: list[str], cut: int, from_end: bool) -> bool:
    """Does cutting every value ``cut`` characters from its start (or end) keep runs whole?

    A cut is clean between characters of different kinds (digit, letter, other) or next to an
    "other" character; the characters on the shared side are the same in every value.
    """
    for v in distinct:
        at = len(v) - cut if from_end else cut
        if at <= 0 or at >= len(v):
            continue
        before, after = _kind(v[at - 1]), _kind(v[at])
        if before == after and before != 2:
            return False
    return True


def _shared(distinct: list[str], from_end: bool, limit: int) -> int:
    """Length of the prefix (or suffix) all values share, cut back to a clean boundary."""
    lead = 0
    model = distinct[0]
    while lead < limit:
        c = model[-1 - lead] if from_end else model[lead]
        if any((v[-1 - lead] if from_end else v[lead]) != c for v in distinct):
            break
        lead += 1
    while lead and not _clean_cut(distinct, lead, from_end):
        lead -= 1
    return lead


def _summarise(values: list[str], sampled: bool) -> tuple[str, str, str, str]:
    """(shared prefix, shared suffix, compact summary, rich summary) of a varying word.

    ``sampled``: the values come from a sample of the template's lines, so a range or a set of
    values is written with a leading ``~`` (it may not hold the extremes or every value).
    """
    approx = "~" if sampled else ""
    distinct = list(dict.fromkeys(values))
    if len(distinct) <= 3 and sum(len(v) for v in distinct) <= 30:
        options = "{" + approx + "|".join(distinct) + "}"
        return "", "", options, options
    shortest = min(len(v) for v in distinct)
    lead = _shared(distinct, False, shortest)
    trail = _shared(distinct, True, shortest - lead)
    head, tail = distinct[0][:lead], distinct[0][len(distinct[0]) - trail :]
    middles = [v[lead : len(v) - trail] for v in values]
    if all(_NUMBER.fullmatch(m) for m in middles):
        low = min(middles, key=float)
        high = max(middles, key=float)
        span = "{" + approx + low + ".." + high + "}"
        return head, tail, span, span
    if all(_TIME.fullmatch(m) for m in middles):  # the sample holds the first and last line
        return head, tail, "*", "{" + middles[0] + ".." + middles[-1] + "}"
    return head, tail, "*", "*"


def selector(
    template: Template,
    anchors: list[str],
    lines: list[str],
    groups: dict[str, list[int]],
    others: list[int],
) -> tuple[dict[str, str], int]:
    """How to retrieve exactly ``template``'s lines: (selector, lines that selector returns).

    ``groups`` maps every shape to its lines (all non-blank lines); ``others`` lists the
    non-blank lines outside every template (the important ones).
    """
    found = template.lines
    spans = _spans(found, _MAX_RANGES)
    if spans is not None:
        return {"lines": _ranges(spans)}, len(found)
    own = set(template.shapes)
    for text in anchors:
        if _exact_match(text, found, lines, groups, own, others):
            return {"match": text}, len(found)
    covering = _covering(_spans(found) or [])
    return {"lines": _ranges(covering)}, sum(b - a + 1 for a, b in covering)


def _exact_match(
    text: str,
    found: list[int],
    lines: list[str],
    groups: dict[str, list[int]],
    own: set[str],
    others: list[int],
) -> bool:
    shape = text.translate(_DROP)  # a line holding text has a shape holding this
    if any(shape not in key for key in own) or any(text in lines[i] for i in others):
        return False
    for key, members in groups.items():
        if key in own or shape not in key:
            continue
        if any(text in lines[i] for i in members):
            return False
    return all(text in lines[i] for i in found)  # the template's own lines: last, the most


def _spans(found: list[int], most: int = 0) -> list[tuple[int, int]] | None:
    """Runs of consecutive lines; None when there are more than ``most`` (0: no limit)."""
    spans: list[tuple[int, int]] = []
    start = prev = found[0]
    for i in found[1:]:
        if i != prev + 1:
            spans.append((start, prev))
            if most and len(spans) >= most:
                return None
            start = i
        prev = i
    spans.append((start, prev))
    return spans


def _covering(spans: list[tuple[int, int]], most: int = 3) -> list[tuple[int, int]]:
    """At most ``most`` spans covering ``spans``, split at the widest gaps."""
    gaps = sorted(range(1, len(spans)), key=lambda k: spans[k][0] - spans[k - 1][1], reverse=True)
    cuts = sorted(gaps[: most - 1])
    out, start = [], 0
    for cut in [*cuts, len(spans)]:
        out.append((spans[start][0], spans[cut - 1][1]))
        start = cut
    return out


def _ranges(spans: list[tuple[int, int]]) -> str:
    """0-based spans -> the 1-based ``lines=`` value."""
    return ",".join(f"{a + 1}-{b + 1}" if a != b else str(a + 1) for a, b in spans)
