"""The package's public surface is pinned, and importing it pulls in no I/O layer."""

from __future__ import annotations

import subprocess
import sys

import vanguard.ci


def test_all_is_pinned() -> None:
    assert vanguard.ci.__all__ == sorted(vanguard.ci.__all__, key=str)
    assert set(vanguard.ci.__all__) == {
        "ApiBudget",
        "AttemptRecord",
        "BudgetCheck",
        "Command",
        "DailySuccess",
        "Delivery",
        "FailureClass",
        "FailureSighting",
        "GitHubConfig",
        "HealKind",
        "HealPlan",
        "HealingConfig",
        "HealthFigures",
        "IssueDraft",
        "PollConfig",
        "Rejected",
        "StormVerdict",
        "TriageConfig",
        "TriageFacts",
        "daily_success",
        "detect_storm",
        "health_figures",
        "is_authorised",
        "owners_for",
        "parse_codeowners",
        "parse_command",
        "parse_delivery",
        "plan_heal",
        "render_issue",
        "sign",
        "verify_signature",
    }
    for name in vanguard.ci.__all__:
        assert getattr(vanguard.ci, name) is not None


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    for module in (
        "vanguard.ci",
        "vanguard.ci.records",
        "vanguard.ci.intake",
        "vanguard.ci.poller",
        "vanguard.act.github",
        "vanguard.api.github",
        "vanguard.store",
    ):
        done = subprocess.run(
            [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, (module, done.stderr[-500:])
    light = subprocess.run(
        [sys.executable, "-c", "import sys, vanguard.ci; print('githubkit' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert light.stdout.strip() == "False"
