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

import bisect
import itertools
import re
from collections.abc import Collection, Iterator
from functools import lru_cache
from typing import NamedTuple

from compression_layer.errors import CompressionLayerError

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
_MONTH = (  # a trailing dot only after an abbreviation: "3 March." ends a sentence
    r"(?:Jan(?:uary|\.)?|Feb(?:ruary|\.)?|Mar(?:ch|\.)?|Apr(?:il|\.)?|May|June?|July?"
    r"|Aug(?:ust|\.)?|Sep(?:t(?:ember|\.)?|\.)?|Oct(?:ober|\.)?|Nov(?:ember|\.)?|Dec(?:ember|\.)?)"
    r"(?!\w)"
)
_REST = r"\d*+(?:,\d{3})*+(?:\.\d+)?+"  # the rest of a number whose first digit is consumed
_UNIT = (
    r"%|‰|°[CF]?|[kKMGTP]i?B|[kMG]?bps|[kMGT]?Hz|[kMG]?Wh?|[mµnk]?[mgsV]|[cd]m|µs|us|ns|ms"
    r"|min|hrs?|sec|mph|km/h|m/s|rpm|fps|px|dpi|ft|mi|yd|lbs?|oz|mL|ml|L|mA|x"
)
_SCALE = r"(?:[kKmMbB]n?|thousand|million|billion|trillion)\b"
_CODE = r"USD|EUR|GBP|JPY|CNY|INR|CHF|CAD|AUD|BTC|dollars?|euros?|pounds?|cents?"
_DOTTED = r"(?:\.[A-Za-z_]\w++)"  # ".attr" of two or more characters: "e.g." is no identifier
# One word of a name: capitalised, or an acronym, but no inner capital ("BaseModel" is code).
_NAME_WORD = rf"(?:[{_UP}\d]*+|[^\W{_UP}_]*+)(?:-[{_UP}]\w+)*(?:['’][{_UP}]\w*)?(?!\w)"
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
    # codes joined by dashes with a digit somewhere: FIN-2023-14, CVE-2024-3094, GPT-4, SHA-256
    r"|[A-Z0-9]*+(?=(?:-[A-Za-z0-9]+)*?-[A-Za-z]*\d)(?:-[A-Za-z0-9]+)++(?![\w-])"
    r"(?P<identifier__code>)"
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
    "Did Has Have Had Can Could Will Would Should May Might Must "
    # Interjections and discourse openers of conversation (LoCoMo tuning turns): sentence-first
    # by nature, so a capital there says nothing about being a name.
    "Oh Ah Wow Whoa Woah Hey Hi Hello Bye Yes Yeah Yep Yup Yay Oof Okay Thanks Thank Congrats "
    "Awesome Cool Nice Great Sure Sorry Please Wanna Gonna Gotta Absolutely Definitely "
    "Hopefully Thankfully Luckily Fortunately Unfortunately Honestly Actually Basically "
    "Consequently Nevertheless Nonetheless Besides Similarly Additionally Overall"
)
_OPENERS = frozenset(_OPENER_WORDS.split())
_NOT_NAMES = frozenset(
    {"I", "I'm", "I've", "I'd", "I'll", "OK", "Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Jr", "Sr"}
)
_BREAKS = frozenset(".!?:…\n\t \"'“‘([{*#>-")  # before a space, these may open a sentence
_OPENER_SKIP = frozenset(" \t\"'“‘([{*#>-")
_LOWER_WORD = re.compile(r"\b[a-z]+\b")
# Comparison tokens: digit runs (a thousands-grouped number is one token, its commas dropped
# later; the guard matches the one on number facts) and letter runs. Ordinal suffixes are
# dropped and long month names shortened, so "3rd March" and "3 Mar" compare equal.
_TOKEN = re.compile(r"([^\W\d]+|\d(?<![\w.]\d)\d{0,2}+(?:,\d{3})++(?!\d)|\d+)")
_ORDINAL_SUFFIXES = frozenset({"st", "nd", "rd", "th"})
_MONTHS = {
    "January": "Jan",
    "February": "Feb",
    "March": "Mar",
    "April": "Apr",
    "June": "Jun",
    "July": "Jul",
    "August": "Aug",
    "September": "Sep",
    "Sept": "Sep",
    "October": "Oct",
    "November": "Nov",
    "December": "Dec",
}
_TOKEN_FIX = re.compile("\x00(?:st|nd|rd|th|" + "|".join(_MONTHS) + ")(?=\x00)")
# Symbols that bind to the tokens beside them: with only these between two tokens a reader sees
# one ("12.5%$4.2", "pm$250", "2024.5"), so a fact that stood apart there is fused, not kept.
_GLUE = "%‰°$€£¥₹#+/.\\-"
_GLUE_GAP = re.compile(f"[{_GLUE}]+")
_SPACE = re.compile(r"\s+")
_GLUE_JUNCTION = re.compile(f"(?<=[^\\W_])[{_GLUE}]+(?=[^\\W_])")
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
    return _missing(original, extract(original), compressed)


