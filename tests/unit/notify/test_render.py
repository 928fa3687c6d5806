"""Rendering: every stage shows up, undo is right for each ending, secrets never leak."""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest
from pydantic import JsonValue

import vanguard.notify
from tests.unit.notify.builders import (
    S,
    decision,
    diagnosis,
    incident,
    outcome,
    result,
    verification,
)
from vanguard.model import GateVerdict, OutcomeStatus, Remedy, Severity, UndoRecord, Verdict
from vanguard.notify import render, scrub, undo_hint
from vanguard.redact import REDACTED as MASK
from vanguard.redact import redact

RESOLVED = (S.diagnosed, S.approved, S.applied, S.verifying, S.resolved)


def test_public_surface_is_pinned() -> None:
    assert sorted(vanguard.notify.__all__) == sorted(
        [
            "DELIVERY_HEADER",
            "SIGNATURE_HEADER",
            "BroadcastNotifier",
            "LogNotifier",
            "MemoryNotifier",
            "Message",
            "Notifier",
            "WebhookNotifier",
            "render",
            "scrub",
            "sign",
            "undo_hint",
            "verify_signature",
        ]
    )


def test_resolved_incident_tells_the_whole_story() -> None:
    message = render(
        incident(*RESOLVED),
        diagnosis(),
        decision(),
        result(),
        verification(),
        outcome(OutcomeStatus.resolved),
    )
    assert message.title == "[resolved] leaky memory_percent: memory_leak_gradual"
    assert message.severity is Severity.info
    assert message.incident_id == "inc-42"
    body = message.body
    for expected in (
        "memory rising towards the limit",
        "trend: current 78, +5.2/h, z 2.8σ, threshold 90, 87% breach confidence",
        "predicted breach at 2026-01-05T14:30:00+00:00",
        "pattern memory_leak_gradual, confidence 0.87",
        "  - slope > 0 for 30 min",
        'remedy: supervisor.restart {"program": "leaky"}',
        "Decision: approved: all 2 gates passed",
        "pass  confidence: confidence 0.87 >= 0.80",
        "pass  rate_limit: 0/3 actions on leaky in 24 h",
        "Action: supervisor.restart on leaky: applied",
        'before: {"pid": 100, "uptime_s": 7200}',
        "Verification: improved: median 78 → 20",
        "baseline_median=78, observed_median=20, p_value=1e-06",
        "Outcome: resolved: verified",
        "How to undo\n  a restart cannot be undone; check the service logs",
    ):
        assert expected in body, expected
    order = [body.index(h) for h in ("What happened", "Diagnosis", "Decision", "Action", "How")]
    assert order == sorted(order)
    assert message.undo == "a restart cannot be undone; check the service logs"


def test_undoable_action_points_at_the_rollback_command() -> None:
    message = render(incident(*RESOLVED), diagnosis(), decision(), result(possible=True))
    assert message.undo == "vanguard rollback inc-42"
    assert "How to undo\n  vanguard rollback inc-42" in message.body
    located = render(
        incident(*RESOLVED),
        diagnosis(),
        decision(),
        result(possible=True),
        config=Path("/etc/vanguard/vanguard.yaml"),
    )
    assert located.undo == "vanguard rollback inc-42 -c /etc/vanguard/vanguard.yaml"


