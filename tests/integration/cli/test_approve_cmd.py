"""``vanguard incidents approve|decline`` against a PostgreSQL store whose URL holds a password."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vanguard.cli.apps import app
from vanguard.store import open_store

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("verb", ["approve", "decline"])
def test_an_unknown_incident_is_refused_without_showing_the_stores_password(
    postgres_url: str, verb: str
) -> None:
    with_password = postgres_url.replace("://postgres@", "://postgres:Sup3rSecretPw@", 1)
    assert "Sup3rSecretPw" in with_password, "the fixture's URL names its user"
    open_store(with_password).close()
    common = ["--store", with_password, "--temporal", "127.0.0.1:1", "--by", "alice"]
    result = CliRunner().invoke(app, ["incidents", verb, "nope", *common])
    assert result.exit_code != 0
    message = str(result.exception) + result.output
    assert "no incident 'nope'" in message
    assert "Sup3rSecretPw" not in message