def kept_ratio(original: str, compressed: str) -> float:
    """Share of the distinct facts of ``original`` that survive in ``compressed`` (1.0 if none)."""
    facts = extract(original)
    distinct = {f.text for f in facts}
    if not distinct:
        return 1.0
    return 1.0 - len(_missing(original, facts, compressed)) / len(distinct)


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
        first = words[0]
        if first not in _OPENERS and not lower_words:
            # Words this text also writes in lower case are ordinary words, so a sentence
            # opening "Although John" keeps only "John". Computed once per text.
            lower_words.append(frozenset(_LOWER_WORD.findall(text)))
        if len(words) == 1:
            if _acronym_or_inner_caps(first):
                return start
            if first in _OPENERS or first in _NOT_NAMES or len(first) < 2:
                return None
            # "Dana moved the launch": a lone capitalised word opening a sentence is a name when
            # the text never writes it in lower case and English does not either.
            if first.lower() in lower_words[0] or not written_capitalised(first):
                return None
            return start
        if first in _OPENERS or first.lower() in lower_words[0]:
            # "In Paris" -> "Paris": the opener is an ordinary word, what follows is a name.
            start = text.index(words[1], start + len(first))
            words = words[1:]
    if len(words) == 1 and (len(words[0]) == 1 or words[0] in _NOT_NAMES):
        return None
    return start


# Whole words among the first entries of MiniLM's word-piece vocabulary, which lists words
# roughly by frequency (index 1997 is "the"): up to index 10,000, about the 8,000 most frequent.
_COMMON_VOCAB_ENTRIES = 10_000


# Derivational endings of ordinary English words ("Quarterly", "Exploring", "Creativity"); only
# the rare-word test uses them, names with these endings ("Beijing", "Italy") pass the first.
_SUFFIX_TEXT = "ly ing ed tion sion ment ness ity ous ive ful less able ible ism ist ize ise"
_WORD_SUFFIXES = tuple(_SUFFIX_TEXT.split())


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str] | None:
    """The most frequent English words (lower case), from the packaged MiniLM vocabulary."""
    from compression_layer.minilm import minilm_path

    try:
        path = minilm_path() / "vocab.txt"
        with path.open(encoding="utf-8") as handle:
            lines = list(itertools.islice(handle, _COMMON_VOCAB_ENTRIES))
    except (OSError, ImportError, CompressionLayerError):
        return None
    return frozenset(w for w in map(str.strip, lines) if w.isalpha() and w.isascii())


