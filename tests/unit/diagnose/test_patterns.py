"""Pattern files: ``verify`` takes one series or a list of them, errors name file, line, key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vanguard.diagnose.patterns import PatternVerify, builtin_patterns_dir, load_patterns
from vanguard.errors import ConfigError

HEAD = """\
id: pool_queue
description: the queue grows
service_types: [svc]
metric: queue
signature:
  - {field: trend.slope_per_hour, op: gt, value: 0}
remedy: {action: svc.widen}
rollback_safe: true
prior_confidence: 0.9
"""


def _load(tmp_path: Path, verify: str) -> list[PatternVerify]:
    (tmp_path / "pool_queue.yaml").write_text(HEAD + verify, encoding="utf-8")
    (pattern,) = load_patterns([tmp_path], include_builtin=False)
    return list(pattern.verify)


def test_one_series_as_a_mapping(tmp_path: Path) -> None:
    assert _load(tmp_path, "verify: {metric: queue, better: lower}\n") == [
        PatternVerify(metric="queue", better="lower")
    ]


def test_several_series_as_a_list_in_order(tmp_path: Path) -> None:
    verify = (
        "verify:\n"
        "  - {metric: queue}\n"
        "  - {metric: wait_seconds, labels: {database: app}}\n"
        "  - {metric: requests_ok, better: higher}\n"
    )
    assert _load(tmp_path, verify) == [
        PatternVerify(metric="queue"),
        PatternVerify(metric="wait_seconds", labels={"database": "app"}),
        PatternVerify(metric="requests_ok", better="higher"),
    ]


def test_no_verify_means_the_alerting_series(tmp_path: Path) -> None:
    assert _load(tmp_path, "") == [PatternVerify()]


def test_a_bad_series_names_its_line_and_key(tmp_path: Path) -> None:
    verify = "verify:\n  - {metric: queue}\n  - {metric: wait_seconds, better: sideways}\n"
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, verify)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'pool_queue.yaml'}:12: verify[1].better:")
    assert "sideways" in message


def test_an_empty_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"verify"):
        _load(tmp_path, "verify: []\n")


PATTERN_FILE = "pool_queue.yaml"


@pytest.mark.parametrize(
    ("verify", "line", "key"),
    [
        ("verify:\n  metric: queue\n  better: sideways\n", 12, "verify.better"),
        ("verify:\n  - metric: queue\n    better: sideways\n", 12, "verify[0].better"),
        ("verify: {metric: queue, labels: {pool: [a]}}\n", 10, "verify.labels.pool"),
        ("verify:\n  - {metric: queue}\n  - {metrik: queue}\n", 12, "verify[1].metrik"),
        ("verify:\n  metrik: queue\n", 11, "verify.metrik"),
    ],
    ids=["mapping", "list", "mapping-nested", "list-second", "mapping-unknown-key"],
)
def test_a_bad_series_names_the_key_as_the_file_spells_it(
    tmp_path: Path, verify: str, line: int, key: str
) -> None:
    """A single mapping has no index in the file, so its errors must not name one."""
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, verify)
    assert str(info.value).startswith(f"{tmp_path / PATTERN_FILE}:{line}: {key}: ")


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        ('{field: trend.current, op: gt, value: "0"}', "gt needs a number"),
        ("{field: trend.current, op: lte, value: true}", "lte needs a number"),
        ("{field: trend.current, op: between, value: [1]}", "between needs [low, high]"),
        ("{field: trend.current, op: between, value: [5, 1]}", "low <= high"),
        ("{field: severity, op: in, value: page}", "in needs a list"),
        ('{field: source, op: matches, value: "(["}', "is not a regular expression"),
        ("{field: source, op: matches, value: 3}", "needs a regular expression"),
        ("{field: labels.pool, op: gt, value: 5}", "labels are text"),
    ],
)
def test_a_condition_that_could_never_hold_is_refused_at_load(
    tmp_path: Path, condition: str, says: str
) -> None:
    """Found at load time instead of as a pattern that silently never matches (or crashes)."""
    text = HEAD.replace("{field: trend.slope_per_hour, op: gt, value: 0}", condition)
    (tmp_path / PATTERN_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_patterns([tmp_path], include_builtin=False)
    message = str(info.value)
    assert f"{PATTERN_FILE}:6: signature[0]:" in message
    assert says in message
    assert "the key holds a secret" not in message


def test_a_pattern_file_ending_in_yml_is_loaded_and_two_of_one_id_are_refused(
    tmp_path: Path,
) -> None:
    """A ``.yml`` pattern was ignored in silence, broken or not."""
    (tmp_path / "pool_queue.yml").write_text(HEAD, encoding="utf-8")
    (pattern,) = load_patterns([tmp_path], include_builtin=False)
    assert pattern.id == "pool_queue"
    (tmp_path / "pool_queue.yaml").write_text(HEAD, encoding="utf-8")
    with pytest.raises(ConfigError, match="two files define pattern 'pool_queue'"):
        load_patterns([tmp_path], include_builtin=False)


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "says"),
    [
        ("prior_confidence: 0.9", "prior_confidence: yes", 9, "prior_confidence", "a number"),
        ("rollback_safe: true", "rollback_safe: 1", 8, "rollback_safe", "true or false"),
        ("prior_confidence: 0.9", "prior_confidence: 0.9\nversion: on", 10, "version", "a number"),
        (
            "prior_confidence: 0.9",
            "prior_confidence: 0.9\nautomation_eligible: 0",
            10,
            "automation_eligible",
            "true or false",
        ),
    ],
)
def test_a_boolean_is_not_a_number_nor_a_number_a_boolean(
    tmp_path: Path, old: str, new: str, line: int, key: str, says: str
) -> None:
    """As in vanguard.yaml: ``prior_confidence: yes`` made a pattern certain of itself."""
    (tmp_path / PATTERN_FILE).write_text(HEAD.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_patterns([tmp_path], include_builtin=False)
    assert str(info.value).startswith(f"{tmp_path / PATTERN_FILE}:{line}: {key}: ")
    assert says in str(info.value)


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        ("{field: labels.retryable, op: eq, value: true}", 'labels are text: quote it ("true")'),
        ("{field: labels.code, op: eq, value: 503}", 'labels are text: quote it ("503")'),
        ("{field: labels.pool, op: ne, value: 7}", 'labels are text: quote it ("7")'),
        (
            "{field: labels.code, op: in, value: [502, 503]}",
            'labels are text: quote each item (["502", "503"])',
        ),
        ("{field: severity, op: gte, value: 1}", "severity is text: gte never holds on it"),
        ("{field: source, op: lt, value: 3}", "source is text: lt never holds on it"),
        ("{field: severity, op: eq, value: urgent}", "severity is one of info, warning, critical"),
        ("{field: severity, op: in, value: [critical, 2]}", "severity is one of"),
        ("{field: trend.slope_per_hour, op: gt, value: .nan}", "gt needs finite numbers"),
        ("{field: trend.current, op: between, value: [0, .inf]}", "between needs finite"),
        ("{field: trend.slope_per_hour, op: eq, value: rising}", "is a number: eq needs a number"),
        ("{field: confidence, op: in, value: [0.5, high]}", "is a number: in needs numbers"),
        ("{field: labels.env, op: in, value: []}", "in needs a list of one value or more"),
    ],
)
def test_a_condition_that_could_never_hold_or_always_holds_is_refused(
    tmp_path: Path, condition: str, says: str
) -> None:
    """Labels, ``severity`` and ``source`` are text, the other fields numbers: a value of
    the other kind never equals them (with ``ne``, always differs: an exclusion of nothing)."""
    text = HEAD.replace("{field: trend.slope_per_hour, op: gt, value: 0}", condition)
    (tmp_path / PATTERN_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_patterns([tmp_path], include_builtin=False)
    assert str(info.value).startswith(f"{tmp_path / PATTERN_FILE}:6: signature[0]: ")
    assert says in str(info.value)


@pytest.mark.parametrize(
    "condition",
    [
        '{field: labels.code, op: in, value: ["502", "503"]}',
        '{field: labels.pool, op: ne, value: "7"}',
        "{field: severity, op: in, value: [warning, critical]}",
        "{field: source, op: matches, value: '^detector'}",
        "{field: trend.current, op: in, value: [1, 2.5]}",
        "{field: trend.current, op: ne, value: 0}",
    ],
)
def test_a_condition_of_the_fields_kind_loads(tmp_path: Path, condition: str) -> None:
    text = HEAD.replace("{field: trend.slope_per_hour, op: gt, value: 0}", condition)
    (tmp_path / PATTERN_FILE).write_text(text, encoding="utf-8")
    (pattern,) = load_patterns([tmp_path], include_builtin=False)
    assert len(pattern.signature) == 1


def test_hidden_files_are_not_patterns(tmp_path: Path) -> None:
    """An editor's lock file (a dangling link, while someone edits the pattern) stopped the
    whole library from loading; a tool's hidden copy failed on its id."""
    (tmp_path / PATTERN_FILE).write_text(HEAD, encoding="utf-8")
    os.symlink("alice@host.4242:1700000000", tmp_path / f".#{PATTERN_FILE}")
    (tmp_path / f".{PATTERN_FILE}").write_text(HEAD, encoding="utf-8")
    assert [p.id for p in load_patterns([tmp_path], include_builtin=False)] == ["pool_queue"]


