"""The github: section: one auth, bounded healing, no inline secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vanguard.ci.config import GitHubConfig, HealingConfig, split_repository


def test_defaults_are_safe_and_watch_everything() -> None:
    config = GitHubConfig()
    assert config.watches("any/repo")
    assert config.healing.max_attempts <= 5


@pytest.mark.parametrize("key", ["token", "webhook_secret", "api_key", "client_secret"])
def test_inline_secrets_are_refused(key: str) -> None:
    """By the rule of every other section of vanguard.yaml (it kept a list of its own)."""
    with pytest.raises(ValidationError, match=f"use '{key}_env'"):
        GitHubConfig.model_validate({key: "ghp_abc"})


def test_one_way_to_authenticate() -> None:
    with pytest.raises(ValidationError, match="one way to authenticate"):
        GitHubConfig(token_env="A", app={"app_id": 1, "installation_id": 2, "private_key_env": "K"})


def test_app_needs_exactly_one_key_source() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        GitHubConfig.model_validate({"app": {"app_id": 1, "installation_id": 2}})


def test_healing_bounds() -> None:
    with pytest.raises(ValidationError):
        HealingConfig(max_attempts=100)
    with pytest.raises(ValidationError):
        HealingConfig(storm_repositories=1)


def test_repositories_are_validated_and_unique() -> None:
    with pytest.raises(ValidationError):
        GitHubConfig(repositories=("not a repo",))
    with pytest.raises(ValidationError, match="twice"):
        GitHubConfig(repositories=("o/r", "O/R"))
    config = GitHubConfig(repositories=("Octo/Repo",))
    assert config.watches("octo/repo")
    assert not config.watches("octo/other")


def test_split_repository() -> None:
    assert split_repository("o/r") == ("o", "r")
    with pytest.raises(ValueError, match="owner/repo"):
        split_repository("o/r/x")


def test_line_model_is_builtin_unless_turned_off() -> None:
    assert GitHubConfig().line_model == "builtin"
    assert GitHubConfig(line_model="none").line_model == "none"
    with pytest.raises(ValidationError, match="line_model"):
        GitHubConfig.model_validate({"line_model": "mine"})