@lru_cache(maxsize=8192)
def written_capitalised(word: str) -> bool:
    """Whether English writes ``word`` mostly capitalised, i.e. as a name (``Dana``, ``Paris``).

    Two cheap tests. The o200k tokenizer learned its merges in order of frequency on web text,
    so a word whose capitalised form costs fewer tokens, or the same number of earlier-merged
    ones, than its lower-case form is mostly written capitalised ("Paris", "Caroline", not
    "Revenue"). Otherwise a word outside the ~8,000 most frequent words (MiniLM vocabulary
    order), whose lower-case form is no cheaper and that does not end like a derived English
    word (-ly, -ing, -tion ...), is taken as a name too ("Dana", "Okonkwo", not "Quarterly").

    Measured on lone capitalised words opening a sentence, a word counting as a name when its
    split writes it capitalised mid-sentence and never in lower case: tuning splits (SQuAD 0-3,
    NQ 0-399, LoCoMo conv-26/30) 98.5% of name occurrences found, 1.0% of common-word ones taken
    for names; held out (SQuAD 4-7, NQ 400+, LoCoMo conv-41/42/43) 83.6% and 3.2% (distinct
    words: 89% and 4.3%; the largest miss is "Tim", whose lower case o200k merged first).
    """
    from compression_layer.tokens import encoding

    enc = encoding()
    capital = enc.encode_ordinary(" " + word)
    lower = enc.encode_ordinary(" " + word.lower())
    if (len(capital), capital) < (len(lower), lower):
        return True
    common = _common_words()
    if common is None or len(lower) < len(capital) or word.endswith(_WORD_SUFFIXES):
        return False
    return word.lower() not in common


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


def _normalise(tokens: list[str]) -> list[str]:
    return [_MONTHS.get(t) or t.replace(",", "") for t in tokens if t not in _ORDINAL_SUFFIXES]


def _needles(original: str, facts: list[Fact]) -> dict[str, tuple[str, ...]]:
    """Normalised tokens of each distinct fact, cut from the tokens of the whole original.

    Tokenising in context (not the fact text alone) makes the needle exactly what the same
    tokeniser sees when the compressed text keeps the fact, whatever surrounds it.
    """
    parts = _TOKEN.split(original)  # gap, token, gap, token, ..., gap
    raw = parts[1::2]
    bounds = list(itertools.accumulate(map(len, parts)))
    starts, ends = bounds[0::2], bounds[1::2]
    needles: dict[str, tuple[str, ...]] = {}
    for fact in facts:
        if fact.text in needles:
            continue
        first, last = _token_range(fact, raw, starts, ends)
        needle = _normalise(raw[first : last + 1])
        if fact.kind in ("number", "money"):
            # Only the numeric part must survive: "12 km" may become "12km" or "12 kilometres".
            while needle and not needle[-1][0].isdigit():
                needle.pop()
        needles[fact.text] = tuple(needle)
    return needles


def _token_range(fact: Fact, raw: list[str], starts: list[int], ends: list[int]) -> tuple[int, int]:
    """First and last token of ``fact`` (for numbers and money, the last digit token)."""
    first = bisect.bisect_right(ends, fact.start)
    last = bisect.bisect_left(starts, fact.end, first, len(raw)) - 1
    if fact.kind in ("number", "money"):
        while last > first and not raw[last][0].isdigit():
            last -= 1
    return first, last


def _joined_tokens(text: str) -> str:
    """All normalised tokens of ``text`` as one NUL-separated string, built with C-level calls.

    Same result as ``_normalise`` token by token: commas only occur inside number tokens, and
    ordinals and month names are rare enough for a callback per match.
    """
    joined = "\x00" + "\x00".join(_TOKEN.findall(text)) + "\x00"
    return _TOKEN_FIX.sub(_fix_token, joined.replace(",", ""))


def _fix_token(m: re.Match[str]) -> str:
    token = m.group()[1:]
    return "" if token in _ORDINAL_SUFFIXES else "\x00" + _MONTHS[token]


def _gapped_tokens(text: str) -> tuple[list[str], list[str]]:
    """Normalised tokens of ``text`` and the gaps around them (``gaps[i]`` precedes token i)."""
    parts = _TOKEN.split(text)
    tokens: list[str] = []
    gaps: list[str] = []
    pending = ""
    for i, token in enumerate(parts[1::2]):
        pending += parts[2 * i]
        if token in _ORDINAL_SUFFIXES:
            continue  # "3rd" compares as "3": its suffix joins the gap after it
        tokens.append(_MONTHS.get(token) or token.replace(",", ""))
        gaps.append(pending)
        pending = ""
    gaps.append(pending + parts[-1])
    return tokens, gaps


