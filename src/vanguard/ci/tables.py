"""The CI agent's own tables: webhook deliveries, finished run attempts, triage issues, the
poller's ETags and the GitHub API budget.

Mapped on the store's declarative base so one Alembic history (revisions 0002 and 0010)
creates them beside the incident tables; nothing in ``vanguard.store`` depends on them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, false, true
from sqlalchemy.orm import Mapped, mapped_column

from vanguard.store.tables import Base

__all__ = [
    "CiAttemptRow",
    "CiPollEtagRow",
    "CiTriageRow",
    "GitHubBudgetRow",
    "GitHubDeliveryRow",
]


class GitHubDeliveryRow(Base):
    """One webhook delivery by its ``X-GitHub-Delivery`` id: the dedupe key, with its fate."""

    __tablename__ = "github_deliveries"

    delivery_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    event: Mapped[str] = mapped_column(String(60))
    action: Mapped[str | None] = mapped_column(String(60))
    repository: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(2000))
    incident_id: Mapped[str | None] = mapped_column(String(200))


class CiAttemptRow(Base):
    """One finished attempt of a workflow run and what Vanguard made of it."""

    __tablename__ = "ci_attempts"
    __table_args__ = (Index("ix_ci_attempts_fingerprint_finished", "fingerprint", "finished_at"),)

    repository: Mapped[str] = mapped_column(String(200), primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    run_attempt: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    workflow: Mapped[str] = mapped_column(String(200))
    head_sha: Mapped[str] = mapped_column(String(64))
    head_branch: Mapped[str | None] = mapped_column(String(250))
    default_branch: Mapped[str] = mapped_column(String(250))
    conclusion: Mapped[str] = mapped_column(String(40))
    finished_at: Mapped[datetime]
    category: Mapped[str | None] = mapped_column(String(60))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    retryable: Mapped[bool | None] = mapped_column(Boolean)
    rerun_by_vanguard: Mapped[bool] = mapped_column(Boolean, default=False)
    incident_id: Mapped[str | None] = mapped_column(String(200))
    handled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    from_fork: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CiTriageRow(Base):
    """The one issue of a failure fingerprint in a repository, and whether it is ignored."""

    __tablename__ = "ci_triage"

    repository: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    issue_number: Mapped[int | None] = mapped_column(Integer)
    ignored: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]
    body: Mapped[dict[str, Any]]


class CiPollEtagRow(Base):
    """The ETag of a repository's last listing the poller handled to the end."""

    __tablename__ = "ci_poll_etags"

    repository: Mapped[str] = mapped_column(String(200), primary_key=True)
    etag: Mapped[str] = mapped_column(String(200))
    saved_at: Mapped[datetime]


class GitHubBudgetRow(Base):
    """The GitHub API budget every process of one store spends, per API (``api_url``,
    without any ``user:password@``: no credential is ever stored).

    Besides what calls and answers change, the strictest hourly cap and reserve the
    processes used, each with when one last did, so every process keeps to them.
    """

    __tablename__ = "github_api_budget"

    api_url: Mapped[str] = mapped_column(String(300), primary_key=True)
    calls_per_hour: Mapped[int] = mapped_column(Integer)
    calls_per_hour_seen_at: Mapped[datetime]
    reserve: Mapped[int] = mapped_column(Integer)
    reserve_seen_at: Mapped[datetime]
    window_start: Mapped[datetime | None]
    used: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int | None] = mapped_column(Integer)
    reset_at: Mapped[datetime | None]
    blocked_until: Mapped[datetime | None]
    blocked_reason: Mapped[str] = mapped_column(String(300))
    updated_at: Mapped[datetime]
