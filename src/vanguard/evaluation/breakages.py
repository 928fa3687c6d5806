"""Score ``explain`` on CiDiff's breakages: failed logs of other CI systems, with a passing run.

The CiDiff study (Hubner, Falleri, Uricaru, Degueule, Durieux, ISSTA 2025; Apache-2.0,
https://github.com/labri-progress/cidiff, folder ``data/breakages``) published pairs of
build logs, one failing and one passing run of the same job, from Jenkins (Maven and
Gradle builds) and GitHub Actions, with the failing log's error lines labelled. None of
Vanguard's models saw them: they are a zero-shot check on CI systems and years LogChunks
(Travis, 2018–2019) does not cover, and the one place where the passing log can be given
as ``--baseline``, as it would be in use.

Each breakage is a folder with ``fail.log``, ``pass.log`` and ``groundtruth``: a first
line naming the log shape (``DEFAULT``, ``RAW_GITHUB``, ``FULL_GITHUB``), then lines ``E
34-45`` (error lines) or ``C 33`` (context that helps read them). Line numbers count a lone
``\\r`` as a line end, as ``iter_log_lines`` does. Scoring follows LogChunks's (see
``vanguard.evaluation.logchunks``) with the error lines as gold, except that a context
line is neither right nor wrong: it is left out of the answer before precision is taken.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from vanguard.diagnose.cilog import ModelChoice, explain, iter_log_lines, read_chunks
from vanguard.errors import InputError
from vanguard.evaluation.logchunks import LogScore, score_log

__all__ = ["Breakage", "load_breakages", "parse_groundtruth", "run_breakages", "score_breakage"]

SHAPES = frozenset({"DEFAULT", "RAW_GITHUB", "FULL_GITHUB"})


class Breakage(BaseModel):
    """One failing log, its passing twin, and the labelled lines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    fail: Path
    passed: Path
    shape: str
    errors: frozenset[int]
    context: frozenset[int]

    @property
    def system(self) -> str:
        return "GitHub Actions" if "GITHUB" in self.shape else "Jenkins"


def parse_groundtruth(path: Path) -> tuple[str, frozenset[int], frozenset[int]]:
    """The shape, error lines and context lines of a ``groundtruth`` file."""
    try:
        rows = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    if not rows or rows[0].strip() not in SHAPES:
        got = rows[0].strip() if rows else ""
        raise InputError(
            f"{path}:1: expected a log shape ({', '.join(sorted(SHAPES))}), got {got!r}"
        )
    errors: set[int] = set()
    context: set[int] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not row.strip():
            continue
        kind, _, span = row.strip().partition(" ")
        first, _, last = span.strip().partition("-")
        if kind not in ("E", "C") or not first.isdigit() or (last and not last.isdigit()):
            raise InputError(f"{path}:{number}: expected 'E 34-45', 'E 56' or 'C 33', got {row!r}")
        lines = range(int(first), int(last or first) + 1)
        (errors if kind == "E" else context).update(lines)
    if not errors:
        raise InputError(f"{path}: no error line ('E ...') is labelled")
    return rows[0].strip(), frozenset(errors), frozenset(context - errors)


def load_breakages(root: Path) -> list[Breakage]:
    """Every breakage under ``root`` (a CiDiff clone, or its ``data/breakages``), by name."""
    folder = root / "data" / "breakages" if (root / "data" / "breakages").is_dir() else root
    if not folder.is_dir():
        raise InputError(
            f"{root}: no breakages here; clone them with "
            "`git clone --depth 1 https://github.com/labri-progress/cidiff` and pass the clone"
        )
    found: list[Breakage] = []
    for case in sorted(p for p in folder.iterdir() if p.is_dir()):
        missing = [n for n in ("fail.log", "pass.log", "groundtruth") if not (case / n).is_file()]
        if missing:
            raise InputError(f"{case}: missing {', '.join(missing)}")
        shape, errors, context = parse_groundtruth(case / "groundtruth")
        found.append(
            Breakage(
                name=case.name,
                fail=case / "fail.log",
                passed=case / "pass.log",
                shape=shape,
                errors=errors,
                context=context,
            )
        )
    if not found:
        raise InputError(f"{folder}: no breakage folders (fail.log, pass.log, groundtruth)")
    return found


def _lines(path: Path) -> list[str]:
    with path.open("rb") as stream:
        return list(iter_log_lines(read_chunks(stream)))


def score_breakage(
    breakage: Breakage,
    ranked: Sequence[int],
    answer: Sequence[int],
    *,
    seconds: float = 0.0,
    category: str = "",
) -> LogScore:
    """LogChunks's scores with the error lines as gold; context lines count neither way."""
    neutral = breakage.context
    score = score_log(
        breakage.name,
        [n for n in ranked if n not in neutral],
        breakage.errors,
        answer=[n for n in answer if n not in neutral],
        seconds=seconds,
        category=category,
    )
    gold = breakage.errors
    return score.model_copy(
        update={
            "hit1": any(n in gold for n in ranked[:1]),
            "hit5": any(n in gold for n in ranked[:5]),
        }
    )


def run_breakages(
    breakages: Sequence[Breakage],
    *,
    baseline: bool,
    model: ModelChoice = "builtin",
    on_done: Callable[[LogScore], None] | None = None,
) -> list[LogScore]:
    """Explain every failing log (with its passing twin as baseline when asked) and score it."""
    scores: list[LogScore] = []
    for case in breakages:
        failed = _lines(case.fail)
        passed = _lines(case.passed) if baseline else None
        started = time.perf_counter()
        explanation = explain(failed, passed, model=model)
        seconds = time.perf_counter() - started
        score = score_breakage(
            case,
            [line.number for line in explanation.lines],
            explanation.answer,
            seconds=seconds,
            category=explanation.category,
        )
        scores.append(score)
        if on_done is not None:
            on_done(score)
    return scores
