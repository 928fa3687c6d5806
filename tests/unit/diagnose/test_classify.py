"""Classification of CI failures against the shipped taxonomy."""

from __future__ import annotations

import pytest

from vanguard.diagnose.classify import classify
from vanguard.diagnose.taxonomy import builtin_taxonomy


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["OSError: [Errno 28] No space left on device"], "resource_exhausted"),
        (["FATAL ERROR: Reached heap limit - JavaScript heap out of memory"], "resource_exhausted"),
        (["curl: (6) Could not resolve host: registry.npmjs.org"], "network_transient"),
        (["fatal: the remote end hung up unexpectedly", "fatal: early EOF"], "git_transient"),
        (["HTTP 429: API rate limit exceeded for installation"], "rate_limit"),
        (
            [
                "go: github.com/acme/lib@v1.2.0: reading https://proxy.golang.org/github.com/"
                "acme/lib/@v/v1.2.0.mod: 429 Too Many Requests"
            ],
            "rate_limit",
        ),
        (["##[error]The operation was canceled."], "cancelled"),
        (
            ["The job running on runner X has exceeded the maximum execution time of 360 minutes."],
            "timeout",
        ),
        (
            ["No output has been received in the last 10m0s, this potentially indicates a stall"],
            "timeout",
        ),
        (
            ["src/app.ts(3,5): error TS2322: Type 'string' is not assignable to type 'number'."],
            "compile",
        ),
        (["main.c:4:10: error: 'x' undeclared (first use in this function)"], "compile"),
        (
            [
                "FAILED tests/test_cart.py::test_total - AssertionError: assert 7 == 8",
                "1 failed, 15 passed in 0.42s",
            ],
            "test_regression",
        ),
        (
            ["src/a.js:3:1: Insert `;` (prettier/prettier)", "✖ 1 problem (1 error, 0 warnings)"],
            "lint_format",
        ),
        (
            ["ERROR: Could not find a version that satisfies the requirement foo==9.9"],
            "dependency_resolution",
        ),
        (
            [
                "remote: Permission to org/repo.git denied",
                "Error: Resource not accessible by integration",
            ],
            "auth_permission",
        ),
        (
            ["curl 22 The requested URL returned error: 502 Bad Gateway"],
            "service_outage",
        ),
        (["Invalid workflow file: .github/workflows/ci.yml#L12"], "workflow_config"),
        (["found 3 high severity vulnerabilities", "GHSA-abcd-1234-wxyz"], "security_gate"),
        (["test_login FLAKY: passed on retry 2 of 3"], "flaky_test"),
        (["tests/test_cart.py::test_total RERUN                  [ 50%]"], "flaky_test"),
        (["==== 1 failed, 2 passed, 1 rerun in 0.50s ===="], "flaky_test"),
        (["The runner has received a shutdown signal."], "runner_lost"),
        (["nothing to see here"], "unknown"),
    ],
)
def test_lines_classify_as_expected(lines: list[str], expected: str) -> None:
    verdict = classify(lines, [], builtin_taxonomy())
    assert verdict.category == expected
    if expected != "unknown":
        assert verdict.indications
        assert 0.0 < verdict.confidence < 1.0


def test_context_lines_weigh_less_than_explaining_lines() -> None:
    taxonomy = builtin_taxonomy()
    explaining = ["main.c:4:10: error: 'x' undeclared"]
    context = ["curl: (6) Could not resolve host: mirror.example.com"]
    assert classify(explaining, context, taxonomy).category == "compile"
    assert classify([], context, taxonomy).category == "network_transient"


def test_no_match_gives_the_fallback_with_zero_confidence() -> None:
    verdict = classify([], [], builtin_taxonomy())
    assert verdict.category == "unknown"
    assert verdict.confidence == 0.0
    assert verdict.reasons


def test_git_rpc_failure_is_a_git_transient() -> None:
    lines = ["error: RPC failed; curl 56 GnuTLS recv error (-9): A TLS packet was unexpected."]
    assert classify(lines, [], builtin_taxonomy()).category == "git_transient"


