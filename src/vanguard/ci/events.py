"""GitHub webhook deliveries as typed values, and their HMAC-SHA256 signature check.

``parse_delivery`` never raises: a body that is not JSON, not an object, or lacks what its
event needs comes back as a ``Rejected`` value with the reason, so the receiver can record it
and answer instead of crashing. Payloads are read leniently (unknown fields ignored): GitHub
adds fields over time, and real deliveries fail the strict published schemas.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from vanguard.errors import describe_validation_error

__all__ = [
    "EVENTS",
    "CheckRun",
    "Comment",
    "Delivery",
    "IssueRef",
    "Rejected",
    "Repository",
    "WorkflowJob",
    "WorkflowRun",
    "parse_delivery",
    "sign",
    "verify_signature",
]

EVENTS = frozenset({"workflow_run", "workflow_job", "check_run", "issues", "issue_comment"})
"""The events the CI agent acts on; ``ping`` is acknowledged, anything else ignored."""
MAX_BODY_BYTES = 25 * 1024 * 1024
"""GitHub caps webhook payloads at 25 MB."""


Id = Annotated[int, Field(ge=0, le=2**63 - 1)]
"""An id GitHub gives: stored as a 64-bit integer, so a larger one is malformed input."""
Count = Annotated[int, Field(ge=1, le=2**31 - 1)]


class _Lenient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Repository(_Lenient):
    full_name: str = Field(pattern=r"^[^/\s]+/[^/\s]+$")
    default_branch: str = "main"


class User(_Lenient):
    login: str
    type: str | None = None
    """``User``, ``Bot`` or ``Organization``, as GitHub says."""


class WorkflowRun(_Lenient):
    id: Id
    name: str | None = None
    workflow_id: Id | None = None
    head_sha: str
    head_branch: str | None = None
    event: str | None = None
    status: str | None = None
    conclusion: str | None = None
    run_attempt: Count = 1
    run_number: Id | None = None
    html_url: str | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    head_repository: Repository | None = None
    path: str | None = None
    """The workflow file (``.github/workflows/ci.yml``)."""

    def built_from(self, repository: str) -> bool:
        """Whether the run built ``repository``'s own code, not a fork's pull request.

        Without ``head_repository`` (older payloads) only runs not triggered by a pull
        request are taken for the repository's own.
        """
        if self.head_repository is not None:
            return self.head_repository.full_name.lower() == repository.lower()
        return not (self.event or "").startswith("pull_request")

    @property
    def failed(self) -> bool:
        """Failed, timed out, or never started because its workflow file is invalid."""
        return self.status == "completed" and self.conclusion in {
            "failure",
            "timed_out",
            "startup_failure",
        }

    @property
    def never_started(self) -> bool:
        """GitHub could not start the run (an invalid workflow file): no job, no log."""
        return self.status == "completed" and self.conclusion == "startup_failure"

    @property
    def succeeded(self) -> bool:
        return self.status == "completed" and self.conclusion == "success"

    @property
    def workflow(self) -> str:
        """The workflow's name: GitHub's, else its file's (``test.yml``), else its id.

        A delivery whose run has no name gets its ``workflow`` object's (``parse_delivery``),
        a listed one the workflow's own (``GithubkitApi.list_runs``), so both paths group a
        workflow's runs under one name. A called workflow's path ends ``@ref``; it is left out.
        """
        if self.name and self.name.strip():
            return self.name
        if self.path and (file := PurePosixPath(self.path.split("@", 1)[0]).name):
            return file
        return f"workflow-{self.workflow_id}" if self.workflow_id else "workflow"


class WorkflowJob(_Lenient):
    id: Id
    run_id: Id
    name: str | None = None
    head_sha: str | None = None
    head_branch: str | None = None
    status: str | None = None
    conclusion: str | None = None
    run_attempt: Count | None = None
    html_url: str | None = None
    workflow_name: str | None = None
    completed_at: AwareDatetime | None = None

    @property
    def failed(self) -> bool:
        return self.status == "completed" and self.conclusion in {"failure", "timed_out"}

    @property
    def succeeded(self) -> bool:
        return self.status == "completed" and self.conclusion == "success"


class CheckRun(_Lenient):
    id: Id
    name: str | None = None
    head_sha: str
    status: str | None = None
    conclusion: str | None = None
    html_url: str | None = None


class IssueLabel(_Lenient):
    name: str


class IssueRef(_Lenient):
    number: Count
    title: str = ""
    state: str | None = None
    labels: tuple[IssueLabel, ...] = ()
    pull_request: dict[str, object] | None = None

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)


class Comment(_Lenient):
    id: Id
    body: str | None = None
    user: User
    author_association: str | None = None
    created_at: AwareDatetime | None = None


class Delivery(BaseModel):
    """One accepted delivery: what happened, where, and the object it is about."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delivery_id: str
    event: str
    action: str | None = None
    repository: Repository | None = None
    sender: str | None = None
    workflow_run: WorkflowRun | None = None
    workflow_job: WorkflowJob | None = None
    check_run: CheckRun | None = None
    issue: IssueRef | None = None
    comment: Comment | None = None
    handled: bool = True
    reason: str = ""


