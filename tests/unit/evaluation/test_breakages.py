"""CiDiff breakages: ground truth parsed with clear errors, context lines scored neither way.

The breakages here are written by hand in the dataset's layout; the real ones are read
only by ``vanguard bench breakages`` from a clone of the CiDiff repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vanguard.cli.apps import app
from vanguard.errors import InputError
from vanguard.evaluation.breakages import (
    load_breakages,
    parse_groundtruth,
    run_breakages,
    score_breakage,
)

FAIL = """\
Started by timer
[INFO] Scanning for projects...
[INFO] Compiling 12 source files
[INFO] -------------------------------------------------------------
[ERROR] COMPILATION ERROR :
[INFO] -------------------------------------------------------------
[ERROR] /builds/ws/src/main/java/a/Stock.java:[31,17] cannot find symbol
  symbol:   method reserve(int)
[INFO] 1 error
[INFO] BUILD FAILURE
Finished: FAILURE
"""
PASS = """\
Started by timer
[INFO] Scanning for projects...
[INFO] Compiling 12 source files
[INFO] BUILD SUCCESS
Finished: SUCCESS
"""


def _case(root: Path, name: str, groundtruth: str) -> Path:
    case = root / "data" / "breakages" / name
    case.mkdir(parents=True)
    (case / "fail.log").write_text(FAIL)
    (case / "pass.log").write_text(PASS)
    (case / "groundtruth").write_text(groundtruth)
    return case


def test_groundtruth_reads_shape_errors_and_context(tmp_path: Path) -> None:
    case = _case(tmp_path, "stock_1", "DEFAULT\nC 5\nE 7-8\n")
    shape, errors, context = parse_groundtruth(case / "groundtruth")
    assert shape == "DEFAULT"
    assert errors == {7, 8}
    assert context == {5}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("JENKINS\nE 7\n", ":1: expected a log shape"),
        ("DEFAULT\nE seven\n", ":2: expected 'E 34-45'"),
        ("DEFAULT\nX 7\n", ":2: expected 'E 34-45'"),
        ("DEFAULT\nC 5\n", "no error line"),
    ],
)
def test_a_bad_groundtruth_names_its_line(tmp_path: Path, text: str, where: str) -> None:
    case = _case(tmp_path, "bad", text)
    with pytest.raises(InputError, match=where):
        parse_groundtruth(case / "groundtruth")


def test_a_folder_without_breakages_says_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="git clone --depth 1"):
        load_breakages(tmp_path / "nowhere")


def test_context_lines_count_neither_for_nor_against(tmp_path: Path) -> None:
    (case,) = load_breakages(_root_with(tmp_path, "DEFAULT\nC 5\nE 7-8\n"))
    with_context = score_breakage(case, [5, 7, 8], [5, 7, 8])
    without = score_breakage(case, [7, 8], [7, 8])
    assert with_context.precision == without.precision == 1.0
    assert with_context.f1 == 1.0
    assert not with_context.hit1, "a context line ranked first is not the error"
    assert with_context.hit5
    assert score_breakage(case, [2, 3], [2, 3]).f1 == 0.0


def test_the_explained_breakage_is_scored_with_and_without_its_passing_run(
    tmp_path: Path,
) -> None:
    cases = load_breakages(_root_with(tmp_path, "DEFAULT\nC 5\nE 7-8\n"))
    for baseline in (False, True):
        (score,) = run_breakages(cases, baseline=baseline)
        assert score.hit1, "the compiler's message, not the COMPILATION ERROR heading"
        assert score.category == "compile"
    result = CliRunner().invoke(app, ["bench", "breakages", "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "CiDiff breakages, 1 logs, zero-shot" in result.output
    assert "regression check passed" in result.output


def _root_with(root: Path, groundtruth: str) -> Path:
    _case(root, "stock_1", groundtruth)
    return root
