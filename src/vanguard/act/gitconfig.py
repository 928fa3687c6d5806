"""Configuration changes recorded in git: every change a commit, every undo a revert.

A change Vanguard makes to a configuration file is committed to the repository the file
lives in, with a message naming the incident and the change and an ``Vanguard-Key`` trailer
holding the action's idempotency key, so a retried action finds its own commit instead of
committing twice. Undo reverts that commit's change to the file (a three-way merge of the
file alone, as ``git revert`` would); when the file moved on so that the merge conflicts,
the undo is the caller's value-level edit, committed with a message that still names the
commit it reverts. Files are only ever replaced atomically with their bytes, mode and owner
kept: git's own checkout would recreate them with default permissions, and a configuration
file often holds secrets. Adapters hold ``GitRepo.locked`` around edit, commit and push, so
two actions on one repository never race on its index.

Git runs as Vanguard's user, so a repository's configuration decides what programs that user
runs (hooks, ``core.fsmonitor``, filters, ``core.sshCommand``). Vanguard therefore works only
in repositories its own user owns, as git itself insists, and never runs their hooks or file
system monitor. Git never prompts (no terminal, ``BatchMode`` for ssh), and a git that
overruns its time is stopped with every process it started.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from vanguard.errors import ActionFailed, AdapterError

__all__ = ["GitRepo", "read_config", "replace_file"]

KEY_TRAILER = "Vanguard-Key"
IDENTITY = ("-c", "user.name=Vanguard", "-c", "user.email=vanguard@localhost")
HARDENING = (
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "protocol.ext.allow=never",
    "-c",
    "commit.gpgsign=false",
)
NETWORK = frozenset({"pull", "push", "ls-remote"})


def read_config(path: Path) -> str:
    """A configuration file's text with its own line endings (``\r\n`` stays ``\r\n``).

    A file that cannot be read is an ``AdapterError`` (it may be back on a retry); one that
    is not UTF-8 is an ``ActionFailed`` naming it (a retry cannot change that).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AdapterError(f"cannot read {path}: {exc}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ActionFailed(
            f"{path} is not UTF-8 (byte {exc.start}); Vanguard edits UTF-8 text files only"
        ) from exc


