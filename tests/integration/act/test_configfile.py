"""``config.set`` against real git: a working tree and a bare remote as the GitOps repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import JsonValue

from vanguard.act.base import MemoryLedger
from vanguard.act.configfile import ConfigSetAdapter, locate
from vanguard.act.gitconfig import GitRepo
from vanguard.errors import ActionFailed
from vanguard.model import ActionRequest, RollbackRequest

pytestmark = pytest.mark.integration

VALUES = """\
# checkout service, deployed by the GitOps controller from main
replicas: 3          # the on-call raised this in May
resources:
  memory_mb: 512
"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def gitops(tmp_path: Path) -> tuple[Path, Path]:
    """A bare 'origin' holding values.yaml on main, and a clone of it to edit."""
    origin = tmp_path / "origin.git"
    seed = tmp_path / "seed"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(seed))
    (seed / "values.yaml").write_text(VALUES)
    git(seed, "add", "values.yaml")
    git(seed, "commit", "-q", "-m", "initial")
    git(seed, "push", "-q", "origin", "HEAD:refs/heads/main")
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", "-b", "main", str(origin), str(work))
    return origin, work


def _request(work: Path, **params: JsonValue) -> ActionRequest:
    base: dict[str, JsonValue] = {"repo": str(work), "file": "values.yaml", "push": True}
    return ActionRequest(
        idempotency_key="inc-1:apply",
        incident_id="inc-1",
        action="config.set",
        target="checkout",
        params=base | params,
    )


def _origin_values(origin: Path) -> str:
    return git(origin, "show", "main:values.yaml") + "\n"


def test_a_change_is_one_commit_pushed_once_and_verified(gitops: tuple[Path, Path]) -> None:
    origin, work = gitops
    adapter = ConfigSetAdapter(MemoryLedger())
    request = _request(work, key="replicas", factor=1.5, max=10)
    plan = adapter.plan(request)
    assert plan.steps[1].startswith("set replicas in values.yaml 3 → 5")
    result = adapter.apply(request)
    again = adapter.apply(request)

    assert again == result
    assert result.before["value"] == 3
    assert result.after["value"] == 5
    assert "replicas: 5          # the on-call raised this in May\n" in _origin_values(origin)
    subjects = git(origin, "log", "--format=%s", "main").splitlines()
    assert subjects == ["auto: set replicas 3→5 in values.yaml, incident inc-1", "initial"]
    assert "Vanguard-Key: inc-1:apply" in git(origin, "log", "-1", "--format=%B", "main")
    check = adapter.verify(result)
    assert check.ok, check.reason


def test_an_interrupted_apply_commits_and_pushes_exactly_once(gitops: tuple[Path, Path]) -> None:
    origin, work = gitops
    ledger = MemoryLedger()
    adapter = ConfigSetAdapter(ledger)
    request = _request(work, key="resources.memory_mb", value=768)
    # The worker died after writing the file, before committing.
    ledger.begin(request.idempotency_key, {"value": 512, "target": 768})
    (work / "values.yaml").write_text(VALUES.replace("512", "768"))
    first = adapter.apply(request)
    assert git(origin, "rev-list", "--count", "main") == "2"
    # And once more after the commit and push, before recording.
    ledger2 = MemoryLedger()
    ledger2.begin(request.idempotency_key, {"value": 512, "target": 768})
    second = ConfigSetAdapter(ledger2).apply(request)

    assert second.after["commit"] == first.after["commit"]
    assert git(origin, "rev-list", "--count", "main") == "2"


def test_rollback_reverts_and_pushes_the_revert(gitops: tuple[Path, Path]) -> None:
    origin, work = gitops
    adapter = ConfigSetAdapter(MemoryLedger())
    result = adapter.apply(_request(work, key="replicas", value=6))
    undo = RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    undone = adapter.rollback(undo)
    again = adapter.rollback(undo)

    assert undone == again
    assert _origin_values(origin) == VALUES
    subjects = git(origin, "log", "--format=%s", "main").splitlines()
    assert subjects[0].startswith('Revert "auto: set replicas 3→6')
    assert len(subjects) == 3


