"""Failure-line extraction: line counting, cleaning, fingerprints, ranking on each CI dialect."""

from __future__ import annotations

import codecs
import random
import re
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vanguard.diagnose import cilog
from vanguard.diagnose.cilog import (
    ExplainedLine,
    Explanation,
    clean_line,
    explain,
    fingerprint_of,
    iter_log_lines,
    normalize_line,
)
from vanguard.diagnose.linemodel import builtin_model
from vanguard.diagnose.taxonomy import Heal

FIXTURES = Path(__file__).parents[2] / "fixtures" / "cilogs"
PYTEST_FAILURE_BLOCK = {19, 20, 21, 23}
"""Lines of pytest's report of the failing test in ``github_actions_pytest.log``."""


STALE_DIST = "github_actions_stale_dist.log"
STALE_DIST_PASSING = "github_actions_stale_dist_passing.log"


def explain_fixture(
    name: str, baseline: str | None = None, *, model: cilog.ModelChoice = "builtin"
) -> Explanation:
    lines = iter_log_lines([(FIXTURES / name).read_bytes()])
    if baseline is None:
        return explain(lines, model=model)
    return explain(lines, iter_log_lines([(FIXTURES / baseline).read_bytes()]), model=model)


def fixture_line(name: str, number: int) -> str:
    return list(iter_log_lines([(FIXTURES / name).read_bytes()]))[number - 1]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a\nb\n", ["a", "b"]),
        (b"a\r\nb", ["a", "b"]),
        (b"a\rb\r\nc\n", ["a", "b", "c"]),
        (b"a\n\nb\n", ["a", "", "b"]),
        (b"a\r", ["a"]),
        (b"", []),
    ],
)
def test_lines_end_at_crlf_lone_cr_and_lf(data: bytes, expected: list[str]) -> None:
    assert list(iter_log_lines([data])) == expected


def test_line_counting_matches_universal_newlines_across_chunk_boundaries() -> None:
    data = b"one\r\ntwo\rthree\n\xc3\xa9t\xc3\xa9\r\n\x0bfour\x0cfive\n"
    expected = data.decode().replace("\r\n", "\n").replace("\r", "\n").split("\n")[:-1]
    one_byte_chunks = [data[i : i + 1] for i in range(len(data))]
    assert list(iter_log_lines(one_byte_chunks)) == expected
    assert list(iter_log_lines([data])) == expected


def test_invalid_utf8_and_control_bytes_never_raise() -> None:
    rng = random.Random(5)
    junk = bytes(rng.randrange(256) for _ in range(20_000))
    lines = list(iter_log_lines([junk[:7000], junk[7000:]]))
    result = explain(lines)
    assert result.line_count == len(lines)
    assert all(1 <= line.number <= len(lines) for line in result.lines)


def test_an_endless_line_is_cut_to_bounded_size() -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 65_536
        yield b"\nerror: the end\n"

    lines = list(iter_log_lines(chunks()))
    assert len(lines) == 2
    assert len(lines[0]) <= cilog.MAX_LINE_CHARS
    assert lines[1] == "error: the end"


def test_clean_line_strips_colours_timestamps_and_step_prefixes() -> None:
    assert clean_line("\x1b[31;1mError: boom\x1b[0m") == "Error: boom"
    assert clean_line("2026-03-02T10:00:09.1000000Z E   assert 7 == 8") == "E   assert 7 == 8"
    assert clean_line("build\tRun tsc\t2026-03-02T10:00:00.0Z src/a.ts(1,2): error") == (
        "src/a.ts(1,2): error"
    )
    assert clean_line("[2026-03-02 10:00:09] FAILED") == "FAILED"


def test_normalised_lines_ignore_run_specific_parts() -> None:
    first = "2026-03-02T10:00:09Z /tmp/tmp.AbC123/x.py:12 failed after 3.2s id 9f8e7d6c5b4a"
    second = "2026-03-03T11:22:33Z /tmp/tmp.ZzZ999/x.py:40 failed after 0.4s id 0a1b2c3d4e5f"
    assert normalize_line(first) == normalize_line(second)
    assert normalize_line("error: cannot find symbol") != normalize_line("error: type mismatch")


def test_fingerprint_is_stable_across_runs_of_the_same_failure() -> None:
    run1 = ["2026-03-02T10:00:09Z E   assert 7 == 8 in /tmp/pytest-of-ci/pytest-31/test0"]
    run2 = ["2026-03-05T08:01:02Z E   assert 9 == 8 in /tmp/pytest-of-ci/pytest-77/test0"]
    assert fingerprint_of("test_regression", run1) == fingerprint_of("test_regression", run2)
    assert fingerprint_of("test_regression", run1) != fingerprint_of("compile", run1)


def test_fingerprint_of_a_whole_log_survives_shifted_timestamps() -> None:
    text = (FIXTURES / "github_actions_pytest.log").read_text()
    shifted = text.replace("2026-03-02T10:", "2026-04-11T17:").replace("0.42s", "0.57s")
    first = explain(iter_log_lines([text.encode()]))
    second = explain(iter_log_lines([shifted.encode()]))
    assert first.fingerprint == second.fingerprint
    assert len(first.fingerprint) == 16


def test_github_actions_raw_log_points_at_the_assertion() -> None:
    result = explain_fixture("github_actions_pytest.log")
    assert result.lines[0].number in PYTEST_FAILURE_BLOCK
    assert {line.number for line in result.lines} >= PYTEST_FAILURE_BLOCK
    assertion = next(line for line in result.lines if line.number == 20)
    assert assertion.text == clean_line(fixture_line("github_actions_pytest.log", 20))
    assert result.category == "test_regression"
    assert result.retryable is False
    assert result.failed_step is not None
    assert "pytest" in result.failed_step
    assert result.line_count == 29


def test_github_actions_tabbed_log_finds_compile_errors() -> None:
    result = explain_fixture("github_actions_tabbed_tsc.log")
    top = {line.number for line in result.lines[:2]}
    assert top == {6, 7}
    assert result.category == "compile"
    assert result.heal is Heal.never_retry


def test_travis_log_counts_lone_cr_and_finds_the_failing_test() -> None:
    result = explain_fixture("travis_mocha.log")
    with (FIXTURES / "travis_mocha.log").open(encoding="utf-8") as text_mode:
        assert result.line_count == sum(1 for _ in text_mode) == 31
    numbers = [line.number for line in result.lines[:5]]
    assert {17, 22, 25} & set(numbers)
    assert "exited with 1" not in result.lines[0].text
    assert result.category == "test_regression"


