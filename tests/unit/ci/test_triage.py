"""Triage issue rendering, CODEOWNERS and comment commands."""

from __future__ import annotations

import re

import pytest

from vanguard.ci.triage import (
    MARKER,
    Command,
    RunLink,
    TriageFacts,
    is_authorised,
    issue_label,
    owners_for,
    parse_codeowners,
    parse_command,
    render_comment,
    render_issue,
)

FACTS = TriageFacts(
    repository="o/r",
    fingerprint="3604de18fb486626",
    category="compile",
    retryable=False,
    lines=("error[E0425]: cannot find value `totl`", "  --> src/main.rs:4:20"),
    runs=(RunLink(repository="o/r", run_id=9, attempt=1, workflow="CI", head_sha="abcdef123"),),
    owners=("@octocat", "@org/team"),
    failed_step="Run cargo build",
)


def test_issue_carries_label_lines_runs_and_owners() -> None:
    draft = render_issue(FACTS, ("vanguard",))
    assert draft.title.startswith("[vanguard] CI failure: compile: error[E0425]")
    assert draft.labels == ("vanguard", issue_label(FACTS.fingerprint), "ci:compile")
    assert "error[E0425]: cannot find value 'totl'" in draft.body
    assert "https://github.com/o/r/actions/runs/9" in draft.body
    assert "at `abcdef1`" in draft.body
    assert "@octocat @org/team" in draft.body
    assert draft.assignees == ("octocat",)
    assert render_issue(FACTS, ("vanguard",)) == draft


def test_the_passing_run_compared_with_is_linked_only_when_there_was_one() -> None:
    url = "https://github.com/o/r/actions/runs/8/job/80"
    compared = render_issue(FACTS.model_copy(update={"compared_with": url}), ())
    assert f"**Compared with a passing run:** {url}" in compared.body
    assert "Compared with" not in render_issue(FACTS, ()).body


def test_outage_and_flaky_issues_say_so() -> None:
    outage = render_issue(FACTS.model_copy(update={"outage_repositories": ("a/b", "c/d")}), ())
    assert outage.title.startswith("[vanguard] CI outage")
    assert "ci:outage" in outage.labels
    assert "2 repositories" in outage.body
    flaky = render_issue(FACTS.model_copy(update={"category": "flaky_test"}), ())
    assert "ci:flaky" in flaky.labels


def test_an_outage_issue_does_not_invite_a_retry_of_every_repository() -> None:
    """One comment must not re-run an outage's repositories: its issue says what an ignore
    does there and that nothing is re-run from it."""
    outage = render_issue(FACTS.model_copy(update={"outage_repositories": ("a/b", "c/d")}), ())
    footer = outage.body.split("\n")[-2]
    assert "re-run the latest failed run" not in footer
    assert "`/vanguard ignore`" in footer
    assert "neither commented on nor reopened" in footer
    assert "Nothing is re-run from this issue" in footer


@pytest.mark.parametrize(
    ("retryable", "ignore_does"),
    [
        (True, "to stop re-running this fingerprint, commenting here and reopening"),
        (False, "to stop commenting here and reopening this issue"),
    ],
)
def test_the_commands_say_what_they_do_for_the_class(retryable: bool, ignore_does: str) -> None:
    """A deterministic failure is never re-run: its ignore stops comments and reopening."""
    footer = render_issue(FACTS.model_copy(update={"retryable": retryable}), ()).body
    footer = footer.split("\n")[-2]
    assert ignore_does in footer
    assert ("re-running" in footer) is retryable


def test_a_url_is_kept_whole_and_still_pings_nobody() -> None:
    """The mention escape put a zero-width space after the ``@`` of a URL's credentials,
    so a URL copied from the issue no longer worked."""
    url = "https://deploy:[REDACTED]@registry.acme.io/v2/"
    facts = FACTS.model_copy(
        update={
            "headline": f"fatal: unable to access '{url}': 403 (ask @octocat)",
            "heal_reason": f"see {url}, or https://status.example.org/incidents.",
        }
    )
    draft = render_issue(facts, ())
    assert f"'`{url}`'" in draft.title
    assert "@\u200boctocat" in draft.title
    assert f"`{url}`, or https://status.example.org/incidents." in draft.body
    assert "\u200bregistry" not in draft.title + draft.body
    spans = re.sub(r"`[^`\n]*`", "", draft.title)
    assert not re.search(r"@[\w-]", spans), "outside a code span, no @ could ping"


def test_other_candidates_are_listed_apart_and_the_headline_names_the_best_line() -> None:
    facts = FACTS.model_copy(
        update={
            "headline": "  --> src/main.rs:4:20",
            "candidates": ("warning: unused variable `x`",),
        }
    )
    draft = render_issue(facts, ())
    assert draft.title == "[vanguard] CI failure: compile: --> src/main.rs:4:20"
    report, others = draft.body.split("### Other candidate lines")
    assert "cannot find value" in report
    assert "unused variable 'x'" in others
    assert "cannot find value" not in others
    assert "### Other candidate lines" not in render_issue(FACTS, ()).body


def test_long_lines_are_clipped() -> None:
    draft = render_issue(FACTS.model_copy(update={"lines": ("x" * 5000,)}), ())
    assert len(draft.title) <= 256
    assert "x" * 300 not in draft.body


CODEOWNERS = """
# comment
*            @global-owner
/docs/       @docs-team
*.js         @js-owner  # inline comment
.github/     @org/ci-team
apps/        not-an-owner
"""