def test_rollback_after_someone_else_edited_another_line_restores_only_our_value(
    gitops: tuple[Path, Path],
) -> None:
    origin, work = gitops
    adapter = ConfigSetAdapter(MemoryLedger())
    result = adapter.apply(_request(work, key="replicas", value=6, push=False))
    text = (work / "values.yaml").read_text()
    (work / "values.yaml").write_text(text.replace("memory_mb: 512", "memory_mb: 640"))
    GitRepo(work).commit([work / "values.yaml"], "someone tuned the memory")
    adapter.rollback(
        RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    )
    restored = (work / "values.yaml").read_text()
    assert restored == VALUES.replace("memory_mb: 512", "memory_mb: 640")
    assert _origin_values(origin) == VALUES, "nothing pushed without push"


def test_rollback_never_overwrites_a_newer_value_someone_set(gitops: tuple[Path, Path]) -> None:
    """The undo of 3 → 6 must not take a hand-set 7 back to 3: it fails, and escalates."""
    _, work = gitops
    ledger = MemoryLedger()
    adapter = ConfigSetAdapter(ledger)
    result = adapter.apply(_request(work, key="replicas", value=6, push=False))
    text = (work / "values.yaml").read_text()
    (work / "values.yaml").write_text(text.replace("replicas: 6 ", "replicas: 7 "))
    GitRepo(work).commit([work / "values.yaml"], "someone tuned it again")
    head = git(work, "rev-parse", "HEAD")
    undo = RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    with pytest.raises(ActionFailed, match="is 7 now, not the 6 the action set"):
        adapter.rollback(undo)
    assert locate((work / "values.yaml").read_text(), "yaml", "replicas").value == 7
    assert git(work, "rev-parse", "HEAD") == head
    assert ledger.get("inc-1:rollback") is None


def test_rollback_keeps_the_files_mode_and_line_endings(gitops: tuple[Path, Path]) -> None:
    """A file of secrets must not come back world-readable; CRLF must not become LF."""
    _, work = gitops
    path = work / "values.yaml"
    path.write_bytes(VALUES.replace("\n", "\r\n").encode())
    path.chmod(0o600)
    GitRepo(work).commit([path], "windows line endings")
    adapter = ConfigSetAdapter(MemoryLedger())
    result = adapter.apply(_request(work, key="replicas", value=6, push=False))
    applied = path.read_bytes()
    assert applied == VALUES.replace("replicas: 3 ", "replicas: 6 ").replace("\n", "\r\n").encode()
    assert path.stat().st_mode & 0o777 == 0o600
    diff = git(work, "show", "--numstat", "--format=", "HEAD")
    assert diff.split()[:2] == ["1", "1"], "one line changed, not every line"
    adapter.rollback(
        RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    )
    assert path.read_bytes() == VALUES.replace("\n", "\r\n").encode()
    assert path.stat().st_mode & 0o777 == 0o600
    assert not list(work.glob(".values.yaml.*")), "no temporary file is left behind"


def test_a_failed_push_takes_the_commit_and_the_edit_back(gitops: tuple[Path, Path]) -> None:
    """Left on the branch, the commit would ride out with the next incident's push."""
    origin, work = gitops
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho declined >&2\nexit 1\n")
    hook.chmod(0o755)
    head = git(work, "rev-parse", "HEAD")
    adapter = ConfigSetAdapter(MemoryLedger())
    with pytest.raises(ActionFailed, match="taken back"):
        adapter.apply(_request(work, key="replicas", value=8))
    assert git(work, "rev-parse", "HEAD") == head
    assert (work / "values.yaml").read_text() == VALUES
    assert git(work, "status", "--porcelain") == ""
    hook.unlink()
    second = _request(work, key="resources.memory_mb", value=640)
    later = ConfigSetAdapter(MemoryLedger()).apply(
        second.model_copy(update={"idempotency_key": "inc-2:apply", "incident_id": "inc-2"})
    )
    assert later.applied
    pushed = _origin_values(origin)
    assert "replicas: 3 " in pushed, "the failed change was not deployed by the next push"
    assert "memory_mb: 640" in pushed


