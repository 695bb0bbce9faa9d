"""Protected spans: the facts a compressor must not lose.

A *fact* is a span whose exact wording carries information a paraphrase cannot recover:
numbers, money, dates, times, URLs, emails, file paths, versions, code identifiers, quoted
strings and proper names. ``extract`` finds them, ``missing`` reports the facts of an original
that a compressed text dropped.

Speed matters (a structural engine calls ``missing`` on every item), and CPython's ``re`` only
skips quickly through text when a pattern starts with a literal or a character class. So the
patterns are grouped into a few passes that each start on a distinctive character (a digit, a
capital, a quote, ``/``), check the word boundary *after* that first character, and rare kinds
(URLs, emails, Windows paths) only run when a cheap probe finds their marker in the text.

``missing`` compares normalised *tokens* (runs of digits or of letters) instead of raw
substrings, so layout-only rewrites (minified JSON, re-indented code, collapsed spaces, ``1,200``
written ``1200``) report nothing while a dropped number, name, path or identifier is caught.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterator
from functools import lru_cache
from typing import NamedTuple

KINDS: tuple[str, ...] = (
    "url",
    "email",
    "date",
    "time",
    "money",
    "version",
    "path",
    "number",
    "identifier",
    "quote",
    "name",
)
"""Every fact kind, most specific first: the order breaks ties between equally long spans."""

_RANK = {kind: rank for rank, kind in enumerate(KINDS)}

# --- patterns ---------------------------------------------------------------------------------
# Each pass starts on a distinctive character and checks the word boundary just after it
# (``x(?<!\w.)``), which keeps CPython's fast first-character skip. An empty marker group
# ``(?P<kind__n>)`` closes each alternative and names its kind; alternatives are ordered most
# specific first, and a longer span from another pass still wins in ``extract``.

# Uppercase letters of Latin, Greek and Cyrillic, so "Émile" and "Łódź" count as capitalised.
_UP = "".join(
    chr(c)
    for c in (*range(0x41, 0x250), *range(0x391, 0x3AA), *range(0x400, 0x430))
    if chr(c).isupper()
)
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b\.?"
)
_REST = r"\d*(?:,\d{3})*(?:\.\d+)?"  # the rest of a number whose first digit is consumed
_UNIT = (
    r"%|‰|°[CF]?|[kKMGTP]i?B|[kMG]?bps|[kMGT]?Hz|[kMG]?Wh?|[mµnk]?[mgsV]|[cd]m|µs|us|ns|ms"
    r"|min|hrs?|sec|mph|km/h|m/s|rpm|fps|px|dpi|ft|mi|yd|lbs?|oz|mL|ml|L|mA|x"
)
_SCALE = r"(?:[kKmMbB]n?|thousand|million|billion|trillion)\b"
_CODE = r"USD|EUR|GBP|JPY|CNY|INR|CHF|CAD|AUD|BTC|dollars?|euros?|pounds?|cents?"
_DOTTED = r"(?:\.[A-Za-z_]\w++)"  # ".attr" of two or more characters: "e.g." is no identifier
_NAME_WORD = rf"\w*+(?:-[{_UP}]\w+)*(?:['’][{_UP}]\w*)?"
_NAME_JOIN = r"[ \t]+(?:(?:of|de|da|del|der|di|du|van|von|la|le|bin|al)[ \t]+)?"
_URL_TAIL = r"[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]}]"
_DIGITS = (
    r"\d(?<![\w.]\d)(?:\d{3}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?)?(?!\d)(?P<date__iso>)"
    r"|\d?/\d{1,2}/\d{2,4}(?!\d)(?P<date__slash>)"
    rf"|\d?(?:st|nd|rd|th)?\s(?:of\s)?{_MONTH}(?:,?\s\d{{4}}(?!\d))?(?P<date__dmy>)"
    r"|\d?:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s?[AaPp]\.?[Mm]\.?(?!\w))?(?!\d)(?P<time__clock>)"
    r"|\d?\s?(?:AM|PM|am|pm|a\.m\.|p\.m\.)(?!\w)(?P<time__ampm>)"
    r"|\d*(?:\.\d+){2,}(?:-?(?:rc|alpha|beta|dev|post|a|b)\.?\d*)?(?:\+[\w.]+)?(?!\w|\.\d)"
    r"(?P<version__semver>)"
    rf"|{_REST}\s?(?:{_SCALE}\s?)?(?:{_CODE})\b(?P<money__code>)"
    rf"|{_REST}\s?(?:{_UNIT})(?![\w/])(?P<number__unit>)"
    rf"|{_REST}(?:[eE][-+]?\d+)?(?:st|nd|rd|th|s)?%?(?!\w)(?P<number__plain>))"
)
_UPPER = (
    rf"[{_UP}](?<!\w.)(?:"
    rf"(?:\w*+{_DOTTED}++|[A-Za-z0-9]*+_\w*+{_DOTTED}*+|[A-Z]*+[a-z0-9]++[A-Z]\w*+{_DOTTED}*+"
    rf"|[A-Z]++[a-z][a-z0-9]\w*+)(?P<identifier__up>)"
    rf"|{_NAME_WORD}(?:{_NAME_JOIN}[{_UP}]{_NAME_WORD})*+(?P<name__run>))"
)
_LOWER = (
    rf"[a-z_](?<!\w.)(?:(?<=_)_*+[A-Za-z0-9]\w*+{_DOTTED}*+(?P<identifier__under>)"
    rf"|[a-z0-9]*+(?:[_A-Z]\w*+{_DOTTED}*+|{_DOTTED}++)(?P<identifier__low>))"
)
_QUOTES = (
    r"\"[^\"\n]{1,300}\"(?P<quote__double>)|'(?<!\w')[^'\n]{1,300}'(?!\w)(?P<quote__single>)"
    r"|`[^`\n]{1,300}`(?P<quote__back>)|“[^”\n]{1,300}”(?P<quote__curly>)"
    r"|‘[^’\n]{1,300}’(?P<quote__curly1>)"
)
# (pattern, probe): a pass with a probe runs only when the probe is found in the text.
_PASSES: tuple[tuple[str, str | None], ...] = (
    (_DIGITS, None),
    (r"\.(?<![\w.]\.)\d+(?!\w)(?P<number__dot>)", None),
    (rf"[$€£¥₹]\s?\d+(?:,\d{{3}})*(?:\.\d+)?(?:\s?{_SCALE})?(?P<money__symbol>)", None),
    (
        rf"{_MONTH}\s(?:\d{{4}}(?!\d)|\d{{1,2}}(?:st|nd|rd|th)?(?!\w)(?:,?\s\d{{4}}(?!\d))?)"
        r"(?P<date__mdy>)",
        None,
    ),
    (r"v(?<!\w.)\d+(?:\.\d+)*(?:[-+][0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?(?!\w)(?P<version__v>)", None),
    (_UPPER, None),
    (_LOWER, None),
    (_QUOTES, None),
    (r"/(?<![\w/.~]/)[A-Za-z_.][\w.@+-]*(?:/[\w.@+-]+)*/?(?P<path__abs>)", None),
    (r"[.~](?<![\w/.~][.~])\.?/[\w.@+-]+(?:/[\w.@+-]+)*/?(?P<path__dot>)", None),
    (
        r"(?<![\w/.])[\w.-]+(?:/[\w.@+-]+)*/[\w@+-]+\.[A-Za-z]\w{0,5}\b(?P<path__rel>)",
        r"/[\w@+-]+\.[A-Za-z]",
    ),
    (
        r"\b[A-Za-z]:\\(?:[^\\\s:*?\"<>|]+\\)*(?:[^\\\s:*?\"<>|,;]*[^\\\s:*?\"<>|,;.])?"
        r"(?P<path__win>)",
        r":\\",
    ),
    (r"\\\\[\w.-]+(?:\\[^\\\s:*?\"<>|,;]+)+(?P<path__unc>)", None),
    (rf"\b(?:https?|ftp|wss?|file)://{_URL_TAIL}(?P<url__scheme>)", r"://"),
    (rf"\bwww\.[\w-]+(?:\.[\w-]+)+(?:/{_URL_TAIL})?(?P<url__www>)", r"www\."),
)
_COMPILED = tuple(
    (
        re.compile(pattern),
        None if probe is None else re.compile(probe),
        {name: name.partition("__")[0] for name in re.compile(pattern).groupindex},
    )
    for pattern, probe in _PASSES
)
_EMAIL_PROBE = re.compile(r"@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
_EMAIL_LOCAL = re.compile(r"[\w.%+-]+$")
_VERSION_CONTEXT = re.compile(r"(?:[=<>~^@]|(?:Python|[Vv]ersion|[Rr]elease|Node|Java|Go) ?)$")
_ABBREVIATION_BEFORE = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|Sr|Jr|vs|etc|No|Gen|Col|Capt|Lt|Rev|Mt|Ft)|e\.g|i\.e)$"
)
# Words capitalised only because they open a sentence: stripped from the front of a name run.
_OPENER_WORDS = (
    "The A An In On At This These Those That It Its His Her Their Our My Your When While "
    "After Before During Although Though However If As For From But And Or So Then There "
    "Here Since Because Unlike Like Many Most Some Each Every All Both With Without By To "
    "Of Under Over Between Among According Despite Following Upon Through Also Thus Hence "
    "Therefore Moreover Furthermore Meanwhile Later Today Once Where What Who How Why Which "
    "Whether Not Only Even Such Other Another Several Few No One Two Three First Second "
    "Finally Instead Perhaps Indeed Yet Again We You He She They Is Are Was Were Do Does "
    "Did Has Have Had Can Could Will Would Should May Might Must"
)
_OPENERS = frozenset(_OPENER_WORDS.split())
_NOT_NAMES = frozenset(
    {"I", "I'm", "I've", "I'd", "I'll", "OK", "Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Jr", "Sr"}
)
_BREAKS = frozenset(".!?:…\n\t \"'“‘([{*#>-")  # before a space, these may open a sentence
_OPENER_SKIP = frozenset(" \t\"'“‘([{*#>-")
_LOWER_WORD = re.compile(r"\b[a-z]+\b")
_NUMERIC_CORE = re.compile(r"\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
# Thousands separators; a group right after "." or a digit belongs to something else (an IP).
_THOUSANDS = re.compile(r"\d(?<![\d.]\d)\d{0,2}(?:,\d{3})+(?!\d|,\d)")
_ORDINAL = re.compile(r"(\d)(?:st|nd|rd|th)\b")
_LONG_MONTH = re.compile(
    r"(?:January|February|March|April|June|July|August|Sept(?:ember)?|October|November"
    r"|December)\b"
)
_TOKEN = re.compile(r"\d+|[^\W\d]+")
_SCAN_BUDGET = 20_000_000  # characters of substring search before switching to token pairs


class Fact(NamedTuple):
    """One protected span of a source text: ``text == source[start:end]``."""

    kind: str
    text: str
    start: int
    end: int


def extract(text: str, kinds: Collection[str] | None = None) -> list[Fact]:
    """Return the facts of ``text``, non-overlapping and sorted by start.

    Where candidates overlap the longest wins, then the most specific kind (order of ``KINDS``).
    ``kinds`` filters the result; overlaps are settled among all kinds first, so the ``2024`` of
    the date ``2024-03-01`` is never reported as a number.
    """
    wanted = set(KINDS) if kinds is None else set(kinds)
    if unknown := wanted - set(KINDS):
        raise ValueError(f"unknown fact kinds {sorted(unknown)}; known: {list(KINDS)}")
    chosen: list[tuple[int, int, int, int, str]] = []
    # Tuples sort natively: by start, longest first, then most specific kind.
    for cand in sorted(_candidates(text)):
        if chosen and cand[0] < chosen[-1][3]:
            # Sorted by start, so an overlapping later candidate only wins by being longer.
            if cand[1] < chosen[-1][1]:
                chosen[-1] = cand
            continue
        chosen.append(cand)
    facts = [Fact(kind, text[start:end], start, end) for start, _, _, end, kind in chosen]
    if kinds is None:
        return facts
    return [f for f in facts if f.kind in wanted]


def protected_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of every fact of ``text``, touching or overlapping spans merged."""
    merged: list[tuple[int, int]] = []
    for fact in extract(text):
        if merged and fact.start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], fact.end))
        else:
            merged.append((fact.start, fact.end))
    return merged


