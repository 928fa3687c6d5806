"""``GithubkitApi`` over an httpx ``MockTransport`` answering as GitHub does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from githubkit import GitHub, TokenAuthStrategy

from vanguard.ci.budget import ApiBudget
from vanguard.ci.client import GithubkitApi

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
REPO = "octo-org/octo-repo"


def _api(handler: Callable[[httpx.Request], httpx.Response]) -> GithubkitApi:
    github: GitHub[Any] = GitHub(
        TokenAuthStrategy("ghs_test_token_value"),
        base_url="https://api.github.test",
        http_cache=False,
        auto_retry=False,
        transport=httpx.MockTransport(handler),
    )
    return GithubkitApi(
        github, budget=ApiBudget(calls_per_hour=100), log_max_bytes=4096, clock=lambda: T0
    )


def _collaborator(permission: str, role_name: str) -> Callable[[httpx.Request], httpx.Response]:
    """GitHub's answer to ``GET /repos/{owner}/{repo}/collaborators/{user}/permission``."""

    def handler(request: httpx.Request) -> httpx.Response:
        login = request.url.path.rsplit("/", 2)[-2]
        return httpx.Response(
            200,
            json={
                "permission": permission,
                "role_name": role_name,
                "user": {"login": login, "id": 1, "type": "User"},
            },
        )

    return handler


@pytest.mark.parametrize(
    ("permission", "role_name", "expected"),
    [
        ("read", "triage", "triage"),
        ("write", "maintain", "maintain"),
        ("admin", "admin", "admin"),
        ("write", "write", "write"),
        ("read", "read", "read"),
        ("write", "security-reviewer", "write"),
    ],
)
def test_permission_is_the_role_github_names_not_its_legacy_level(
    permission: str, role_name: str, expected: str
) -> None:
    """Built-in roles come from ``role_name``; a custom role falls back to ``permission``."""
    api = _api(_collaborator(permission, role_name))
    assert api.permission(REPO, "tina") == expected


def test_permission_of_an_outsider_is_unknown() -> None:
    api = _api(lambda request: httpx.Response(404, json={"message": "Not Found"}))
    assert api.permission(REPO, "nobody") is None