def test_the_same_key_already_committed_is_not_applied_again(gitops: tuple[Path, Path]) -> None:
    """A store that lost its record must not make the action run twice."""
    _, work = gitops
    ConfigSetAdapter(MemoryLedger()).apply(_request(work, key="replicas", factor=2, max=20))
    with pytest.raises(ActionFailed, match="already carries this action's key"):
        ConfigSetAdapter(MemoryLedger()).apply(_request(work, key="replicas", factor=2, max=20))
    assert locate((work / "values.yaml").read_text(), "yaml", "replicas").value == 6


def test_a_diverged_remote_is_refused_before_any_edit(gitops: tuple[Path, Path]) -> None:
    origin, work = gitops
    other = work.parent / "other"
    git(work.parent, "clone", "-q", "-b", "main", str(origin), str(other))
    (other / "values.yaml").write_text(VALUES.replace("512", "1024"))
    git(other, "commit", "-q", "-am", "remote change")
    git(other, "push", "-q", "origin", "main")
    (work / "values.yaml").write_text(VALUES.replace("# checkout", "# local checkout"))
    git(work, "commit", "-q", "-am", "local change")
    ledger = MemoryLedger()
    with pytest.raises(ActionFailed, match="git pull"):
        ConfigSetAdapter(ledger).apply(_request(work, key="replicas", value=4))
    assert ledger.get("inc-1:apply") is None
    assert locate((work / "values.yaml").read_text(), "yaml", "replicas").value == 3


def test_a_value_already_in_place_is_not_an_action(gitops: tuple[Path, Path]) -> None:
    _, work = gitops
    with pytest.raises(ActionFailed, match="already 3"):
        ConfigSetAdapter(MemoryLedger()).apply(_request(work, key="replicas", value=3))


def test_someone_elses_uncommitted_edit_is_never_committed(gitops: tuple[Path, Path]) -> None:
    origin, work = gitops
    edited = VALUES.replace("memory_mb: 512", "memory_mb: 640")
    (work / "values.yaml").write_text(edited)
    ledger = MemoryLedger()
    with pytest.raises(ActionFailed, match="changes nobody committed"):
        ConfigSetAdapter(ledger).apply(_request(work, key="replicas", value=4))
    assert (work / "values.yaml").read_text() == edited
    assert ledger.get("inc-1:apply") is None
    assert git(origin, "rev-list", "--count", "main") == "1"


def test_a_push_that_times_out_after_the_remote_took_it_counts_as_pushed(
    gitops: tuple[Path, Path],
) -> None:
    """A slow hook after the ref update: taking the commit back would leave production on a
    change the record says was undone."""
    origin, work = gitops
    hook = origin / "hooks" / "post-receive"
    hook.write_text("#!/bin/sh\nsleep 8\n")
    hook.chmod(0o755)
    result = ConfigSetAdapter(MemoryLedger()).apply(
        _request(work, key="replicas", value=8, timeout_s=3.0)
    )
    assert result.applied
    assert "replicas: 8 " in _origin_values(origin)
    assert "replicas: 8 " in (work / "values.yaml").read_text()
    assert git(work, "rev-parse", "HEAD") == git(origin, "rev-parse", "main")


def _on_call_sets_12(origin: Path, work: Path, push: bool) -> str:
    """The on-call commits ``replicas: 12`` (pushed from another clone when the action
    pushes, else in the working tree); the commit the branch is at then."""
    theirs = VALUES.replace("replicas: 3 ", "replicas: 12")
    if push:
        _push_from_another_clone(origin, theirs, "on-call: replicas 12")
    else:
        (work / "values.yaml").write_text(theirs)
        git(work, "commit", "-q", "-am", "on-call: replicas 12")
    return git(origin if push else work, "rev-parse", "main")


