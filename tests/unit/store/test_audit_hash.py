"""Canonical JSON and the chain hash: deterministic, and sensitive to every field."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import JsonValue

from vanguard.store.audit import canonical_json, entry_hash
from vanguard.store.tables import GENESIS_HASH

T0 = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
BASE: dict[str, Any] = {
    "seq": 1,
    "incident_id": "inc",
    "kind": "decided",
    "payload": {"b": [1, 2.5], "a": "é"},
    "at": T0,
}


def test_canonical_json_sorts_keys_and_drops_spaces() -> None:
    assert canonical_json({"b": 1, "a": {"d": [1.5, None], "c": "é"}}) == (
        '{"a":{"c":"é","d":[1.5,null]},"b":1}'
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_canonical_json_refuses_non_finite_numbers(bad: float) -> None:
    with pytest.raises(ValueError, match="JSON"):
        canonical_json({"x": bad})


def test_hash_is_sha256_of_prev_hash_and_canonical_body() -> None:
    body = canonical_json(
        {
            "seq": 1,
            "incident_id": "inc",
            "kind": "decided",
            "payload": {"a": "é", "b": [1, 2.5]},
            "at": "2026-01-02T03:04:05.000006+00:00",
        }
    )
    expected = hashlib.sha256((GENESIS_HASH + body).encode()).hexdigest()
    assert entry_hash(GENESIS_HASH, **BASE) == expected


def test_the_same_instant_in_another_zone_hashes_the_same() -> None:
    shifted = T0.astimezone(timezone(timedelta(hours=-5)))
    assert entry_hash(GENESIS_HASH, **{**BASE, "at": shifted}) == entry_hash(GENESIS_HASH, **BASE)


def test_key_order_of_the_payload_does_not_matter() -> None:
    reordered: dict[str, JsonValue] = {"a": "é", "b": [1, 2.5]}
    assert entry_hash(GENESIS_HASH, **{**BASE, "payload": reordered}) == entry_hash(
        GENESIS_HASH, **BASE
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", 2),
        ("incident_id", None),
        ("incident_id", "inc2"),
        ("kind", "applied"),
        ("payload", {"b": [1, 2.5], "a": "e"}),
        ("payload", {"b": [2.5, 1], "a": "é"}),
        ("at", T0 + timedelta(microseconds=1)),
    ],
)
def test_every_field_changes_the_hash(field: str, value: object) -> None:
    assert entry_hash(GENESIS_HASH, **{**BASE, field: value}) != entry_hash(GENESIS_HASH, **BASE)


def test_the_previous_hash_changes_the_hash() -> None:
    assert entry_hash("1" * 64, **BASE) != entry_hash(GENESIS_HASH, **BASE)
