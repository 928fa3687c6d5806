"""The failure taxonomy: the shipped file is complete and sound; bad files fail precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from vanguard.diagnose.taxonomy import (
    Heal,
    builtin_taxonomy,
    load_taxonomy,
    parse_taxonomy,
)
from vanguard.errors import ConfigError

REQUIRED = {
    "compile",
    "test_regression",
    "flaky_test",
    "lint_format",
    "security_gate",
    "dependency_resolution",
    "network_transient",
    "git_transient",
    "rate_limit",
    "runner_lost",
    "resource_exhausted",
    "timeout",
    "service_outage",
    "workflow_config",
    "auth_permission",
    "cancelled",
    "unknown",
}

VALID = """\
version: 1
fallback: unknown
categories:
  - id: network_transient
    title: Network
    retryable: true
    heal: retry
    max_attempts: 2
    backoff_seconds: 30
    indications:
      - pattern: 'Could not resolve host'
        weight: 3
  - id: unknown
    title: Unknown
    retryable: false
    heal: open_issue
"""


def test_builtin_taxonomy_has_every_required_category() -> None:
    taxonomy = builtin_taxonomy()
    assert set(taxonomy.ids) >= REQUIRED
    assert taxonomy.fallback == "unknown"


def test_builtin_heals_agree_with_retryable() -> None:
    for category in builtin_taxonomy().categories:
        assert (category.heal is Heal.retry) == category.retryable, category.id
        if category.retryable:
            assert 1 <= category.max_attempts <= 5
            assert category.backoff_seconds > 0
        if category.id != "unknown":
            assert category.indications, category.id


def test_deterministic_failures_are_never_retried() -> None:
    taxonomy = builtin_taxonomy()
    for name in ("compile", "test_regression", "lint_format", "security_gate"):
        assert taxonomy.get(name).retryable is False
    for name in ("network_transient", "git_transient", "rate_limit", "runner_lost"):
        assert taxonomy.get(name).retryable is True
    assert taxonomy.get("flaky_test").report is True


def test_unknown_id_gives_the_fallback() -> None:
    assert builtin_taxonomy().get("no_such_kind").id == "unknown"


def test_valid_yaml_parses() -> None:
    taxonomy = parse_taxonomy(VALID, "t.yaml")
    assert taxonomy.ids == ("network_transient", "unknown")
    assert (
        taxonomy.get("network_transient")
        .indications[0]
        .compiled()
        .search("curl: could not resolve host: x")
    )


@pytest.mark.parametrize(
    ("edit", "line", "key", "message"),
    [
        (("heal: retry", "heal: reboot"), 7, "categories[0].heal", "reboot"),
        (("'Could not resolve host'", "'Could not (resolve'"), 11, "pattern", "regular expression"),
        (("max_attempts: 2", "max_attempts: 1000"), 8, "categories[0].max_attempts", "1000"),
        (("retryable: true", "retryable: false"), 4, "categories[0]", "retryable"),
        (("fallback: unknown", "fallback: nothing"), 1, "<root>", "fallback"),
        (("id: unknown", "id: network_transient"), 1, "<root>", "duplicate"),
    ],
)
def test_invalid_yaml_names_file_line_and_key(
    edit: tuple[str, str], line: int, key: str, message: str
) -> None:
    text = VALID.replace(*edit, 1)
    with pytest.raises(ConfigError) as caught:
        parse_taxonomy(text, "bad.yaml")
    error = caught.value
    assert error.file == "bad.yaml"
    assert error.line == line
    assert key in error.key
    assert message in str(error)


def test_broken_yaml_reports_its_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_taxonomy("version: 1\ncategories: [\n", "broken.yaml")
    assert caught.value.line is not None
    assert "broken.yaml" in str(caught.value)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read taxonomy"):
        load_taxonomy(tmp_path / "absent.yaml")


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(VALID, encoding="utf-8")
    assert load_taxonomy(path).fallback == "unknown"


@pytest.mark.parametrize(
    ("edit", "line", "key", "message"),
    [
        (("retryable: true", "retryable: 1"), 6, "categories[0].retryable", "true or false"),
        (("max_attempts: 2", "max_attempts: yes"), 8, "categories[0].max_attempts", "a number"),
        (("weight: 3", "weight: on"), 12, "indications[0].weight", "a number"),
        (("version: 1", "version: true"), 1, "version", "a number"),
    ],
)
def test_a_boolean_is_not_a_number_nor_a_number_a_boolean(
    edit: tuple[str, str], line: int, key: str, message: str
) -> None:
    """As in vanguard.yaml: ``max_attempts: yes`` was one attempt, ``retryable: 1`` true."""
    with pytest.raises(ConfigError) as caught:
        parse_taxonomy(VALID.replace(*edit, 1), "bad.yaml")
    assert caught.value.line == line
    assert caught.value.key.endswith(key)
    assert message in str(caught.value)


def test_a_duplicate_key_is_refused_not_merged() -> None:
    """PyYAML keeps the last of two ``indications:``; the first list was lost in silence."""
    text = VALID.replace(
        "    indications:\n", "    indications:\n      - pattern: 'ECONNRESET'\n    indications:\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_taxonomy(text, "mine.yaml")
    assert str(caught.value) == (
        "mine.yaml:12: categories[0].indications: "
        "duplicate key (the first value would be silently lost)"
    )


def test_aliases_that_expand_without_bound_are_refused_briefly() -> None:
    """A few lines of aliases expand to millions of values; the error stays one line."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    text = "\n".join(levels) + "\nversion: 1\nfallback: unknown\ncategories: *a6\n"
    with pytest.raises(ConfigError, match="more than 100,000 values") as caught:
        parse_taxonomy(text, "laughs.yaml")
    assert len(str(caught.value)) < 200
