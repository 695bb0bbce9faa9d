"""Code skeletons: outputs parse, each marker gives back exactly what it stands for, budgets."""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from compression_layer.compress.reversible import MARKER_RE, selector_of
from compression_layer.compress.structural.cuts import apply, choose
from compression_layer.compress.structural.skeleton import reduce_code
from compression_layer.compress.structural.skeleton_js import script_cuts
from compression_layer.compress.structural.skeleton_py import python_cuts
from compression_layer.compress.types import Domain
from compression_layer.originals.select import parse_ranges, select, split_lines
from compression_layer.originals.symbols import python_symbols
from compression_layer.tokens import count_tokens

HANDLE = "o_5e1ec7ab1e"

PY = '''"""Module docstring.

It goes on for a while, on purpose: a module docstring that explains the design at length,
with a second paragraph about the cache, its eviction order, and what the factory builds, so
that keeping only its first line saves more than the marker costs.
"""

from __future__ import annotations

import json
from typing import overload

LIMIT = 10
TABLE = {
    "alpha": 1,
    "beta": 2,
    "gamma": 3,
    "delta": 4,
}


@overload
def scale(x: int) -> int: ...
@overload
def scale(x: float) -> float: ...
def scale(x):
    """Scale a number by the limit."""
    # the comment before the code
    value = x * LIMIT
    if value > 100:
        value = 100
    return value


class Cache:
    """A small cache.

    Longer explanation that the skeleton drops.
    """

    size: int = 0

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"a cache holds zero or more items, not {size}")
        self.size = size
        self.items: dict[str, bytes] = {}
        self.order: list[str] = []
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.created = json.dumps({"size": size, "kind": "lru", "version": 2})

    @property
    def full(self) -> bool:
        return len(self.items) >= self.size and self.size > 0 and bool(self.items)

    @full.setter
    def full(self, value: bool) -> None:
        if value:
            self.size = len(self.items)
        else:
            self.size = len(self.items) + 1

    async def get(self, key: str) -> bytes | None:
        """Return the cached value, or None."""
        found = self.items.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
            self.order.remove(key)
            self.order.append(key)
        return found

    def put(self, key: str, value: bytes) -> None:
        """Store a value, evicting the least recently used one when full."""
        if key in self.items:
            self.order.remove(key)
        elif self.size and len(self.items) >= self.size:
            oldest = self.order.pop(0)
            del self.items[oldest]
            self.evictions += 1
        self.items[key] = value
        self.order.append(key)


def factory(prefix):
    def build(name):
        text = f"{prefix}:{name}"
        text = text.strip()
        text = text.lower()
        return json.dumps({"name": text, "prefix": prefix, "length": len(text)})

    return build


if __name__ == "__main__":
    cache = Cache(3)
    print(scale(2), cache.full)
    print(factory("a")("b"))
    print(json.dumps(TABLE, indent=2, sort_keys=True))
'''

JS = r"""#!/usr/bin/env node
import { readFile } from "node:fs/promises";
import path from "node:path";

/**
 * Parse a template: braces in strings, templates, regexes and comments are not bodies.
 *
 * The scanner that finds bodies must skip every brace that sits inside a literal or a
 * comment; this function has all of them, so a skeleton that cuts it anywhere but at its
 * real body breaks the parse.
 * @param {string} text the template
 * @returns {string} the text with every placeholder replaced
 */
export function parseTemplate(text) {
  const open = "{";
  const close = '}';
  const tpl = `value: ${text} } { ${"}"}`;
  const re = /\{[^}]*\}/g; // { a comment with a brace
  /* a } block comment { */
  return text.replace(re, (m) => m.slice(1, -1)) + open + close + tpl;
}

export class Loader extends Object {
  constructor(root) {
    super();
    if (typeof root !== "string" || root.length === 0) {
      throw new TypeError(`a loader needs a root folder, not ${JSON.stringify(root)}`);
    }
    this.root = root;
    this.cache = new Map();
    this.loaded = 0;
    this.failed = 0;
  }

  async load(name) {
    const file = path.join(this.root, name);
    if (this.cache.has(file)) {
      return this.cache.get(file);
    }
    let text;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      this.failed += 1;
      throw new Error(`cannot load ${name} from ${this.root}: ${error.message}`);
    }
    this.cache.set(file, text);
    this.loaded += 1;
    return text;
  }

  static create = (root) => {
    const loader = new Loader(root);
    loader.cache.clear();
    return loader;
  };
}

const helpers = {
  twice(x) {
    const y = x * 2;
    return y;
  },
  thrice: function (x) {
    const y = x * 3;
    return y;
  },
};

export const total = (items) => {
  let sum = 0;
  for (const item of items) {
    sum += item.size;
  }
  return sum;
};

(function () {
  function inner(a) {
    const b = a + 1;
    const c = b * 2;
    return c;
  }
  globalThis.inner = inner;
})();

export default helpers;
"""