def missing(original: str, compressed: str) -> list[str]:
    """Texts of the facts of ``original`` that do not survive in ``compressed``.

    Deduplicated, in order of first appearance. Whitespace, punctuation and quote marks,
    thousands separators, ordinal suffixes and long month names are normalised away on both
    sides; number and money facts only need their numeric part (``12 km`` survives as ``12km``).
    """
    return _missing(extract(original), compressed)


def kept_ratio(original: str, compressed: str) -> float:
    """Share of the distinct facts of ``original`` that survive in ``compressed`` (1.0 if none)."""
    facts = extract(original)
    distinct = {f.text for f in facts}
    if not distinct:
        return 1.0
    return 1.0 - len(_missing(facts, compressed)) / len(distinct)


def _candidates(text: str) -> Iterator[tuple[int, int, int, int, str]]:
    """Every candidate span as ``(start, -length, rank, end, kind)``, overlapping freely."""
    lower_words: list[frozenset[str]] = []  # filled on first need, see _name_start
    for regex, probe, kind_of in _COMPILED:
        if probe is not None and probe.search(text) is None:
            continue
        for m in regex.finditer(text):
            kind = kind_of[m.lastgroup or ""]
            start, end = m.span()
            if kind == "name":
                if start > 1 and text[start - 1] == " " and text[start - 2] not in _BREAKS:
                    # Fast path: mid-sentence, so capitalised means a name.
                    if end - start == 1 or m.group() in _NOT_NAMES:
                        continue
                else:
                    named = _name_start(text, start, end, lower_words)
                    if named is None:
                        continue
                    start = named
            elif kind == "date" and start and text[start - 1].isalnum():
                continue  # month-first dates cannot check their left boundary in the regex
            elif kind == "number" and "." in m.group() and _versionish(text, start):
                kind = "version"
            yield (start, start - end, _RANK[kind], end, kind)
    for start, end in _emails(text):
        yield (start, start - end, _RANK["email"], end, "email")


