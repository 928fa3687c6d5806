"""The poller's ETags and the GitHub API budget as ``CiRepo`` keeps them in a SQLite store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from vanguard.ci.budget import ApiBudget
from vanguard.ci.records import LIMITS_KEPT, CiRepo, budget_key
from vanguard.ci.tables import GitHubBudgetRow
from vanguard.errors import AdapterError
from vanguard.store import Store

NOW = datetime(2026, 12, 11, 9, 0, tzinfo=UTC)
API = "https://api.github.com"
LIMITS = ApiBudget(calls_per_hour=100, reserve=10)


def _etag(store: Store, repository: str) -> str | None:
    with store.session() as session:
        return CiRepo(session).poll_etag(repository)


def _save_etag(store: Store, repository: str, etag: str | None) -> None:
    with store.session() as session:
        CiRepo(session).save_poll_etag(repository, etag, at=NOW)


def test_an_etag_is_kept_per_repository_in_any_spelling_and_forgotten(store: Store) -> None:
    _save_etag(store, "Acme/Web", 'W/"one"')
    _save_etag(store, "acme/api", 'W/"two"')
    assert _etag(store, "acme/web") == _etag(store, "ACME/WEB") == 'W/"one"'
    _save_etag(store, "acme/web", 'W/"three"')
    assert _etag(store, "Acme/Web") == 'W/"three"'
    _save_etag(store, "acme/web", None)
    assert _etag(store, "acme/web") is None
    assert _etag(store, "acme/api") == 'W/"two"', "other repositories keep theirs"
    _save_etag(store, "acme/web", None)


def test_an_etag_too_long_to_keep_forgets_the_one_before(store: Store) -> None:
    """Listing with an older ETag than the page handled would be paid for, never wrong; but
    one that cannot be kept must not leave the older one in place either."""
    _save_etag(store, "acme/web", 'W/"one"')
    _save_etag(store, "acme/web", "W/" + "x" * 300)
    assert _etag(store, "acme/web") is None


def _change(store: Store, change: Callable[[ApiBudget], ApiBudget]) -> ApiBudget:
    with store.session() as session:
        return CiRepo(session).change_budget(API, LIMITS, change, at=NOW)


def test_the_budget_is_kept_under_the_strictest_cap_and_reserve(store: Store) -> None:
    with store.session() as session:
        assert CiRepo(session).budget(API, LIMITS, at=NOW) == LIMITS, "nothing kept yet"
    _change(store, lambda b: b.spend(NOW).spend(NOW))
    blocked = _change(store, lambda b: b.observe(NOW, 429, {"Retry-After": "120"}))
    assert blocked.used == 2
    other = ApiBudget(calls_per_hour=50, reserve=0)
    with store.session() as session:
        kept = CiRepo(session).budget(API, other, at=NOW)
        elsewhere = CiRepo(session).budget("https://github.example.com/api/v3", other, at=NOW)
    assert (kept.calls_per_hour, kept.reserve, kept.used) == (50, 10, 2), (
        "the smaller cap of the caller, the larger reserve kept"
    )
    assert kept.window_start == NOW
    assert kept.blocked_until == NOW + timedelta(seconds=120)
    assert kept.blocked_reason == "Retry-After 120 s (HTTP 429)"
    assert elsewhere == other, "each GitHub API has its own budget"


def test_settings_no_process_used_for_a_day_no_longer_hold(store: Store) -> None:
    """A cap lowered for a while, or a process retired, must not hold the others for ever."""
    _change(store, lambda b: b.spend(NOW))
    looser = ApiBudget(calls_per_hour=1000, reserve=0)
    with store.session() as session:
        repo = CiRepo(session)
        within = repo.budget(API, looser, at=NOW + LIMITS_KEPT - timedelta(seconds=1))
        after = repo.budget(API, looser, at=NOW + LIMITS_KEPT)
    assert (within.calls_per_hour, within.reserve) == (100, 10)
    assert (after.calls_per_hour, after.reserve) == (1000, 0)


def test_a_change_that_raises_keeps_nothing(store: Store) -> None:
    _change(store, lambda b: b.spend(NOW))

    def refuse(budget: ApiBudget) -> ApiBudget:
        raise AdapterError("GitHub API budget: spent")

    with pytest.raises(AdapterError):
        _change(store, refuse)
    with store.session() as session:
        assert CiRepo(session).budget(API, LIMITS, at=NOW).used == 1


def test_no_credential_is_kept_with_the_budget(store: Store) -> None:
    """Only counts, times, settings and GitHub's reason are written: the columns say so."""
    _change(store, lambda b: b.spend(NOW))
    with store.session() as session:
        row = session.scalars(select(GitHubBudgetRow)).one()
    assert set(GitHubBudgetRow.__table__.columns.keys()) == {
        "api_url",
        "calls_per_hour",
        "calls_per_hour_seen_at",
        "reserve",
        "reserve_seen_at",
        "window_start",
        "used",
        "remaining",
        "reset_at",
        "blocked_until",
        "blocked_reason",
        "updated_at",
    }
    assert (row.api_url, row.used, row.updated_at) == (API, 1, NOW)


@pytest.mark.parametrize(
    ("api_url", "key"),
    [
        ("https://proxyuser:s3cr3t@ghe.example.com/api/v3", "https://ghe.example.com/api/v3"),
        ("HTTP://token@127.0.0.1:8443", "HTTP://127.0.0.1:8443"),
        ("https://a:b@c@ghe.example.com", "https://ghe.example.com"),
        ("https://ghe.example.com/api/v3/user@host", "https://ghe.example.com/api/v3/user@host"),
        ("https://api.github.com", "https://api.github.com"),
    ],
)
def test_the_budget_key_has_no_userinfo(api_url: str, key: str) -> None:
    assert budget_key(api_url) == key
