"""The Prometheus rules docs/operations.md recommends load in Prometheus's own checker."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.servers.process import require_binary
from vanguard.config import load_settings
from vanguard.decide import PolicyConfig

pytestmark = pytest.mark.integration

GUIDE = Path(__file__).parents[3] / "docs" / "operations.md"


def test_the_recommended_alerting_rules_are_valid(tmp_path: Path) -> None:
    promtool = require_binary("promtool", Path("/usr/bin/promtool"))
    found = re.search(r"```yaml\n(groups:.*?)```", GUIDE.read_text(), re.DOTALL)
    assert found is not None, "the guide lost its rules block"
    rules = tmp_path / "vanguard-rules.yml"
    rules.write_text(found.group(1))
    done = subprocess.run(
        [str(promtool), "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout
    for metric in re.findall(r"\bvanguard_[a-z_]+", found.group(1)):
        assert f"`{metric}" in GUIDE.read_text(), f"{metric} is used but not documented"


def test_the_policy_reference_loads_and_names_every_setting(tmp_path: Path) -> None:
    """The guide's policy block is a working configuration, and a setting added to the
    schema without a line in the reference fails here."""
    found = re.search(r"```yaml\n(policy:.*?)```", GUIDE.read_text(), re.DOTALL)
    assert found is not None, "the guide lost its policy reference"
    path = tmp_path / "vanguard.yaml"
    path.write_text(found.group(1))
    policy = load_settings(path).policy
    assert policy == PolicyConfig(maintenance_windows=policy.maintenance_windows), (
        "the reference shows the defaults"
    )
    assert len(policy.maintenance_windows) == 2
    for name in PolicyConfig.model_fields:
        assert re.search(rf"^\s+{name}:", found.group(1), re.MULTILINE), f"{name} is missing"