def test_jenkins_log_points_at_the_compiler_message() -> None:
    result = explain_fixture("jenkins_maven.log")
    assert "cannot find symbol" in result.lines[0].text, "the message, not the bare heading"
    assert 11 in result.answer, "the heading stays in the report"
    assert fixture_line("jenkins_maven.log", 11).startswith("[ERROR] COMPILATION ERROR")
    assert result.category == "compile"


@pytest.mark.parametrize(
    ("text", "bare"),
    [
        ("[ERROR] COMPILATION ERROR : ", True),
        ("* What went wrong:", True),
        ("FAILURE: Build failed with an exception.", True),
        ("Tests failed", True),
        ("[INFO] -------------------------------------", True),
        ("> Task :app:checkstyleMain FAILED", False),
        ("ERROR: Job failed: exit code 1", False),
        ("[ERROR] /src/Foo.java:[4,26] cannot access Bar", False),
        ("npm ERR! Test failed.  See above for more details.", False),
        ("", False),
    ],
)
def test_a_bare_heading_says_only_that_something_failed(text: str, bare: bool) -> None:
    assert cilog._bare(text) is bare


def test_a_bare_heading_gives_way_to_the_first_line_below_it_that_names_something() -> None:
    log = [
        "$ ./gradlew build",
        "> Task :app:compileJava",
        "FAILURE: Build failed with an exception.",
        "",
        "* What went wrong:",
        "Execution failed for task ':app:compileJava'.",
        "> Compilation failed; see the compiler error output for details.",
        "",
        "BUILD FAILED in 3s",
    ]
    result = explain(log, model=None)
    first = result.lines[0]
    assert not cilog._bare(first.text), first.text
    assert "compileJava" in first.text


def test_gitlab_git_fetch_failure_is_retryable() -> None:
    result = explain_fixture("gitlab_git_fetch.log")
    assert "Could not resolve host" in result.lines[0].text
    assert result.category in {"network_transient", "git_transient"}
    assert result.retryable is True
    assert result.heal is Heal.retry


def test_lines_are_best_first_with_scores_in_unit_range() -> None:
    for name in ("github_actions_pytest.log", "travis_mocha.log", "jenkins_maven.log"):
        result = explain_fixture(name)
        scores = [line.score for line in result.lines]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= score <= 1.0 for score in scores)
        assert len({line.number for line in result.lines}) == len(result.lines)


def test_baseline_demotes_lines_the_passing_run_also_printed() -> None:
    noisy = [
        "##[group]Run make test",
        "warning: deprecated API used in vendor/lib.c",
        "error: vendored module reports a known issue",
        "src/cart.c:14:7: error: 'totl' undeclared",
        "##[error]Process completed with exit code 2.",
    ]
    passing = ["##[group]Run make test", "error: vendored module reports a known issue", "ok"]
    alone = explain(noisy)
    filtered = explain(noisy, passing)
    assert filtered.new_lines_only is True
    assert filtered.lines[0].number == 4
    known = {line.number: line.score for line in filtered.lines}
    before = {line.number: line.score for line in alone.lines}
    assert known.get(3, 0.0) < before[3]


@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
def test_a_line_the_passing_run_printed_does_not_classify(model: cilog.ModelChoice) -> None:
    """A stale build output fails the job; a registry warning every run prints sits above it."""
    filtered = explain_fixture(STALE_DIST, STALE_DIST_PASSING, model=model)
    assert filtered.category != "network_transient"
    assert not filtered.retryable
    assert 4 in {line.number for line in filtered.lines}


def test_the_learned_ranking_sinks_a_line_the_passing_run_printed() -> None:
    filtered = explain_fixture(STALE_DIST, STALE_DIST_PASSING)
    assert filtered.lines[0].number == 9
    assert filtered.answer[0] <= 9 <= filtered.answer[-1]


def test_without_the_baseline_the_network_warning_would_be_retried() -> None:
    """What the test above guards against: alone, the old warning leads and classifies."""
    alone = explain_fixture(STALE_DIST)
    assert alone.lines[0].number == 4
    assert alone.category == "network_transient"
    assert alone.retryable


def test_baseline_does_not_hide_the_only_explanation() -> None:
    failing = ["$ make", "error: disk quota exceeded", 'The command "make" exited with 2.']
    result = explain(failing, list(failing))
    assert result.lines
    assert result.lines[0].number in {2, 3}


def test_empty_log_gives_an_empty_unknown_explanation() -> None:
    result = explain([])
    assert result.lines == ()
    assert result.category == "unknown"
    assert result.line_count == 0


def test_huge_log_keeps_bounded_state_and_early_strong_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cilog, "TAIL_LINES", 500)

    def lines() -> Iterator[str]:
        yield "$ ./build.sh"
        yield "error: first real problem in module alpha"
        for n in range(5000):
            yield f"compiling unit {n}"
        yield 'The command "./build.sh" exited with 1.'

    result = explain(lines())
    assert result.line_count == 5003
    assert result.lines[0].number == 2
    assert result.lines[0].text == "error: first real problem in module alpha"


def test_without_markers_the_strongest_line_wins() -> None:
    result = explain(["starting", "all good so far", "Segmentation fault (core dumped)", "bye"])
    assert result.lines[0].number == 3


def test_explanation_round_trips_through_json() -> None:
    result = explain_fixture("jenkins_maven.log")
    assert Explanation.model_validate_json(result.model_dump_json()) == result


def _travis(body: list[str]) -> list[str]:
    """A Travis log whose step ``make test`` prints ``body`` and fails.

    Where a test checks how the rules grow a report, it asks for ``model=None``: the learned
    model reuses those blocks but may list other candidate lines of the step after them.
    """
    return ["$ make setup", "ok", "$ make test", *body, 'The command "make test" exited with 1.']


def test_an_indented_report_runs_from_its_header_over_blank_lines() -> None:
    report = [
        "  1) test server stops (App.EndpointTest)",
        "     test/app/endpoint_test.exs:153",
        "     ** (ExUnit.TimeoutError) test timed out after 60000ms",
        "     ",
        "     Timeouts are given as integers in milliseconds.",
        "     stacktrace:",
        "       test/app/endpoint_test.exs:158: (test)",
    ]
    lines = _travis(["....", "", *report, "", "Finished in 61 seconds"])
    report_lines = set(range(6, 6 + len(report)))
    answer = {line.number for line in explain(lines, model=None).lines}
    assert report_lines <= answer
    assert not {1, 2, 3, 4} & answer
    learned = explain(lines)
    assert learned.lines[0].number in report_lines
    assert report_lines <= {line.number for line in learned.lines}
    assert not {1, 2, 3} & {line.number for line in learned.lines}


