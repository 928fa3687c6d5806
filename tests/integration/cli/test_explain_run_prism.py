"""``vanguard ci explain-run`` against GitHub's API description served by Prism."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.servers.prism import PrismServer
from vanguard.cli import app
from vanguard.errors import InputError

pytestmark = pytest.mark.integration


def test_a_run_still_in_progress_is_refused_before_any_log_is_read(
    prism: PrismServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The description's example run is ``queued``: its logs are not final, so none is read."""
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "ghs_explain_run_token")
    config = tmp_path / "vanguard.yaml"
    config.write_text(f"github: {{api_url: '{prism.url}', token_env: VANGUARD_TEST_GH_TOKEN}}\n")
    result = CliRunner().invoke(
        app, ["ci", "explain-run", "octo-org/octo-repo", "30433642", "-c", str(config)]
    )
    assert isinstance(result.exception, InputError)
    assert "run 30433642 of octo-org/octo-repo is queued" in str(result.exception)
    (asked,) = prism.proxy.sent("GET", "/actions/runs/30433642")
    assert asked.status == 200
    assert asked.headers.get("Authorization") == "token ghs_explain_run_token"
    assert not prism.proxy.sent("GET", "/jobs")
    assert prism.logs.hits == 0