def _push_from_another_clone(origin: Path, text: str, message: str) -> None:
    """A person's change pushed to the GitOps branch from their own clone."""
    other = origin.parent / "other"
    if not other.exists():
        git(origin.parent, "clone", "-q", "-b", "main", str(origin), str(other))
    git(other, "pull", "-q", "--ff-only")
    (other / "values.yaml").write_text(text)
    git(other, "commit", "-q", "-am", message)
    git(other, "push", "-q", "origin", "main")


@pytest.mark.parametrize("push", [True, False])
def test_an_interrupted_apply_never_writes_over_a_value_someone_committed_since(
    gitops: tuple[Path, Path], push: bool
) -> None:
    """The worker died after recording 3 → 6; the on-call then set 12. Finishing the action
    later must not take 12 down to 6."""
    origin, work = gitops
    ledger = MemoryLedger()
    request = _request(work, key="replicas", value=6, push=push)
    ledger.begin(request.idempotency_key, {"value": 3, "target": 6})
    head = _on_call_sets_12(origin, work, push)
    pushed = git(origin, "rev-parse", "main")
    with pytest.raises(ActionFailed, match="a person changed it since the action began"):
        ConfigSetAdapter(ledger).apply(request)
    assert locate((work / "values.yaml").read_text(), "yaml", "replicas").value == 12
    assert git(work, "rev-parse", "HEAD") == head
    assert git(origin, "rev-parse", "main") == pushed
    assert git(work, "status", "--porcelain") == ""


@pytest.mark.parametrize("ours_too", [False, True], ids=["theirs", "ours-and-theirs"])
def test_an_interrupted_apply_never_commits_someones_uncommitted_edit(
    gitops: tuple[Path, Path], ours_too: bool
) -> None:
    """A work-in-progress edit left in the file must not ride out in Vanguard's commit, with
    or without the action's own uncommitted edit beside it."""
    origin, work = gitops
    ledger = MemoryLedger()
    request = _request(work, key="replicas", value=6)
    ledger.begin(request.idempotency_key, {"value": 3, "target": 6})
    edited = VALUES.replace("memory_mb: 512", "memory_mb: 4096  # WIP, not reviewed")
    if ours_too:
        edited = edited.replace("replicas: 3 ", "replicas: 6 ")
    (work / "values.yaml").write_text(edited)
    head = git(work, "rev-parse", "HEAD")
    with pytest.raises(ActionFailed, match=r"changes nobody committed .* since this action began"):
        ConfigSetAdapter(ledger).apply(request)
    assert (work / "values.yaml").read_text() == edited
    assert git(work, "rev-parse", "HEAD") == head
    assert git(origin, "rev-list", "--count", "main") == "1"


def test_an_interrupted_apply_takes_out_its_own_edit_to_pull_a_change_to_the_same_file(
    gitops: tuple[Path, Path],
) -> None:
    """The worker died between edit and commit; meanwhile a person pushed another line of the
    file. The uncommitted edit is the action's own, so it is made again after the pull."""
    origin, work = gitops
    ledger = MemoryLedger()
    request = _request(work, key="replicas", value=6)
    ledger.begin(request.idempotency_key, {"value": 3, "target": 6})
    (work / "values.yaml").write_text(VALUES.replace("replicas: 3 ", "replicas: 6 "))
    theirs = VALUES.replace("memory_mb: 512", "memory_mb: 640")
    _push_from_another_clone(origin, theirs, "ops: memory 640")
    result = ConfigSetAdapter(ledger).apply(request)
    assert result.applied
    assert _origin_values(origin) == theirs.replace("replicas: 3 ", "replicas: 6 ")
    assert git(origin, "rev-list", "--count", "main") == "3"
    assert git(work, "status", "--porcelain") == ""