def _versionish(text: str, start: int) -> bool:
    """``3.11`` after ``Python``, ``version`` or ``==`` is a version, not a decimal."""
    return _VERSION_CONTEXT.search(text, max(0, start - 9), start) is not None


def _emails(text: str) -> Iterator[tuple[int, int]]:
    # Anchored on the "@domain.tld" part, so text without one costs a single fast scan.
    for probe in _EMAIL_PROBE.finditer(text):
        local = _EMAIL_LOCAL.search(text, max(0, probe.start() - 64), probe.start())
        if local and not local.group().startswith("."):
            yield local.start(), probe.end()


def _name_start(text: str, start: int, end: int, lower_words: list[frozenset[str]]) -> int | None:
    """Start of the name in a capitalised run, or None when it is capitalised by position only."""
    words = text[start:end].split()
    if _at_sentence_start(text, start):
        if len(words) == 1:
            return start if _acronym_or_inner_caps(words[0]) else None
        first = words[0]
        if first not in _OPENERS and not lower_words:
            # Words this text also writes in lower case are ordinary words, so a sentence
            # opening "Although John" keeps only "John". Computed once per text.
            lower_words.append(frozenset(_LOWER_WORD.findall(text)))
        if first in _OPENERS or first.lower() in lower_words[0]:
            # "In Paris" -> "Paris": the opener is an ordinary word, what follows is a name.
            start = text.index(words[1], start + len(first))
            words = words[1:]
    if len(words) == 1 and (len(words[0]) == 1 or words[0] in _NOT_NAMES):
        return None
    return start


