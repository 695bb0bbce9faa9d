"""Selectors on original texts: every kind, how they combine, and the errors that say why not."""

from __future__ import annotations

import json

import pytest

from compression_layer.compress.reversible import MARKER_RE, marker, selector_of
from compression_layer.errors import InputError
from compression_layer.originals.select import View, parse_ranges, select, split_lines

DOC = (
    '{"meta": {"n": 1.50, "big": 1e3}, "items": [\n  {"id": 1, "v": "a"},\n'
    '  {"id": 2, "v": "b"},\n  {"id": 3, "v": "c\\u00e9"}\n], "we ird.key": [10, 20]}'
)


def test_no_selector_returns_the_whole_original_byte_for_byte() -> None:
    text = "a\r\nb\n\n\tc \u2028 d\n"
    assert select(text, "log") == text
    assert select(text, "log", lines=None, match="") == text


def test_path_slices_the_original_text_keeping_number_texts_and_escapes() -> None:
    assert select(DOC, "json", path="$.meta") == '{"n": 1.50, "big": 1e3}'
    assert select(DOC, "json", path="$.meta.n") == "1.50"
    assert select(DOC, "json", path="$.items[2].v") == '"c\\u00e9"'
    assert select(DOC, "json", path="$.items[-1].id") == "3"
    assert select(DOC, "json", path='$["we ird.key"][1]') == "20"
    assert select(DOC, "json", path="$") == DOC


def test_rows_are_a_verbatim_slice_that_loads_as_those_elements() -> None:
    out = select(DOC, "json", path="$.items", rows="1-2")
    assert out == '[{"id": 2, "v": "b"},\n  {"id": 3, "v": "c\\u00e9"}]'
    assert json.loads(out) == json.loads(DOC)["items"][1:3]
    assert out[1:-1] in DOC
    several = select(DOC, "json", path="$.items", rows="0,2")
    assert json.loads(several) == [json.loads(DOC)["items"][0], json.loads(DOC)["items"][2]]
    top = "[1, 2.0, 3]"
    assert select(top, "json", rows="1") == "[2.0]"


def test_json_lines_are_an_array_of_their_lines() -> None:
    text = '{"a": 1}\n{"a": 2}\n\n{"a": 3.0}\n'
    assert select(text, "json", rows="1-2") == '{"a": 2}\n\n{"a": 3.0}'
    assert select(text, "json", path="$[2].a") == "3.0"


@pytest.mark.parametrize(
    ("selector", "says"),
    [
        ({"path": "$.meta.x"}, 'no key "x" (keys: "n", "big"); stopped there'),
        ({"path": "$.items[7]"}, "$.items has 3 elements (0-2), no [7]"),
        ({"path": "$.meta.n.q"}, "$.meta.n is an scalar, not an object"),
        ({"path": "meta"}, "must start with $"),
        ({"path": "$.items[x]"}, "cannot be read from"),
        ({"rows": "0"}, "$ is an object"),
        ({"path": "$.items", "rows": "2-5"}, "has 3 elements (rows 0-2)"),
        ({"path": "$.items", "rows": "3-1"}, "first <= last"),
    ],
)
def test_bad_json_selectors_say_where_they_stopped(selector: dict[str, str], says: str) -> None:
    with pytest.raises(InputError) as err:
        select(DOC, "json", **selector)
    assert says in str(err.value)


def test_not_json_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        select("hello {", "prose", path="$.a")


LOG = "start\r\nINFO ok\nWARN disk 91%\nERROR failed: x\nINFO ok\nERROR failed: y\n"


def test_lines_are_one_based_inclusive_and_keep_carriage_returns() -> None:
    assert select(LOG, "log", lines="1") == "start\r"
    assert select(LOG, "log", lines="2-4") == "INFO ok\nWARN disk 91%\nERROR failed: x"
    assert select(LOG, "log", lines="6,1-2") == "ERROR failed: y\nstart\r\nINFO ok"
    assert split_lines(LOG)[-1] == "ERROR failed: y"  # a final newline adds no line


