"""Domain detection: prose, code (with its language), mixed markdown, JSON or logs.

The pipeline routes on this, so it must be cheap: a few KB take well under a millisecond.
Everything is heuristic: JSON is parsed, logs are recognised by line prefixes, markdown fences
are split exactly, and languages are scored from keyword counts (one regex pass plus
``str.count``) rather than by running a regex per feature. ``ast.parse`` confirms Python.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from compression_layer.compress.types import Domain

__all__ = ["Segment", "detect", "detect_language", "split_fences"]

_SAMPLE = 6000  # characters scored for language and shape; enough to decide, cheap to scan
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})([^\n]*)")
_FENCE_CLOSE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
_LOG_LINE = re.compile(
    r"^[ \t]*(?:"
    r"\[?\d{4}[-/.]\d{2}[-/.]\d{2}[T _]\d{1,2}:\d{2}"  # ISO-like date and time
    r"|\[?\d{1,2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}"  # common log format
    r"|\d{1,3}(?:\.\d{1,3}){3} \S+ \S+ \["  # access log: ip ident user [time]
    r"|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2}"  # syslog
    r"|\[?\d{2}:\d{2}:\d{2}"  # time first
    r"|[\[<]?(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|FATAL|SEVERE)[\]>]?[\s:|-]"
    r"|[IWEF]\d{4} \d{2}:\d{2}:\d{2}"  # glog
    r"|\d{10}(?:\.\d+)?\s"  # epoch seconds
    r"|<\d{1,3}>"  # syslog priority
    r")",
    re.MULTILINE,
)
_PY_STARTS = ("def ", "class ", "import ", "from ", "@", "async ", "with ", "for ", "if ", "try:")
_PY_LINE_STARTS = ("\ndef ", " def ", "\nclass ", "\nimport ", "\nfrom ", "\n@", "    @")
_SQL_LOWER = re.compile(r"select(?<!\wselect)\s+(?:\*|[\w.]+(?:\s*,\s*[\w.]+)*)\s+from\s+\w+")

# --- language evidence --------------------------------------------------------------------
# Per language: whole words (case-sensitive, counted once per occurrence, capped at five) and
# literal substrings, each with a weight. Words that prose also uses ("for", "if", "from")
# are left out or kept light; shared syntax ("->", "::") is light everywhere it appears.


def _weights(spec: str) -> dict[str, float]:
    return {w: float(v) for w, v in (item.rsplit(":", 1) for item in spec.split())}


_JS_WORDS = (
    "const:2 let:0.5 var:1 function:2 console:3 require:2 undefined:2 document:2 window:1 "
    "prototype:2 typeof:2 null:0.5 module:1 exports:1 async:0.3 await:0.3 constructor:2 "
    "forEach:1.5"
)
_JS_LITERALS: dict[str, float] = {
    "=>": 2,
    "===": 3,
    "!==": 3,
    "console.log": 3,
    "});": 2,
    "();": 1,
    "this.": 1,
}
_FEATURES: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    "python": (
        _weights(
            "def:3 elif:4 self:2 None:1.5 True:1 False:1 lambda:2 __init__:3 isinstance:2 "
            "kwargs:2 cls:1 except:2 raise:1.5 nonlocal:3 __name__:3 import:0.5 yield:1 "
            "assert:1 Optional:1 Any:1 dict:0.5 str:0.5 pass:0.5 print:1 len:1 enumerate:2 "
            "append:1 strip:0.5 range:0.5"
        ),
        {"self.": 2, '"""': 2, "):\n": 2, "->": 0.5, ":\n": 0.5, 'f"': 1, "encoding=": 2},
    ),
    "javascript": (_weights(_JS_WORDS), _JS_LITERALS),
    "typescript": (
        _weights(_JS_WORDS + " interface:2 readonly:3 implements:1 enum:1 keyof:3 unknown:1"),
        {
            **_JS_LITERALS,
            ": string": 3,
            ": number": 3,
            ": boolean": 3,
            ": any": 2,
            ": void": 3,
            "?: ": 2,
            "as const": 2,
            "<T>": 1,
        },
    ),
    "go": (
        _weights("func:4 package:2 fmt:3 nil:2 chan:3 defer:3 struct:1.5 err:1.5 range:0.5"),
        {":=": 3, "err != nil": 4, "package main": 4, "func (": 3, "[]string": 3, "fmt.": 2},
    ),
    "rust": (
        _weights(
            "mut:3 impl:3 pub:2 let:0.5 Some:1.5 Err:1 Vec:2 usize:3 u32:2 i32:2 u8:2 u64:2 "
            "i64:2 f64:2 "
            "crate:3 trait:2 mod:1 match:0.5"
        ),
        {
            "fn ": 4,
            "println!": 4,
            ".iter()": 2,
            "::<": 3,
            "::": 1,
            "&self": 4,
            "&mut ": 4,
            ".unwrap()": 4,
            "#[derive": 5,
            "vec!": 4,
            "fn main()": 4,
            "&str": 3,
            ".expect(": 3,
            "Vec<": 2,
            "-> ": 0.5,
        },
    ),
    "java": (
        _weights(
            "public:1.5 private:1 protected:1.5 static:1 void:1.5 extends:1 implements:2 "
            "final:1 throws:3 Override:2 boolean:1.5 new:0.5 String:1 Optional:1 List:1 "
            "ArrayList:2 HashMap:2 Integer:1 IOException:3 catch:1"
        ),
        {
            "System.out": 4,
            "@Override": 4,
            "String[]": 3,
            "public static void main": 5,
            ";\n": 0.3,
            "!= null": 2,
        },
    ),
    "c": (
        _weights(
            "include:1.5 int:1 char:1.5 void:1 printf:3 malloc:3 free:1 sizeof:3 struct:1.5 "
            "typedef:3 unsigned:2 NULL:2 define:1 size_t:3"
        ),
        {"#include <": 3, ".h>": 3, "->": 0.5, ";\n": 0.3, "int main(": 3, "char *": 2},
    ),
    "cpp": (
        _weights(
            "std:2 cout:4 cin:3 endl:4 template:3 typename:3 namespace:2 nullptr:4 auto:1 "
            "virtual:2 include:1 vector:2 override:1 int:0.5 void:0.5"
        ),
        {
            "std::": 2,
            "::": 1,
            "#include <iostream>": 5,
            "<<": 1.5,
            "public:": 3,
            "private:": 3,
            ";\n": 0.3,
        },
    ),
    "shell": (
        _weights(
            "echo:3 fi:4 esac:4 done:2 then:1 export:2 sudo:4 apt:3 pip:1.5 npm:2 cd:2 ls:2 "
            "mkdir:3 rm:2 chmod:4 grep:3 curl:3 wget:3 awk:3 sed:2 xargs:3 bash:2 docker:2 "
            "kubectl:3"
        ),
        {
            "#!/bin/": 6,
            "$(": 3,
            "${": 2,
            " | ": 1,
            "&&": 1,
            "2>&1": 4,
            "/dev/null": 3,
            "; then": 4,
            "; do": 4,
            "\n$ ": 2,
        },
    ),
    "sql": (
        _weights(
            "SELECT:4 FROM:2 WHERE:3 INSERT:4 INTO:2 VALUES:3 UPDATE:3 DELETE:3 CREATE:2 "
            "TABLE:3 JOIN:3 GROUP:2 ORDER:2 PRIMARY:3 VARCHAR:4 INTEGER:2 NULL:1 INDEX:2 "
            "LIMIT:2 HAVING:3 DISTINCT:3 ALTER:3 varchar:4"
        ),
        {"GROUP BY": 2, "ORDER BY": 2, "NOT NULL": 2, ");\n": 0.5},
    ),
}
_WORD_INDEX: dict[str, list[tuple[str, float]]] = {}
_LITERAL_INDEX: dict[str, list[tuple[str, float]]] = {}
for _language, (_words, _literals) in _FEATURES.items():
    for _word, _weight in _words.items():
        _WORD_INDEX.setdefault(_word, []).append((_language, _weight))
    for _literal, _weight in _literals.items():
        _LITERAL_INDEX.setdefault(_literal, []).append((_language, _weight))
