"""Tree-sitter languages and the grammar-less whitespace pass: same tokens, strings untouched."""

from __future__ import annotations

import pytest

from compression_layer.compress.structural.code import compress_code, grammar_languages
from compression_layer.compress.structural.layout import compress_code_layout

# Per language: source, literals that must survive byte for byte, text that must go.
CASES: dict[str, tuple[str, list[str], list[str]]] = {
    "javascript": (
        "#!/usr/bin/env node\n"
        "// header comment\n"
        "const a = `line1\n    line2   ${x /* inside */}`;   // trailing\n"
        "function f( x ,  y ) {\n"
        "    /* block\n       comment */\n"
        "    return x\n        + y;\n"
        "}\n"
        "const re = /a  b/g;\n",
        ["#!/usr/bin/env node", "`line1\n    line2   ${x /* inside */}`", "/a  b/g"],
        ["header comment", "trailing", "block"],
    ),
    "typescript": (
        '/// <reference path="a.d.ts" />\n'
        "// @ts-ignore\n"
        "let x: number   =   1; // plain comment\n"
        "interface A {\n    b: string;   /** doc */\n}\n"
        "type T = `a  ${string}`;\n",
        ['/// <reference path="a.d.ts" />', "// @ts-ignore", "`a  ${string}`"],
        ["plain comment", "/** doc */"],
    ),
    "go": (
        "//go:build linux\n\n"
        "package main\n\n"
        "// #include <stdio.h>\n"
        'import "C"\n\n'
        "// Doc comment\n"
        "func main() {\n"
        "\ts := `raw   string\n\t  keep`\n"
        "\tr := ' '\n"
        "\tfmt.Println(s,   r) // trailing\n"
        "}\n",
        ["//go:build linux", "// #include <stdio.h>", "`raw   string\n\t  keep`", "' '"],
        ["Doc comment", "trailing"],
    ),
    "rust": (
        "/// Doc\n"
        "fn main() {\n"
        "    // comment\n"
        '    let s = r#"raw  "  str"#;\n'
        "    let c = ' ';\n"
        '    println!("{}  {}",   s, c); /* block */\n'
        "}\n",
        ['r#"raw  "  str"#', "' '", '"{}  {}"'],
        ["Doc", "comment", "block"],
    ),
    "java": (
        "/** Javadoc */\n"
        "public class A {\n"
        "    // comment\n"
        '    String t = """\n        text   block\n        """;\n'
        "    char c = ' ';\n"
        "    int f() {   return   1; }\n"
        "}\n",
        ['"""\n        text   block\n        """', "' '"],
        ["Javadoc", "comment"],
    ),
    "c": (
        "#include <stdio.h>\n"
        '#define MSG "a   b"   /* c */\n'
        "// comment\n"
        "int main(void) {\n"
        "    char c = ' ';\n"
        '    printf("%s  %c\\n",   MSG, c);\n'
        "    return 0;\n"
        "}\n",
        ["#include <stdio.h>", '#define MSG "a   b"', "' '", '"%s  %c\\n"'],
        ["comment"],
    ),
    "cpp": (
        '#include <string>\n// comment\nauto s = R"(raw   string)";\nint main() {   return 0; }\n',
        ['R"(raw   string)"'],
        ["comment"],
    ),
    "bash": (
        "#!/bin/bash\n"
        "# comment\n"
        "cat <<EOF\n  heredoc   body  \n\nEOF\n"
        'echo a\\ \\  b   "q   q"  # trailing\n'
        'if [ -n "$x" ];   then\n'
        "    echo   'y  y'\n"
        "fi\n",
        ["#!/bin/bash", "<<EOF\n  heredoc   body  \n\nEOF", "a\\ \\  b", '"q   q"', "'y  y'"],
        ["# comment", "trailing"],
    ),
}


def test_every_grammar_has_a_case() -> None:
    assert set(grammar_languages()) - {"tsx"} == set(CASES)


