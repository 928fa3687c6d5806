"""Configuration changes as git commits: one commit per key, undo as a revert commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from vanguard.act.gitconfig import GitRepo
from vanguard.errors import AdapterError

pytestmark = pytest.mark.integration


def _repo(tmp_path: Path) -> tuple[GitRepo, Path]:
    repo = GitRepo(tmp_path)
    repo.init()
    conf = tmp_path / "app.ini"
    conf.write_text("size = 2\nname = a\n")
    repo.commit([conf], "initial")
    return repo, conf


def test_commit_carries_the_key_so_a_retry_finds_it(tmp_path: Path) -> None:
    repo, conf = _repo(tmp_path)
    conf.write_text("size = 3\nname = a\n")
    sha = repo.commit([conf], "auto: raise size 2→3, incident inc-1", key="inc-1:apply")
    assert repo.find("inc-1:apply") == sha
    assert repo.find("inc-2:apply") is None
    body = subprocess.run(
        ["git", "-C", str(tmp_path), "log", "-1", "--format=%B"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Vanguard-Key: inc-1:apply" in body
    assert repo.log(conf)[0] == (sha, "auto: raise size 2→3, incident inc-1")


def test_revert_restores_the_file_in_a_revert_commit(tmp_path: Path) -> None:
    repo, conf = _repo(tmp_path)
    conf.write_text("size = 3\nname = a\n")
    sha = repo.commit([conf], "auto: raise", key="k")
    repo.revert(sha, conf, "size = 2\nname = a\n", key="k:rollback")
    assert conf.read_text() == "size = 2\nname = a\n"
    assert repo.log(conf)[0][1] == 'Revert "auto: raise"'
    assert repo.show(repo.log(conf)[1][0], conf) == "size = 3\nname = a\n"


def test_a_conflicting_revert_falls_back_to_an_edit_naming_the_commit(tmp_path: Path) -> None:
    repo, conf = _repo(tmp_path)
    conf.write_text("size = 3\nname = a\n")
    sha = repo.commit([conf], "auto: raise", key="k")
    conf.write_text("size = 3\nname = b\n")
    repo.commit([conf], "someone renamed it")
    repo.revert(sha, conf, "size = 2\nname = b\n", key="k:rollback")
    assert conf.read_text() == "size = 2\nname = b\n"
    assert repo.log(conf)[0][1] == 'Revert "auto: raise"'
    assert not (tmp_path / ".git" / "REVERT_HEAD").exists()
    assert repo.find("k:rollback") == repo.head()


def test_a_file_outside_the_repository_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    repo, _ = _repo(root)
    with pytest.raises(AdapterError, match="not inside the repository"):
        repo.commit([tmp_path / "elsewhere.ini"], "nope")


def test_a_revert_merges_the_file_and_keeps_a_later_change_elsewhere_in_it(
    tmp_path: Path,
) -> None:
    """The merge takes back exactly the commit's change (an appended setting goes away),
    where the value-level fallback would only set a value back."""
    repo = GitRepo(tmp_path)
    repo.init()
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text("[databases]\napp = host=db\n\n[pgbouncer]\nlisten_port = 6432\n")
    repo.commit([ini], "initial")
    ini.write_text("[databases]\napp = host=db pool_size=8\n\n[pgbouncer]\nlisten_port = 6432\n")
    sha = repo.commit([ini], "auto: raise app pool 2→8", key="k")
    ini.write_text("[databases]\napp = host=db pool_size=8\n\n[pgbouncer]\nlisten_port = 6543\n")
    repo.commit([ini], "ops: move the port")
    repo.revert(sha, ini, "fallback that must not be used\n", key="k:rollback")
    assert ini.read_text() == "[databases]\napp = host=db\n\n[pgbouncer]\nlisten_port = 6543\n"