def _applied(work: Path, push: bool = True) -> tuple[MemoryLedger, RollbackRequest]:
    """replicas 3 → 6 applied; a rollback request for it whose attempt died after beginning."""
    ledger = MemoryLedger()
    result = ConfigSetAdapter(ledger).apply(_request(work, key="replicas", value=6, push=push))
    rollback = RollbackRequest(
        idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo
    )
    return ledger, rollback


@pytest.mark.parametrize("push", [True, False])
def test_an_interrupted_rollback_never_writes_over_a_value_someone_committed_since(
    gitops: tuple[Path, Path], push: bool
) -> None:
    origin, work = gitops
    ledger, rollback = _applied(work, push)
    ledger.begin(rollback.idempotency_key, {"value": 6})
    head = _on_call_sets_12(origin, work, push)
    with pytest.raises(ActionFailed, match="a person changed it since the rollback began"):
        ConfigSetAdapter(ledger).rollback(rollback)
    assert locate((work / "values.yaml").read_text(), "yaml", "replicas").value == 12
    assert git(work, "rev-parse", "HEAD") == head
    assert git(work, "status", "--porcelain") == ""


def test_an_interrupted_rollback_never_commits_someones_uncommitted_edit(
    gitops: tuple[Path, Path],
) -> None:
    origin, work = gitops
    ledger, rollback = _applied(work)
    ledger.begin(rollback.idempotency_key, {"value": 6})
    edited = (work / "values.yaml").read_text().replace("memory_mb: 512", "memory_mb: 4096")
    (work / "values.yaml").write_text(edited)
    head = git(work, "rev-parse", "HEAD")
    with pytest.raises(ActionFailed, match=r"changes nobody committed .* since the rollback began"):
        ConfigSetAdapter(ledger).rollback(rollback)
    assert (work / "values.yaml").read_text() == edited
    assert git(work, "rev-parse", "HEAD") == head
    assert git(origin, "rev-parse", "main") == head


def test_a_rollback_whose_push_failed_succeeds_once_the_remote_takes_pushes_again(
    gitops: tuple[Path, Path],
) -> None:
    """The retry pulls first: someone pushed in between, and a push without that pull would
    be rejected ('fetch first') on every later attempt."""
    origin, work = gitops
    ledger, rollback = _applied(work)
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho declined >&2\nexit 1\n")
    hook.chmod(0o755)
    adapter = ConfigSetAdapter(ledger)
    with pytest.raises(ActionFailed, match="taken back"):
        adapter.rollback(rollback)
    hook.unlink()
    theirs = _origin_values(origin).replace("memory_mb: 512", "memory_mb: 640")
    _push_from_another_clone(origin, theirs, "ops: memory 640")
    undone = adapter.rollback(rollback)
    assert undone.applied
    assert _origin_values(origin) == VALUES.replace("memory_mb: 512", "memory_mb: 640")
    assert git(work, "rev-parse", "HEAD") == git(origin, "rev-parse", "main")


def test_a_rollback_push_that_landed_unseen_is_recognised_not_made_twice(
    gitops: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push reached the remote but its answer and the check after it were lost, so the
    revert was taken back locally. The retry's pull brings it back: no second revert."""
    origin, work = gitops
    _, rollback = _applied(work)
    with monkeypatch.context() as earlier:
        earlier.setenv("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        ConfigSetAdapter(MemoryLedger()).rollback(rollback)
    git(work, "reset", "-q", "--hard", "HEAD~1")
    ledger = MemoryLedger()
    ledger.begin(rollback.idempotency_key, {"value": 6})
    undone = ConfigSetAdapter(ledger).rollback(rollback)
    assert undone.after["commit"] == git(origin, "rev-parse", "main")
    assert _origin_values(origin) == VALUES
    subjects = git(origin, "log", "--format=%s", "main").splitlines()
    assert len(subjects) == 3, subjects
