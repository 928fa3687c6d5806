"""Configuration changes as git commits: one commit per key, undo as a revert commit."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

import pytest

from vanguard.act.gitconfig import GitRepo
from vanguard.errors import ActionFailed, AdapterError

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


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _marker_program(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A program that records that it ran (and as whom) in a file; ``(program, record)``."""
    record = tmp_path / f"{name}.ran"
    return _script(tmp_path / f"{name}.sh", f"id -un >> {record}"), record


def _give(path: Path, uid: int) -> None:
    for each in [path, *path.rglob("*")]:
        os.lchown(each, uid, -1)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another user needs root")


@needs_root
def test_a_repository_another_user_owns_is_refused_before_git_runs(tmp_path: Path) -> None:
    """Its owner chooses programs git runs (here a file system monitor): as Vanguard's user,
    that would be running code as root. Git's own ownership check stays on."""
    root = tmp_path / "repo"
    root.mkdir()
    repo, conf = _repo(root)
    monitor, ran = _marker_program(tmp_path, "fsmonitor")
    _git(root, "config", "core.fsmonitor", str(monitor))
    nobody = pwd.getpwnam("nobody")
    _give(root, nobody.pw_uid)
    conf.write_text("size = 3\nname = a\n")
    with pytest.raises(ActionFailed, match=r"belongs to nobody \(uid 65534\), not to root"):
        repo.dirty(conf)
    with pytest.raises(ActionFailed, match="run Vanguard as nobody"):
        repo.commit([conf], "auto: raise")
    assert not ran.exists(), ran.read_text()


@needs_root
def test_a_git_config_another_user_can_write_is_refused(tmp_path: Path) -> None:
    """Git checks the directories only; whoever owns ``.git/config`` can still add a filter
    driver, which no command-line setting can switch off."""
    repo, _ = _repo(tmp_path)
    os.chown(tmp_path / ".git" / "config", pwd.getpwnam("nobody").pw_uid, -1)
    with pytest.raises(ActionFailed, match=r"\.git/config belongs to nobody"):
        repo.head()


@needs_root
def test_a_repository_found_above_the_configured_directory_is_checked_by_git(
    tmp_path: Path,
) -> None:
    _repo(tmp_path)
    sub = tmp_path / "conf"
    sub.mkdir()
    os.chown(tmp_path, pwd.getpwnam("nobody").pw_uid, -1)
    with pytest.raises(ActionFailed, match="git refuses the repository holding"):
        GitRepo(sub).head()


def test_hooks_and_the_file_system_monitor_never_run(tmp_path: Path) -> None:
    """Defence in depth in Vanguard's own repository: a hook someone added is not run."""
    repo, conf = _repo(tmp_path)
    monitor, monitored = _marker_program(tmp_path, "fsmonitor")
    _git(tmp_path, "config", "core.fsmonitor", str(monitor))
    hook, hooked = _marker_program(tmp_path, "hook")
    for name in ("pre-commit", "commit-msg", "post-commit"):
        (tmp_path / ".git" / "hooks" / name).symlink_to(hook)
    conf.write_text("size = 3\nname = a\n")
    assert repo.dirty(conf)
    repo.commit([conf], "auto: raise", key="k")
    assert not repo.dirty(conf)
    assert not monitored.exists()
    assert not hooked.exists()