def test_codeowners_last_matching_rule_wins() -> None:
    rules = parse_codeowners(CODEOWNERS)
    assert ("apps/", ()) not in rules
    assert owners_for(rules, ["src/app.js"]) == ("@js-owner",)
    assert owners_for(rules, ["docs/index.md"]) == ("@docs-team",)
    assert owners_for(rules, ["README.md"]) == ("@global-owner",)
    assert owners_for(rules, [".github/workflows/ci.yml"]) == ("@org/ci-team",)
    assert owners_for(rules, []) == ("@org/ci-team",)
    assert owners_for([], ["x"]) == ()


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("/vanguard retry", Command.retry),
        ("Thanks!\n  /vanguard IGNORE  \n", Command.ignore),
        ("please /vanguard retry", None),
        ("/vanguard retry now", None),
        ("/vanguardretry", None),
        ("", None),
        (None, None),
        ("Do not type this:\n```\n/vanguard retry\n```\n", None),
        ("~~~~ text\n/vanguard ignore\n~~~~\n", None),
        ("an example:\n\n    /vanguard retry\n", None),
        ("\t/vanguard retry", None),
        ("LGTM <!--\n/vanguard retry\n-->", None),
        ("```\ncode\n```\n/vanguard retry\r\n", Command.retry),
        (f"/vanguard retry\n{MARKER}", None),
        ("```npm ci``` failed locally\n/vanguard retry\n", Command.retry),
        ("```\ncode\n~~~\n/vanguard retry\n```\n", None),
        ("the log:\n<pre>\n/vanguard retry\n</pre>\n", None),
        ("<PRE class='log'>\nok\n/vanguard retry\n</Pre>", None),
        ("<code>\n/vanguard ignore\n</code>", None),
        ("<samp>\n/vanguard retry", None),
        ("<pre>log</pre>\n/vanguard retry\n", Command.retry),
        ("<codex>\n/vanguard retry\n", Command.retry),
    ],
)
def test_commands_stand_on_their_own_line(body: str | None, command: Command | None) -> None:
    assert parse_command(body) is command


def test_authorisation_by_list_or_permission() -> None:
    assert is_authorised("Alice", allowed=["alice"], permission=None, min_permission="write")[0]
    assert is_authorised("bob", allowed=[], permission="maintain", min_permission="write")[0]
    ok, why = is_authorised("eve", allowed=[], permission="read", min_permission="write")
    assert not ok
    assert "read" in why
    assert not is_authorised("x", allowed=[], permission=None, min_permission="triage")[0]
    assert not is_authorised("x", allowed=[], permission="weird", min_permission="triage")[0]


def test_a_repeat_comment_keeps_log_text_in_its_block_and_pings_nobody() -> None:
    """A log line must not close the fence, mention a team or order Vanguard itself."""
    run = RunLink(repository="o/r", run_id=7, attempt=1, workflow="@acme/release")
    lines = ["```", "@acme/security-team see [click](https://evil.example)", "/vanguard retry"]
    comment = render_comment(run, lines, "re-run by @octocat's request")
    fence = [i for i, line in enumerate(comment.splitlines()) if line.startswith("```")]
    assert len(fence) == 2, "only the comment's own fence opens and closes a block"
    outside = [line for i, line in enumerate(comment.splitlines()) if not fence[0] <= i <= fence[1]]
    assert not any(re.search(r"@[\w-]", line) for line in outside)
    assert comment.endswith(MARKER)
    assert parse_command(comment) is None


def test_an_outage_comment_names_the_repositories_failing_now() -> None:
    """The issue's body lists the repositories of the window that opened it; a later
    window's comment is where repositories that joined since are named."""
    run = RunLink(repository="c/three", run_id=9, attempt=1, workflow="CI")
    repos = ("a/one", "b/two", "c/three", "d/four")
    comment = render_comment(run, ["ECONNRESET"], "an outage, not flakes", repos)
    assert "**Failing in 4 repositories now:** a/one, b/two, c/three, d/four" in comment
    assert comment.startswith("Failed again in c/three: CI #9 attempt 1 ")
    assert "repositories now" not in render_comment(run, ["ECONNRESET"], "flaky")
    assert comment.endswith(MARKER)


def test_only_user_logins_are_assigned_not_teams_or_emails() -> None:
    """GitHub refuses the whole issue (422) for an assignee that is not a login."""
    facts = FACTS.model_copy(update={"owners": ("@octocat", "@org/team", "dev@example.com")})
    assert render_issue(facts, ()).assignees == ("octocat",)


def test_an_outage_issue_names_the_repository_of_each_run() -> None:
    """An outage's runs come from many repositories: a run number alone says nothing."""
    runs = (
        RunLink(repository="a/one", run_id=7, attempt=1, workflow="CI"),
        RunLink(repository="b/two", run_id=7, attempt=2, workflow="CI"),
    )
    facts = FACTS.model_copy(
        update={"repository": "a/one", "runs": runs, "outage_repositories": ("a/one", "b/two")}
    )
    body = render_issue(facts, ()).body
    assert "- a/one: CI #7 attempt 1: https://github.com/a/one/actions/runs/7" in body
    assert "- b/two: CI #7 attempt 2: https://github.com/b/two/actions/runs/7" in body
    single = render_issue(FACTS, ()).body
    assert "- CI #9 attempt 1 at `abcdef1`: https://github.com/o/r/actions/runs/9" in single
