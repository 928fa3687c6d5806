"""``vanguard ci poll --once`` as cron runs it: its exit code says whether anything was polled.

Real Temporal dev server; GitHub is a loopback port nothing listens on (every listing
fails), since Prism answers every request.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vanguard.cli.apps import app
from vanguard.netutil import free_port

pytestmark = pytest.mark.integration


def test_a_poll_that_reached_no_repository_exits_1_and_says_each_failure_once(
    temporal_address: str, tmp_path: Path
) -> None:
    config = tmp_path / "vanguard.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'state'}\n"
        "github:\n"
        f"  api_url: http://127.0.0.1:{free_port()}\n"
        "  token_env: VANGUARD_TEST_GH_TOKEN\n"
        "  repositories: [acme/api, acme/web]\n"
    )
    result = CliRunner().invoke(
        app,
        ["ci", "poll", "-c", str(config), "--temporal", temporal_address, "--once"],
        env={"VANGUARD_TEST_GH_TOKEN": "ghs_poll_token_value", "COLUMNS": "200"},
    )
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines if "skipped" in line] == ["acme/api", "acme/web"]
    assert lines[-1] == "no repository could be polled"
