"""Configuration changes recorded in git: every change a commit, every undo a revert.

A change Vanguard makes to a configuration file is committed to the repository the file
lives in, with a message naming the incident and the change and an ``Vanguard-Key`` trailer
holding the action's idempotency key, so a retried action finds its own commit instead of
committing twice. Undo is ``git revert`` of that commit; when the file moved on since
(a revert would conflict), the revert is aborted and the undo is committed as a plain edit
whose message still names the commit it reverts.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from vanguard.errors import ActionFailed, AdapterError

__all__ = ["GitRepo", "replace_file"]

KEY_TRAILER = "Vanguard-Key"
IDENTITY = ("-c", "user.name=Vanguard", "-c", "user.email=vanguard@localhost")


def replace_file(path: Path, text: str) -> None:
    """Replace the file atomically, keeping its mode and (as root) its owner."""
    st = path.stat()
    tmp = path.with_name(f".{path.name}.vanguard-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, st.st_mode & 0o7777)
    if os.geteuid() == 0:
        os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, path)


class GitRepo:
    """A working tree Vanguard commits configuration changes to (``git`` on PATH)."""

    def __init__(self, root: Path, *, timeout_s: float = 30.0) -> None:
        self.root = root
        self.timeout_s = timeout_s

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [
            "git",
            "-c",
            f"safe.directory={self.root}",
            *IDENTITY,
            "-c",
            "commit.gpgsign=false",
            "-C",
            str(self.root),
            *args,
        ]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AdapterError(f"git in {self.root}: {exc}") from exc
        if check and done.returncode != 0:
            raise ActionFailed(
                f"git {' '.join(args[:2])} in {self.root} failed: "
                f"{(done.stderr or done.stdout).strip()}"
            )
        return done

    def relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError as exc:
            raise AdapterError(f"{path} is not inside the repository {self.root}") from exc

    def init(self) -> None:
        """Create the repository if there is none (idempotent)."""
        if not (self.root / ".git").exists():
            self._git("init", "-q")

    def head(self) -> str | None:
        done = self._git("rev-parse", "--verify", "-q", "HEAD", check=False)
        return done.stdout.strip() or None

    def commit(self, paths: Sequence[Path], message: str, *, key: str | None = None) -> str:
        """Commit ``paths`` as they are now; returns the new commit (``HEAD`` if unchanged)."""
        names = [self.relative(p) for p in paths]
        self._git("add", "--", *names)
        body = message if key is None else f"{message}\n\n{KEY_TRAILER}: {key}"
        done = self._git("commit", "-q", "--allow-empty", "-m", body, "--", *names, check=False)
        if done.returncode != 0:
            raise ActionFailed(f"git commit in {self.root} failed: {done.stderr.strip()}")
        sha = self.head()
        if sha is None:
            raise ActionFailed(f"git commit in {self.root} left no HEAD")
        return sha

    def find(self, key: str) -> str | None:
        """The newest commit carrying ``key`` in its trailer, if any."""
        if self.head() is None:
            return None
        done = self._git(
            "log", "--format=%H", "-F", f"--grep={KEY_TRAILER}: {key}", "-n", "1", check=False
        )
        return done.stdout.strip() or None

    def revert(self, sha: str, path: Path, restored: str, *, key: str) -> str:
        """Revert ``sha``; on a conflict, write ``restored`` to ``path`` and commit that."""
        message = (
            f'Revert "{self.subject(sha)}"\n\nThis reverts commit {sha}.\n\n{KEY_TRAILER}: {key}'
        )
        done = self._git("revert", "--no-commit", sha, check=False)
        if done.returncode == 0:
            self._git("commit", "-q", "--allow-empty", "-m", message)
        else:
            self._git("revert", "--abort", check=False)
            self._git("checkout", "--", self.relative(path), check=False)
            path.write_text(restored, encoding="utf-8")
            name = self.relative(path)
            self._git("add", "--", name)
            self._git("commit", "-q", "--allow-empty", "-m", message, "--", name)
        sha_after = self.head()
        if sha_after is None:
            raise ActionFailed(f"git revert in {self.root} left no HEAD")
        return sha_after

    def subject(self, sha: str) -> str:
        return self._git("log", "-1", "--format=%s", sha).stdout.strip()

    def log(self, path: Path | None = None, *, limit: int = 50) -> list[tuple[str, str]]:
        """``(sha, subject)`` newest first, optionally only commits touching ``path``."""
        if self.head() is None:
            return []
        args = ["log", f"-n{limit}", "--format=%H%x09%s"]
        if path is not None:
            args += ["--", self.relative(path)]
        lines = self._git(*args).stdout.splitlines()
        return [(sha, subject) for sha, _, subject in (ln.partition("\t") for ln in lines)]

    def show(self, sha: str, path: Path) -> str:
        """The content of ``path`` at commit ``sha``."""
        return self._git("show", f"{sha}:{self.relative(path)}").stdout

    def dirty(self, path: Path) -> bool:
        """Whether ``path`` has changes not committed (staged or not)."""
        done = self._git("status", "--porcelain", "--", self.relative(path))
        return bool(done.stdout.strip())

    def branch(self) -> str:
        """The checked-out branch (an error on a detached HEAD: there is nowhere to push)."""
        name = self._git("rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
        if name == "HEAD":
            raise ActionFailed(f"{self.root} has a detached HEAD; check out a branch to push")
        return name

    def pull(self, remote: str, branch: str) -> None:
        """Fast-forward to ``remote``'s ``branch``; a diverged history is an error, not a merge."""
        self._git("pull", "-q", "--ff-only", remote, branch)

    def push(self, remote: str, branch: str) -> None:
        """Push ``HEAD`` to ``remote``'s ``branch`` (a no-op when it is there already)."""
        self._git("push", "-q", remote, f"HEAD:refs/heads/{branch}")

    def remote_head(self, remote: str, branch: str) -> str | None:
        """The commit ``remote``'s ``branch`` points at, as the remote says now."""
        done = self._git("ls-remote", remote, f"refs/heads/{branch}")
        line = done.stdout.strip()
        return line.split()[0] if line else None

    def contains(self, ancestor: str, descendant: str) -> bool:
        """Whether ``descendant`` has ``ancestor`` in its history."""
        done = self._git("merge-base", "--is-ancestor", ancestor, descendant, check=False)
        return done.returncode == 0
