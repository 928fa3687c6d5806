"""``vanguard incidents list`` options, checked by the command line before the store."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vanguard.cli.apps import app
from vanguard.store import Store


@pytest.mark.parametrize(("limit", "code"), [("0", 2), ("1", 0), ("1000", 0), ("1001", 2)])
def test_a_limit_outside_1_to_1000_is_a_usage_error(store: Store, limit: str, code: int) -> None:
    result = CliRunner().invoke(app, ["incidents", "list", "--store", store.url, "--limit", limit])
    assert result.exit_code == code, result.output
    if code:
        assert result.output.startswith("Usage: vanguard incidents list")
        assert "'--limit'" in result.output
