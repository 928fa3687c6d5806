"""Configuration changes as git commits: one commit per key, undo as a revert commit."""

from __future__ import annotations

import os
import pwd
import subprocess
import time
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


def _remote(tmp_path: Path) -> tuple[Path, GitRepo, Path]:
    """A bare ``origin`` and a clone with one commit to push; ``(origin, clone, its file)``."""
    origin = tmp_path / "origin.git"
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    work = tmp_path / "work"
    _git(tmp_path, "clone", "-q", str(origin), str(work))
    conf = work / "app.ini"
    conf.write_text("size = 2\n")
    _git(work, "add", "app.ini")
    _git(work, "commit", "-q", "-m", "initial")
    return origin, GitRepo(work, timeout_s=3.0), conf


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_git_that_overruns_is_stopped_with_every_process_it_started(tmp_path: Path) -> None:
    """Left running, the remote side (here a slow hook) could still land a push the caller
    has already taken back."""
    origin, repo, _ = _remote(tmp_path)
    pid_file = tmp_path / "hook.pid"
    _script(origin / "hooks" / "pre-receive", f"echo $$ > {pid_file}\nexec sleep 30")
    with pytest.raises(AdapterError) as failed:
        repo.push("origin", "main")
    assert pid_file.exists(), f"the push was stopped before its hook ran: {failed.value}"
    pid = int(pid_file.read_text())
    try:
        deadline = time.monotonic() + 3.0
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(pid), "the hook git started outlived it"
    finally:
        if _running(pid):
            os.kill(pid, 9)
    assert "took over 3 s; stopped it and every process it started" in str(failed.value)


@pytest.mark.parametrize("where", ["environment", "repository"])
def test_git_never_prompts_and_ssh_runs_in_batch_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """No terminal, no stdin, ``GIT_TERMINAL_PROMPT=0``, and ``BatchMode`` added to the ssh
    command the operator chose, not put in its place. (No ssh server runs here: the command
    is a probe that records how git called it.)"""
    _, repo, _ = _remote(tmp_path)
    record = tmp_path / "ssh.record"
    probe = _script(
        tmp_path / "ssh-probe",
        f'echo "$*" > {record}\n'
        f'echo "prompt=$GIT_TERMINAL_PROMPT" >> {record}\n'
        f"if (: </dev/tty) 2>/dev/null; then echo tty; else echo no-tty; fi >> {record}\n"
        "exit 1",
    )
    monkeypatch.delenv("GIT_SSH", raising=False)
    if where == "environment":
        monkeypatch.setenv("GIT_SSH_COMMAND", f"{probe} --chosen")
    else:
        monkeypatch.delenv("GIT_SSH_COMMAND", raising=False)
        _git(repo.root, "config", "core.sshCommand", f"{probe} --chosen")
    _git(repo.root, "remote", "add", "probe", "ssh://git.invalid/conf.git")
    with pytest.raises(ActionFailed, match="git ls-remote probe"):
        repo.remote_head("probe", "main")
    argv, prompt, tty = record.read_text().splitlines()
    assert argv.startswith("--chosen -o BatchMode=yes "), argv
    assert prompt == "prompt=0"
    assert tty == "no-tty"
