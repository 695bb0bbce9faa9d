"""Inputs for ``bench/peers.py``: deterministic, realistic tool outputs and the checks on them.

Every generator takes a seed and returns the same text for the same seed. Text comes from real
public sources where it fits (SQuAD titles and paragraphs for search snippets and issue bodies,
source files of installed packages for code); logs and test-runner output are generated in the
shapes real tools print. Nothing here imports headroom or the project's compressors, so the
checkers judge both tools alike.

:func:`inputs` builds the whole set: one :class:`PeerInput` per row of the table, with the kind
of check each needs (``must_keep`` lines, query rows, a parse).
"""

from __future__ import annotations

import ast
import json
import random
import re
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "data" / "squad" / "squad_dev_part_a.json"
NODE_MODULES = Path("/usr/lib/node_modules/npm/node_modules")

# Real source files (not in the skeleton tests' tuning set), picked once by name.
PYTHON_FILES = ("textwrap.py", "shlex.py", "configparser.py", "click/core.py", "filelock/_api.py")
JS_FILES = (
    "node-gyp/lib/configure.js",
    "minipass-fetch/lib/body.js",
    "ssri/lib/index.js",
    "cacache/lib/entry-index.js",
    "tar/dist/commonjs/parse.js",
)


@dataclass
class PeerInput:
    """One input of the comparison: its text and what a faithful output must keep."""

    name: str
    kind: str  # log | runner | json | jsonl | code:python | code:javascript
    text: str
    query: str | None = None
    rate: float = 0.2
    must_keep: list[str] = field(default_factory=list)  # lines kept verbatim by a lossy output
    rows_path: str | None = None  # key of the array whose query rows must be kept ("" = top)
    row_key: str | None = None  # field that identifies a row in any layout


# -- real text ------------------------------------------------------------------------------


def squad_paragraphs() -> list[tuple[str, str]]:
    """(title, paragraph) pairs of the SQuAD dev part in file order."""
    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    return [
        (article["title"].replace("_", " "), para["context"])
        for article in data
        for para in article["paragraphs"]
    ]