class Rejected(BaseModel):
    """A delivery that cannot be used, and why (recorded, never raised)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delivery_id: str
    event: str
    status: Literal["rejected"] = "rejected"
    reason: str


class _Workflow(_Lenient):
    name: str | None = None


class _Envelope(_Lenient):
    action: str | None = None
    repository: Repository | None = None
    sender: User | None = None
    workflow: _Workflow | None = None
    workflow_run: WorkflowRun | None = None
    workflow_job: WorkflowJob | None = None
    check_run: CheckRun | None = None
    issue: IssueRef | None = None
    comment: Comment | None = None


_REQUIRED: dict[str, tuple[str, ...]] = {
    "workflow_run": ("repository", "workflow_run"),
    "workflow_job": ("repository", "workflow_job"),
    "check_run": ("repository", "check_run"),
    "issues": ("repository", "issue"),
    "issue_comment": ("repository", "issue", "comment"),
}


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the HMAC-SHA256 of ``body`` under ``secret`` (constant time)."""
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def parse_delivery(delivery_id: str, event: str, body: bytes) -> Delivery | Rejected:
    """Read one delivery; unknown events are ``handled=False``, broken ones ``Rejected``."""
    if len(body) > MAX_BODY_BYTES:
        return Rejected(
            delivery_id=delivery_id, event=event, reason=f"body of {len(body)} bytes is too large"
        )
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = f"body is not JSON: {str(exc)[:200]}"
        return Rejected(delivery_id=delivery_id, event=event, reason=reason)
    if not isinstance(data, dict):
        return Rejected(
            delivery_id=delivery_id,
            event=event,
            reason=f"body is a JSON {type(data).__name__}, not an object",
        )
    if event == "ping":
        return Delivery(delivery_id=delivery_id, event=event, handled=False, reason="ping")
    if event not in EVENTS:
        return Delivery(
            delivery_id=delivery_id,
            event=event,
            action=data.get("action") if isinstance(data.get("action"), str) else None,
            handled=False,
            reason=f"event {event!r} is not one the CI agent handles",
        )
    try:
        envelope = _Envelope.model_validate(data)
    except ValidationError as exc:
        problems = describe_validation_error(exc, limit=5)
        reason = f"malformed {event}: {problems}"
        return Rejected(delivery_id=delivery_id, event=event, reason=reason)
    missing = [name for name in _REQUIRED[event] if getattr(envelope, name) is None]
    if missing:
        return Rejected(
            delivery_id=delivery_id,
            event=event,
            reason=f"malformed {event}: missing {', '.join(missing)}",
        )
    run = envelope.workflow_run
    if run is not None and not (run.name or "").strip() and envelope.workflow is not None:
        run = run.model_copy(update={"name": envelope.workflow.name})
    return Delivery(
        delivery_id=delivery_id,
        event=event,
        action=envelope.action,
        repository=envelope.repository,
        sender=envelope.sender.login if envelope.sender else None,
        workflow_run=run,
        workflow_job=envelope.workflow_job,
        check_run=envelope.check_run,
        issue=envelope.issue,
        comment=envelope.comment,
    )