def test_lines_past_the_end_say_the_size() -> None:
    with pytest.raises(InputError, match="the original has 6 lines, so 5-9 runs past its end"):
        select(LOG, "log", lines="5-9")
    with pytest.raises(InputError, match="numbered from 1"):
        select(LOG, "log", lines="0-2")
    with pytest.raises(InputError, match="write ranges as A-B"):
        select(LOG, "log", lines="two")


def test_match_keeps_the_lines_that_contain_the_text_and_narrows_lines() -> None:
    assert select(LOG, "log", match="ERROR failed") == "ERROR failed: x\nERROR failed: y"
    assert select(LOG, "log", lines="1-4", match="ERROR") == "ERROR failed: x"
    with pytest.raises(InputError, match="no line of the selection contains it"):
        select(LOG, "log", match="panic")


PY = '''"""mod."""
import os


@decorate(1)
class Cache:
    """doc."""

    @property
    def size(self) -> int:
        return 1

    async def get(self, key: str) -> str | None:
        def helper() -> None:
            pass
        return None


def top() -> int:
    return 2
'''


def test_python_symbols_are_whole_lines_with_decorators() -> None:
    lines = PY.split("\n")
    assert select(PY, "code:python", symbol="Cache") == "\n".join(lines[4:16])
    assert select(PY, "code:python", symbol="Cache.size") == "\n".join(lines[8:11])
    assert select(PY, "code:python", symbol="Cache.get.helper") == "\n".join(lines[13:15])
    assert select(PY, "code:python", symbol="helper") == "\n".join(lines[13:15])
    assert select(PY, "code:python", symbol="top") == "def top() -> int:\n    return 2"
    assert select(PY, "code:python", symbol="Cache.get", lines="1") == lines[12]


def test_unknown_symbol_lists_the_names_that_exist() -> None:
    with pytest.raises(InputError) as err:
        select(PY, "code:python", symbol="Cache.put")
    assert "Cache, Cache.get, Cache.get.helper, Cache.size, top" in str(err.value)


def test_ambiguous_short_name_asks_for_the_full_one() -> None:
    code = "class A:\n    def f(self): pass\nclass B:\n    def f(self): pass\n"
    with pytest.raises(InputError, match=r"ambiguous: A\.f, B\.f"):
        select(code, "code:python", symbol="f")


def test_python_that_does_not_parse_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="does not parse as Python"):
        select("def f(:\n", "code:python", symbol="f")


JS = r"""import x from "y";
const re = /[{]/g; // a { in a comment
const s = '}' + "{";
export class Cache {
  constructor(a) { this.a = `t ${a + "}"} {`; }
  async get(key) {
    if (key) { return 1 / 2; }
    return this.a;
  }
  static #priv() { return /}/.test('{'); }
}
const handler = async (e) => {
  return e;
};
function outer() {
  function inner() { return 1; }
  return inner;
}
"""


def test_javascript_symbols_ignore_braces_in_strings_comments_templates_and_regexes() -> None:
    lines = JS.split("\n")
    names = [s.name for s in View(JS, "code:javascript").symbols]
    expected = ["Cache", "Cache.constructor", "Cache.get", "Cache.#priv", "handler", "outer"]
    assert names == [*expected, "outer.inner"]
    assert select(JS, "code:javascript", symbol="Cache") == "\n".join(lines[3:11])
    assert select(JS, "code:javascript", symbol="Cache.get") == "\n".join(lines[5:9])
    assert select(JS, "code:javascript", symbol="handler") == "\n".join(lines[11:14])
    assert select(JS, "code:javascript", symbol="outer.inner") == lines[15]


