"""The demo's directory: only one the demo made is ever emptied."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.entry import run
from vanguard.demo.run import MARKER, claim_workdir, run_demo
from vanguard.errors import InputError


def test_a_directory_the_demo_did_not_make_is_refused_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``vanguard demo --workdir .`` in a project deleted it, ``.git`` included."""
    project = tmp_path / "my-project"
    (project / ".git").mkdir(parents=True)
    (project / "important.txt").write_text("years of work")
    with pytest.raises(InputError, match=f"is not a demo directory .* and no {MARKER}"):
        run_demo(project, emit=lambda *_: None)
    monkeypatch.chdir(project)
    assert run(monkeypatch, "demo", "--workdir", ".") == 2
    assert f"error: {project} is not a demo directory" in capsys.readouterr().err
    assert sorted(p.name for p in project.iterdir()) == [".git", "important.txt"]
    assert (project / "important.txt").read_text() == "years of work"


def test_a_file_is_not_a_demo_directory(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    with pytest.raises(InputError, match="is not a directory"):
        claim_workdir(path)
    assert path.read_text() == "mine"


def test_a_new_or_empty_directory_is_taken_and_marked(tmp_path: Path) -> None:
    new, empty = tmp_path / "a" / "new", tmp_path / "empty"
    empty.mkdir()
    for workdir in (new, empty):
        claim_workdir(workdir)
        assert [p.name for p in workdir.iterdir()] == [MARKER]


def test_a_directory_an_earlier_run_made_is_emptied(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    claim_workdir(workdir)
    (workdir / "data").mkdir()
    (workdir / "data" / "vanguard.db").write_text("the last run's store")
    (workdir / "vanguard.yaml").write_text("data_dir: data\n")
    claim_workdir(workdir)
    assert [p.name for p in workdir.iterdir()] == [MARKER]


def test_the_help_says_what_happens_to_the_directory(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    assert run(monkeypatch, "demo", "--help") == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "which is emptied first; any other is refused" in said