def _fuses(gap: str, original_gaps: set[str]) -> bool:
    """A gap of glue symbols only that is not the original's less its whitespace: "12.5%$4.2"
    for "12.5% to $4.2". Removing spaces only ("a % 2" -> "a%2", minified code) fuses nothing."""
    return _GLUE_GAP.fullmatch(gap) is not None and gap not in original_gaps


def _fused(
    original: str, facts: list[Fact], needles: dict[str, tuple[str, ...]], compressed: str
) -> set[str]:
    """Facts of ``needles`` whose every occurrence in ``compressed`` is glued to a neighbour.

    Glued means a gap of glue symbols only that the original did not have around that fact
    (whitespace aside). Only a text with a junction of glue symbols the original never has
    between two tokens ("%$" in "12.5%$4.2") is looked at closely, so most texts cost two scans.
    """
    new = set(_GLUE_JUNCTION.findall(compressed)).difference(_GLUE_JUNCTION.findall(original))
    if not new:
        return set()
    tokens, gaps = _gapped_tokens(compressed)
    glued_left = {tokens[i] for i in range(1, len(tokens)) if gaps[i] in new}
    glued_right = {tokens[i - 1] for i in range(1, len(tokens)) if gaps[i] in new}
    suspects = {
        text
        for text, needle in needles.items()
        if needle and (needle[0] in glued_left or needle[-1] in glued_right)
    }
    if not suspects:
        return set()
    # Gaps around each occurrence of a suspect in the original, whitespace removed.
    parts = _TOKEN.split(original)
    raw = parts[1::2]
    bounds = list(itertools.accumulate(map(len, parts)))
    starts, ends = bounds[0::2], bounds[1::2]
    sides: dict[str, tuple[set[str], set[str]]] = {}
    for fact in facts:
        if fact.text in suspects:
            first, last = _token_range(fact, raw, starts, ends)
            before, after = sides.setdefault(fact.text, (set(), set()))
            before.add(_SPACE.sub("", parts[2 * first]))
            after.add(_SPACE.sub("", parts[2 * last + 2]))
    where: dict[str, list[int]] = {}
    for i, token in enumerate(tokens):
        where.setdefault(token, []).append(i)
    fused: set[str] = set()
    for text in suspects:
        needle, (before, after) = needles[text], sides[text]
        n = len(needle)
        apart = (
            (i == 0 or not _fuses(gaps[i], before))
            and (i + n == len(tokens) or not _fuses(gaps[i + n], after))
            for i in where.get(needle[0], ())
            if tuple(tokens[i : i + n]) == needle
        )
        if not any(apart):
            fused.add(text)
    return fused


def _missing(original: str, facts: list[Fact], compressed: str) -> list[str]:
    if not facts:
        return []
    needles = _needles(original, facts)
    joined = _joined_tokens(compressed)
    singles = set(joined.split("\x00"))
    lost: set[str] = set()
    longer: list[tuple[str, tuple[str, ...]]] = []
    for text, needle in needles.items():
        if not singles.issuperset(needle):
            lost.add(text)
        elif len(needle) > 1:
            longer.append((text, needle))
    if longer and len(longer) * len(compressed) < _SCAN_BUDGET:
        # Exact contiguity by substring search: cheap while the text is small.
        lost.update(t for t, n in longer if "\x00" + "\x00".join(n) + "\x00" not in joined)
    elif longer:
        # Large texts: every adjacent token pair must occur, so the cost stays linear.
        pairs = set(itertools.pairwise(joined.split("\x00")))
        lost.update(t for t, n in longer if not pairs.issuperset(itertools.pairwise(n)))
    kept = {text: needle for text, needle in needles.items() if text not in lost}
    lost |= _fused(original, facts, kept, compressed)
    return [text for text in needles if text in lost]