_FENCE_ALIASES = {
    **dict.fromkeys(("py", "python3", "py3", "ipython", "pycon"), "python"),
    **dict.fromkeys(("js", "jsx", "node", "mjs", "cjs"), "javascript"),
    **dict.fromkeys(("ts", "tsx"), "typescript"),
    "golang": "go",
    "rs": "rust",
    "h": "c",
    **dict.fromkeys(("c++", "cc", "cxx", "hpp", "hxx"), "cpp"),
    **dict.fromkeys(
        ("sh", "bash", "zsh", "ksh", "console", "shell-session", "shellsession"), "shell"
    ),
    **dict.fromkeys(("postgres", "postgresql", "mysql", "sqlite", "plsql", "tsql"), "sql"),
    **dict.fromkeys(("jsonl", "json5", "jsonc"), "json"),
}
_STOPWORD_TEXT = (
    "the of and to in is a that for it as was with by on are be this an which or from at "
    "has have not were its their also his been more can they but he"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a markdown text: prose (``text``) or the body of a fenced ``code`` block.

    ``fence_open`` is the opening fence line with its newline, ``fence_close`` the closing one
    (empty when the block runs to the end); ``raw`` is the exact source of the piece and
    ``start``/``end`` its offsets in the input.
    """

    kind: Literal["text", "code"]
    text: str
    language: str | None
    fence_open: str
    fence_close: str
    start: int
    end: int

    @property
    def raw(self) -> str:
        """The exact input text this segment came from."""
        return self.fence_open + self.text + self.fence_close


def split_fences(text: str) -> list[Segment]:
    """Split markdown into prose and fenced code (```` ``` ```` or ``~~~``), losslessly.

    Follows CommonMark: a fence is three or more backticks or tildes indented at most three
    spaces; it closes on a line of the same character at least as long, or at the end of input.
    ``"".join(s.raw for s in split_fences(t)) == t`` for every ``t``.
    """
    lines = text.splitlines(keepends=True)
    segments: list[Segment] = []
    pos = text_start = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        opener = _FENCE_OPEN.fullmatch(line.rstrip("\r\n"))
        if opener is None or (opener.group(1)[0] == "`" and "`" in opener.group(2)):
            pos += len(line)
            i += 1
            continue
        if pos > text_start:
            segments.append(_text(text, text_start, pos))
        fence = opener.group(1)
        j = i + 1
        while j < len(lines) and not _closes(lines[j], fence):
            j += 1
        body = "".join(lines[i + 1 : j])
        close = lines[j] if j < len(lines) else ""
        end = pos + len(line) + len(body) + len(close)
        language = _fence_language(opener.group(2))
        segments.append(Segment("code", body, language, line, close, pos, end))
        pos = text_start = end
        i = j + 1
    if len(text) > text_start:
        segments.append(_text(text, text_start, len(text)))
    return segments


def _text(source: str, start: int, end: int) -> Segment:
    return Segment("text", source[start:end], None, "", "", start, end)


def _closes(line: str, fence: str) -> bool:
    m = _FENCE_CLOSE.fullmatch(line.rstrip("\r\n"))
    return m is not None and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)


def _fence_language(info: str) -> str | None:
    word = info.strip().split(maxsplit=1)[0] if info.strip() else ""
    word = word.strip("{}.").lower()
    if not word:
        return None
    return _FENCE_ALIASES.get(word, word)


def detect_language(code: str) -> str | None:
    """Best-guess programming language of ``code``, or None when nothing looks like code.

    Knows python, javascript, typescript, go, rust, java, c, cpp, shell and sql.
    """
    scores = _language_scores(code[:_SAMPLE])
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] >= 4.0 else None


def _language_scores(sample: str) -> dict[str, float]:
    words = Counter(_WORD.findall(sample))
    scores = dict.fromkeys(_FEATURES, 0.0)
    # Only the feature words present are visited; each literal is counted once for all.
    for word in words.keys() & _WORD_INDEX.keys():
        count = min(words[word], 5)
        for language, weight in _WORD_INDEX[word]:
            scores[language] += weight * count
    for literal, users in _LITERAL_INDEX.items():
        count = sample.count(literal)
        if count:
            for language, weight in users:
                scores[language] += weight * min(count, 5)
    if "select" in sample and _SQL_LOWER.search(sample):
        scores["sql"] += 8.0
    # A typed superset wins only on its own evidence: JS keywords count for both.
    if scores["typescript"] - scores["javascript"] < 3.0:
        scores["typescript"] = min(scores["typescript"], scores["javascript"] - 0.5)
    if scores["cpp"] - scores["c"] < 3.0:
        scores["cpp"] = min(scores["cpp"], scores["c"] - 0.5)
    if _parses_as_python(sample):
        scores["python"] += 10.0
    return scores


def _parses_as_python(sample: str) -> bool:
    """``ast.parse`` success, tried only when a line opens Python-like (``Paris`` parses too).

    Parsing costs more than all the counting, so cheap substring checks gate it.
    """
    head = sample.lstrip()
    if not head.startswith(_PY_STARTS) and not any(k in sample for k in _PY_LINE_STARTS):
        return False
    try:
        ast.parse(textwrap.dedent(sample))
    except (SyntaxError, ValueError):
        return False
    return True


def detect(text: str) -> Domain:
    """Classify ``text`` as json, log, mixed (markdown prose with fenced code), code or prose."""
    stripped = text.strip()
    if not stripped:
        return Domain(kind="prose", confidence=0.0)
    as_json = _json_confidence(stripped)
    if as_json:
        return Domain(kind="json", confidence=as_json)
    if "```" in text or "~~~" in text:
        fenced = _fenced_domain(text)
        if fenced is not None:
            return fenced
    sample = text[:_SAMPLE]
    log_share = _log_share(sample)
    if log_share >= 0.5:
        return Domain(kind="log", confidence=round(0.5 + log_share / 2, 3))
    return _code_or_prose(sample)


def _json_confidence(stripped: str) -> float:
    if stripped[0] not in "{[":
        return 0.0
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
    else:
        return 1.0 if isinstance(whole, dict | list) else 0.0
    lines = [line for line in stripped.splitlines() if line.strip()]
    if len(lines) < 2 or any(line.lstrip()[0] not in "{[" for line in lines):
        return 0.0
    try:
        for line in lines:
            json.loads(line)
    except ValueError:
        return 0.0
    return 0.95  # JSON Lines


def _fenced_domain(text: str) -> Domain | None:
    segments = split_fences(text)
    code = [s for s in segments if s.kind == "code"]
    if not code:
        return None
    prose = "".join(s.text for s in segments if s.kind == "text").strip()
    languages = Counter(s.language or detect_language(s.text) for s in code)
    languages.pop(None, None)
    language = languages.most_common(1)[0][0] if languages else None
    if prose:
        return Domain(kind="mixed", language=language, confidence=0.9)
    if language == "json" or (len(code) == 1 and _json_confidence(code[0].text.strip())):
        return Domain(kind="json", confidence=0.9)
    if language is None:
        return None  # fences around plain text: judge the content as it is
    return Domain(kind="code", language=language, confidence=0.95)


def _log_share(sample: str) -> float:
    lines = [line for line in sample.splitlines() if line.strip()]
    if not lines:
        return 0.0
    hits = len(_LOG_LINE.findall(sample))
    return min(1.0, hits / len(lines)) if hits >= min(2, len(lines)) else 0.0


def _code_or_prose(sample: str) -> Domain:
    scores = _language_scores(sample)
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (language, score), runner_up = ranked[0], ranked[1][1]
    shape = _code_shape(sample)
    # Keywords and layout must agree: prose mentions "import" and "class" and "System" too.
    strong = (score >= 15.0 and shape >= 0.25) or (score >= 6.0 and shape >= 0.35)
    if strong or (score >= 4.0 and shape >= 0.6):
        margin = (score - runner_up) / score
        strength = min(1.0, score / 20.0) * 0.5 + shape * 0.5
        confidence = round((0.5 + strength / 2) * (0.8 + 0.2 * margin), 3)
        return Domain(kind="code", language=language, confidence=confidence)
    evidence = min(1.0, score / 20.0) * 0.5 + shape * 0.5
    return Domain(kind="prose", confidence=round(1.0 - evidence / 2, 3))


def _code_shape(sample: str) -> float:
    """0..1: how much the layout looks like code (line endings, indentation, few stopwords)."""
    lines = [line for line in sample.splitlines() if line.strip()]
    if not lines:
        return 0.0
    codeish = sum(
        1 for line in lines if line.rstrip()[-1] in ";{}()[]:,\\" or line[:1] in " \t#/@}$<"
    )
    words = sample.lower().split()
    stop_share = sum(1 for w in words if w in _STOPWORDS) / max(1, len(words))
    symbols = sum(sample.count(c) for c in "{}[]();=<>_") / max(1, len(sample))
    line_part = codeish / len(lines)
    prose_part = max(0.0, 1.0 - stop_share / 0.25)  # prose runs about 25-30% stopwords
    symbol_part = min(1.0, symbols / 0.05)
    return (line_part + prose_part + symbol_part) / 3
