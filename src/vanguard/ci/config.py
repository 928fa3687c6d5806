"""The ``github:`` section of vanguard.yaml (being filled in)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["GitHubConfig"]


class GitHubConfig(BaseModel):
    """How to reach GitHub and which repositories to watch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_url: str = "https://api.github.com"
    repositories: tuple[str, ...] = ()
