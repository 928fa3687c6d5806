"""What a failure alert carries for the triage issue: the best report, apart from the rest."""

from __future__ import annotations

from pathlib import Path

from tests.unit.ci.builders import run_alert
from vanguard.ci.alerts import LEAD_LINES, MAX_LINES
from vanguard.diagnose.cilog import ExplainedLine, Explanation, explain, iter_log_lines
from vanguard.diagnose.taxonomy import Heal

FIXTURES = Path(__file__).parents[2] / "fixtures" / "cilogs"


def test_the_alert_carries_the_report_in_log_order_and_other_candidates_apart() -> None:
    log = (FIXTURES / "github_actions_pytest.log").read_bytes()
    result = explain(iter_log_lines([log]), model=None)
    alert = run_alert(result)
    assert alert.attributes["headline"] == result.lines[0].text
    assert alert.attributes["lines"] == [line.text for line in result.answer_lines()]
    assert alert.attributes["candidates"] == [line.text for line in result.other_candidates()]
    assert alert.attributes["candidates"]
    assert not set(alert.attributes["candidates"]) & set(alert.attributes["lines"])


def _explanation(answer: range, best: int, others: tuple[int, ...] = ()) -> Explanation:
    ranked = [best, *others, *(n for n in answer if n != best)]
    return Explanation(
        lines=tuple(ExplainedLine(number=n, text=f"line {n}", score=0.5) for n in ranked),
        category="test_regression",
        fingerprint="f",
        retryable=False,
        heal=Heal.open_issue,
        confidence=0.5,
        line_count=500,
        answer=tuple(answer),
    )


def test_a_long_report_is_cut_to_a_window_that_opens_just_above_its_best_line() -> None:
    alert = run_alert(_explanation(range(100, 160), best=130, others=(7, 400)))
    lines = alert.attributes["lines"]
    assert isinstance(lines, list)
    assert lines[0] == f"line {130 - LEAD_LINES}"
    assert len(lines) == MAX_LINES
    assert alert.attributes["candidates"] == ["line 7", "line 400"]
    at_end = run_alert(_explanation(range(100, 160), best=158)).attributes["lines"]
    assert isinstance(at_end, list)
    assert at_end[-1] == "line 159"
    assert len(at_end) == MAX_LINES


def test_without_a_report_the_ranked_lines_are_carried() -> None:
    bare = _explanation(range(0), best=3, others=(9,)).model_copy(update={"answer": ()})
    alert = run_alert(bare)
    assert alert.attributes["lines"] == ["line 3", "line 9"]
    assert alert.attributes["candidates"] == []


def test_the_headline_is_the_reports_best_line_even_when_a_fallback_outranks_it() -> None:
    explanation = _explanation(range(20, 30), best=24)
    exit_line = ExplainedLine(number=99, text="exit code 1", score=0.9)
    alert = run_alert(explanation.model_copy(update={"lines": (exit_line, *explanation.lines)}))
    assert alert.attributes["headline"] == "line 24"
    assert alert.attributes["candidates"] == ["exit code 1"]
    lines = alert.attributes["lines"]
    assert isinstance(lines, list)
    assert lines[0] == "line 20"


def test_the_passing_run_compared_with_is_carried_only_for_a_compared_explanation() -> None:
    url = "https://github.com/o/r/actions/runs/4/job/40"
    compared = _explanation(range(10, 12), 10).model_copy(update={"new_lines_only": True})
    assert run_alert(compared, baseline_url=url).attributes["baseline_url"] == url
    alone = _explanation(range(10, 12), 10)
    assert "baseline_url" not in run_alert(alone, baseline_url=url).attributes


def test_secrets_a_log_printed_never_reach_the_alert() -> None:
    """The alert feeds the issue, its comments and the store; GitHub masks only its own."""
    texts = {
        1: "fetching https://deploy:S3cretPassw0rd@git.internal/repo.git",
        2: "error: using token ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 and AKIAIOSFODNN7EXAMPLE",
        3: "export DB_PASSWORD=hunter2hunter2",
    }
    explanation = Explanation(
        lines=tuple(ExplainedLine(number=n, text=t, score=0.5) for n, t in sorted(texts.items())),
        category="network_transient",
        fingerprint="f",
        retryable=True,
        heal=Heal.retry,
        confidence=0.5,
        line_count=3,
        answer=(1, 2),
        failed_step="##[group]Run curl https://admin:pa55word@x.example/a",
    )
    alert = run_alert(explanation)
    shown = repr(alert.attributes)
    for secret in ("S3cretPassw0rd", "ghp_AbCd", "AKIAIOSFODNN7", "hunter2", "pa55word"):
        assert secret not in shown, secret
    assert "[REDACTED]" in str(alert.attributes["headline"])
    assert not str(alert.attributes["failed_step"]).startswith("##[group]")


def test_credentials_a_job_echoed_are_masked_in_the_alert_even_in_long_lines() -> None:
    """``set -x`` echoes ``Authorization: token …`` into the failed step; a line longer than
    the 500 characters listed lost the ``@`` of its URL to the cut, so its password showed."""
    oauth = "0123456789abcdef0123456789abcdef01234567"
    password = "Sup3rS3cretPassw0rdValue"
    jenkins = [
        "[Pipeline] sh",
        f"+ curl -fsSL -H 'Authorization: token {oauth}' https://api.github.com/repos/o/r",
        "curl: (22) The requested URL returned error: 401",
        "script returned exit code 22",
        "Finished: FAILURE",
    ]
    long_line = [
        "$ ./release.sh",
        "error: publish failed with token npm_abcdefghijklmnopqrstuvwxyz0123456789",
        f"error: push failed ({'x' * 440}) remote https://deploy:{password}@git.example.com/a.git",
        'The command "./release.sh" exited with 1.',
    ]
    for log in (jenkins, long_line):
        alert = run_alert(explain(log))
        shown = repr(alert.attributes)
        for secret in (oauth, password[:8], "npm_abcdefghij"):
            assert secret not in shown, secret


def test_the_headline_is_never_a_row_of_a_source_excerpt() -> None:
    """The headline titles the triage issue: a caret row (``|   ^``) there says nothing."""
    explanation = _explanation(range(10, 30), best=26)
    caret = ExplainedLine(number=26, text="         |                          ^", score=0.95)
    title = ExplainedLine(number=16, text="  ● Cart › applies the member discount", score=0.9)
    others = [line for line in explanation.lines if line.number not in {16, 26}]
    alert = run_alert(explanation.model_copy(update={"lines": (caret, title, *others)}))
    assert alert.attributes["headline"] == "  ● Cart › applies the member discount"
    lines = alert.attributes["lines"]
    assert isinstance(lines, list)
    assert "         |                          ^" in lines
