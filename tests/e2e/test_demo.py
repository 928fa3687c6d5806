"""`vanguard demo` as a user runs it: the whole loop, a JSON summary, nothing left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers.process import processes_mentioning

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_demo_heals_the_leak_and_reports_it(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [str(Path(sys.prefix) / "bin" / "vanguard"), "demo", "--json", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["state"] == "resolved"
    assert summary["seconds"] < 180
    kinds = [step["kind"] for step in summary["timeline"]]
    assert kinds == [
        "incident.opened",
        "state.diagnosed",
        "state.approved",
        "decision.rechecked",
        "state.applied",
        "state.verifying",
        "state.resolved",
        "notified",
    ]
    texts = "\n".join(step["text"] for step in summary["timeline"])
    assert "predicted breach" in texts
    assert "memory_leak_gradual" in texts
    assert "confidence: pass" in texts
    assert "gates checked again just before acting: approved: all" in texts
    assert "restarted 'leaky'" in texts
    assert processes_mentioning(str(workdir)) == [], "the demo must leave no process behind"

    listed = subprocess.run(
        [
            str(Path(sys.prefix) / "bin" / "vanguard"),
            "incidents",
            "show",
            summary["incident_id"],
            "-c",
            summary["config"],
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["incident"]["state"] == "resolved"