def _sentences(paragraph: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", paragraph) if len(s) > 20]


# -- logs -----------------------------------------------------------------------------------

SERVICES = ("api-gateway", "auth", "orders", "payments", "inventory", "notifier")
ROUTES = ("/api/v1/orders", "/api/v1/users", "/api/v1/cart", "/api/v1/products", "/healthz")
JAVA_FRAMES = (
    "at com.shop.orders.OrderService.place(OrderService.java:{n})",
    "at com.shop.orders.OrderController.create(OrderController.java:{n})",
    "at org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:{n})",
    "at javax.servlet.http.HttpServlet.service(HttpServlet.java:{n})",
    "at org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:{n})",
    "at java.base/java.lang.Thread.run(Thread.java:{n})",
)
PY_FRAMES = (
    '  File "/srv/payments/app/charge.py", line {n}, in charge'
    "\n    resp = client.post(url, json=body)",
    '  File "/srv/payments/.venv/lib/python3.11/site-packages/httpx/_client.py", line {n}, in post'
    "\n    return self.request(",
    '  File "/srv/payments/.venv/lib/python3.11/site-packages/httpx/_transports/default.py", '
    "line {n}, in handle_request\n    raise mapped_exc(message) from exc",
)


def app_log(seed: int = 14, lines: int = 3000) -> str:
    """An interleaved multi-service application log with warnings, errors and stack traces."""
    rng = random.Random(seed)
    out: list[str] = []
    ms = 0
    for i in range(lines):
        ms += rng.randint(1, 40)
        ts = f"2024-05-14T09:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}Z"
        svc = rng.choice(SERVICES)
        rid = f"{rng.getrandbits(48):012x}"
        roll = rng.random()
        if roll < 0.004 and svc in ("orders", "inventory"):
            out.append(
                f"{ts} ERROR [{svc}] req={rid} unhandled exception while placing order "
                f"{rng.randint(10000, 99999)}"
            )
            out.append(
                "java.lang.IllegalStateException: stock reservation "
                f"{rng.randint(100, 999)} already released"
            )
            out += ["\t" + f.format(n=rng.randint(20, 900)) for f in JAVA_FRAMES]
        elif roll < 0.008 and svc == "payments":
            out.append(f"{ts} ERROR [payments] req={rid} charge failed, retry scheduled")
            out.append("Traceback (most recent call last):")
            out += [f.format(n=rng.randint(20, 900)) for f in PY_FRAMES]
            out.append(f"httpx.ReadTimeout: timed out after {rng.choice([5, 10, 30])}.0s")
        elif roll < 0.02:
            what = rng.choice(
                (
                    f"slow query on orders_by_user took {rng.randint(800, 4000)}ms",
                    f"connection pool at {rng.randint(80, 99)}% capacity (db-primary)",
                    f"token for client c{rng.randint(1, 40)} expires in {rng.randint(1, 9)}m",
                    f"retrying upstream inventory call attempt={rng.randint(2, 4)}",
                )
            )
            out.append(f"{ts} WARN  [{svc}] req={rid} {what}")
        elif roll < 0.03:
            out.append(
                f"{ts} DEBUG [{svc}] cache lookup key=user:{rng.randint(1, 5000)} "
                f"hit={rng.choice(['true', 'false'])}"
            )
        else:
            route = rng.choice(ROUTES)
            status = rng.choice([200] * 30 + [201, 204, 304, 404])
            out.append(
                f"{ts} INFO  [{svc}] req={rid} {rng.choice(['GET', 'GET', 'POST', 'PUT'])} "
                f"{route}/{rng.randint(1, 99999)} status={status} "
                f"duration={rng.randint(1, 250)}ms bytes={rng.randint(120, 48000)}"
            )
        if i % 997 == 0:
            out.append(f"{ts} ERROR [api-gateway] upstream {rng.choice(SERVICES)} returned 503")
    return "\n".join(out) + "\n"


LEVEL_RE = re.compile(r"\b(ERROR|WARN|WARNING|FATAL|CRITICAL)\b")
EXCEPTION_RE = re.compile(r"^[\w.]+(Error|Exception|Timeout)\b.*:")


def log_must_keep(text: str) -> list[str]:
    """Error and warning lines (by level) and exception message lines of a log."""
    return [line for line in text.splitlines() if LEVEL_RE.search(line) or EXCEPTION_RE.match(line)]


# -- test runners ---------------------------------------------------------------------------


def pytest_output(seed: int = 1, tests: int = 900) -> str:
    rng = random.Random(seed)
    mods = [f"tests/test_{w}.py" for w in ("api", "models", "cache", "auth", "billing", "search")]
    fails: list[tuple[str, str]] = []
    out = [
        "============================= test session starts ==============================",
        "platform linux -- Python 3.11.7, pytest-8.3.2, pluggy-1.5.0",
        "rootdir: /srv/app",
        f"collected {tests} items",
        "",
    ]
    for i in range(tests):
        mod = mods[i * len(mods) // tests]
        name = f"test_{rng.choice(['create', 'update', 'list', 'delete', 'parse'])}_{i}"
        failed = rng.random() < 0.006
        if failed:
            fails.append((mod, name))
        pct = (i + 1) * 100 // tests
        out.append(f"{mod}::{name} {'FAILED' if failed else 'PASSED'} [{pct:3d}%]")
    out += ["", "=================================== FAILURES ==================================="]
    for mod, name in fails:
        got, want = rng.randint(1, 50), rng.randint(51, 99)
        out += [
            f"____________________________ {name} ____________________________",
            "",
            f"    def {name}():",
            f"        result = compute_total(order_id={rng.randint(1, 999)})",
            f">       assert result == {want}",
            f"E       assert {got} == {want}",
            f"E        +  where {got} = compute_total(order_id=7)",
            "",
            f"{mod}:{rng.randint(10, 400)}: AssertionError",
        ]
    out.append("=========================== short test summary info ============================")
    out += [f"FAILED {mod}::{name} - assert" for mod, name in fails]
    out.append(
        f"================== {len(fails)} failed, {tests - len(fails)} passed in 41.27s "
        "=================="
    )
    return "\n".join(out) + "\n"


PYTEST_KEEP = re.compile(
    r"^(FAILED |E  |>  |=+ .*(failed|passed).* =+$|_{4,} \w+ _{4,}$)|: \w+Error$"
)


def jest_output(seed: int = 2, suites: int = 60) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    failed = total = 0
    for s in range(suites):
        path = f"src/{rng.choice(['components', 'hooks', 'utils', 'store'])}/mod{s}.test.js"
        cases = [(f"handles case {c} of mod{s}", rng.random() < 0.01) for c in range(15)]
        bad = [c for c in cases if c[1]]
        out.append(
            f"{'FAIL' if bad else 'PASS'} {path} ({rng.randint(1, 9)}.{rng.randint(0, 99)} s)"
        )
        for title, is_bad in cases:
            total += 1
            mark = "✕" if is_bad else "✓"
            out.append(f"  {mark} {title} ({rng.randint(1, 40)} ms)")
        for title, _ in bad:
            failed += 1
            exp, rec = rng.randint(1, 9), rng.randint(10, 19)
            out += [
                "",
                f"  ● mod{s} › {title}",
                "",
                "    expect(received).toBe(expected) // Object.is equality",
                "",
                f"    Expected: {exp}",
                f"    Received: {rec}",
                "",
                f"      at Object.<anonymous> ({path}:{rng.randint(5, 90)}:{rng.randint(5, 30)})",
                "",
            ]
    out += [
        f"Test Suites: {sum(1 for line in out if line.startswith('FAIL '))} failed, {suites} total",
        f"Tests:       {failed} failed, {total - failed} passed, {total} total",
        "Snapshots:   0 total",
        "Time:        38.512 s",
    ]
    return "\n".join(out) + "\n"


JEST_KEEP = re.compile(r"^(  ✕ |  ● |    Expected: |    Received: |Tests: |Test Suites: )")


def cargo_output(seed: int = 3, tests: int = 500) -> str:
    rng = random.Random(seed)
    out = [
        "   Compiling shop-core v0.4.2 (/srv/shop-core)",
        "    Finished `test` profile [unoptimized + debuginfo] target(s) in 12.31s",
        "     Running unittests src/lib.rs (target/debug/deps/shop_core-3f2a9c)",
        "",
        f"running {tests} tests",
    ]
    fails = []
    for i in range(tests):
        name = f"{rng.choice(['cart', 'pricing', 'tax', 'stock'])}::tests::case_{i}"
        bad = rng.random() < 0.008
        out.append(f"test {name} ... {'FAILED' if bad else 'ok'}")
        if bad:
            fails.append(name)
    out += ["", "failures:", ""]
    for name in fails:
        left, right = rng.randint(1, 99), rng.randint(100, 199)
        out += [
            f"---- {name} stdout ----",
            f"thread '{name}' panicked at src/{name.split('::')[0]}.rs:{rng.randint(9, 300)}:5:",
            "assertion `left == right` failed",
            f"  left: {left}",
            f" right: {right}",
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
            "",
        ]
    out += ["failures:"] + [f"    {name}" for name in fails]
    out += [
        "",
        f"test result: FAILED. {tests - len(fails)} passed; {len(fails)} failed; 0 ignored; "
        "0 measured; 0 filtered out; finished in 3.02s",
    ]
    return "\n".join(out) + "\n"


CARGO_KEEP = re.compile(
    r"(\.\.\. FAILED$|panicked at|^assertion |^  left: |^ right: |^test result:)"
)


def go_output(seed: int = 4, tests: int = 400) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    pkgs = ("github.com/shop/api", "github.com/shop/store", "github.com/shop/queue")
    for p, pkg in enumerate(pkgs):
        bad_pkg = False
        for i in range(tests // len(pkgs)):
            name = f"Test{rng.choice(['Handler', 'Store', 'Queue', 'Codec'])}{p}_{i}"
            out.append(f"=== RUN   {name}")
            if rng.random() < 0.01:
                bad_pkg = True
                out.append(
                    f"    {name.lower()}_test.go:{rng.randint(10, 300)}: expected status 200, "
                    f"got {rng.choice([500, 404, 409])}"
                )
                out.append(f"--- FAIL: {name} (0.{rng.randint(0, 99):02d}s)")
            else:
                out.append(f"--- PASS: {name} (0.{rng.randint(0, 9):02d}s)")
        out.append("FAIL" if bad_pkg else "PASS")
        out.append(
            f"{'FAIL' if bad_pkg else 'ok  '}\t{pkg}\t{rng.randint(1, 9)}.{rng.randint(100, 999)}s"
        )
    return "\n".join(out) + "\n"


GO_KEEP = re.compile(r"^(--- FAIL: |    \w+_test\.go:\d+: |FAIL\t)")


def runner_must_keep(text: str, pattern: re.Pattern[str]) -> list[str]:
    return [line for line in text.splitlines() if pattern.search(line)]


# -- JSON -----------------------------------------------------------------------------------


def search_results(seed: int = 5, hits: int = 150) -> tuple[str, str]:
    """150 search hits (title, url, snippet, score) over SQuAD paragraphs, and the query."""
    rng = random.Random(seed)
    paras = squad_paragraphs()
    query = "steam pressure"
    chosen = rng.sample(paras, hits)
    rows = []
    for i, (title, para) in enumerate(chosen):
        sents = _sentences(para) or [para]
        start = rng.randrange(len(sents))
        rows.append(
            {
                "title": f"{title} - {sents[start][:60].rstrip()}",
                "url": f"https://en.wikipedia.org/wiki/{title.replace(' ', '_')}#p{i}",
                "snippet": " ".join(sents[start : start + 2]),
                "score": round(1.0 - i / hits - rng.random() * 0.01, 4),
            }
        )
    doc = {"query": query, "total": hits, "took_ms": 41, "results": rows}
    return json.dumps(doc, indent=2, ensure_ascii=False), query


def issue_list(seed: int = 6, per_page: int = 100) -> tuple[str, str]:
    """A GitHub-like issue list page with one error row, and the query."""
    rng = random.Random(seed)
    paras = squad_paragraphs()
    topics = ("timeout", "crash", "memory leak", "typo", "docs", "flaky test", "regression")
    items: list[dict[str, Any]] = []
    for i in range(per_page):
        number = 4000 - i * rng.randint(1, 4)
        if i == 37:
            items.append({"number": number, "error": {"status": 410, "message": "Issue deleted"}})
            continue
        _, para = rng.choice(paras)
        topic = rng.choice(topics)
        items.append(
            {
                "id": 2_000_000_000 + number * 17,
                "number": number,
                "title": f"{topic.capitalize()} in {rng.choice(['cli', 'server', 'sdk', 'ui'])}"
                f" when {rng.choice(['saving', 'loading', 'syncing', 'exporting'])} "
                f"{rng.choice(['projects', 'files', 'users', 'reports'])}",
                "state": rng.choice(["open", "open", "closed"]),
                "user": {"login": f"user{rng.randint(1, 300)}", "type": "User"},
                "labels": [{"name": lbl} for lbl in rng.sample(["bug", "p1", "ux", "infra"], 2)],
                "comments": rng.randint(0, 40),
                "created_at": f"2024-0{rng.randint(1, 9)}-{rng.randint(10, 28)}T"
                f"{rng.randint(10, 23)}:00:00Z",
                "body": " ".join(_sentences(para)[:2]),
            }
        )
    doc = {
        "total_count": 1843,
        "page": 3,
        "per_page": per_page,
        "next": "https://api.github.com/repos/acme/app/issues?page=4",
        "items": items,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False), "memory leak"


def config_file(seed: int = 7) -> str:
    """A service configuration (nested objects, lists of small records)."""
    rng = random.Random(seed)
    routes = [
        {
            "path": f"/api/v1/{r}",
            "upstream": f"http://{r}:8080",
            "timeout_ms": rng.choice([500, 1000]),
        }
        for r in ("orders", "users", "cart", "products", "search", "payments")
    ]
    doc = {
        "service": {"name": "api-gateway", "version": "3.14.2", "replicas": 4},
        "listen": {"host": "0.0.0.0", "port": 8443,
                   "tls": {"cert": "/etc/tls/tls.crt", "key": "/etc/tls/tls.key"}},
        "routes": routes,
        "rate_limits": [{"client": f"c{i}", "rpm": rng.choice([600, 1200, 6000])}
                        for i in range(12)],
        "features": {"canary": True, "shadow_traffic": False, "gzip": True},
        "logging": {"level": "info", "format": "json", "sample_rate": 0.1},
    }  # fmt: skip
    return json.dumps(doc, indent=2)


def jsonl_events(seed: int = 8, events: int = 1200) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(events):
        level = rng.choice(["info"] * 40 + ["warn"] + ["error"])
        event = {
            "ts": f"2024-05-14T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "level": level,
            "service": rng.choice(SERVICES),
            "event": rng.choice(["request", "cache", "job"]),
            "msg": rng.choice(["ok", "served", "queued", "done"])
            if level == "info"
            else rng.choice(["db timeout", "retry budget spent", "stale cache"]),
            "latency_ms": rng.randint(1, 900),
        }
        out.append(json.dumps(event))
    return "\n".join(out) + "\n"


def query_rows(text: str, query: str, path: str | None) -> list[Any]:
    """Rows of the array at ``path`` (top-level key; ``""``: the document) with all query words."""
    data = json.loads(text)
    rows = data if not path else data[path]
    words = [w.lower() for w in query.split()]
    return [r for r in rows if all(w in json.dumps(r, ensure_ascii=False).lower() for w in words)]


def error_rows(text: str, path: str | None) -> list[Any]:
    """Rows that report an error: an ``error`` key, or level error/warn (JSON Lines)."""
    if path is None:  # JSON Lines
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        data = json.loads(text)
        rows = data if not path else data[path]
    return [
        r
        for r in rows
        if isinstance(r, dict) and ("error" in r or r.get("level") in ("error", "warn"))
    ]


# -- code -----------------------------------------------------------------------------------


def source_files() -> list[tuple[str, str, str]]:
    """(name, language, text) of the real source files used for the code rows."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    out = []
    for rel in PYTHON_FILES:
        for base in (stdlib, site):
            if (base / rel).is_file():
                out.append((rel, "python", (base / rel).read_text(encoding="utf-8")))
                break
    for rel in JS_FILES:
        path = NODE_MODULES / rel
        if path.is_file():
            out.append((rel, "javascript", path.read_text(encoding="utf-8")))
    return out


# -- the set --------------------------------------------------------------------------------


def inputs() -> list[PeerInput]:
    """Every input of the comparison, in table order."""
    log = app_log()
    search, search_q = search_results()
    issues, issues_q = issue_list()
    events = jsonl_events()
    found = [
        PeerInput("app log (multi-service)", "log", log, rate=0.05, must_keep=log_must_keep(log))
    ]
    for name, text, pattern in (
        ("pytest output", pytest_output(), PYTEST_KEEP),
        ("jest output", jest_output(), JEST_KEEP),
        ("cargo test output", cargo_output(), CARGO_KEEP),
        ("go test output", go_output(), GO_KEEP),
    ):
        found.append(
            PeerInput(name, "runner", text, rate=0.1, must_keep=runner_must_keep(text, pattern))
        )
    found += [
        PeerInput("search results (150)", "json", search, search_q, 0.2,
                  rows_path="results", row_key="url"),
        PeerInput("issue list page (100)", "json", issues, issues_q, 0.2,
                  rows_path="items", row_key="number"),
        PeerInput("service config", "json", config_file(), None, 0.2),
        PeerInput("JSON Lines events (1200)", "jsonl", events, None, 0.2, row_key="ts"),
    ]  # fmt: skip
    for name, language, text in source_files():
        found.append(PeerInput(f"{name}", f"code:{language}", text, rate=0.4))
    return found


# -- fidelity checks ------------------------------------------------------------------------


def missing_lines(output: str, must_keep: list[str]) -> list[str]:
    """Lines that must be kept verbatim (as whole lines, in order) but are not in ``output``.

    A line counts as kept when it is a line of the output, and the kept lines appear in the
    original's order (a reordered output fails on the later line).
    """
    lines = output.splitlines()
    index: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        index.setdefault(line.strip(), []).append(i)
    missing = []
    at = -1
    for line in must_keep:
        spots = [i for i in index.get(line.strip(), []) if i > at]
        if not spots:
            missing.append(line)
        else:
            at = spots[0]
    return missing


def missing_rows(output: str, rows: list[Any], key: str) -> list[Any]:
    """Rows whose identifying value is not in ``output`` in order (any layout: the value's text)."""
    missing = []
    at = -1
    for row in rows:
        value = row.get(key) if isinstance(row, dict) else None
        if value is None:
            value = next(iter(row.values())) if isinstance(row, dict) and row else row
        needle = value if isinstance(value, str) else json.dumps(value)
        found = output.find(needle, at + 1)
        if found < 0:
            missing.append(row)
        else:
            at = found
    return missing


def python_parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def javascript_parses(text: str) -> bool:
    """True when tree-sitter's JavaScript grammar parses ``text`` without error nodes."""
    import tree_sitter
    import tree_sitter_javascript

    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_javascript.language()))
    return not parser.parse(text.encode("utf-8")).root_node.has_error


def parses(text: str, kind: str) -> bool:
    return python_parses(text) if kind == "code:python" else javascript_parses(text)


def same_python(a: str, b: str) -> bool:
    """Same program: equal ASTs (comments and layout aside)."""
    try:
        return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))
    except (SyntaxError, ValueError):
        return False


