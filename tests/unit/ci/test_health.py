"""CI health figures from recorded attempts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from vanguard.ci.health import (
    AttemptRecord,
    DailySuccess,
    daily_success,
    health_figures,
    success_svg,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _a(
    run: int,
    attempt: int,
    conclusion: str,
    minutes: float,
    *,
    sha: str = "s1",
    branch: str = "main",
    workflow: str = "CI",
    retryable: bool | None = None,
    rerun: bool = False,
) -> AttemptRecord:
    return AttemptRecord(
        repository="o/r",
        workflow=workflow,
        run_id=run,
        run_attempt=attempt,
        head_sha=sha,
        head_branch=branch,
        conclusion=conclusion,
        at=T0 + timedelta(minutes=minutes),
        retryable=retryable,
        rerun_by_vanguard=rerun,
    )


def test_success_rate_counts_each_runs_latest_attempt() -> None:
    (figures,) = health_figures(
        [
            _a(1, 1, "failure", 0, retryable=True, rerun=True),
            _a(1, 2, "success", 3),
            _a(2, 1, "success", 10, sha="s2"),
            _a(3, 1, "failure", 20, sha="s3", retryable=False),
            _a(4, 1, "cancelled", 30, sha="s4"),
        ]
    )
    assert figures.runs == 4
    assert figures.attempts == 5
    assert figures.success_rate == round(2 / 3, 4)


def test_a_workflow_file_github_could_not_start_is_a_failure() -> None:
    """``startup_failure`` (an invalid workflow file) turns the branch red like any failure."""
    attempts = [
        _a(1, 1, "success", 0),
        _a(2, 1, "startup_failure", 10, sha="s2"),
        _a(3, 1, "success", 25, sha="s3"),
        _a(4, 1, "startup_failure", 30, sha="s4"),
    ]
    (figures,) = health_figures(attempts)
    assert figures.success_rate == 0.5
    assert figures.recoveries == 1
    assert figures.mean_recovery_s == 15 * 60
    assert figures.red_since == T0 + timedelta(minutes=30)
    (day,) = daily_success(attempts)
    assert (day.finished, day.passed) == (4, 2)


def test_flaky_rate_is_pass_and_fail_on_one_commit() -> None:
    (figures,) = health_figures(
        [
            _a(1, 1, "failure", 0),
            _a(1, 2, "success", 1),
            _a(2, 1, "success", 2, sha="s2"),
            _a(3, 1, "failure", 3, sha="s3"),
            _a(4, 1, "success", 4, sha="s3"),
            _a(5, 1, "failure", 5, sha="s4"),
        ]
    )
    assert figures.flaky_commits == 2
    assert figures.flaky_rate == 0.5


def test_auto_heal_coverage_counts_reruns_that_passed() -> None:
    (figures,) = health_figures(
        [
            _a(1, 1, "failure", 0, retryable=True, rerun=True),
            _a(1, 2, "success", 1),
            _a(2, 1, "failure", 2, sha="s2", retryable=True, rerun=True),
            _a(2, 2, "failure", 3, sha="s2", retryable=True),
            _a(3, 1, "failure", 4, sha="s3", retryable=False),
        ]
    )
    assert figures.healable == 3
    assert figures.healed == 1
    assert figures.auto_heal_coverage == round(1 / 3, 4)


def test_time_to_recovery_on_the_default_branch_only() -> None:
    (figures,) = health_figures(
        [
            _a(1, 1, "success", 0),
            _a(2, 1, "failure", 10, sha="s2"),
            _a(3, 1, "failure", 12, sha="s3"),
            _a(4, 1, "failure", 14, sha="x", branch="feature"),
            _a(4, 2, "success", 15, sha="x", branch="feature"),
            _a(5, 1, "success", 20, sha="s5"),
            _a(6, 1, "failure", 30, sha="s6"),
            _a(6, 2, "success", 34, sha="s6"),
            _a(7, 1, "failure", 40, sha="s7"),
        ]
    )
    assert figures.recoveries == 2
    assert figures.mean_recovery_s == (600 + 240) / 2
    assert figures.median_recovery_s == 420
    assert figures.red_since == T0 + timedelta(minutes=40)


def test_time_to_recovery_follows_the_newest_commit_not_an_older_re_run() -> None:
    """Main is red from t0 until the newest commit passes at t90: one recovery of 90 min."""
    (figures,) = health_figures(
        [
            _a(1, 1, "failure", 0, sha="sha1"),
            _a(2, 1, "failure", 10, sha="sha2"),
            _a(1, 2, "success", 20, sha="sha1"),
            _a(2, 2, "failure", 30, sha="sha2"),
            _a(3, 1, "success", 90, sha="sha3"),
        ]
    )
    assert figures.recoveries == 1
    assert figures.mean_recovery_s == 90 * 60


def test_a_slow_older_run_finishing_last_does_not_repaint_the_branch() -> None:
    (figures,) = health_figures(
        [
            _a(1, 1, "success", 0, sha="sha1"),
            _a(3, 1, "failure", 10, sha="sha3"),
            _a(2, 1, "success", 15, sha="sha2"),
        ]
    )
    assert figures.recoveries == 0
    assert figures.red_since == T0 + timedelta(minutes=10)


def test_groups_by_repository_and_workflow_and_handles_empty() -> None:
    groups = health_figures([_a(1, 1, "success", 0), _a(2, 1, "failure", 1, workflow="Lint")])
    assert [(g.repository, g.workflow) for g in groups] == [("o/r", "CI"), ("o/r", "Lint")]
    assert groups[1].success_rate == 0.0
    assert groups[1].auto_heal_coverage is None
    assert health_figures([]) == []


def test_one_repository_spelled_two_ways_is_one_line_and_each_attempt_counts_once() -> None:
    """Rows from before names had one spelling: a webhook recorded ``Acme/Web`` and the
    poller ``acme/web``, sometimes the same attempt under both."""
    webhook = _a(1, 1, "failure", 0, retryable=True).model_copy(update={"repository": "Acme/Web"})
    polled = _a(1, 1, "failure", 0, rerun=True).model_copy(update={"repository": "acme/web"})
    passed = _a(1, 2, "success", 5).model_copy(update={"repository": "acme/web"})
    (figures,) = health_figures([webhook, polled, passed])
    assert (figures.repository, figures.runs, figures.attempts) == ("acme/web", 1, 2)
    assert (figures.healable, figures.healed) == (1, 1)
    (day,) = daily_success([webhook, polled])
    assert (day.repository, day.finished) == ("acme/web", 1)


def test_daily_success_counts_each_runs_latest_attempt_on_the_day_it_finished() -> None:
    late = 16 * 60 + 30
    days = daily_success(
        [
            _a(1, 1, "failure", 0),
            _a(1, 2, "success", late),
            _a(2, 1, "failure", 10),
            _a(3, 1, "cancelled", 20),
            _a(4, 1, "timed_out", 30, workflow="Lint"),
        ]
    )
    assert [(d.day.isoformat(), d.finished, d.passed) for d in days] == [
        ("2026-11-25", 2, 0),
        ("2026-11-26", 1, 1),
    ]
    assert daily_success([]) == []


def test_success_plot_marks_days_under_the_target() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    days = [
        DailySuccess(
            repository="a/b", day=(start + timedelta(days=i)).date(), finished=20, passed=p
        )
        for i, p in [(0, 20), (1, 18), (3, 20), (40, 0)]
    ]
    svg = success_svg(days, start, start + timedelta(days=9))
    ns = {"s": "http://www.w3.org/2000/svg"}
    (panel,) = ET.fromstring(svg).findall("s:g[@class='panel']", ns)
    assert len(panel.findall("s:circle", ns)) == 1
    assert "(60 runs)" in panel.attrib["data-label"]
    path = panel.find("s:path[@class='series']", ns)
    assert path is not None
    assert path.attrib["d"].count("M") == 2  # the day without runs breaks the line


def test_a_fork_pull_request_from_a_branch_named_main_is_not_the_default_branch() -> None:
    fork = _a(2, 1, "failure", 10, sha="fork1").model_copy(update={"from_fork": True})
    (figures,) = health_figures([_a(1, 1, "success", 0), fork])
    assert figures.red_since is None
    assert figures.recoveries == 0
    assert not fork.on_default_branch
