"""The ``github:`` section of vanguard.yaml: auth, watched repositories, healing bounds.

Secrets never sit in the file: the token, the App's private key and the webhook secret are
named by ``*_env`` (an environment variable) or ``*_file`` (a path) and read through
``vanguard.config.resolve_secret`` at the point of use. Every safety setting is bounded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from vanguard.fields import Section
from vanguard.yamlsource import EnvName

__all__ = [
    "GitHubAppAuth",
    "GitHubConfig",
    "HealingConfig",
    "PollConfig",
    "TriageConfig",
    "canonical_repository",
    "split_repository",
]

REPO = r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$"
LOGIN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$"


class GitHubAppAuth(Section):
    """A GitHub App installation: the App id, its private key (PEM) and the installation."""

    app_id: int = Field(ge=1)
    installation_id: int = Field(ge=1)
    private_key_env: EnvName | None = None
    private_key_file: Path | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> GitHubAppAuth:
        if (self.private_key_env is None) == (self.private_key_file is None):
            raise ValueError("give exactly one of 'private_key_env' or 'private_key_file'")
        return self


class HealingConfig(Section):
    """How far re-runs may go: attempts per run, backoff, and when many repos fail at once."""

    max_attempts: int = Field(default=2, ge=0, le=5)
    backoff_s: float = Field(default=30.0, ge=0.0, le=3600.0)
    backoff_factor: float = Field(default=2.0, ge=1.0, le=10.0)
    max_wait_s: float = Field(default=240.0, ge=0.0, le=270.0)
    storm_repositories: int = Field(default=3, ge=2, le=1000)
    storm_window_s: float = Field(default=900.0, ge=10.0, le=86400.0)
    outage_repository: Annotated[str, Field(pattern=REPO)] | None = None
    """Where an outage's issue is filed (``org/ci-status``); without it, in the first of
    the failing repositories by name."""


class TriageConfig(Section):
    """Triage issues: their labels, and who may steer Vanguard with comment commands."""

    labels: tuple[str, ...] = ("vanguard", "ci-failure")
    authorised_users: tuple[Annotated[str, Field(pattern=LOGIN)], ...] = ()
    min_permission: str = Field(default="write", pattern=r"^(admin|maintain|write|triage)$")
    codeowners_paths: tuple[str, ...] = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


class PollConfig(Section):
    """The poller fallback: how often it lists; and the GitHub API budget, spent by every
    process of one store: calls per hour, the last ``reserve`` kept for re-runs and issues."""

    interval_s: float = Field(default=60.0, ge=5.0, le=3600.0)
    calls_per_hour: int = Field(default=1000, ge=10, le=15000)
    reserve: int = Field(default=100, ge=0, le=5000)
    per_page: int = Field(default=30, ge=1, le=100)


class GitHubConfig(Section):
    """How to reach GitHub and which repositories to watch.

    ``line_model: none`` ranks failed logs by the rules alone, without the shipped line
    model (whose weights were learned from the LogChunks research data set).
    ``baseline: last_success`` explains a failed job against the log of the same job in the
    workflow's last successful run on the same branch (or the default branch): lines both
    printed sink, so what is new comes first. It costs up to three API calls per failed run
    (a look-up on the run's branch, one on the default branch, the passing run's jobs) and
    one log per failed job, each read after the failed job's own log and skipped when the
    budget runs low; ``none`` turns it off.
    """

    api_url: str = Field(default="https://api.github.com", pattern=r"^https?://[^\s]+$")
    repositories: tuple[Annotated[str, Field(pattern=REPO)], ...] = ()
    token_env: EnvName | None = None
    token_file: Path | None = None
    app: GitHubAppAuth | None = None
    webhook_secret_env: EnvName | None = None
    webhook_secret_file: Path | None = None
    default_branch: str = "main"
    log_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024, le=4 * 1024 * 1024 * 1024)
    log_tail_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    line_model: Literal["builtin", "none"] = "builtin"
    baseline: Literal["last_success", "none"] = "last_success"
    timeout_s: float = Field(default=30.0, gt=0.0, le=300.0)
    healing: HealingConfig = Field(default_factory=HealingConfig)
    triage: TriageConfig = Field(default_factory=TriageConfig)
    poll: PollConfig = Field(default_factory=PollConfig)

    @field_validator("api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("repositories")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        lowered = [v.lower() for v in value]
        dupes = sorted({v for v in lowered if lowered.count(v) > 1})
        if dupes:
            raise ValueError(f"repositories listed twice: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _one_auth(self) -> GitHubConfig:
        given = [
            name
            for name, value in (
                ("token_env", self.token_env),
                ("token_file", self.token_file),
                ("app", self.app),
            )
            if value is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give one way to authenticate, not {' and '.join(given)}")
        return self

    def poll_budget_warning(self) -> str | None:
        """What to say when listing the repositories alone could take more than half of
        Vanguard's own hourly budget, else ``None``.

        An unchanged listing (304) costs nothing, but while runs keep changing every
        listing is paid for, and the logs, re-runs and issues that follow a failure share
        what is left.
        """
        count = len(self.repositories)
        listings = count * 3600 / self.poll.interval_s
        if listings <= self.poll.calls_per_hour / 2:
            return None
        return (
            f"poll: {count} repositories every {self.poll.interval_s:g} s is up to "
            f"{listings:.0f} listings an hour, more than half of poll.calls_per_hour "
            f"({self.poll.calls_per_hour}); a failure's logs, re-runs and issues may find "
            "the budget spent: raise poll.interval_s or poll.calls_per_hour"
        )

    def watches(self, repository: str) -> bool:
        """Whether ``repository`` is watched (all are when none is listed)."""
        if not self.repositories:
            return True
        return canonical_repository(repository) in {
            canonical_repository(r) for r in self.repositories
        }


def canonical_repository(full_name: str) -> str:
    """The one spelling of a repository's name the CI agent keys everything by: lower case.

    GitHub reads ``Acme/Web`` and ``acme/web`` as one repository; a webhook carries
    GitHub's spelling and the poller the configuration's, so both are folded to this
    before anything is recorded, compared or counted.
    """
    return full_name.lower()


def split_repository(full_name: str) -> tuple[str, str]:
    """``owner/repo`` → ``(owner, repo)``; anything else is a ``ValueError``."""
    if not re.fullmatch(REPO, full_name):
        raise ValueError(f"not an owner/repo name: {full_name!r}")
    owner, repo = full_name.split("/", 1)
    return owner, repo
