"""Which programming language is this? Keyword and literal evidence per language, and code shape.

Scored from keyword counts (one regex pass plus ``str.count``) rather than a regex per feature,
so a few KB take well under a millisecond.
"""

from __future__ import annotations

import re
from collections import Counter

from compression_layer.compress.pysource import parses_as_python
from compression_layer.compress.types import Domain

SAMPLE_CHARS = 6000  # characters scored for language and shape; enough to decide, cheap to scan


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SQL_LOWER = re.compile(r"select(?<!\wselect)\s+(?:\*|[\w.]+(?:\s*,\s*[\w.]+)*)\s+from\s+\w+")


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


_STOPWORD_TEXT = (
    "the of and to in is a that for it as was with by on are be this an which or from at "
    "has have not were its their also his been more can they but he"
)


_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def detect_language(code: str) -> str | None:
    """Best-guess programming language of ``code``, or None when nothing looks like code.

    Knows python, javascript, typescript, go, rust, java, c, cpp, shell and sql.
    """
    scores = _language_scores(code[:SAMPLE_CHARS])
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] >= 4.0 else None


def _language_scores(sample: str, python_parses: bool | None = None) -> dict[str, float]:
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
    if python_parses if python_parses is not None else parses_as_python(sample):
        scores["python"] += 10.0
    return scores


def code_or_prose(
    sample: str, python_parses: bool | None = None, hint: str | None = None
) -> Domain:
    scores = _language_scores(sample, python_parses)
    if hint:
        scores[hint] += 6.0  # a module docstring or an encoding cookie opened the text
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


def _sentence_like(line: str) -> bool:
    """A long line that reads as sentences: a paragraph ending in ")" is not a code line."""
    words = line.lower().split()
    if len(line) < 160 or len(words) < 20:
        return False
    return sum(1 for w in words if w in _STOPWORDS) / len(words) >= 0.2


def _code_shape(sample: str) -> float:
    """0..1: how much the layout looks like code (line endings, indentation, few stopwords)."""
    lines = [line for line in sample.splitlines() if line.strip()]
    if not lines:
        return 0.0
    codeish = sum(
        1
        for line in lines
        if (line.rstrip()[-1] in ";{}()[]:,\\" or line[:1] in " \t#/@}$<")
        and not _sentence_like(line)
    )
    words = sample.lower().split()
    stop_share = sum(1 for w in words if w in _STOPWORDS) / max(1, len(words))
    symbols = sum(sample.count(c) for c in "{}[]();=<>_") / max(1, len(sample))
    line_part = codeish / len(lines)
    prose_part = max(0.0, 1.0 - stop_share / 0.25)  # prose runs about 25-30% stopwords
    symbol_part = min(1.0, symbols / 0.05)
    return (line_part + prose_part + symbol_part) / 3
