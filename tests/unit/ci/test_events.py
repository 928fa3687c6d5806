"""Webhook signatures and delivery parsing: never raise, always say why."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from vanguard.ci.events import (
    Delivery,
    Rejected,
    WorkflowRun,
    parse_delivery,
    sign,
    verify_signature,
)

PAYLOADS = Path(__file__).parents[2] / "fixtures" / "github" / "payloads"


def test_signature_matches_githubs_algorithm() -> None:
    body = b'{"zen": "hi"}'
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign(b"s3cret", body) == expected
    assert verify_signature(b"s3cret", body, expected)


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha1=" + "0" * 40, "sha256=" + "0" * 64, "sha256=zz"],
)
def test_bad_signatures_fail(header: str | None) -> None:
    assert not verify_signature(b"s3cret", b"{}", header)


def test_signature_of_other_body_or_secret_fails() -> None:
    good = sign(b"s3cret", b"{}")
    assert not verify_signature(b"s3cret", b"{ }", good)
    assert not verify_signature(b"other", b"{}", good)


def test_every_fixture_payload_parses() -> None:
    for path in sorted(PAYLOADS.glob("*.json")):
        event = path.name.split(".")[0]
        parsed = parse_delivery("d", event, path.read_bytes())
        assert isinstance(parsed, Delivery), (path.name, parsed)
        assert parsed.handled is (event != "ping")


def test_failed_run_fixture_is_a_completed_failure() -> None:
    parsed = parse_delivery(
        "d", "workflow_run", (PAYLOADS / "workflow_run.completed.failure.json").read_bytes()
    )
    assert isinstance(parsed, Delivery)
    assert parsed.workflow_run is not None
    assert parsed.workflow_run.failed
    assert parsed.repository is not None
    assert parsed.repository.full_name == "octo-org/octo-repo"


def test_a_run_without_a_name_takes_its_workflows() -> None:
    """GitHub's example run has ``name: ""``; its ``workflow`` object is named ``test``."""
    parsed = parse_delivery(
        "d", "workflow_run", (PAYLOADS / "workflow_run.completed.failure.json").read_bytes()
    )
    assert isinstance(parsed, Delivery)
    assert parsed.workflow_run is not None
    assert parsed.workflow_run.workflow == "test"


@pytest.mark.parametrize(
    ("name", "path", "shown"),
    [
        ("CI", ".github/workflows/ci.yml", "CI"),
        ("", ".github/workflows/test.yml", "test.yml"),
        (" ", ".github/workflows/test.yml", "test.yml"),
        (None, "octo-org/.github/.github/workflows/required.yml@refs/heads/main", "required.yml"),
        ("", None, "workflow-2823525"),
    ],
)
def test_a_runs_workflow_falls_back_to_its_file_then_its_id(
    name: str | None, path: str | None, shown: str
) -> None:
    run = WorkflowRun(id=1, name=name, path=path, workflow_id=2823525, head_sha="a")
    assert run.workflow == shown


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not JSON"),
        (b"\x80\x81", "not JSON"),
        (b"null", "not an object"),
        (b'"text"', "not an object"),
        (b"{}", "missing repository, workflow_run"),
        (b'{"repository": {"full_name": "no-slash"}, "workflow_run": {}}', "malformed"),
    ],
)
def test_unusable_bodies_are_rejected_with_a_reason(body: bytes, reason: str) -> None:
    parsed = parse_delivery("d", "workflow_run", body)
    assert isinstance(parsed, Rejected)
    assert reason in parsed.reason


def test_unknown_event_is_not_handled_but_not_rejected() -> None:
    parsed = parse_delivery("d", "star", json.dumps({"action": "created"}).encode())
    assert isinstance(parsed, Delivery)
    assert not parsed.handled
    assert parsed.action == "created"
    assert "star" in parsed.reason


def test_oversized_body_is_rejected_without_parsing() -> None:
    parsed = parse_delivery("d", "workflow_run", b" " * (25 * 1024 * 1024 + 1))
    assert isinstance(parsed, Rejected)
    assert "too large" in parsed.reason