def test_a_pytest_report_starts_at_the_test_separator() -> None:
    report = [
        "_____________________________ test_total ______________________________",
        "",
        "    def test_total():",
        "        cart = Cart([3, 4])",
        ">       assert cart.total() == 8",
        "E       assert 7 == 8",
        "",
        "tests/test_cart.py:5: AssertionError",
    ]
    lines = _travis(["=================== FAILURES ===================", *report])
    result = explain(lines)
    answer = {line.number for line in result.lines}
    assert set(range(5, 5 + len(report))) <= answer
    assert result.category == "test_regression"


def test_the_ci_failure_line_is_listed_only_when_no_report_is_strong() -> None:
    strong = _travis(["src/main.c:4:10: error: 'x' undeclared (first use in this function)"])
    assert [line.number for line in explain(strong, model=None).lines] == [4]
    assert explain(strong).lines[0].number == 4
    silent = _travis(["Please rebuild the bundle and commit the changes"])
    assert len(silent) in {line.number for line in explain(silent, model=None).lines}


def test_the_learned_model_finds_a_reason_without_failure_words() -> None:
    silent = _travis(["Please rebuild the bundle and commit the changes"])
    assert explain(silent, model=None).lines[0].number == 5
    assert explain(silent).lines[0].number == 4


@pytest.mark.parametrize(
    "text",
    [
        "process didn't exit successfully: `target/debug/build/x/build-script` (exit code: 101)",
        "warning: build failed, waiting for other jobs to finish...",
        "error: Could not compile `font`.",
        "error: failed to run custom build command for `jemalloc-sys v0.3.0`",
        "error: aborting due to 3 previous errors",
        'Command failed with status (1): [ruby -w -I"lib:test" ...]',
        "SimpleCov failed with exit 1",
        "FAILED: cd /home/travis/build/app/build && cmake -P run_tests.cmake",
        "t9502-parse-output.sh          (Wstat: 256 Tests: 13 Failed: 1)",
    ],
)
def test_build_tool_summaries_are_consequences(text: str) -> None:
    assert cilog.is_consequence(text)


def test_an_eslint_problem_is_the_reason_not_npms_footer() -> None:
    body = [
        "/home/travis/build/app/src/menu.js",
        "  28:14  error  Unnecessary semicolon  no-extra-semi",
        "",
        "✖ 1 problem (1 error, 0 warnings)",
        "npm ERR! code ELIFECYCLE",
        "npm ERR! Failed at the app@1.0.0 lint script.",
    ]
    result = explain(_travis(body))
    assert result.lines[0].number in {4, 5}
    assert {4, 5} <= {line.number for line in result.lines}
    assert result.category == "lint_format"


def test_a_report_keeps_the_plain_lines_that_close_its_paragraph() -> None:
    body = [
        "configure: error: C compiler cannot create executables",
        "See `config.log' for more details",
        "",
        "Cleaning up the build directory",
        "Removing temporary files",
    ]
    answer = {line.number for line in explain(_travis(body), model=None).lines}
    assert {4, 5} <= answer
    assert not {7, 8} & answer
    learned = explain(_travis(body)).lines
    assert learned[0].number == 4
    assert 5 in {line.number for line in learned}


@pytest.mark.parametrize("name", ["gitlab_git_fetch.log", "jenkins_maven.log", "travis_mocha.log"])
def test_fingerprint_ignores_further_candidates_and_the_learned_widening(name: str) -> None:
    """One failure keeps one triage issue whether or not the line model is used.

    On these logs both rankings pick the same report but list different further lines.
    """
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    learned = cilog.explain(lines)
    rules = cilog.explain(lines, model=None)
    assert [n.number for n in learned.lines] != [n.number for n in rules.lines]
    assert learned.fingerprint == rules.fingerprint


@pytest.mark.parametrize(
    "name",
    [
        "github_actions_pytest.log",
        "github_actions_tabbed_tsc.log",
        "gitlab_git_fetch.log",
        "jenkins_maven.log",
        "travis_mocha.log",
    ],
)
def test_the_answer_is_the_best_report_in_log_order(name: str) -> None:
    result = explain_fixture(name)
    assert result.lines[0].number in result.answer
    assert list(result.answer) == sorted(set(result.answer))
    best = result.best_line()
    assert best is not None
    assert best.number == result.lines[0].number


def test_the_answer_spans_the_whole_report_on_fixtures() -> None:
    assert explain_fixture("jenkins_maven.log").answer == tuple(range(10, 17))
    assert explain_fixture("github_actions_tabbed_tsc.log").answer == (6, 7)


def test_a_further_candidate_apart_from_the_best_report_is_not_in_the_answer() -> None:
    name = "github_actions_pytest.log"
    result = explain(iter_log_lines([(FIXTURES / name).read_bytes()]), model=None)
    assert result.lines[0].number in result.answer
    assert [line.number for line in result.other_candidates()] == [15]
    assert 15 not in result.answer
    assert [line.number for line in result.answer_lines()] == list(result.answer)


def test_a_log_without_a_report_has_no_answer() -> None:
    assert explain_fixture("github_actions_pytest_passing.log").answer == ()
    assert explain([]).answer == ()


@pytest.mark.parametrize("model", ["builtin", None])
def test_a_source_excerpt_gives_way_to_the_message_it_illustrates(
    model: cilog.ModelChoice,
) -> None:
    """rustc draws a gutter and carets under its message; the learned model liked a bare
    ``|`` line best, which is no explanation and would key the failure's fingerprint."""
    result = explain_fixture("github_actions_cargo.log", model=model)
    assert result.lines[0].number == 7
    assert result.lines[0].text == "error[E0308]: mismatched types"
    assert result.category == "compile"
    assert {7, 8} <= set(result.answer)


