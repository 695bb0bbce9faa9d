"""Realistic log and test-runner outputs for the log passes' tests and ``bench/log_passes.py``.

Every generator is deterministic for a seed and returns a :class:`Sample`: the text plus the
lines a lossy pass must keep verbatim (errors, warnings, failures, assertion and summary lines),
as the generator itself wrote them, so a test checks the pass against what was injected rather
than against the pass's own classification.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field


@dataclass
class Sample:
    text: str
    must_keep: list[str] = field(default_factory=list)
    kind: str = "log"


_USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
_ROUTES = [
    ("GET", "/api/users/{id}"),
    ("GET", "/api/orders/{id}"),
    ("POST", "/api/orders"),
    ("GET", "/api/products?page={n}"),
    ("PUT", "/api/users/{id}/settings"),
    ("GET", "/healthz"),
    ("DELETE", "/api/sessions/{id}"),
]
_TABLES = ["users", "orders", "products", "sessions", "invoices"]
_JOBS = ["cleanup_sessions", "send_digest", "rebuild_search_index", "rotate_keys"]


def _stamp(rng: random.Random, t: float) -> str:
    sec = int(t)
    ms = int((t - sec) * 1000)
    return f"2024-03-14T{9 + sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.{ms:03d}Z"


def _python_trace(stamp: str, rid: str) -> list[str]:
    return [
        f"{stamp} ERROR [worker] unhandled exception in job send_digest request_id={rid}",
        "Traceback (most recent call last):",
        '  File "/srv/app/jobs/runner.py", line 88, in run',
        "    result = job.execute(ctx)",
        '  File "/srv/app/jobs/digest.py", line 41, in execute',
        "    recipients = self.load_recipients(ctx.account_id)",
        '  File "/srv/app/jobs/digest.py", line 67, in load_recipients',
        "    rows = ctx.db.fetch_all(QUERY, account_id)",
        '  File "/srv/app/db/pool.py", line 120, in fetch_all',
        "    conn = self.acquire(timeout=self.timeout)",
        '  File "/srv/app/db/pool.py", line 95, in acquire',
        '    raise PoolTimeout(f"no connection within {timeout}s")',
        "app.db.pool.PoolTimeout: no connection within 5.0s",
    ]


def _java_trace(stamp: str) -> list[str]:
    frames = [
        "com.example.billing.InvoiceService.total(InvoiceService.java:212)",
        "com.example.billing.InvoiceService.render(InvoiceService.java:148)",
        "com.example.billing.InvoiceController.get(InvoiceController.java:57)",
        "sun.reflect.NativeMethodAccessorImpl.invoke0(Native Method)",
        "sun.reflect.NativeMethodAccessorImpl.invoke(NativeMethodAccessorImpl.java:62)",
        "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)",
        "javax.servlet.http.HttpServlet.service(HttpServlet.java:764)",
        "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:227)",
        "org.apache.tomcat.util.threads.TaskThread$WrappingRunnable.run(TaskThread.java:61)",
        "java.lang.Thread.run(Thread.java:750)",
    ]
    return [
        f"{stamp} ERROR [billing] request failed: GET /api/invoices/7731",
        'java.lang.NullPointerException: Cannot invoke "Money.add(Money)" because "tax" is null',
        *[f"\tat {f}" for f in frames],
        "Caused by: java.lang.IllegalStateException: tax table not loaded for region EU-WEST",
        "\tat com.example.billing.TaxTable.lookup(TaxTable.java:88)",
        "\tat com.example.billing.InvoiceService.total(InvoiceService.java:205)",
        "\t... 8 more",
    ]


def app_log(lines: int = 4000, *, seed: int = 7, incidents: int = 1) -> Sample:
    """An interleaved multi-service application log (web, db, cache, scheduler, auth).

    ``incidents`` blocks of errors and warnings (a pool timeout with a Python traceback, a Java
    NullPointerException, slow queries, a 503, retries) are spread over the log.
    """
    rng = random.Random(seed)
    out: list[str] = []
    keep: list[str] = []
    t = 0.0
    slots = sorted(rng.sample(range(50, max(51, lines - 50)), k=min(6 * incidents, lines // 60)))
    kinds = ["pytrace", "jtrace", "slow", "warn_cache", "http503", "retry"]
    plan = {slot: kinds[i % len(kinds)] for i, slot in enumerate(slots)}
    i = 0
    while len(out) < lines:
        i += 1
        t += rng.expovariate(8.0)
        s = _stamp(rng, t)
        event = plan.pop(len(out), None) if plan else None
        if event == "pytrace":
            block = _python_trace(s, f"{rng.getrandbits(64):016x}")
            out.extend(block)
            keep.extend([block[0], block[1], block[-1]])
            continue
        if event == "jtrace":
            block = _java_trace(s)
            out.extend(block)
            keep.extend([block[0], block[1], block[-4]])
            continue
        if event == "slow":
            line = (
                f"{s} WARN  [db] slow query took {rng.randint(2000, 9000)}ms "
                f"table={rng.choice(_TABLES)} rows={rng.randint(1000, 90000)}"
            )
            out.append(line)
            keep.append(line)
            continue
        if event == "warn_cache":
            line = (
                f"{s} WARNING [cache] eviction storm: {rng.randint(500, 5000)} keys evicted in 1s"
            )
            out.append(line)
            keep.append(line)
            continue
        if event == "http503":
            line = (
                f"{s} ERROR [web] upstream unavailable status=503 method=GET "
                f"path=/api/orders/{rng.randint(1, 99999)} duration_ms={rng.randint(3000, 30000)}"
            )
            out.append(line)
            keep.append(line)
            continue
        if event == "retry":
            msg = f"message_id={rng.getrandbits(48):012x}"
            line = f"{s} ERROR [queue] delivery failed after 5 attempts: {msg}"
            out.append(line)
            keep.append(line)
            continue
        roll = rng.random()
        if roll < 0.45:
            method, route = rng.choice(_ROUTES)
            path = route.format(id=rng.randint(1, 99999), n=rng.randint(1, 40))
            status = rng.choice([200, 200, 200, 200, 201, 204, 304, 404])
            out.append(
                f"{s} INFO  [web] {method} {path} status={status} "
                f"duration_ms={rng.randint(1, 400)} request_id={rng.getrandbits(64):016x} "
                f"client=10.{rng.randint(0, 9)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            )
        elif roll < 0.65:
            table = rng.choice(_TABLES)
            out.append(
                f"{s} DEBUG [db] query ok table={table} rows={rng.randint(0, 500)} "
                f"elapsed={rng.uniform(0.2, 80):.2f}ms pool_active={rng.randint(1, 20)}/20"
            )
        elif roll < 0.8:
            key = f"{rng.choice(['user', 'order', 'product'])}:{rng.randint(1, 99999)}"
            hit = rng.random() < 0.8
            ttl = rng.randint(1, 3600)
            out.append(f"{s} DEBUG [cache] {'hit' if hit else 'miss'} key={key} ttl={ttl}s")
        elif roll < 0.9:
            user = rng.choice(_USERS)
            out.append(
                f"{s} INFO  [auth] user {user} logged in from "
                f"192.168.{rng.randint(0, 9)}.{rng.randint(1, 254)} "
                f"session={rng.getrandbits(32):08x}"
            )
        elif roll < 0.97:
            job = rng.choice(_JOBS)
            state = rng.choice(["started", "finished"])
            tail = f" in {rng.uniform(0.1, 40):.1f}s" if state == "finished" else ""
            out.append(
                f"{s} INFO  [scheduler] job {job} {state}{tail} run_id={rng.randint(1000, 999999)}"
            )
        else:
            out.append(
                f"{s} INFO  [metrics] heap_used_mb={rng.randint(300, 900)} "
                f"gc_pause_ms={rng.randint(1, 40)} "
                f"threads={rng.randint(40, 80)}"
            )
    return Sample("\n".join(out) + "\n", keep, "log")


def nginx_log(lines: int = 3000, *, seed: int = 11) -> Sample:
    """An nginx access log (combined format) with a few 5xx responses."""
    rng = random.Random(seed)
    agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/122.0 Safari/537.36",
        "curl/8.4.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        "kube-probe/1.29",
    ]
    paths = ["/", "/static/app.js", "/static/app.css", "/api/search?q={w}", "/login", "/healthz"]
    words = ["shoes", "laptop", "coffee", "desk", "lamp", "phone"]
    out, keep = [], []
    for n in range(lines):
        ip = ".".join(str(rng.randint(1, 223 if k == 0 else 254)) for k in range(4))
        sec = n * 2
        when = f"14/Mar/2024:{10 + sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d} +0000"
        path = rng.choice(paths).format(w=rng.choice(words))
        status = rng.choice([200] * 12 + [301, 304, 404])
        bad = rng.random() < 0.004
        if bad:
            status = rng.choice([500, 502, 504])
        size = rng.randint(200, 90000)
        line = f'{ip} - - [{when}] "GET {path} HTTP/1.1" {status} {size} "-" "{rng.choice(agents)}"'
        out.append(line)
        if bad:
            keep.append(line)
    return Sample("\n".join(out) + "\n", keep, "log")


def k8s_json_log(lines: int = 3000, *, seed: int = 13) -> Sample:
    """Kubernetes-style JSON lines (klog/zap fields) with levels, a few warnings and errors."""
    rng = random.Random(seed)
    pods = [f"api-7d9f8c-{rng.getrandbits(20):05x}" for _ in range(4)]
    out, keep = [], []
    for n in range(lines):
        ts = f"2024-03-14T10:{n // 600 % 60:02d}:{n // 10 % 60:02d}.{n % 10}00Z"
        roll = rng.random()
        record: dict[str, object]
        if roll < 0.004:
            record = {"ts": ts, "level": "error", "pod": rng.choice(pods),
                      "msg": "failed to sync secret", "secret": "db-credentials",
                      "error": "context deadline exceeded"}  # fmt: skip
        elif roll < 0.012:
            record = {"ts": ts, "level": "warn", "pod": rng.choice(pods),
                      "msg": "readiness probe slow",
                      "latency_ms": rng.randint(900, 3000)}  # fmt: skip
        elif roll < 0.6:
            record = {"ts": ts, "level": "info", "pod": rng.choice(pods), "msg": "request served",
                      "method": "GET", "path": f"/v1/items/{rng.randint(1, 5000)}",
                      "status": 200, "latency_ms": rng.randint(1, 200)}  # fmt: skip
        else:
            record = {"ts": ts, "level": "debug", "pod": rng.choice(pods),
                      "msg": "cache lookup", "hit": rng.random() < 0.7,
                      "key": f"item:{rng.randint(1, 5000)}"}  # fmt: skip
        line = json.dumps(record, separators=(",", ":"))
        out.append(line)
        if record["level"] in ("error", "warn"):
            keep.append(line)
    return Sample("\n".join(out) + "\n", keep, "log")


def pytest_output(tests: int = 400, *, seed: int = 17) -> Sample:
    """``pytest -v`` output: many PASSED lines, three failures with their details and summary."""
    rng = random.Random(seed)
    out = [
        "============================= test session starts ==============================",
        "platform linux -- Python 3.11.8, pytest-8.1.1, pluggy-1.4.0 -- /srv/.venv/bin/python",
        "cachedir: .pytest_cache",
        "rootdir: /srv/app",
        "configfile: pyproject.toml",
        f"collected {tests} items",
        "",
    ]
    keep: list[str] = []
    modules = ["test_orders", "test_users", "test_billing", "test_search", "test_cache"]
    failing = set(rng.sample(range(tests), 3))
    names: list[str] = []
    for n in range(tests):
        mod = modules[n * len(modules) // tests]
        name = (
            f"tests/{mod}.py::test_{rng.choice(['create', 'update', 'list', 'get', 'delete'])}_{n}"
        )
        pct = (n + 1) * 100 // tests
        if n in failing:
            line = f"{name} FAILED{' ' * 30}[{pct:3d}%]"
            keep.append(line)
            names.append(name)
        else:
            line = f"{name} PASSED{' ' * 30}[{pct:3d}%]"
        out.append(line)
    out += ["", "=================================== FAILURES ==================================="]
    details = [
        (["E       assert 41 == 42", "E        +  where 41 = total_items(cart)"], "AssertionError"),
        (
            [
                "E       AssertionError: assert {'id': 3, 'name': 'bob'} == "
                "{'id': 3, 'name': 'Bob'}",
                "E         Differing items:",
                "E         {'name': 'bob'} != {'name': 'Bob'}",
            ],
            "AssertionError",
        ),
        (["E       KeyError: 'currency'"], "KeyError"),
    ]
    for name, (elines, exc) in zip(names, details, strict=True):
        func = name.split("::")[1]
        path = name.split("::")[0]
        head = f"{'_' * 20} {func} {'_' * 20}"
        out += [
            head,
            "",
            "    def " + func + "(client):",
            "        cart = make_cart(client)",
            "        cart.add('sku-1', qty=41)",
            ">       assert total_items(cart) == 42",
            *elines,
            "",
            f"{path}:{rng.randint(10, 300)}: {exc}",
        ]
        keep += [head, ">       assert total_items(cart) == 42", *elines, out[-1]]
    bar = "=" * 25
    summary = f"{bar} 3 failed, {tests - 3} passed in 12.34s {bar}"
    out += ["=========================== short test summary info ============================"]
    for name, (elines, _) in zip(names, details, strict=True):
        line = f"FAILED {name} - {elines[0].lstrip('E ').strip()}"
        out.append(line)
        keep.append(line)
    out.append(summary)
    keep.append(summary)
    return Sample("\n".join(out) + "\n", keep, "pytest")


def jest_output(suites: int = 30, *, seed: int = 19) -> Sample:
    """``npm test`` running jest: PASS/FAIL suites, ✓/✕ lines, one failure detail, summary."""
    rng = random.Random(seed)
    out = ["", "> shop-web@2.4.0 test", "> jest --verbose", ""]
    keep: list[str] = []
    bad_suite = rng.randrange(suites)
    for s in range(suites):
        part = rng.choice(["Cart", "Header", "Search", "Checkout", "Profile"])
        path = f"src/components/{part}{s}.test.tsx"
        failed = s == bad_suite
        head = f"{'FAIL' if failed else 'PASS'} {path}"
        out.append(head)
        if failed:
            keep.append(head)
        out.append(f"  {path.split('/')[-1].split('.')[0]}")
        for k in range(rng.randint(4, 9)):
            if failed and k == 2:
                line = "    ✕ applies the discount code (12 ms)"
                keep.append(line)
            else:
                line = f"    ✓ renders case {k} ({rng.randint(1, 40)} ms)"
            out.append(line)
        out.append("")
        if failed:
            name = path.split("/")[-1].split(".")[0]
            detail = [
                f"  ● {name} › applies the discount code",
                "",
                "    expect(received).toBe(expected) // Object.is equality",
                "",
                "    Expected: 90",
                "    Received: 100",
                "",
                "      40 |     fireEvent.click(getByText('Apply'));",
                "      41 |     const total = getByTestId('total');",
                "    > 42 |     expect(Number(total.textContent)).toBe(90);",
                "         |                                       ^",
                "      43 |   });",
                "",
                f"      at Object.<anonymous> ({path}:42:39)",
                "",
            ]
            out += detail
            keep += [detail[0], detail[2], detail[4], detail[5], detail[9]]
    total = sum(1 for line in out if "✓" in line or "✕" in line)
    tail = [
        f"Test Suites: 1 failed, {suites - 1} passed, {suites} total",
        f"Tests:       1 failed, {total - 1} passed, {total} total",
        "Snapshots:   0 total",
        "Time:        8.412 s",
        "Ran all test suites.",
        "npm ERR! Test failed.  See above for more details.",
    ]
    out += tail
    keep += [tail[0], tail[1], tail[-1]]
    return Sample("\n".join(out) + "\n", keep, "jest")


def mocha_output(tests: int = 120, *, seed: int = 31) -> Sample:
    """``mocha`` spec output: ✔ lines per suite, one failure with its assertion, the counts."""
    rng = random.Random(seed)
    out = ["", "> api@1.0.0 test", "> mocha --reporter spec", ""]
    keep: list[str] = []
    bad = rng.randrange(tests)
    for n in range(tests):
        if n % 10 == 0:
            out += ["", f"  {rng.choice(['Orders', 'Users', 'Billing'])} API {n // 10}"]
        if n == bad:
            line = "    1) rejects an expired coupon"
            keep.append(line)
        else:
            line = f"    ✔ handles request {n} ({rng.randint(1, 90)}ms)"
        out.append(line)
    tail = [
        "",
        "",
        f"  {tests - 1} passing (2s)",
        "  1 failing",
        "",
        "  1) Orders API",
        "       rejects an expired coupon:",
        "",
        "      AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:",
        "",
        "200 !== 410",
        "",
        "      + expected - actual",
        "",
        "      -200",
        "      +410",
        "      ",
        "      at Context.<anonymous> (test/orders.test.js:88:14)",
        "      at process.processImmediate (node:internal/timers:476:21)",
    ]
    out += tail
    keep += [tail[2], tail[3], tail[5], tail[8], tail[12]]
    return Sample("\n".join(out) + "\n", keep, "mocha")


def cargo_output(tests: int = 200, *, seed: int = 23) -> Sample:
    """``cargo test`` output: ``test x ... ok`` lines, two panics with left/right, the result."""
    rng = random.Random(seed)
    out = [
        "   Compiling ledger v0.3.1 (/src/ledger)",
        "    Finished `test` profile [unoptimized + debuginfo] target(s) in 4.21s",
        "     Running unittests src/lib.rs (target/debug/deps/ledger-5f1c2a9e3b7d4c10)",
        "",
        f"running {tests} tests",
    ]
    keep: list[str] = []
    failing = sorted(rng.sample(range(tests), 2))
    names = []
    for n in range(tests):
        mod = rng.choice(["accounts", "journal", "report", "parse"])
        name = f"{mod}::tests::case_{n}"
        if n in failing:
            line = f"test {name} ... FAILED"
            keep.append(line)
            names.append(name)
        else:
            line = f"test {name} ... ok"
        out.append(line)
    out += ["", "failures:", ""]
    for k, name in enumerate(names):
        block = [
            f"---- {name} stdout ----",
            f"thread '{name}' panicked at src/{name.split('::')[0]}.rs:{40 + k}:9:",
            "assertion `left == right` failed: balance after transfer",
            f"  left: {100 + k}",
            f" right: {90 + k}",
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
            "",
        ]
        out += block
        keep += block[:5]
    out += ["", "failures:", *[f"    {n}" for n in names], ""]
    summary = (
        f"test result: FAILED. {tests - 2} passed; 2 failed; 0 ignored; 0 measured; "
        "0 filtered out; finished in 0.42s"
    )
    out += [summary, "", "error: test failed, to rerun pass `--lib`"]
    keep += [summary, out[-1]]
    return Sample("\n".join(out) + "\n", keep, "cargo")


def go_test_output(tests: int = 150, *, seed: int = 29) -> Sample:
    """``go test -v ./...`` output: RUN/PASS lines, two failures with t.Errorf lines, FAIL."""
    rng = random.Random(seed)
    out: list[str] = []
    keep: list[str] = []
    failing = set(rng.sample(range(tests), 2))
    for n in range(tests):
        name = f"Test{rng.choice(['Parse', 'Encode', 'Route', 'Store'])}Case{n}"
        out.append(f"=== RUN   {name}")
        if n in failing:
            err = f"    {name[4:9].lower()}_test.go:{rng.randint(10, 200)}: got {n}, want {n + 1}"
            fail = f"--- FAIL: {name} (0.00s)"
            out += [err, fail]
            keep += [err, fail]
        else:
            out.append(f"--- PASS: {name} (0.{rng.randint(0, 9)}{rng.randint(0, 9)}s)")
    out += [
        "FAIL",
        "FAIL\tgithub.com/example/shop/internal/core\t0.813s",
        "ok  \tgithub.com/example/shop/internal/api\t0.204s",
        "FAIL",
    ]
    keep += [out[-3]]
    return Sample("\n".join(out) + "\n", keep, "go")


def big_app_log(megabytes: float, *, seed: int = 7) -> Sample:
    """``app_log`` sized to about ``megabytes`` MB, incidents scaled with it."""
    approx_line = 130
    lines = int(megabytes * 1_000_000 / approx_line)
    return app_log(lines, seed=seed, incidents=max(1, lines // 20000))