def test_the_commands_name_the_config_even_when_the_worker_runs_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker started in its directory with the default ``-c vanguard.yaml``: the on-call
    pastes the command in their home directory, where ``./vanguard.yaml`` is not that file."""
    monkeypatch.chdir(tmp_path)
    beside = Path("vanguard.yaml").resolve()
    message = render(
        incident(*RESOLVED), diagnosis(), decision(), result(possible=True), config=beside
    )
    assert message.undo == f"vanguard rollback inc-42 -c {beside}"
    ask = decision(approved=False, needs_approval=True, reason="needs approval: confidence")
    asking = render(incident(S.diagnosed, S.awaiting_approval), diagnosis(), ask, config=beside)
    assert f"vanguard incidents approve {ask.incident_id} -c {beside}" in asking.body
    spaced = render(
        incident(*RESOLVED),
        diagnosis(),
        decision(),
        result(possible=True),
        config=Path("/srv/on call/vanguard.yaml"),
    )
    assert spaced.undo == "vanguard rollback inc-42 -c '/srv/on call/vanguard.yaml'"


def test_failed_gates_are_marked() -> None:
    refused = decision(
        approved=False,
        verdicts=(GateVerdict(gate="rate_limit", passed=False, reason="3 actions, limit 3"),),
        reason="declined: rate_limit (3 actions, limit 3)",
    )
    message = render(
        incident(S.diagnosed, S.declined),
        diagnosis(),
        refused,
        outcome=outcome(OutcomeStatus.declined, "declined by policy"),
    )
    assert "FAIL  rate_limit: 3 actions, limit 3" in message.body
    assert message.severity is Severity.warning
    assert message.undo is None
    assert "nothing was changed; nothing to undo" in message.body


def test_awaiting_approval_is_a_warning() -> None:
    ask = decision(approved=False, needs_approval=True, reason="needs approval: confidence")
    message = render(incident(S.diagnosed, S.awaiting_approval), diagnosis(), ask)
    assert message.title.startswith("[needs approval] ")
    assert message.severity is Severity.warning
    iid = ask.incident_id
    assert f"to answer: vanguard incidents approve {iid}" in message.body
    assert f"vanguard incidents decline {iid}" in message.body
    assert "to answer" not in render(incident(S.diagnosed), diagnosis(), decision()).body
    declined = render(
        incident(S.diagnosed, S.awaiting_approval, S.declined),
        diagnosis(),
        ask,
        outcome=outcome(OutcomeStatus.declined, "declined by carol"),
    )
    assert "to answer" not in declined.body, "an answered request is not asked again"
    located = render(
        incident(S.diagnosed, S.awaiting_approval),
        diagnosis(),
        ask,
        config=Path("/etc/vanguard/vanguard.yaml"),
    )
    assert f"approve {iid} -c /etc/vanguard/vanguard.yaml" in located.body


def test_rolled_back_incident_has_nothing_left_to_undo() -> None:
    undo = result(possible=True, idempotency_key="inc-42/rollback", message="pool size 20 → 10")
    message = render(
        incident(S.diagnosed, S.approved, S.applied, S.verifying, S.rolling_back, S.rolled_back),
        diagnosis(),
        decision(),
        result(possible=True),
        verification(Verdict.degraded),
        outcome(OutcomeStatus.rolled_back, "verification degraded"),
        rollback=undo,
    )
    assert message.undo is None
    assert "already rolled back; nothing left to undo" in message.body
    assert "Rollback: supervisor.restart on leaky: applied" in message.body
    assert message.severity is Severity.warning


@pytest.mark.parametrize(
    ("status", "severity"),
    [
        (OutcomeStatus.resolved, Severity.info),
        (OutcomeStatus.dry_run, Severity.info),
        (OutcomeStatus.declined, Severity.warning),
        (OutcomeStatus.rolled_back, Severity.warning),
        (OutcomeStatus.escalated, Severity.critical),
        (OutcomeStatus.failed, Severity.critical),
    ],
)
def test_severity_follows_the_outcome(status: OutcomeStatus, severity: Severity) -> None:
    message = render(incident(S.diagnosed), diagnosis(), outcome=outcome(status))
    assert message.severity is severity
    assert message.title.startswith(f"[{status.value.replace('_', ' ')}] ")


def test_open_incident_uses_the_alert_severity() -> None:
    message = render(incident())
    assert message.severity is Severity.warning
    assert message.title == "[open] leaky memory_percent: no known pattern"
    assert "nothing was changed" in message.body


def test_no_remedy_is_said() -> None:
    message = render(incident(S.diagnosed), diagnosis(pattern_id=None, remedy=None))
    assert "remedy: none" in message.body
    assert "pattern none" in message.body


def test_unapplied_result_has_no_undo() -> None:
    assert undo_hint("i", result(applied=False)) is None
    assert undo_hint("i", None) is None
    assert undo_hint("i", result(possible=True)) == "vanguard rollback i"


def test_redact_masks_secret_keys_recursively() -> None:
    value: JsonValue = {
        "program": "leaky",
        "password": "hunter22",
        "nested": {"API_KEY": "k-123", "list": [{"token": "t"}, "plain"]},
        "Authorization": "Bearer x",
    }
    assert redact(value) == {
        "program": "leaky",
        "password": MASK,
        "nested": {"API_KEY": MASK, "list": [{"token": MASK}, "plain"]},
        "Authorization": MASK,
    }


def test_scrub_masks_known_secrets_and_url_passwords() -> None:
    text = "dsn postgresql://app:s3cr3t@db:5432/x failed; key abcdef in use; ab stays"
    assert scrub(text, ["abcdef", "ab"]) == (
        f"dsn postgresql://app:{MASK}@db:5432/x failed; key {MASK} in use; ab stays"
    )


def test_secrets_never_appear_in_rendered_messages() -> None:
    rng = random.Random(3)
    for _ in range(30):
        secret = "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(8, 24)))
        given = "".join(rng.choices(string.ascii_letters, k=12))
        diag = diagnosis(
            remedy=Remedy(
                action="webhook.call",
                params={"url": f"https://bot:{secret}@hooks.example/x", "token": secret},
            ),
            reasons=(f"matched with token {secret}", f"operator key {given}"),
        )
        applied = result(
            before={"pool": {"password": secret}, "size": 10},
            after={"size": 20, "headers": [{"Authorization": f"Bearer {secret}"}]},
            message=f"called hook with {secret}",
            undo=UndoRecord(
                action="webhook.call",
                target="hooks",
                possible=False,
                params={"secret": secret},
                instructions=f"call https://hooks.example/undo?sig={secret} by hand",
            ),
        )
        message = render(
            incident(*RESOLVED),
            diag,
            decision(reason=f"approved using {given}"),
            applied,
            verification(),
            outcome(OutcomeStatus.resolved, f"done {secret}"),
            secrets=[given],
        )
        dumped = message.model_dump_json()
        assert secret not in dumped
        assert given not in dumped
        assert MASK in message.body
        assert message.undo is not None
        assert secret not in message.undo


def test_credentials_only_in_free_text_are_masked() -> None:
    leaks = [
        "Bearer ghp_0123456789abcdefghijABCDEFGHIJ",
        "xoxb-1234567890-abcdefghij",
        "AKIAABCDEFGHIJKLMNOP",
        "token=abcd1234efgh",
    ]
    reason = "rolled back after " + "; ".join(leaks)
    message = render(
        incident(*RESOLVED),
        diagnosis(),
        decision(),
        None,
        None,
        outcome(OutcomeStatus.escalated, reason),
    )
    dumped = message.model_dump_json()
    for needle in (
        "ghp_0123456789abcdefghij",
        "xoxb-1234567890",
        "AKIAABCDEFGHIJKLMNOP",
        "abcd1234efgh",
    ):
        assert needle not in dumped
    assert MASK in message.body