@pytest.mark.parametrize("model", ["builtin", None])
def test_a_progress_line_gives_way_to_the_failure_it_announces(
    model: cilog.ModelChoice,
) -> None:
    """pytest's ``....F..`` says a test failed, never which or why; the learned model put it
    first and alone, hiding ``FAILED ...::test_total - AssertionError`` and keying the
    fingerprint on dots."""
    result = explain_fixture("github_actions_pytest_summary.log", model=model)
    assert result.lines[0].number == 10
    assert result.lines[0].text.startswith("FAILED tests/test_orders.py::test_total")
    assert result.category == "test_regression"


GHA_TS = "2024-05-01T10:00:00.0000000Z "


def _gha(*lines: str) -> list[str]:
    """Lines as a GitHub Actions raw log prints them, with a timestamp prefix."""
    return [GHA_TS + line for line in lines]


def _explain_gha(lines: list[str], **options: object) -> Explanation:
    data = "\n".join(lines).encode() + b"\n"
    return explain(iter_log_lines([data]), **options)  # type: ignore[arg-type]


JEST_FAILURE = (
    "FAIL src/cart.test.js",
    "  ● cart › totals the items",
    "",
    "    expect(received).toBe(expected) // Object.is equality",
    "",
    "    Expected: 8",
    "    Received: 7",
    "",
    "      at Object.<anonymous> (src/cart.test.js:4:22)",
    "",
    "Tests:       1 failed, 12 passed, 13 total",
    "##[error]Process completed with exit code 1.",
)


def _jest_run(downloads: int) -> list[str]:
    """One run of a jest job; a cache miss prints more download lines before the tests."""
    chatter = [f"Downloading dep{i}-1.0.0.tgz (12 kB)" for i in range(downloads)]
    return _gha(
        "##[group]Run npx jest --ci", "npx jest --ci", "##[endgroup]", *chatter, *JEST_FAILURE
    )


def test_the_fingerprint_survives_more_lines_before_the_failure() -> None:
    """Where a line sits in its step moved the learned seed, and the fingerprint with it:
    two issues for one failure, and a ``/vanguard ignore`` that no longer silenced it."""
    warm, cold = _explain_gha(_jest_run(5)), _explain_gha(_jest_run(20))
    assert warm.category == cold.category == "test_regression"
    assert warm.fingerprint == cold.fingerprint
    for downloads in (0, 5, 20, 60):
        run = _jest_run(downloads)
        assert _explain_gha(run).fingerprint == warm.fingerprint
        assert _explain_gha(run, model=None).fingerprint == warm.fingerprint


@pytest.mark.parametrize("name", ["github_actions_pytest.log", "travis_mocha.log"])
def test_the_fingerprint_is_the_same_with_or_without_the_model_or_a_baseline(name: str) -> None:
    lines = list(iter_log_lines([(FIXTURES / name).read_bytes()]))
    learned = explain(lines)
    assert explain(lines, model=None).fingerprint == learned.fingerprint
    assert explain(lines, list(lines)).fingerprint == learned.fingerprint


def _pytest_failure(path: str, code: int) -> list[str]:
    return _gha(
        "##[group]Run pytest -q",
        "pytest -q",
        "##[endgroup]",
        "=================================== FAILURES ===================================",
        "__________________________________ test_list ___________________________________",
        "",
        "    def test_list(client):",
        "        resp = client.get(URL)",
        ">       assert resp.status_code == 200",
        f"E       assert {code} == 200",
        f"E        +  where {code} = <Response [{code}]>.status_code",
        "",
        f"{path}:9: AssertionError",
        "=========================== short test summary info ============================",
        f"FAILED {path}::test_list - assert {code} == 200",
        "========================= 1 failed, 41 passed in 0.50s =========================",
        "##[error]Process completed with exit code 1.",
    )


def test_failures_of_different_tests_get_different_fingerprints() -> None:
    """Numbers are blurred, so two tests' assertions read alike; the test named tells them
    apart (one issue for both, and ignoring one silenced the other)."""
    items = _explain_gha(_pytest_failure("tests/api/v1/test_items.py", 404))
    users = _explain_gha(_pytest_failure("tests/api/v2/test_users.py", 500))
    assert items.category == users.category == "test_regression"
    assert items.fingerprint != users.fingerprint
    again = _explain_gha(_pytest_failure("tests/api/v1/test_items.py", 500))
    assert again.fingerprint == items.fingerprint


def _jest_test_failure(title: str, expected: int, runtime_s: float, downloads: int) -> list[str]:
    """A jest job with one failing test of ``src/cart.test.js``; its report reads alike for
    any test once numbers are blurred, only the ``●`` title names the test."""
    return _gha(
        "##[group]Run npx jest --ci",
        "npx jest --ci",
        "##[endgroup]",
        *(f"Downloading dep{i}-1.0.0.tgz (12 kB)" for i in range(downloads)),
        "FAIL src/cart.test.js",
        "  cart",
        "    ✓ adds items (3 ms)",
        f"    ✕ {title.rsplit(' › ', 1)[-1]} ({int(runtime_s * 1000)} ms)",
        "",
        f"  ● {title}",
        "",
        "    expect(received).toBe(expected) // Object.is equality",
        "",
        f"    Expected: {expected}",
        f"    Received: {expected - 1}",
        "",
        "      at Object.<anonymous> (src/cart.test.js:14:22)",
        "",
        "Test Suites: 1 failed, 1 total",
        "Tests:       1 failed, 1 passed, 2 total",
        f"Time:        {runtime_s + 0.8:.3f} s",
        "##[error]Process completed with exit code 1.",
    )


def _mocha_test_failure(title: str, expected: int, runtime_s: float, downloads: int) -> list[str]:
    """A mocha job with one failing test of the ``checkout`` suite; the code under test logs
    the same errors whichever test fails, and they outweigh the test's own lines."""
    return _gha(
        "##[group]Run npm test",
        "npm test",
        "##[endgroup]",
        *(f"Downloading dep{i}-1.0.0.tgz (12 kB)" for i in range(downloads)),
        "> shop@1.0.0 test",
        "> mocha",
        "",
        "  checkout",
        f"    ✓ adds items ({int(runtime_s * 300)}ms)",
        "[payments] Error: gateway answered 402: card declined",
        "[payments] Error: charge 4211 failed, order 917 left unpaid",
        f"    1) {title}",
        "",
        f"  1 passing ({int(runtime_s * 1000)}ms)",
        "  1 failing",
        "",
        "  1) checkout",
        f"       {title}:",
        "     AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:",
        "",
        f"{expected - 1} !== {expected}",
        "",
        "      at Context.<anonymous> (test/checkout.test.js:21:12)",
        "",
        "##[error]Process completed with exit code 1.",
    )


