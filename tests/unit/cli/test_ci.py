"""``vanguard ci explain`` and ``vanguard bench logchunks`` through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.unit.evaluation.test_logchunks import make_dataset
from vanguard.cli import app, ci
from vanguard.diagnose.cilog import explain, iter_log_lines, read_chunks
from vanguard.diagnose.linemodel import LineModel, builtin_model
from vanguard.errors import InputError
from vanguard.evaluation.logchunks import load_labels

FIXTURES = Path(__file__).parents[2] / "fixtures" / "cilogs"
runner = CliRunner()


def test_explain_json_contract() -> None:
    result = runner.invoke(
        app, ["ci", "explain", str(FIXTURES / "github_actions_pytest.log"), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert {"lines", "category", "fingerprint", "retryable", "heal"} <= payload.keys()
    first = payload["lines"][0]
    assert set(first) == {"number", "text", "score"}
    assert first["number"] in {19, 20, 21, 23}
    texts = {line["number"]: line["text"] for line in payload["lines"]}
    assert "assert 7 == 8" in texts[20]
    scores = [line["score"] for line in payload["lines"]]
    assert scores == sorted(scores, reverse=True)
    assert payload["category"] == "test_regression"
    assert payload["retryable"] is False


def test_explain_with_baseline_and_limit() -> None:
    result = runner.invoke(
        app,
        [
            "ci",
            "explain",
            str(FIXTURES / "github_actions_pytest.log"),
            "--baseline",
            str(FIXTURES / "github_actions_pytest_passing.log"),
            "--json",
            "--limit",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert len(payload["lines"]) == 2
    assert payload["new_lines_only"] is True
    assert set(payload["answer"]) <= {line["number"] for line in payload["lines"]}


def test_explain_rules_alone_keeps_the_rules_block_and_category() -> None:
    log = str(FIXTURES / "gitlab_git_fetch.log")
    learned = runner.invoke(app, ["ci", "explain", log, "--json"])
    rules = runner.invoke(app, ["ci", "explain", log, "--json", "--rules"])
    assert learned.exit_code == rules.exit_code == 0, rules.output
    by_rules, by_model = json.loads(rules.output), json.loads(learned.output)
    assert by_rules["category"] == by_model["category"]
    assert by_rules["lines"][0]["number"] == by_model["lines"][0]["number"]
    assert len(by_rules["lines"]) < len(by_model["lines"])


def test_explain_renders_readably_without_json() -> None:
    result = runner.invoke(
        app, ["ci", "explain", str(FIXTURES / "gitlab_git_fetch.log")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "retryable" in result.output
    assert "Could not resolve host" in result.output


SECRETS = (
    "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "hunter2pass",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "abcdef0123456789abcdef0123456789",
    "topsecret1",
)
LEAKY_LOG = FIXTURES / "github_actions_leaked_credentials.log"


def test_explain_masks_credentials_and_keeps_the_agents_fingerprint() -> None:
    text = runner.invoke(app, ["ci", "explain", str(LEAKY_LOG)], env={"COLUMNS": "300"})
    as_json = runner.invoke(app, ["ci", "explain", str(LEAKY_LOG), "--json"])
    assert text.exit_code == as_json.exit_code == 0, text.output
    payload = json.loads(as_json.output)
    assert sum("[REDACTED]" in line["text"] for line in payload["lines"]) >= 4
    assert payload["failed_step"].endswith("Run git clone https://x-access-token:[REDACTED]")
    for output in (text.output, as_json.output):
        assert not [secret for secret in SECRETS if secret in output]
    with LEAKY_LOG.open("rb") as stream:
        agent = explain(iter_log_lines(read_chunks(stream)), model="builtin")
    assert payload["fingerprint"] == agent.fingerprint


def test_explain_missing_file_is_an_input_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ci", "explain", str(tmp_path / "absent.log")])
    assert isinstance(result.exception, InputError)


def test_explain_of_an_empty_log_is_an_input_error(tmp_path: Path) -> None:
    """It printed an 'unknown' failure to open an issue for, from nothing at all."""
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    result = runner.invoke(app, ["ci", "explain", str(empty)])
    assert isinstance(result.exception, InputError)
    assert "empty log" in str(result.exception)


def test_bench_logchunks_prints_figures(tmp_path: Path) -> None:
    data = make_dataset(tmp_path)
    result = runner.invoke(
        app,
        ["bench", "logchunks", "--data", str(data), "--cache", str(tmp_path / "c"), "--no-check"],
    )
    assert result.exit_code == 0, result.output
    for name in ("precision", "recall", "F1", "hit@1", "hit@5", "s/log"):
        assert name in result.output


def test_bench_logchunks_can_change_the_ranking_settings(tmp_path: Path) -> None:
    data = make_dataset(tmp_path)
    cache = str(tmp_path / "c")
    args = ["bench", "logchunks", "--data", str(data), "--cache", cache, "--no-check"]
    result = runner.invoke(
        app, [*args, "--folds", "0", "--merge-gap", "-1", "--extra-ratio", "0.5"]
    )
    assert result.exit_code == 0, result.output
    assert "F1" in result.output
    record = load_labels(data)[0]
    never = ci._ranking_with("builtin", {"merge_gap": None, "extra_ratio": 0.5})(record)
    assert isinstance(never, LineModel)
    assert (never.merge_gap, never.extra_ratio) == (None, 0.5)
    assert builtin_model().merge_gap is not None
    assert builtin_model().extra_ratio == 0.3
    assert ci._ranking_with(None, {"merge_gap": 3})(record) is None
    refused = runner.invoke(app, [*args, "--folds", "0", "--extra-ratio", "1.5"])
    assert refused.exit_code != 0


def test_explain_names_the_best_report_apart_from_other_candidates() -> None:
    log = str(FIXTURES / "gitlab_git_fetch.log")
    payload = json.loads(runner.invoke(app, ["ci", "explain", log, "--json"]).output)
    assert payload["answer"] == sorted(payload["answer"])
    assert payload["lines"][0]["number"] in payload["answer"]
    pytest_log = str(FIXTURES / "github_actions_pytest.log")
    text = runner.invoke(app, ["ci", "explain", pytest_log, "--rules"]).output
    assert "best report: lines 16–24 (9 lines); other candidates: 15" in text


def test_a_limited_report_says_how_many_of_its_lines_are_listed() -> None:
    log = str(FIXTURES / "github_actions_pytest.log")
    whole = json.loads(runner.invoke(app, ["ci", "explain", log, "--rules", "--json"]).output)
    cut = json.loads(
        runner.invoke(app, ["ci", "explain", log, "--rules", "--json", "--limit", "3"]).output
    )
    first, last = whole["answer"][0], whole["answer"][-1]
    assert len(cut["answer"]) < len(whole["answer"])
    text = runner.invoke(app, ["ci", "explain", log, "--rules", "--limit", "3"]).output
    expected = f"({len(whole['answer'])} lines, {len(cut['answer'])} listed)"
    assert f"best report: lines {first}–{last} {expected}" in text


def test_stdin_is_not_both_the_failed_log_and_its_baseline() -> None:
    result = runner.invoke(app, ["ci", "explain", "-", "--baseline", "-"], input="error: x\n")
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError)
    assert "standard input can be read once" in str(result.exception)


def test_explain_of_a_log_of_blank_lines_and_timestamps_is_an_input_error(tmp_path: Path) -> None:
    """Like an empty file, it printed an 'unknown' failure keyed by a constant fingerprint."""
    log = tmp_path / "ts.log"
    log.write_text("2024-01-01T00:00:00.0000000Z \n\n2024-01-01T00:00:01.0000000Z\n##[endgroup]\n")
    result = runner.invoke(app, ["ci", "explain", str(log), "--json"])
    assert isinstance(result.exception, InputError)
    assert "no line to explain" in str(result.exception)


def test_explain_of_a_log_that_fails_to_read_halfway_is_an_input_error() -> None:
    """Reading ``/proc/self/mem`` from its start fails with EIO once the file is open: the
    same clean 'cannot read log' as a file that cannot be opened, not a traceback."""
    result = runner.invoke(app, ["ci", "explain", "/proc/self/mem"])
    assert isinstance(result.exception, InputError)
    assert "/proc/self/mem: cannot read log: " in str(result.exception)