def replace_file(path: Path, content: str | bytes) -> None:
    """Replace the file atomically with ``content`` as given, keeping its mode and owner.

    The new file is created beside it with ``O_EXCL`` and mode 0600 (never through a link
    someone left at a predictable name, never readable by others before its mode is set),
    given the old file's mode and (as root) owner, synced, then renamed over it.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    st = path.stat()
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".vanguard-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), st.st_mode & 0o7777)
            if os.geteuid() == 0:
                os.fchown(out.fileno(), st.st_uid, st.st_gid)
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class GitRepo:
    """A working tree Vanguard commits configuration changes to (``git`` on PATH)."""

    def __init__(self, root: Path, *, timeout_s: float = 30.0) -> None:
        self.root = root
        self.timeout_s = timeout_s

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = self._run(args, check=check)
        return subprocess.CompletedProcess(
            done.args,
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )

    def _run(
        self, args: Sequence[str], *, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run git; output as bytes, so file contents keep their line endings.

        The repository must be Vanguard's user's (``_refuse_if_not_owned``). Git gets no
        terminal and no stdin, runs in a session of its own, and past ``timeout_s`` the
        whole session is killed: an ssh, a remote helper or a hook left running could
        still land a push that the caller has taken back.
        """
        self._refuse_if_not_owned()
        argv = ["git", *IDENTITY, *HARDENING, "-C", str(self.root), *args]
        env = self._environment(network=bool(args) and args[0] in NETWORK)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise AdapterError(f"git in {self.root}: {exc}") from exc
        try:
            stdout, stderr = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired as exc:
            _kill_session(proc)
            raise AdapterError(
                f"git {' '.join(args[:2])} in {self.root} took over {self.timeout_s:g} s; "
                "stopped it and every process it started"
            ) from exc
        except BaseException:
            _kill_session(proc)
            raise
        done = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
        if done.returncode != 0 and b"dubious ownership" in stderr:
            said = stderr.decode("utf-8", "replace").strip().splitlines()[0]
            raise ActionFailed(
                f"git refuses the repository holding {self.root} ({said}): it belongs to "
                f"another user than {_who(os.geteuid())}, the user Vanguard runs as, "
                "and its owner could make git run programs as that user; give the "
                "repository to Vanguard's user, or run Vanguard as its owner"
            )
        if check and done.returncode != 0:
            said = (stderr or stdout).decode("utf-8", "replace").strip()
            raise ActionFailed(f"git {' '.join(args[:2])} in {self.root} failed: {said}")
        return done

    def _refuse_if_not_owned(self) -> None:
        """Refuse a repository whose directory, git directory or git config is not ours.

        Whoever can write a repository's configuration chooses programs git runs (hooks,
        ``core.fsmonitor``, filter drivers, ``core.sshCommand``), and only some of them can be
        switched off from the command line. Git refuses such repositories itself
        (``safe.directory``); this check also covers ``.git/config`` and holds when a global
        ``safe.directory = *`` would let git through.
        """
        me = os.geteuid()
        git_dir = self.root / ".git"
        for path in (self.root, git_dir, git_dir / "config"):
            try:
                owner = path.stat().st_uid
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise AdapterError(f"cannot inspect {path}: {exc}") from exc
            if owner != me:
                user = _name(me)
                raise ActionFailed(
                    f"{path} belongs to {_who(owner)}, not to {_who(me)}, the user Vanguard "
                    "runs as; Vanguard does not use another user's git repository, whose "
                    f"owner could make git run programs as {user}: give it to {user} "
                    f"(chown {user} {self.root} && chown -R {user} {git_dir}) or run "
                    f"Vanguard as {_name(owner)}"
                )

    def _environment(self, *, network: bool) -> dict[str, str]:
        """Git's environment: never a prompt; for the network, ssh in batch mode."""
        env = dict(os.environ)
        env["GIT_TERMINAL_PROMPT"] = "0"
        if network:
            ssh = self._ssh_command(env)
            if ssh is not None:
                env["GIT_SSH_COMMAND"] = f"{ssh} -o BatchMode=yes"
        return env

    def _ssh_command(self, env: dict[str, str]) -> str | None:
        """The ssh command git would use, so ``BatchMode`` is added to it, not put in its place.

        Git's order: ``GIT_SSH_COMMAND``, ``core.sshCommand``, ``GIT_SSH``, ``ssh``. A
        ``GIT_SSH`` program is left alone: it may not take ssh's options (plink).
        """
        if env.get("GIT_SSH_COMMAND"):
            return env["GIT_SSH_COMMAND"]
        configured = self._git("config", "--get", "core.sshCommand", check=False).stdout.strip()
        if configured:
            return configured
        return None if env.get("GIT_SSH") else "ssh"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the repository's Vanguard lock (``vanguard.lock`` in its git directory).

        Waits up to ``timeout_s``; past it, an ``AdapterError`` (retryable: the other
        action ends).
        """
        git_dir = self._git("rev-parse", "--absolute-git-dir").stdout.strip()
        lock = Path(git_dir) / "vanguard.lock"
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        except PermissionError as exc:
            raise ActionFailed(
                f"cannot create {lock}: {exc}; Vanguard needs write access to the repository"
            ) from exc
        except OSError as exc:
            raise AdapterError(f"cannot open {lock}: {exc}") from exc
        try:
            deadline = time.monotonic() + self.timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise AdapterError(
                            f"{self.root} is busy with another Vanguard action "
                            f"(waited {self.timeout_s:g} s for {lock})"
                        ) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)

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
        """Revert ``sha``'s change to ``path``; on a conflict, commit ``restored`` instead.

        The file is merged alone (``git merge-file``: the current file, with the change from
        ``sha`` back to its parent applied) and replaced in place, so its mode, owner and
        line endings stay; only ``path`` is committed.
        """
        name = self.relative(path)
        message = (
            f'Revert "{self.subject(sha)}"\n\nThis reverts commit {sha}.\n\n{KEY_TRAILER}: {key}'
        )
        after = self._run(["show", f"{sha}:{name}"]).stdout
        before = self._run(["show", f"{sha}^:{name}"]).stdout
        current = path.read_bytes()
        merged: bytes = restored.encode("utf-8")
        if current == after:
            merged = before
        else:
            with tempfile.TemporaryDirectory() as scratch:
                files = []
                for label, data in (("current", current), ("base", after), ("other", before)):
                    file = Path(scratch) / label
                    file.write_bytes(data)
                    files.append(str(file))
                done = self._run(["merge-file", "-p", "-q", *files], check=False)
                if done.returncode == 0:
                    merged = done.stdout
        if merged != current:
            replace_file(path, merged)
        self._git("add", "--", name)
        self._git("commit", "-q", "--allow-empty", "-m", message, "--", name)
        sha_after = self.head()
        if sha_after is None:
            raise ActionFailed(f"git revert in {self.root} left no HEAD")
        return sha_after

    def undo_commit(self, sha: str, path: Path, content: bytes) -> None:
        """Take back ``sha`` (``HEAD``, not pushed) and put ``content`` back in ``path``.

        For a change whose push failed: the commit must not stay on the branch, where the
        next push would deploy it although its action is recorded as failed.
        """
        if self.head() != sha:
            raise ActionFailed(
                f"cannot take back commit {sha[:10]} in {self.root}: it is no longer HEAD; "
                f"revert it by hand (git -C {self.root} revert {sha[:10]})"
            )
        replace_file(path, content)
        self._git("reset", "-q", "--soft", f"{sha}^")
        self._git("reset", "-q", f"{sha}^", "--", self.relative(path))

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
        """The content of ``path`` at commit ``sha``, line endings as committed."""
        return self._run(["show", f"{sha}:{self.relative(path)}"]).stdout.decode("utf-8", "replace")

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


def _kill_session(proc: subprocess.Popen[bytes]) -> None:
    """Kill git and everything it started (its session), then reap git."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _who(uid: int) -> str:
    return f"{_name(uid)} (uid {uid})"