@pytest.mark.parametrize(
    ("run", "first", "second"),
    [
        (_jest_test_failure, "cart › totals the items", "cart › applies the discount"),
        (_mocha_test_failure, "charges the card", "refunds the order"),
    ],
    ids=["jest", "mocha"],
)
@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
def test_failing_tests_of_one_file_get_different_fingerprints(
    run: Callable[[str, int, float, int], list[str]],
    first: str,
    second: str,
    model: cilog.ModelChoice,
) -> None:
    """Jest's report of a test names it only in its ``●`` title, which has no failure words:
    every failing test of one file got the file's fingerprint, one issue for all of them, and
    ignoring one silenced the others. A re-run of one test with other timings and more lines
    before it keeps its fingerprint."""
    one = _explain_gha(run(first, 8, 0.4, 3), model=model)
    other = _explain_gha(run(second, 8, 0.4, 3), model=model)
    again = _explain_gha(run(first, 12, 1.7, 40), model=model)
    assert one.category == other.category == again.category == "test_regression"
    assert one.fingerprint != other.fingerprint
    assert again.fingerprint == one.fingerprint


CONTINUE_ON_ERROR = _gha(
    "##[group]Run curl -sf https://telemetry.example.com/ping",
    "curl -sf https://telemetry.example.com/ping",
    "##[endgroup]",
    "curl: (6) Could not resolve host: telemetry.example.com",
    "##[error]Process completed with exit code 6.",
    "##[group]Run make",
    "make",
    "##[endgroup]",
    "gcc -O2 -Wall -c src/main.c -o build/main.o",
    "src/main.c: In function 'main':",
    "src/main.c:12:5: error: 'count' undeclared (first use in this function)",
    "   12 |     count++;",
    "      |     ^~~~~",
    "make: *** [Makefile:10: build/main.o] Error 1",
    "##[error]Process completed with exit code 2.",
)


@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
def test_a_step_allowed_to_fail_is_not_the_failed_step(model: cilog.ModelChoice) -> None:
    """A ``continue-on-error`` step prints GitHub's exit line too; the job went on and a
    later step failed it. Taken for the failed step, the compile error was re-run as a
    network transient."""
    result = _explain_gha(CONTINUE_ON_ERROR, model=model)
    assert result.failed_step == "##[group]Run make"
    assert result.category == "compile"
    assert not result.retryable
    assert "count" in result.lines[0].text
    assert any("allowed to fail" in reason for reason in result.reasons)


def test_on_travis_the_first_failing_command_is_still_the_failed_step() -> None:
    """Travis runs every command of its script whatever failed before: the first is the cause."""
    lines = [
        "$ make lint",
        "src/a.c:3:1: error: expected ';' before '}' token",
        'The command "make lint" exited with 2.',
        "$ make test",
        "curl: (6) Could not resolve host: example.com",
        'The command "make test" exited with 1.',
    ]
    result = explain(lines)
    assert result.failed_step == "$ make lint"
    assert result.category == "compile"


OOM_137 = _gha(
    "##[group]Run pytest -n 4",
    "pytest -n 4",
    "##[endgroup]",
    "============================= test session starts ==============================",
    "gw0 [812] / gw1 [812] / gw2 [812] / gw3 [812]",
    "........................................................................ [  8%]",
    "........................................................................ [ 17%]",
    "/home/runner/work/_temp/4b2c6f1e-3d2a-4b7e-9f3c-1a2b3c4d5e6f.sh: line 1:  2345 Killed"
    "                  pytest -n 4",
    "##[error]Process completed with exit code 137.",
)


@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
def test_a_killed_job_is_explained_by_its_exit_line(model: cilog.ModelChoice) -> None:
    """Exit 137 (SIGKILL, most often the OOM killer): that line is the reason with either
    ranking; the learned one led with ``gw0 [812] ...`` and called the OOM a regression."""
    result = _explain_gha(OOM_137, model=model)
    assert result.lines[0].text == "##[error]Process completed with exit code 137."
    assert result.category == "resource_exhausted"
    assert result.retryable


@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
def test_a_compiler_killed_by_sigkill_ran_out_of_memory(model: cilog.ModelChoice) -> None:
    """Cargo exits 101 whatever killed rustc; the line saying SIGKILL is the reason. The rules
    led with ``could not compile`` above it and called the OOM a compile error."""
    killed = (
        "  process didn't exit successfully: `rustc --crate-name myapp --edition=2021 "
        "src/main.rs` (signal: 9, SIGKILL: kill)"
    )
    result = _explain_gha(
        _gha(
            "##[group]Run cargo build --release",
            "cargo build --release",
            "##[endgroup]",
            "   Compiling serde v1.0.197",
            "   Compiling myapp v0.1.0 (/home/runner/work/myapp/myapp)",
            'error: could not compile `myapp` (bin "myapp")',
            "",
            "Caused by:",
            killed,
            "##[error]Process completed with exit code 101.",
        ),
        model=model,
    )
    assert result.lines[0].text == killed
    assert result.category == "resource_exhausted"
    assert result.retryable


def test_a_git_403_is_a_missing_permission_not_a_git_transient() -> None:
    """No re-run gives a token the right to read a private submodule."""
    denied = "The requested URL returned error: 403"
    result = _explain_gha(
        _gha(
            "##[group]Run git submodule update --init --recursive",
            "git submodule update --init --recursive",
            "##[endgroup]",
            "Submodule 'vendor/lib' (https://github.com/acme/private-lib.git) registered for "
            "path 'vendor/lib'",
            "Cloning into '/home/runner/work/app/app/vendor/lib'...",
            f"fatal: unable to access 'https://github.com/acme/private-lib.git/': {denied}",
            "fatal: clone of 'https://github.com/acme/private-lib.git' into submodule path "
            "'/home/runner/work/app/app/vendor/lib' failed",
            "Failed to clone 'vendor/lib' a second time, aborting",
            "##[error]Process completed with exit code 1.",
        )
    )
    assert result.category == "auth_permission"
    assert not result.retryable