def _acronym_or_inner_caps(word: str) -> bool:
    """``NASA``, ``McDonald``: a capital after the first letter survives sentence starts."""
    rest = word[1:]
    return rest != rest.lower()


def _at_sentence_start(text: str, start: int) -> bool:
    j = start - 1
    while j >= 0 and text[j] in _OPENER_SKIP:
        j -= 1
    if j < 0 or text[j] in "\n!?:…":
        return True
    if text[j] == ".":
        # "Dr. Smith" and "e.g. Paris" do not open a sentence.
        return _ABBREVIATION_BEFORE.search(text, max(0, j - 5), j) is None
    return False


@lru_cache(maxsize=65536)
def _needle(numeric: bool, text: str) -> tuple[str, ...]:
    """The normalised tokens of a fact that must appear, contiguously, in the compressed text."""
    if numeric:
        core = _NUMERIC_CORE.search(text)
        text = core.group() if core else text
    return tuple(_tokens(text))


def _tokens(text: str) -> list[str]:
    text = _THOUSANDS.sub(_drop_commas, text)
    text = _ORDINAL.sub(r"\1", text)
    text = _LONG_MONTH.sub(_short_month, text)
    return _TOKEN.findall(text)


def _drop_commas(m: re.Match[str]) -> str:
    return m.group().replace(",", "")


def _short_month(m: re.Match[str]) -> str:
    return m.group()[:3]


def _missing(facts: list[Fact], compressed: str) -> list[str]:
    if not facts:
        return []
    kinds: dict[str, str] = {}
    for fact in facts:
        kinds.setdefault(fact.text, fact.kind)
    hay = _tokens(compressed)
    singles = set(hay)
    lost: set[str] = set()
    longer: list[tuple[str, tuple[str, ...]]] = []
    for text, kind in kinds.items():
        needle = _needle(kind in ("number", "money"), text)
        if len(needle) > 1 and singles.issuperset(needle):
            longer.append((text, needle))
        elif needle and needle[0] not in singles:
            lost.add(text)
    if longer and len(longer) * len(compressed) < _SCAN_BUDGET:
        # Exact contiguity by substring search: cheap while the text is small.
        joined = "\x00" + "\x00".join(hay) + "\x00"
        lost.update(t for t, n in longer if "\x00" + "\x00".join(n) + "\x00" not in joined)
    elif longer:
        # Large texts: every adjacent token pair must occur, so the cost stays linear.
        pairs = set(itertools.pairwise(hay))
        lost.update(t for t, n in longer if not pairs.issuperset(itertools.pairwise(n)))
    return [text for text in kinds if text in lost]
