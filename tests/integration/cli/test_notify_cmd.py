"""``vanguard notify test`` against a loopback webhook receiver and a closed port."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.servers.webhook import WebhookReceiver
from vanguard.cli import app
from vanguard.netutil import free_port
from vanguard.notify import SIGNATURE_HEADER, verify_signature

pytestmark = pytest.mark.integration


def test_each_channel_gets_the_test_message_and_a_dead_one_fails_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGUARD_TEST_NOTIFY_SECRET", "notify-test-secret-value")
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("VANGUARD_TEST_CHAT_URL", receiver.url("/chat/T0K3N"))
        config = tmp_path / "vanguard.yaml"
        config.write_text(
            "notify:\n"
            "  - {kind: log}\n"
            f"  - {{kind: webhook, url: '{receiver.url('/hook')}', "
            "secret_env: VANGUARD_TEST_NOTIFY_SECRET}\n"
            "  - {kind: webhook, url_env: VANGUARD_TEST_CHAT_URL, format: chat}\n"
        )
        good = CliRunner().invoke(app, ["notify", "test", "-c", str(config)])
        dead = tmp_path / "dead.yaml"
        dead.write_text(
            f"notify:\n  - {{kind: webhook, url: 'http://127.0.0.1:{free_port()}/hook'}}\n"
            f"  - {{kind: webhook, url: '{receiver.url('/unsigned')}', "
            "secret_env: VANGUARD_TEST_UNSET_SECRET}\n"
            f"  - {{kind: webhook, url: '{receiver.url('/after')}'}}\n"
        )
        monkeypatch.delenv("VANGUARD_TEST_UNSET_SECRET", raising=False)
        bad = CliRunner().invoke(app, ["notify", "test", "-c", str(dead)])
        received = list(receiver.received)
    assert good.exit_code == 0, good.output
    assert good.output.splitlines() == [
        "1. log: written to Vanguard's own log",
        "2. webhook (vanguard): sent",
        "3. webhook (chat): sent",
    ]
    hook, chat, after = received
    assert hook.path == "/hook"
    assert hook.body["title"] == "[test] Vanguard can reach this channel"
    assert verify_signature(
        hook.raw, "notify-test-secret-value", hook.headers.get(SIGNATURE_HEADER)
    )
    assert chat.path == "/chat/T0K3N"
    assert "Vanguard can reach this channel" in chat.body["text"]
    assert bad.exit_code == 1
    lines = bad.output.splitlines()
    assert lines[0].startswith("1. webhook (vanguard): failed: webhook http://127.0.0.1:")
    assert "/hook" not in lines[0], "only scheme, host and port are named"
    assert lines[1].startswith("2. webhook (vanguard): failed: ")
    assert "VANGUARD_TEST_UNSET_SECRET" in bad.output
    assert lines[-1] == "3. webhook (vanguard): sent", "one bad channel does not stop the rest"
    assert after.path == "/after"