TS = """import type { Options } from "./options";

export interface Store<T> {
  get(key: string): T | undefined;
  set(key: string, value: T): void;
}

export class MemoryStore<T> implements Store<T> {
  private items = new Map<string, T>();

  get(key: string): T | undefined {
    const found = this.items.get(key);
    if (found === undefined) {
      console.debug(`memory store: no entry for ${key} among ${this.items.size}`);
      return undefined;
    }
    this.items.delete(key);
    this.items.set(key, found);
    return found;
  }

  set(key: string, value: T): void {
    if (this.items.size > 1000) {
      const oldest = this.items.keys().next();
      if (!oldest.done) {
        this.items.delete(oldest.value);
      }
    }
    this.items.set(key, value);
  }
}

export namespace Util {
  export function keyOf(parts: string[], options?: Options): string {
    const joined = parts.join(":");
    const trimmed = joined.trim();
    return options ? `${trimmed}:${String(options)}` : trimmed;
  }
}
"""


def _domain(language: str) -> Domain:
    return Domain(kind="code", language=language)


def _node_check(source: str, suffix: str, tmp_path: Path) -> None:
    if shutil.which("node") is None:
        return  # tree-sitter's check above still ran
    file = tmp_path / f"skeleton{suffix}"
    file.write_text(source, encoding="utf-8")
    done = subprocess.run(
        ["node", "--check", str(file)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def _tree_sitter_clean(source: str, language: str) -> bool:
    import tree_sitter
    import tree_sitter_javascript
    import tree_sitter_typescript

    grammar = (
        tree_sitter_typescript.language_typescript()
        if language == "typescript"
        else tree_sitter_javascript.language()
    )
    parser = tree_sitter.Parser(tree_sitter.Language(grammar))
    return not parser.parse(source.encode("utf-8")).root_node.has_error


def _symbol_lines(original: str, name: str, selected: str) -> tuple[int, int]:
    """The 1-based lines of the one definition ``name``, checked against ``selected``."""
    spans = [s for s in python_symbols(original) if s.name == name]
    assert len(spans) == 1, f"symbol={name} is not unique"
    lines = split_lines(original)
    assert "\n".join(lines[spans[0].first - 1 : spans[0].last]) == selected
    return spans[0].first, spans[0].last


def check_markers(original: str, output: str, label: str) -> int:
    """Every marker resolves; every original line is kept or covered by a marker. -> markers."""
    covered: set[int] = set()
    found = list(MARKER_RE.finditer(output))
    for mark in found:
        assert mark.group("handle") == HANDLE
        selector = selector_of(mark)
        selected = select(original, label, **selector)
        assert selected
        if "lines" in selector:
            for first, last in parse_ranges(selector["lines"], key="lines", base=1):
                covered.update(range(first, last + 1))
        else:
            first, last = _symbol_lines(original, selector["symbol"], selected)
            covered.update(range(first, last + 1))
    for number, line in enumerate(split_lines(original), start=1):
        if number not in covered:
            assert line.strip() in output, f"line {number} neither kept nor covered: {line!r}"
    return len(found)


def check_cuts_exact(original: str, label: str, cuts: list, chosen: list[int]) -> None:
    """Each chosen cut's selector gives back exactly the text it removed (a symbol: ending it)."""
    for i in chosen:
        cut = cuts[i]
        removed = original[cut.start : cut.end]
        selected = select(original, label, **cut.selector)
        if "symbol" in cut.selector:
            assert selected.endswith(removed), cut.selector
            assert ast.parse(selected.strip() and _dedent(selected)).body
        else:
            assert selected == removed, cut.selector


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text)


# --- Python ----------------------------------------------------------------------------------


def test_python_skeleton_parses_and_keeps_the_outline() -> None:
    budget = round(count_tokens(PY) * 0.6)
    out = reduce_code(PY, _domain("python"), budget=budget, query=None, handle=HANDLE)
    assert out is not None
    ast.parse(out.text)
    for kept in (
        "from __future__ import annotations",
        "import json",
        "LIMIT = 10",
        "def scale(x):",
        '"""Scale a number by the limit."""',
        "class Cache:",
        "    def __init__(self, size: int) -> None:",
        "    @full.setter",
        "    async def get(self, key: str) -> bytes | None:",
        '        """Return the cached value, or None."""',
        "def factory(prefix):",
        'if __name__ == "__main__":',
    ):
        assert kept in out.text, kept
    for gone in ("self.misses += 1", "value = 100", "It goes on for a while", "json.dumps(TABLE"):
        assert gone not in out.text, gone
    assert out.omitted == check_markers(PY, out.text, "code:python")
    assert count_tokens(out.text) <= budget * 1.25  # the outline's slack (cuts.choose)


def test_python_tiny_budget_folds_classes() -> None:
    outline = reduce_code(PY, _domain("python"), budget=380, query=None, handle=HANDLE)
    tiny = reduce_code(PY, _domain("python"), budget=1, query=None, handle=HANDLE)
    assert outline is not None and tiny is not None
    ast.parse(tiny.text)
    assert "    def __init__" in outline.text and "    def __init__" not in tiny.text
    assert '"""A small cache."""\n    ...  # [body omitted: retrieve' in tiny.text
    assert count_tokens(tiny.text) < count_tokens(outline.text)
    assert any("over the budget" in note for note in tiny.notes)
    check_markers(PY, tiny.text, "code:python")


def test_python_selectors_are_exact_and_duplicates_go_by_lines() -> None:
    cuts = python_cuts(PY)
    assert cuts
    for budget in (1, 380):
        total = count_tokens(PY)
        chosen = choose(PY, cuts, budget=budget, query=None, handle=HANDLE, total=total)
        check_cuts_exact(PY, "code:python", cuts, chosen)
    by_symbol = {c.selector.get("symbol") for c in cuts} - {None}
    assert {"Cache.__init__", "Cache.get", "factory.build"} <= by_symbol
    # Overloads, and a property's getter and setter, share a name: they go by lines.
    assert not {"scale", "Cache.full"} & by_symbol
    output = apply(PY, cuts, chosen, HANDLE)
    assert "Cache.full" not in output and "lines=" in output


def test_python_generous_budget_keeps_small_bodies() -> None:
    total = count_tokens(PY)
    budget = round(total * 0.85)
    out = reduce_code(PY, _domain("python"), budget=budget, query=None, handle=HANDLE)
    assert out is not None
    assert count_tokens(out.text) <= budget
    full = reduce_code(PY, _domain("python"), budget=1, query=None, handle=HANDLE)
    assert full is not None and out.omitted < full.omitted
    assert "self.misses += 1" in out.text  # a small body stays whole
    check_markers(PY, out.text, "code:python")


def test_python_query_keeps_the_relevant_body() -> None:
    total = count_tokens(PY)
    budget = round(total * 0.8)
    out = reduce_code(PY, _domain("python"), budget=budget, query="get misses", handle=HANDLE)
    assert out is not None
    assert "self.misses += 1" in out.text
    assert "self.evictions += 1" not in out.text
    assert count_tokens(out.text) <= budget
    check_markers(PY, out.text, "code:python")


@pytest.mark.parametrize("text", ["def broken(:\n    pass\n", "x = 1\n", ""])
def test_python_nothing_to_offer(text: str) -> None:
    assert reduce_code(text, _domain("python"), budget=1, query=None, handle=HANDLE) is None


def test_within_budget_and_other_languages_give_none() -> None:
    assert reduce_code(PY, _domain("python"), budget=10**6, query=None, handle=HANDLE) is None
    go = "package main\n\nfunc main() {\n\tprintln(1)\n\tprintln(2)\n}\n"
    assert reduce_code(go, _domain("go"), budget=1, query=None, handle=HANDLE) is None


def _installed_sources(*names: str) -> list[Path]:
    paths: list[Path] = []
    for name in names:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        paths.append(Path(spec.origin))
    return paths


@pytest.mark.parametrize(
    "path",
    _installed_sources("json.decoder", "argparse", "pydantic.main", "compression_layer.settings"),
    ids=lambda p: p.name,
)
def test_python_real_modules(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    total = count_tokens(source)
    full = reduce_code(source, _domain("python"), budget=1, query=None, handle=HANDLE)
    assert full is not None
    ast.parse(full.text)
    assert count_tokens(full.text) <= 0.4 * total  # >= 60% fewer tokens
    check_markers(source, full.text, "code:python")
    budget = round(total * 0.35)
    part = reduce_code(source, _domain("python"), budget=budget, query=None, handle=HANDLE)
    assert part is not None
    ast.parse(part.text)
    assert count_tokens(part.text) <= budget * 1.25  # the outline's slack (cuts.choose)
    check_markers(source, part.text, "code:python")


# --- JavaScript and TypeScript ---------------------------------------------------------------


def test_js_skeleton_parses_and_keeps_signatures(tmp_path: Path) -> None:
    budget = round(count_tokens(JS) * 0.6)
    out = reduce_code(JS, _domain("javascript"), budget=budget, query=None, handle=HANDLE)
    assert out is not None
    assert _tree_sitter_clean(out.text, "javascript")
    _node_check(out.text, ".mjs", tmp_path)
    for kept in (
        "#!/usr/bin/env node",
        'import { readFile } from "node:fs/promises";',
        "export function parseTemplate(text) { /* [body omitted: retrieve",
        "  async load(name) { /* [body omitted",
        "  static create = (root) => {\n",  # a body shorter than its marker stays
        "export const total = (items) => { /* [body omitted",
        "  twice(x) {\n    const y = x * 2;",  # bodies shorter than a marker stay
        "  function inner(a) {\n",
        "export default helpers;",
    ):
        assert kept in out.text, kept
    for gone in ("re.slice", "this.cache.set(file, text)", "sum += item.size", "this.failed"):
        assert gone not in out.text, gone
    assert "// Parse a template: braces in strings" in out.text  # JSDoc summary line
    assert out.omitted == check_markers(JS, out.text, "code:javascript")
    assert count_tokens(out.text) <= budget * 1.25  # the outline's slack (cuts.choose)


def test_js_tiny_budget_folds_classes_and_wrappers(tmp_path: Path) -> None:
    out = reduce_code(JS, _domain("javascript"), budget=1, query=None, handle=HANDLE)
    assert out is not None
    assert _tree_sitter_clean(out.text, "javascript")
    _node_check(out.text, ".mjs", tmp_path)
    assert "export class Loader extends Object { /* [body omitted" in out.text
    assert "(function () { /* [body omitted" in out.text
    check_markers(JS, out.text, "code:javascript")


def test_js_selectors_are_exact() -> None:
    cuts = script_cuts(JS, "javascript")
    assert cuts
    total = count_tokens(JS)
    chosen = choose(JS, cuts, budget=total // 2, query=None, handle=HANDLE, total=total)
    check_cuts_exact(JS, "code:javascript", cuts, chosen)
    # The parseTemplate body is one cut: no brace inside its strings, template, regex or
    # comments was taken for a body.
    body = [cuts[i] for i in chosen if cuts[i].name == "parseTemplate"]
    assert len(body) == 1
    assert JS[body[0].start : body[0].end].endswith("+ open + close + tpl;")


def test_typescript_skeleton(tmp_path: Path) -> None:
    budget = round(count_tokens(TS) * 0.7)
    out = reduce_code(TS, _domain("typescript"), budget=budget, query=None, handle=HANDLE)
    assert out is not None
    assert _tree_sitter_clean(out.text, "typescript")
    assert "export interface Store<T> {\n  get(key: string): T | undefined;" in out.text
    assert "get(key: string): T | undefined { /* [body omitted" in out.text
    assert "export function keyOf(parts: string[], options?: Options): string {" in out.text
    check_markers(TS, out.text, "code:typescript")


def test_js_query_and_budget() -> None:
    total = count_tokens(JS)
    budget = round(total * 0.75)
    out = reduce_code(
        JS, _domain("javascript"), budget=budget, query="sum of item sizes", handle=HANDLE
    )
    assert out is not None
    assert "sum += item.size" in out.text
    assert "this.failed += 1" not in out.text
    assert count_tokens(out.text) <= budget
    check_markers(JS, out.text, "code:javascript")


def test_js_that_does_not_parse_gives_none() -> None:
    bad = "function f( {\n  return 1;\n}\n"
    assert reduce_code(bad, _domain("javascript"), budget=1, query=None, handle=HANDLE) is None


def test_js_real_file(tmp_path: Path) -> None:
    spec = importlib.util.find_spec("matplotlib")
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent / "backends" / "web_backend" / "js" / "mpl.js"
    source = path.read_text(encoding="utf-8")
    out = reduce_code(source, _domain("javascript"), budget=1, query=None, handle=HANDLE)
    assert out is not None
    assert _tree_sitter_clean(out.text, "javascript")
    _node_check(out.text, ".js", tmp_path)
    assert count_tokens(out.text) <= 0.4 * count_tokens(source)
    check_markers(source, out.text, "code:javascript")
    assert re.search(r"^mpl\.figure = function \(figure_id", out.text, re.M)