@pytest.mark.parametrize(
    "name", ["github_actions_go_test.log", "github_actions_tabbed_go_test.log"]
)
@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
def test_a_go_test_failure_is_a_test_regression(name: str, model: cilog.ModelChoice) -> None:
    """A Go test reports in ``limiter_test.go:58: ...`` lines (testify's columns below them):
    their ``rate limit exceeded`` and ``429 Too Many Requests`` counted as the runner's own,
    and outweighed ``--- FAIL`` once ``go test`` had left the log's last 30 lines."""
    result = explain_fixture(name, model=model)
    assert result.category == "test_regression"
    assert not result.retryable
    assert result.failed_step is not None
    assert "go test" in result.failed_step


def _go_test_run(packages_before: int) -> list[str]:
    """``go test ./...`` failing a rate limiter's test after this many packages passed."""
    return _gha(
        "##[group]Run go test ./...",
        "go test ./...",
        "shell: /usr/bin/bash -e {0}",
        "##[endgroup]",
        *(
            f"ok  \tgithub.com/example/gateway/internal/pkg{i}\t1.{i:03d}s"
            for i in range(packages_before)
        ),
        "--- FAIL: TestLimiter_WaitBurst (0.21s)",
        "    limiter_test.go:58: Wait() = rate limit exceeded after 5 requests, want nil",
        "FAIL",
        "FAIL\tgithub.com/example/gateway/internal/ratelimit\t1.245s",
        "FAIL",
        "##[error]Process completed with exit code 1.",
    )


@pytest.mark.parametrize("packages_before", [0, 10, 25, 60])
@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
def test_a_go_test_failure_does_not_depend_on_the_lines_before_it(
    packages_before: int, model: cilog.ModelChoice
) -> None:
    result = _explain_gha(_go_test_run(packages_before), model=model)
    assert result.category == "test_regression"


NPM_TOKEN = "npm_abcdefghijklmnopqrstuvwxyz0123456789"
GITLAB_TOKEN = "glpat-abcdefghij1234567890"
PASSWORD = "Sup3rS3cretPassw0rdValue"
LEAKY_RELEASE = _gha(
    "##[group]Run ./release.sh",
    "./release.sh",
    "##[endgroup]",
    f"error: publish failed with token {NPM_TOKEN}",
    f"fatal: could not push with {GITLAB_TOKEN}",
    f"error: push failed ({'x' * 440}) remote https://deploy:{PASSWORD}@git.example.com/a.git",
    "##[error]Process completed with exit code 1.",
)


def test_a_long_line_is_masked_before_it_is_cut() -> None:
    """Cut at 500 characters first, a URL lost its ``@`` and its password was shown."""
    result = _explain_gha(LEAKY_RELEASE)
    shown = "\n".join(line.text for line in result.redacted().lines)
    assert NPM_TOKEN not in shown
    assert GITLAB_TOKEN not in shown
    assert "Sup3rS3cret" not in shown
    long_line = next(line for line in result.lines if line.text.startswith("error: push failed"))
    assert len(long_line.text) <= cilog.SHOWN_CHARS + len("[REDACTED]")
    assert "Sup3rS3cret" not in long_line.text


def test_a_cut_keeps_a_mask_whole() -> None:
    text = "x" * 490 + " token=" + "s3cr3t-value" * 5
    shown = cilog._shown(text, 500)
    assert shown == "x" * 490 + " token=[REDACTED]"
    assert cilog._shown("short token=s3cr3t", 500) == "short token=s3cr3t"


def test_the_failed_step_in_the_reasons_is_masked_before_it_is_cut() -> None:
    step = (
        "##[group]Run git clone --depth 1 --branch main --single-branch --recurse-submodules "
        f"https://deploy:{PASSWORD}@git.example.com/acme/app.git"
    )
    result = explain([step, "fatal: boom", "##[error]Process completed with exit code 1."])
    for text in (*result.reasons, *result.redacted().reasons):
        assert "Sup3rS3cret" not in text
    assert "[REDACTED]" in (result.redacted().failed_step or "")


def test_a_line_is_listed_once() -> None:
    """A bare heading's seed gave way to the line below it, which was listed again when it
    came up as a seed of its own (found by fuzzing)."""
    lines = [
        "error: boom",
        "[ERROR] COMPILATION ERROR :",
        "\x1b[31merror\x1b[0m",
        "Traceback (most recent call last):",
        "",
        "..F..",
        "Killed",
        "warning: x",
        "",
        "error: boom",
        "exit code 137",
        "warning: x",
        'The command "x" exited with 137.',
    ]
    for model in ("builtin", None):
        numbers = [line.number for line in explain(lines, model=model).lines]
        assert len(numbers) == len(set(numbers)), numbers


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_utf16_log_with_crlf_counts_its_lines(codec: str) -> None:
    """Windows PowerShell writes UTF-16 with a byte-order mark; read as UTF-8, every
    ``\\r\\0\\n`` ended two lines and the line numbers pointed elsewhere."""
    text = "Run pytest\r\nstarting\r\nE   AssertionError: assert 7 == 8\r\n"
    bom = codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE
    data = bom + text.encode(codec)
    expected = ["Run pytest", "starting", "E   AssertionError: assert 7 == 8"]
    assert list(iter_log_lines([data])) == expected
    assert list(iter_log_lines([data[i : i + 1] for i in range(len(data))])) == expected
    result = explain(iter_log_lines([data]))
    assert result.line_count == 3
    assert result.lines[0].number == 3


