"""Store URLs: the embedded default and password redaction for messages (``user:pw@`` and
secret-named query parameters)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vanguard.store import default_store_url, redact_url


def test_default_url_is_an_absolute_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    assert default_store_url(tmp_path / "d") == f"sqlite:///{tmp_path}/d/vanguard.db"


def test_relative_data_dirs_become_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_store_url(Path("rel")) == f"sqlite:///{tmp_path}/rel/vanguard.db"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://vanguard:p%40ss:w0rd@db:5432/v",
            "postgresql+psycopg://vanguard:***@db:5432/v",
        ),
        (
            "postgresql+psycopg://postgres@127.0.0.1:5/db",
            "postgresql+psycopg://postgres@127.0.0.1:5/db",
        ),
        ("sqlite:////var/lib/vanguard/vanguard.db", "sqlite:////var/lib/vanguard/vanguard.db"),
        ("user:secret@host/db", "<unparseable URL>"),
        (
            "postgresql+psycopg://app@db/vg?connect_timeout=2&password=S3cretPw",
            "postgresql+psycopg://app@db/vg?connect_timeout=2&password=[REDACTED]",
        ),
        (
            "postgresql+psycopg://app@db/vg?sslpassword=S3cretPw&sslmode=require",
            "postgresql+psycopg://app@db/vg?sslmode=require&sslpassword=[REDACTED]",
        ),
    ],
)
def test_redact_url_hides_only_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
