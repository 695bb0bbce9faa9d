"""Where each function and class of a source text is: qualified name -> 1-based line span.

Python is read with :mod:`ast` (decorators included in a definition's span). JavaScript,
TypeScript, Go, Java, C, C++, C# and Rust are read by a scanner that blanks out strings,
comments, template literals (with their ``${...}`` parts) and regex literals, then pairs braces:
each ``{`` whose header names a function, method, class, interface, struct or impl is a symbol,
nested names joined by dots (``Cache.get``, ``outer.inner``; a Go method is ``Recv.Name``).
"""

from __future__ import annotations

import ast
import bisect
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Symbol:
    """A definition: its dotted name and the 1-based inclusive lines it spans."""

    name: str
    first: int
    last: int


def python_symbols(source: str) -> list[Symbol]:
    """Every ``def`` / ``async def`` / ``class``, nested ones as ``Outer.inner``."""
    tree = ast.parse(source)
    out: list[Symbol] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                out.append(Symbol(name, first, child.end_lineno or child.lineno))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


# What may stand before a `/` that divides; anything else means the `/` starts a regex literal.
_DIVIDES_AFTER = re.compile(r"(?:[\w$)\]]|\+\+|--)$")
_REGEX_KEYWORDS = re.compile(r"(?:^|[^\w$])(?:return|typeof|case|do|else|in|of|void|yield|await)$")
_WORD = re.compile(r"[\w$]+")
_CONTROL = frozenset(
    {
        "if",
        "for",
        "while",
        "switch",
        "catch",
        "with",
        "do",
        "else",
        "try",
        "finally",
        "return",
        "new",
        "typeof",
        "await",
        "yield",
        "synchronized",
        "using",
        "lock",
        "fixed",
        "unsafe",
        "checked",
        "foreach",
        "match",
        "loop",
        "defer",
        "go",
        "select",
        "func",
        "function",
        "sizeof",
    }
)
_TYPE_HEADER = re.compile(
    r"\b(?:class|interface|struct|enum|trait|namespace|module|impl(?:<[^>]*>)?)\s+"
    r"(?:[\w:<>, ]+\s+for\s+)?(?P<name>[A-Za-z_$][\w$]*)"
)
_GO_TYPE = re.compile(r"\btype\s+(?P<name>[A-Za-z_]\w*)\s+(?:struct|interface)\b")
_GO_METHOD = re.compile(
    r"\bfunc\s*\(\s*(?:\w+\s+)?\*?\s*(?P<recv>[A-Za-z_]\w*)(?:\[[^\]]*\])?\s*\)\s*(?P<name>\w+)"
)
_ASSIGNED = re.compile(
    r"(?P<name>[A-Za-z_$][\w$]*)\s*(?::[^=]*)?=\s*(?:async\s+)?"
    r"(?:function\b[^(]*\(|\([^)]*\)[^=]*=>|[A-Za-z_$][\w$]*\s*=>)"
)
_CALLED = re.compile(r"(?P<name>[A-Za-z_$#~][\w$]*)\s*(?:<[^()]*>)?\s*\(")


