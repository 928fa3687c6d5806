"""The Prometheus rules docs/operations.md recommends load in Prometheus's own checker."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.servers.process import require_binary

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