@pytest.mark.parametrize("name", ["pool_queue.YAML", "pool_queue.Yml"])
def test_the_extension_is_matched_in_any_case(tmp_path: Path, name: str) -> None:
    """``pool_queue.YAML`` was skipped without a word."""
    (tmp_path / name).write_text(HEAD, encoding="utf-8")
    assert [p.id for p in load_patterns([tmp_path], include_builtin=False)] == ["pool_queue"]
    (tmp_path / PATTERN_FILE).write_text(HEAD, encoding="utf-8")
    with pytest.raises(ConfigError, match="two files define pattern 'pool_queue'"):
        load_patterns([tmp_path], include_builtin=False)


def test_a_pattern_that_replaces_another_of_its_id_says_so(tmp_path: Path) -> None:
    """A team's copy of a built-in pattern replaced it in silence."""
    leak = (builtin_patterns_dir() / "memory_leak_gradual.yaml").read_text(encoding="utf-8")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "memory_leak_gradual.yaml").write_text(leak, encoding="utf-8")
    (first / PATTERN_FILE).write_text(HEAD, encoding="utf-8")
    (second / PATTERN_FILE).write_text(HEAD, encoding="utf-8")
    loaded = {p.id: p for p in load_patterns([first, second])}
    assert loaded["memory_leak_gradual"].overrides == (
        f"{first / 'memory_leak_gradual.yaml'} overrides the built-in memory_leak_gradual"
    )
    assert loaded["pool_queue"].overrides == (
        f"{second / PATTERN_FILE} overrides {first / PATTERN_FILE}"
    )
    assert loaded["ci_rerun"].overrides is None