def test_cargos_hint_to_rerun_a_test_target_is_no_rerun() -> None:
    """cargo ends every failed test run with ``to rerun pass `--lib```, how to run the tests
    again; read as a re-run, it made each cargo test failure a flaky test, to be retried."""
    explaining = ["thread 'tests::total' panicked at src/lib.rs:42:9:", "  left: 7", " right: 8"]
    context = [
        "test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out",
        "error: test failed, to rerun pass `--lib`",
    ]
    verdict = classify(explaining, context, builtin_taxonomy())
    assert verdict.category == "test_regression"
    assert not builtin_taxonomy().get(verdict.category).retryable


def test_a_build_scripts_rerun_directive_is_no_rerun() -> None:
    """A Rust build script prints ``cargo:rerun-if-changed=...`` to tell cargo when to run it
    again; read as a re-run, it made a panicking test run a flaky test."""
    context = ["cargo:rerun-if-changed=build.rs", "cargo:rerun-if-env-changed=SHOP_STATIC"]
    explaining = ["thread 'main' panicked at src/main.rs:9:5:", "called `Option::unwrap()`"]
    verdict = classify(explaining, context, builtin_taxonomy())
    assert verdict.category != "flaky_test"
    assert not builtin_taxonomy().get(verdict.category).retryable


def test_erlang_rpc_failure_is_not_a_git_transient() -> None:
    lines = [
        "** (exit) rpc failed: {badrpc, nodedown}",
        "1) test remote call returns the value (Cluster.RemoteTest)",
        "Assertion with == failed",
    ]
    verdict = classify(lines, [], builtin_taxonomy())
    assert verdict.category == "test_regression"
    assert not builtin_taxonomy().get(verdict.category).retryable


def test_connection_error_inside_a_test_report_is_a_test_failure() -> None:
    lines = [
        "E   requests.exceptions.ConnectionError: HTTPConnectionPool(host='api', port=80): "
        "Max retries exceeded with url: /items (Caused by NewConnectionError)",
        "FAILED tests/test_api.py::test_items - requests.exceptions.ConnectionError: "
        "HTTPConnectionPool(host='api', port=80): Max retries exceeded with url: /items",
        "1 failed, 12 passed in 3.10s",
    ]
    verdict = classify(lines, lines, builtin_taxonomy())
    assert verdict.category == "test_regression"


def test_connection_refused_by_the_runner_itself_is_not_a_network_transient() -> None:
    lines = ["ConnectionRefusedError: [Errno 111] Connection refused to localhost:5432"]
    verdict = classify(lines, [], builtin_taxonomy())
    assert not builtin_taxonomy().get(verdict.category).retryable


def test_connection_error_outside_tests_stays_a_network_transient() -> None:
    lines = [
        "WARNING: Retrying after connection broken by 'NewConnectionError'",
        "ERROR: Could not install packages: HTTPSConnectionPool(host='pypi.org', port=443): "
        "Max retries exceeded with url: /simple/numpy/",
    ]
    assert classify(lines, [], builtin_taxonomy()).category == "network_transient"


@pytest.mark.parametrize(
    "report",
    [
        "    limiter_test.go:58: Wait() = rate limit exceeded after 5 requests, want nil",
        "    client_test.go:77: Get(/v1/items) = 429 Too Many Requests, want 200 OK",
        "        \t            \trate limit exceeded",
        "        \tMessages:   \tupstream answered 429 Too Many Requests",
    ],
    ids=["t.Error", "t.Error-429", "testify-continuation", "testify-label"],
)
def test_a_go_test_report_of_a_rate_limit_is_a_test_failure(report: str) -> None:
    """A Go test's own messages (``t.Error``, testify's columns) are the system under test
    answering, not a registry refusing the runner."""
    lines = [report, "--- FAIL: TestLimiter_WaitBurst (0.21s)", "FAIL"]
    verdict = classify(lines, lines, builtin_taxonomy())
    assert verdict.category == "test_regression"


def test_a_go_compile_error_in_a_test_file_is_not_a_test_message() -> None:
    verdict = classify(
        ["./limiter_test.go:12:5: undefined: rate.NewLimiter"], [], builtin_taxonomy()
    )
    assert verdict.category != "test_regression"


def test_a_rate_limiter_is_not_a_rate_limit() -> None:
    """``rate limit`` matched inside ``rate limiter`` (a component's name), so a log line of a
    service configuring one read as a registry refusing the runner."""
    lines = ["2024/05/01 10:00:03 gateway: starting rate limiter for /v1 at 10 req/s"]
    verdict = classify(lines, [], builtin_taxonomy())
    assert verdict.category != "rate_limit"