def _blank(source: str, *, js: bool) -> str:
    """``source`` with string, comment, template and regex contents replaced by spaces.

    Lengths and newlines are kept, so offsets and line numbers still match the original. ``js``:
    single quotes delimit strings, backticks template literals (elsewhere a single quote is a
    character literal or a Rust lifetime, a backtick a Go raw string).
    """
    out = list(source)
    n = len(source)
    i = 0
    # Each entry is the brace depth at which a template literal's `${` opened.
    templates: list[int] = []
    depth = 0
    last = ""  # the last significant text seen (for the regex-or-divide decision)

    def wipe(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    def template_tail(start: int) -> int:
        """From inside a template literal at ``start``: index after its end or its ``${``."""
        k = start
        while k < n:
            c = source[k]
            if c == "\\":
                k += 2
            elif c == "`":
                wipe(start, k)
                return k + 1
            elif c == "$" and k + 1 < n and source[k + 1] == "{":
                wipe(start, k)
                templates.append(depth)
                return k + 2
            else:
                k += 1
        wipe(start, n)
        return n

    while i < n:
        c = source[i]
        nxt = source[i + 1] if i + 1 < n else ""
        if c in " \t\r\n":
            i += 1
            continue
        if c == "/" and nxt == "/":
            end = source.find("\n", i)
            end = n if end < 0 else end
            wipe(i, end)
            i = end
            continue
        if c == "/" and nxt == "*":
            end = source.find("*/", i + 2)
            end = n if end < 0 else end + 2
            wipe(i, end)
            i = end
            continue
        if c in "\"'":
            k = i + 1
            while k < n and source[k] != c and source[k] != "\n":
                k += 2 if source[k] == "\\" else 1
            content = source[i + 1 : k]
            char_literal = len(content) == 1 or (content.startswith("\\") and len(content) <= 10)
            if c == "'" and (k >= n or source[k] != "'" or not (js or char_literal)):
                i += 1  # a Rust lifetime or a lone quote, not a literal
                last = c
                continue
            wipe(i + 1, k)
            i = k + 1
            last = "x"
            continue
        if c == "`" and not js:
            end = source.find("`", i + 1)
            end = n if end < 0 else end
            wipe(i + 1, end)
            i = end + 1
            last = "x"
            continue
        if c == "`":
            i = template_tail(i + 1)
            last = "x"
            continue
        if js and c == "/" and (not _DIVIDES_AFTER.search(last) or _REGEX_KEYWORDS.search(last)):
            k, in_class = i + 1, False
            while k < n and source[k] != "\n":
                ch = source[k]
                if ch == "\\":
                    k += 2
                    continue
                if ch == "[":
                    in_class = True
                elif ch == "]":
                    in_class = False
                elif ch == "/" and not in_class:
                    break
                k += 1
            if k < n and source[k] == "/":
                wipe(i + 1, k)
                i = k + 1
                last = "x"
                continue
        if c == "{":
            depth += 1
        elif c == "}":
            if templates and templates[-1] == depth:
                templates.pop()
                i = template_tail(i + 1)
                last = "x"
                continue
            depth -= 1
        word = _WORD.match(source, i)
        if word:
            last = (last + " " + word.group())[-16:]
            i = word.end()
        else:
            last = (last + c)[-16:]
            i += 1
    return "".join(out)


def _header_name(header: str) -> tuple[str, int] | None:
    """The name a block's header defines and where it starts; None for control flow, literals."""
    head = header.rstrip()
    if not head.strip() or head.endswith(("=", ",", "(", "[", ":", "?", "return")):
        return None  # an object literal or an expression
    for pattern in (_GO_METHOD, _GO_TYPE, _TYPE_HEADER):
        found = pattern.search(head)
        if found:
            if pattern is _GO_METHOD:
                return f"{found.group('recv')}.{found.group('name')}", found.start()
            return found.group("name"), found.start("name")
    if "=>" in head or re.search(r"\bfunction\b", head):
        assigned = _ASSIGNED.search(head)
        if assigned:
            return assigned.group("name"), assigned.start()
        named = re.search(r"\bfunction\s*\*?\s*([A-Za-z_$][\w$]*)", head)
        return (named.group(1), named.start()) if named else None
    called = _CALLED.search(head)
    if not called or not re.search(r"\)[^()]*$", head):
        return None
    name = called.group("name")
    if name in _CONTROL or name[0].isdigit():
        return None
    before = head[: called.start()].split()
    if before and before[-1] in ("new", "return", "=", "await", "else"):
        return None
    return name, called.start()


def c_like_symbols(source: str, *, js: bool = True) -> list[Symbol]:
    """Functions, methods and types of brace-delimited languages, by scanning (see module doc)."""
    code = _blank(source, js=js)
    starts = [0] + [i + 1 for i, c in enumerate(code) if c == "\n"]

    def line_of(offset: int) -> int:
        return bisect.bisect_right(starts, offset)

    out: list[Symbol] = []
    # One entry per open brace: (prefix for names inside, first line, qualified name or None).
    stack: list[tuple[str, int, str | None]] = []
    boundary = 0
    for at, char in enumerate(code):
        if char == "{":
            found = _header_name(code[boundary:at])
            prefix = stack[-1][0] if stack else ""
            if found is None:
                stack.append((prefix, 0, None))
            else:
                name, offset = found
                qualified = name if "." in name else f"{prefix}{name}"  # Go: Recv.Name
                first = line_of(boundary + offset)
                # Decorators and annotations on the lines above belong to the definition.
                while first > 1 and code[starts[first - 2] : starts[first - 1]].lstrip()[:1] == "@":
                    first -= 1
                stack.append((f"{qualified}.", first, qualified))
            boundary = at + 1
        elif char == "}":
            if stack:
                _, opened, closed_name = stack.pop()
                if closed_name:
                    out.append(Symbol(closed_name, opened, line_of(at)))
            boundary = at + 1
        elif char == ";":
            boundary = at + 1
    out.sort(key=lambda s: (s.first, -s.last))
    return out