def json_value(text: str, kind: str) -> Any:
    """What ``json.loads`` gives for a JSON input (JSON Lines: the list of values)."""
    if kind == "jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


# -- retrieval (ours): each marker's selector evaluated here, independently of originals.select


def json_at(value: Any, path: str) -> Any:
    """The value at a JSON path ``$``, ``$.key``, ``$["key"]``, ``$[3]`` and combinations."""
    if not path.startswith("$"):
        raise ValueError(f"not a JSON path: {path}")
    for key, quoted, index in re.findall(
        r'\.([^.\[\]]+)|\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]', path[1:]
    ):
        step: Any = int(index) if index else (key or json.loads(f'"{quoted}"'))
        value = value[step]
    return value


def _ranges(spec: str) -> list[tuple[int, int]]:
    out = []
    for part in spec.split(","):
        a, _, b = part.strip().partition("-")
        out.append((int(a), int(b or a)))
    return out


def expected_part(original: str, kind: str, selector: dict[str, str]) -> tuple[str, Any]:
    """What a selector stands for in ``original``: ``("value", parsed)`` or ``("text", text)``.

    JSON selections are compared as values (the store returns the original's text of the
    elements, which loads to these); lines and matches as text. ``("substring", None)`` when
    the selector (a symbol) is only checked to be whole lines of the original.
    """
    if kind == "jsonl" and selector.get("path", "$") == "$" and set(selector) <= {"path", "rows"}:
        # JSON Lines rows are the original lines themselves, given back as written.
        rows = [ln for ln in original.split("\n") if ln.strip()]
        if "rows" in selector:
            rows = [rows[i] for a, b in _ranges(selector["rows"]) for i in range(a, b + 1)]
        return "text", "\n".join(rows)
    if "path" in selector or "rows" in selector:
        value = json_value(original, kind) if kind in ("json", "jsonl") else json.loads(original)
        value = json_at(value, selector.get("path", "$"))
        if "rows" in selector:
            value = [value[i] for a, b in _ranges(selector["rows"]) for i in range(a, b + 1)]
        if "lines" in selector or "match" in selector:
            return "substring", None
        return "value", value
    if "symbol" in selector:
        return "substring", None
    text = original
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    if "lines" in selector:
        lines = [ln for a, b in _ranges(selector["lines"]) for ln in lines[a - 1 : b]]
    if "match" in selector:
        lines = [ln for ln in lines if selector["match"] in ln]
    if "lines" not in selector and "match" not in selector:
        return "text", original
    return "text", "\n".join(lines)