def test_step_starts_cost_no_memory_once_they_leave_the_tail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every echoed command (``+ cmd`` of ``set -x``, ``$ cmd``, ``##[group]Run``) was kept,
    text and all, long after it left the tail: a GB for a long Jenkins trace."""
    monkeypatch.setattr(cilog, "TAIL_LINES", 100)
    body = "x" * 1000

    def lines() -> Iterator[str]:
        for n in range(3000):
            for prefix in ("$ ", "+ ", "##[group]Run "):
                yield f"{prefix}step {n} {body}"
        yield "error: boom"
        yield 'The command "make" exited with 1.'

    tracemalloc.start()
    try:
        result = explain(lines(), model=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.failed_step is not None
    assert result.failed_step.startswith("##[group]Run step 2999 ")
    assert result.lines[0].text == "error: boom"
    assert peak < 3_000_000, peak


@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
def test_a_jest_code_frame_gives_way_to_the_failed_tests_title(model: cilog.ModelChoice) -> None:
    """No line of jest's report has failure words but ``FAIL path``; the learned ranking put
    the caret row ``|   ^`` first, and the excerpt rule found no message with evidence
    above it, so the caret stayed first and titled the issue."""
    result = explain_fixture("github_actions_jest_code_frame.log", model=model)
    assert result.lines[0].text in {
        "  ● Basket › applies the loyalty discount",
        "FAIL src/basket/basket.test.ts",
    }
    assert not cilog._excerpt(result.lines[0].text)
    assert result.title_line() == result.lines[0]
    assert result.category == "test_regression"


def test_jests_marked_line_is_a_row_of_its_code_frame() -> None:
    assert cilog._excerpt("    > 19 |     expect(basket.total()).toBe(45);")
    assert cilog._excerpt("         |                            ^")
    assert not cilog._excerpt("> jest --ci")


def test_the_title_line_skips_rows_of_a_source_excerpt() -> None:
    """Whatever the ranking puts first, a caret row never titles the failure."""
    lines = (
        ExplainedLine(number=23, text="         |     ^", score=0.95),
        ExplainedLine(number=22, text="    > 19 |     expect(total).toBe(45);", score=0.9),
        ExplainedLine(number=13, text="  ● Basket › applies the discount", score=0.9),
    )
    result = Explanation(
        lines=lines,
        category="test_regression",
        fingerprint="f",
        retryable=False,
        heal=Heal.open_issue,
        confidence=0.9,
        line_count=40,
        answer=tuple(range(13, 24)),
    )
    title = result.title_line()
    assert title is not None
    assert title.text == "  ● Basket › applies the discount"
    assert result.best_line() == lines[0]


@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
def test_a_buildkit_location_frame_gives_way_to_the_error_after_it(
    model: cilog.ModelChoice,
) -> None:
    """BuildKit heads the failing instruction with a bare ``Dockerfile:1`` between rules of
    dashes; the learned ranking put that location first, above ``ERROR: failed to solve``."""
    result = explain_fixture("github_actions_buildkit_429.log", model=model)
    assert result.lines[0].text != "Dockerfile:1"
    assert "429 Too Many Requests" in result.lines[0].text
    assert result.category == "rate_limit"


@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
def test_gitlabs_job_timeout_leads_like_a_killed_command(model: cilog.ModelChoice) -> None:
    """GitLab stops a job at its time limit and says so; the learned ranking led with a
    Gradle ``... PASSED`` line (the step's last lines are candidates whatever they say)."""
    result = explain_fixture("gitlab_job_timeout.log", model=model)
    assert result.lines[0].text == "ERROR: Job failed: execution took longer than 1h0m0s seconds"
    assert result.lines[0].number == 17
    assert result.category == "timeout"
    assert result.retryable


JOB_TIMEOUTS = {
    "github": _gha(
        "##[group]Run ./scripts/e2e.sh",
        "./scripts/e2e.sh",
        "##[endgroup]",
        "Starting 4 browsers",
        "  ✓ checkout › pays by card (2.1s)",
        "  ✓ checkout › pays by invoice (1.8s)",
        "  ✓ search › finds a product (0.9s)",
        "##[error]The job running on runner GitHub Actions 12 has exceeded the maximum "
        "execution time of 30 minutes.",
        "##[error]The operation was canceled.",
    ),
    "jenkins": [
        "Started by an SCM change",
        "Building in workspace /var/lib/jenkins/workspace/shop-integration",
        "+ ./gradlew integrationTest",
        "> Task :integrationTest",
        "com.example.shop.SyncIT > syncsCatalogue PASSED",
        "com.example.shop.SyncIT > syncsStock PASSED",
        "com.example.shop.SyncIT > syncsPrices STARTED",
        "Build timed out (after 30 minutes). Marking the build as failed.",
        "Build was aborted",
        "Finished: FAILURE",
    ],
    "jenkins pipeline": [
        "[Pipeline] timeout",
        "Timeout set to expire in 30 min",
        "[Pipeline] {",
        "[Pipeline] sh",
        "+ ./gradlew integrationTest",
        "> Task :integrationTest",
        "com.example.shop.SyncIT > syncsCatalogue PASSED",
        "com.example.shop.SyncIT > syncsStock PASSED",
        "Cancelling nested steps due to timeout",
        "Sending interrupt signal to process",
        "[Pipeline] }",
        "Timeout has been exceeded",
        "[Pipeline] // timeout",
        "[Pipeline] End of Pipeline",
        "Finished: ABORTED",
    ],
}


@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
@pytest.mark.parametrize("system", sorted(JOB_TIMEOUTS))
def test_a_ci_systems_job_timeout_line_leads(system: str, model: cilog.ModelChoice) -> None:
    lines = JOB_TIMEOUTS[system]
    result = _explain_gha(lines, model=model)
    expected = next(
        text
        for text in lines
        if "exceeded the maximum" in text or "timed out" in text or "Timeout has" in text
    )
    assert result.lines[0].text == clean_line(expected)
    assert result.category == "timeout"


RUNNER_REPORTS: dict[str, set[str]] = {
    "github_actions_go_test_verbose.log": {
        "    cart_test.go:42: Total() = 7, want 8",
        "--- FAIL: TestCartTotal (0.00s)",
    },
    "github_actions_go_test_panic.log": {
        "panic: runtime error: index out of range [3] with length 3 [recovered]",
        "--- FAIL: TestLookup (0.00s)",
    },
    "github_actions_tabbed_go_test.log": {
        "    client_test.go:77: Get(/v1/items) = 429 Too Many Requests, want 200 OK after one"
        " retry",
        "--- FAIL: TestClient_Get (0.31s)",
        "    --- FAIL: TestClient_Get/retries_after_a_refusal (0.30s)",
    },
    "github_actions_pytest_verbose.log": {
        "E       assert 7 == 8",
        "FAILED tests/test_cart.py::test_total - assert 7 == 8",
    },
    "travis_pytest_xdist.log": {
        "E       assert 7 == 8",
        "[gw1] [ 50%] FAILED tests/test_cart.py::test_total ",
    },
    "github_actions_cargo_test.log": {
        "thread 'tests::total' panicked at src/lib.rs:42:9:",
        "assertion `left == right` failed",
    },
    "github_actions_maven_surefire.log": {
        "org.opentest4j.AssertionFailedError: expected: <8> but was: <7>",
        "[ERROR] com.example.shop.CartTest.totalAddsItems -- Time elapsed: 0.011 s <<< FAILURE!",
        "[ERROR]   CartTest.totalAddsItems:21 expected: <8> but was: <7>",
    },
    "github_actions_gradle_test.log": {
        "CartTest > totalAddsItems() FAILED",
        "    org.opentest4j.AssertionFailedError at CartTest.java:21",
    },
    "github_actions_rspec.log": {
        "  1) Cart#total adds the item prices",
        "     Failure/Error: expect(cart.total).to eq(8)",
    },
    "github_actions_mocha.log": {
        "      AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:",
    },
    "travis_mocha.log": {
        "       computes the total:",
        "     AssertionError [ERR_ASSERTION]: 7 == 8",
    },
    "github_actions_jest_verbose.log": {
        "  ● Cart › adds the item prices",
        "    expect(received).toBe(expected) // Object.is equality",
    },
    "github_actions_dotnet_test.log": {
        "   Assert.Equal() Failure: Values differ",
        "  Failed Shop.Tests.CartTests.TotalAddsItems [12 ms]",
    },
}
"""What a person needs first from each test runner's report: its message, or the failing
test's name; never a progress line (``=== RUN``, ``PASS``, ``ok``, ``Tests run: 5,
Failures: 0``), a heading that only opens the report, or a line that explains the message."""


@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
@pytest.mark.parametrize("name", sorted(RUNNER_REPORTS))
def test_a_test_runners_report_leads_with_its_message_or_test_name(
    name: str, model: cilog.ModelChoice
) -> None:
    """The learned ranking led pytest's with ``E  +  where total = <...>.total``, mocha's with
    ``1) Cart`` (the suite alone) and jest's with ``FAIL path``; the rules led cargo's with its
    ``---- tests::total stdout ----`` heading and the tabbed Go run with a passing subtest's
    ``--- PASS:`` line (the status line's "detail"), and pytest's with the report's
    ``path:9: AssertionError`` footer. cargo's ``to rerun pass`` hint made a flaky test of
    it, to be retried."""
    result = explain_fixture(name, model=model)
    title = result.title_line()
    assert title is not None
    assert result.lines[0].text in RUNNER_REPORTS[name]
    assert title.text in RUNNER_REPORTS[name]
    assert result.category == "test_regression"


@pytest.mark.parametrize(
    "text",
    [
        "=== RUN   TestParse_UnknownKey_ReturnsError",
        "--- PASS: TestCartAdd_NegativeQuantityError (0.00s)",
        "--- SKIP: TestDecodeError (0.00s)",
        "=== CONT  TestDecodeError",
        "  Passed Shop.Tests.OrderTests.Create_UnknownItem_ThrowsArgumentException [< 1 ms]",
        "tests/test_orders.py::TestShippingError::test_message PASSED             [ 80%]",
        "[gw0] [ 25%] PASSED tests/test_orders.py::TestShippingError::test_message",
        "tests/test_errors.py::TestParseError::test_message ",
    ],
)
def test_a_test_that_started_or_passed_is_never_a_candidate(text: str) -> None:
    """Tests are named after the error paths they check; ``=== RUN   TestDecodeError`` read
    as an error report and the rules listed it as a candidate of its own. Its words still
    count (the line model's inputs are the same); no ranking takes it as a seed (for the
    learned one, see the fixtures below)."""
    body = [
        text,
        "=== RUN   TestCartTotal",
        "    cart_test.go:42: Total() = 7, want 8",
        "--- FAIL: TestCartTotal (0.00s)",
        "FAIL",
    ]
    result = explain(_travis(body), model=None)
    assert result.lines[0].text != text
    assert text not in [line.text for line in result.other_candidates()]
    failed = text.replace("PASS", "FAIL").replace("Passed", "Failed")
    if failed != text:
        assert cilog.line_evidence(failed) > 0


PROGRESS = re.compile(
    r"^\s*(?:=== RUN|--- PASS:|Passed\s|PASSED\s)|::\S+ PASSED|^\S+::\S+ $|\] PASSED"
)
"""The progress lines of the runners in the fixtures below: a test started or passed."""


@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
@pytest.mark.parametrize(
    ("name", "report"),
    [
        (
            "github_actions_go_test_verbose.log",
            {"    cart_test.go:42: Total() = 7, want 8", "--- FAIL: TestCartTotal (0.00s)"},
        ),
        ("github_actions_pytest_verbose.log", {"E       assert 7 == 8"}),
        ("travis_pytest_xdist.log", {"E       assert 7 == 8"}),
        ("github_actions_dotnet_test.log", {"   Assert.Equal() Failure: Values differ"}),
    ],
)
def test_progress_lines_rank_below_the_failure_they_surround(
    name: str, report: set[str], model: cilog.ModelChoice
) -> None:
    """A passing test is never a candidate of its own, and in the best report the lines that
    say something about the failure rank before ``=== RUN`` and ``--- PASS`` lines."""
    result = explain_fixture(name, model=model)
    texts = [line.text for line in result.lines]
    progress = [i for i, text in enumerate(texts) if PROGRESS.search(text)]
    assert all(result.lines[i].number in result.answer for i in progress)
    assert all(texts.index(text) < min(progress, default=len(texts)) for text in report)


@pytest.mark.parametrize("model", ["builtin", None], ids=["learned", "rules"])
def test_pytests_verbose_status_line_gives_way_to_its_report(model: cilog.ModelChoice) -> None:
    """``tests/x.py::test_total FAILED [ 40%]`` names the test by its node id, its report by
    the name alone (``___ test_total ___``): the status line stayed first with the rules."""
    body = [
        line.split("Z ", 1)[1]
        for line in iter_log_lines([(FIXTURES / "github_actions_pytest_verbose.log").read_bytes()])
    ][13:45]
    assert body[0].startswith("=====")
    assert body[-1].startswith("=====")
    result = explain(_travis(body), model=model)
    assert result.lines[0].text == "E       assert 7 == 8"


def test_the_extent_model_learns_from_the_scores_own_seed() -> None:
    """The test runners' rules apply after both models: ``first_block``, which the extent
    models of ``bench/train_cilog.py`` learn from, keeps jest's ``FAIL path`` where
    ``explain`` leads with the failed test's title, so the trainer writes the same weights
    with or without these rules."""
    lines = list(iter_log_lines([(FIXTURES / "github_actions_jest_verbose.log").read_bytes()]))
    ctx = cilog.context_of(lines)
    assert ctx is not None
    found = cilog.first_block(ctx, builtin_model())
    assert found is not None
    assert ctx.by_number[found[0]].text == "FAIL src/cart.test.js"
    assert explain(lines).lines[0].text == "  ● Cart › adds the item prices"