TS = """interface User { name: string }
export default async function load<T>(id: string): Promise<T> {
  const x = { a: 1 };
  return x as T;
}
@Component({selector: "x"})
export class Widget implements OnInit {
  private handle = (e: Event): void => { console.log(e); };
  ngOnInit(): void {
    const r = a / b / c;
  }
}
"""


def test_typescript_decorators_and_arrow_properties() -> None:
    lines = TS.split("\n")
    assert select(TS, "code:typescript", symbol="load") == "\n".join(lines[1:5])
    assert select(TS, "code:typescript", symbol="Widget") == "\n".join(lines[5:12])
    assert select(TS, "code:typescript", symbol="Widget.handle") == lines[7]
    assert select(TS, "code:typescript", symbol="ngOnInit") == "\n".join(lines[8:11])


GO = """package main

type Server struct {
\tname string
}

// Handle { is documented here
func (s *Server) Handle(w int) error {
\tx := `raw { string`
\tif x != "" {
\t\treturn nil
\t}
\treturn nil
}

func main() {
\tc := '{'
\t_ = c
}
"""

JAVA = """public class Main {
    @Override
    public String toString() { return "}"; }
    public static void main(String[] args) throws Exception {
        for (int i = 0; i < 3; i++) { System.out.println('}'); }
    }
}
"""


def test_go_and_java_symbols() -> None:
    go = GO.split("\n")
    assert select(GO, "code:go", symbol="Server.Handle") == "\n".join(go[7:14])
    assert select(GO, "code:go", symbol="main") == "\n".join(go[15:19])
    java = JAVA.split("\n")
    assert select(JAVA, "code:java", symbol="Main.toString") == "\n".join(java[1:3])
    assert select(JAVA, "code:java", symbol="main") == "\n".join(java[3:6])


def test_rust_lifetimes_are_not_character_literals() -> None:
    code = (
        "fn longest<'a>(x: &'a str, y: &'a str) -> &'a str {\n    x\n}\n"
        "fn two() -> char {\n    '}'\n}\n"
    )
    assert (
        select(code, "code:rust", symbol="longest")
        == "fn longest<'a>(x: &'a str, y: &'a str) -> &'a str {\n    x\n}"
    )
    assert select(code, "code:rust", symbol="two") == "fn two() -> char {\n    '}'\n}"


def test_selector_errors_name_the_keys() -> None:
    with pytest.raises(InputError, match="unknown selector colour; use path, rows"):
        select(LOG, "log", colour="red")
    with pytest.raises(InputError, match="give one of them"):
        select(PY, "code:python", symbol="top", path="$")


def test_a_marker_round_trips_through_selector_of_into_select() -> None:
    text = marker("o_0123456789ab", "2 rows", path="$.items", rows="1-2")
    found = MARKER_RE.search(f"before {text} after")
    assert found is not None
    assert select(DOC, "json", **selector_of(found)) == select(
        DOC, "json", path="$.items", rows="1-2"
    )
    m = MARKER_RE.search(marker("o_0123456789ab", "lines", match="ERROR failed"))
    assert m is not None
    assert select(LOG, "log", **selector_of(m)) == "ERROR failed: x\nERROR failed: y"


def test_parse_ranges() -> None:
    assert parse_ranges("3-9, 15", key="lines", base=1) == [(3, 9), (15, 15)]
    assert parse_ranges("0", key="rows", base=0) == [(0, 0)]


def test_match_finds_the_lines_a_line_by_line_test_finds() -> None:
    import random

    rng = random.Random(3)
    for _ in range(300):
        text = "".join(rng.choice(["ab", "a", "b", "\n", "\r", " ", "\n\n"]) for _ in range(30))
        for needle in ("a", "ab", "b a", "\r", "ba\r"):
            expected = [line for line in split_lines(text) if needle in line]
            if expected:
                assert select(text, "log", match=needle) == "\n".join(expected)
            else:
                with pytest.raises(InputError, match="no line"):
                    select(text, "log", match=needle)
    assert select("x\ny\n", "log", lines="1-2", match="y") == "y"
