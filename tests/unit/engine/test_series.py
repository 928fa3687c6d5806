"""The alert's own series among those read: one, or none, or several (never a guess)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from vanguard.engine.series import Unmatched, own_series

POOLS = {"a": {"pool": "a"}, "b": {"pool": "b"}}


def test_the_series_with_the_alerts_exact_labels_is_its_own() -> None:
    assert own_series({"pool": "a"}, POOLS) == "a"


def test_routing_labels_on_the_alert_do_not_hide_its_series() -> None:
    """Alertmanager alerts carry their rule's labels (``team``), which no series has."""
    assert own_series({"pool": "b", "team": "db", "env": "prod"}, POOLS) == "b"


def test_labels_the_source_adds_do_not_hide_the_series() -> None:
    candidates = {"one": {"pool": "a", "instance": "db1"}, "two": {"pool": "b", "instance": "db1"}}
    assert own_series({"pool": "a"}, candidates) == "one"


@pytest.mark.parametrize(
    ("alert", "candidates"),
    [
        (
            {"database": "app"},
            {"rw": {"database": "app", "user": "rw"}, "ro": {"database": "app", "user": "ro"}},
        ),
        ({"team": "db"}, POOLS),
        ({}, POOLS),
        ({"pool": "a"}, {"exact": {"pool": "a"}, "more": {"pool": "a", "user": "rw"}}),
    ],
    ids=["labels-tell-no-series-apart", "only-routing-labels", "no-labels", "exact-and-wider"],
)
def test_several_agreeing_series_are_ambiguous(
    alert: Mapping[str, str], candidates: Mapping[str, Mapping[str, str]]
) -> None:
    assert own_series(alert, candidates) is Unmatched.several


@pytest.mark.parametrize(
    ("alert", "candidates"),
    [
        ({"pool": "c", "team": "db"}, POOLS),
        ({"pool": "a"}, {}),
        ({"pool": "b"}, {"all": {}, "a": {"pool": "a"}}),
    ],
    ids=["another-pool", "nothing-read", "one-lacks-the-label-telling-them-apart"],
)
def test_no_agreeing_series_is_none(
    alert: Mapping[str, str], candidates: Mapping[str, Mapping[str, str]]
) -> None:
    assert own_series(alert, candidates) is Unmatched.none


def test_the_only_series_read_is_the_alerts_when_it_names_none_of_its_labels() -> None:
    assert own_series({"team": "db"}, {"queue": {}}) == "queue"


def test_any_key_names_the_candidates() -> None:
    assert own_series({"pool": "b"}, {n: {"pool": p} for n, p in enumerate("ab")}) == 1


def test_another_series_with_a_routing_label_does_not_hide_the_alerts_own() -> None:
    candidates = {"a": {"pool": "a", "instance": "1"}, "b": {"pool": "b", "team": "x"}}
    assert own_series({"pool": "a", "team": "x"}, candidates) == "a"
    assert own_series({"pool": "a", "team": "x"}, {"a": {"pool": "a"}, "y": {"team": "y"}}) == "a"


def test_the_series_naming_the_pool_wins_over_an_unlabelled_total() -> None:
    assert own_series({"pool": "a", "team": "x"}, {"total": {}, "a": {"pool": "a"}}) == "a"