@pytest.mark.parametrize("language", sorted(CASES))
def test_tree_sitter_language_keeps_tokens(language: str) -> None:
    src, literals, gone = CASES[language]
    out = compress_code(src, language)
    assert out.checks == {"reparse_ok": True, "tokens_equal": True}, out.notes
    for literal in literals:
        assert literal in out.text, literal
    for text in gone:
        assert text not in out.text, text
    assert "\n\n" not in out.text.replace(literals[1] if language == "bash" else "", "")
    assert len(out.text) < len(src)


def test_aliases_and_tsx() -> None:
    assert compress_code("let x  =  1; // c\n", "js").text == "let x = 1;\n"
    tsx = compress_code("const el = <div>  hi  </div>; // c\n", "tsx")
    assert tsx.checks["tokens_equal"]
    assert "<div>  hi  </div>" in tsx.text


def test_indentation_becomes_one_space_per_level() -> None:
    src = "int f() {\n    if (x) {\n        return 1;\n    }\n}\n"
    assert compress_code(src, "c").text == "int f() {\n if (x) {\n  return 1;\n }\n}\n"


def test_multiline_comment_stays_a_newline_where_newlines_matter() -> None:
    # ``return /* \n */ x`` returns undefined in JavaScript: the newline must survive.
    out = compress_code("function f() {\n  return /* a\n */ x;\n}\n", "javascript")
    assert out.checks["tokens_equal"]
    assert "return\n" in out.text


def test_go_cgo_preamble_and_directives_survive() -> None:
    src = 'package p\n\n//go:generate stringer\n// #cgo LDFLAGS: -lm\nimport "C"\n'
    out = compress_code(src, "go")
    assert "//go:generate stringer" in out.text
    assert "// #cgo LDFLAGS: -lm" in out.text


def test_code_that_does_not_parse_falls_back_to_whitespace_pass() -> None:
    out = compress_code("function (  {\n  let x = 'a   b'   \n\n\n\n}\n", "javascript")
    assert any("whitespace pass" in note for note in out.notes)
    assert "'a   b'" in out.text
    assert out.checks == {"tokens_equal": True}


def test_python_routes_to_python_pass() -> None:
    out = compress_code("x = 1  # c\n", "py")
    assert out.checks["ast_equal"]
    assert out.text == "x=1\n"


def test_sql_drops_comments_keeps_literals() -> None:
    src = (
        "-- comment\n"
        "SELECT   a,   'x   y'  -- c\n"
        "FROM t   /* block */\n\n"
        "WHERE b = 'it''s' AND c = \"Col  Name\" /*+ hint */;\n"
    )
    out = compress_code(src, "sql")
    assert out.checks == {"tokens_equal": True}
    assert out.text == (
        "SELECT a, 'x   y'\nFROM t\nWHERE b = 'it''s' AND c = \"Col  Name\" /*+ hint */;\n"
    )


def test_unknown_language_is_whitespace_only() -> None:
    src = "key:   value   \n  nested:  'a  \n\n\n  b'\n\n\n\nother: 1\n"
    out = compress_code_layout(src, "yaml")
    assert out.checks == {"tokens_equal": True}
    # Indentation and inner spaces stay (YAML reads meaning into them); the string is untouched.
    assert out.text == "key:   value\n  nested:  'a  \n\n\n  b'\n\nother: 1\n"


def test_layout_pass_never_touches_an_unterminated_string() -> None:
    src = 'x = "open  \n\n\n\n   still string'
    assert compress_code_layout(src, None).text == src


def test_python_mislabelled_as_another_language_uses_the_python_pass() -> None:
    src = "import os\n\n\ndef f(path):\n    # comment\n    return os.path.exists(path)\n"
    out = compress_code(src, "rust")
    assert out.checks.get("ast_equal")
    assert "parses as Python" in out.notes[0]