def marker_exact(original: str, kind: str, selector: dict[str, str], retrieved: str) -> bool:
    """Whether ``retrieved`` is exactly the part of ``original`` that ``selector`` names."""
    how, want = expected_part(original, kind, selector)
    if how == "value":
        try:
            return bool(json.loads(retrieved) == want)
        except json.JSONDecodeError:
            return False
    if how == "text":
        return retrieved == want
    whole_lines = "\n" + original + "\n"
    return bool(retrieved) and ("\n" + retrieved + "\n") in whole_lines


def check_markers(output: str, original: str, kind: str, retrieve: Any) -> dict[str, Any]:
    """Every marker of ``output`` retrieved through ``retrieve(handle, **selector)`` and checked.

    Also checks that the handle with no selector gives ``original`` byte for byte.
    """
    from compression_layer.compress.reversible import MARKER_RE, selector_of

    found = list(MARKER_RE.finditer(output))
    bad: list[str] = []
    handles = set()
    for m in found:
        selector = selector_of(m)
        handles.add(m.group("handle"))
        try:
            got = retrieve(m.group("handle"), **selector)
        except Exception as exc:  # an unresolvable marker is a failure, reported by name
            bad.append(f"{m.group(0)}: {type(exc).__name__}")
            continue
        if not marker_exact(original, kind, selector, got):
            bad.append(m.group(0))
    whole = all(retrieve(h) == original for h in handles)
    return {
        "markers": len(found),
        "exact": len(found) - len(bad),
        "whole_exact": whole,
        "bad": bad[:5],
    }
