"""Score ``explain`` against LogChunks: 797 failed Travis logs with the labelled failure lines.

Metrics (also in docs/ci-failures.md): the gold set G of a log is the labelled chunk's lines
plus those of its verbatim copies; the answer A is every line ``explain`` returns. Per log,
precision = |A ∩ G| / |A|, recall = |A ∩ G| / |G|, F1 their harmonic mean; hit@k is 1 when
one of the first k ranked lines is in G. All are averaged over logs, so each log weighs the
same. The logs are unpacked once into a cache directory outside the repository.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import statistics
import tarfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vanguard.diagnose.cilog import (
    Explanation,
    LogContext,
    ModelChoice,
    candidate_table,
    context_of,
    explain,
    extent_table,
    extent_words,
    first_block,
    iter_log_lines,
    read_chunks,
)
from vanguard.diagnose.linemodel import ExtentModel, LineModel, train_logistic
from vanguard.diagnose.trees import TreeOptions, fit_trees
from vanguard.errors import InputError

__all__ = [
    "LogChunksRecord",
    "LogFeatures",
    "LogScore",
    "Summary",
    "TrainingOptions",
    "default_cache",
    "ensure_unpacked",
    "extract_features",
    "fit_extent",
    "fit_line_model",
    "fold_models",
    "load_labels",
    "repository_fold",
    "repository_half",
    "run_logchunks",
    "score_log",
    "summarize",
    "train_models",
]

LABELS = "labels.jsonl"
FloatArray = npt.NDArray[np.float64]
ARCHIVE = "logs.tar.gz"


def default_cache() -> Path:
    """Where the unpacked logs live: ``~/.cache/vanguard/logchunks``."""
    return Path.home() / ".cache" / "vanguard" / "logchunks"


class LogChunksRecord(BaseModel):
    """The fields of one ``labels.jsonl`` record that scoring needs."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    log: str
    repo: str
    lines: tuple[int, ...] = Field(min_length=1)
    other_occurrences: tuple[tuple[int, ...], ...] = ()
    log_line_count: int

    @property
    def gold(self) -> frozenset[int]:
        return frozenset(self.lines).union(*self.other_occurrences)


class LogScore(BaseModel):
    """How one explanation fared against its label."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    precision: float
    recall: float
    f1: float
    hit1: bool
    hit5: bool
    seconds: float
    category: str
    answer_f1: float = 0.0


class Summary(BaseModel):
    """Averages over logs, and the time per log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    logs: int
    precision: float
    recall: float
    f1: float
    hit1: float
    hit5: float
    mean_seconds: float
    max_seconds: float
    categories: dict[str, int]
    answer_f1: float = 0.0


def score_log(
    record_id: str,
    ranked: Sequence[int],
    gold: frozenset[int],
    *,
    seconds: float = 0.0,
    category: str = "",
    answer: Sequence[int] = (),
) -> LogScore:
    """Line-level precision, recall, F1 and hit@1/hit@5 for one ranked answer.

    ``answer_f1`` is the F1 of ``answer`` alone (the best report, without the further
    candidates ``ranked`` also lists): a second reading, not the headline.
    """
    precision, recall, f1 = _overlap(set(ranked), gold)
    return LogScore(
        id=record_id,
        precision=precision,
        recall=recall,
        f1=f1,
        hit1=any(n in gold for n in ranked[:1]),
        hit5=any(n in gold for n in ranked[:5]),
        seconds=seconds,
        category=category,
        answer_f1=_overlap(set(answer), gold)[2],
    )


def _overlap(found: set[int], gold: frozenset[int]) -> tuple[float, float, float]:
    """Precision, recall and F1 of ``found`` against ``gold`` (F1 0 when they share none)."""
    right = len(found & gold)
    precision = right / len(found) if found else 0.0
    recall = right / len(gold) if gold else 0.0
    return precision, recall, 2 * precision * recall / (precision + recall) if right else 0.0


def summarize(scores: Sequence[LogScore]) -> Summary:
    """Average the per-log scores."""
    if not scores:
        raise InputError("no logs were scored")
    categories: dict[str, int] = {}
    for score in scores:
        categories[score.category] = categories.get(score.category, 0) + 1
    return Summary(
        logs=len(scores),
        precision=statistics.fmean(s.precision for s in scores),
        recall=statistics.fmean(s.recall for s in scores),
        f1=statistics.fmean(s.f1 for s in scores),
        hit1=statistics.fmean(float(s.hit1) for s in scores),
        hit5=statistics.fmean(float(s.hit5) for s in scores),
        mean_seconds=statistics.fmean(s.seconds for s in scores),
        max_seconds=max(s.seconds for s in scores),
        categories=dict(sorted(categories.items(), key=lambda kv: -kv[1])),
        answer_f1=statistics.fmean(s.answer_f1 for s in scores),
    )


def repository_half(repo: str) -> int:
    """0 or 1, fixed per repository: rules are developed on half 0 and checked on half 1.

    LogChunks has about ten logs per repository, so a split by log would let a rule learn a
    repository from its siblings; a split by repository tells generalisation from fitting.
    """
    return hashlib.sha256(repo.encode()).digest()[0] % 2


def repository_fold(repo: str, folds: int) -> int:
    """The fold (``0 .. folds-1``) of a repository for grouped cross-validation.

    Every log of a repository falls in the same fold, so a model scored on a fold never saw
    a log of the repositories it is scored on.
    """
    return int.from_bytes(hashlib.sha256(repo.encode()).digest()[1:5], "big") % folds


def load_labels(data: Path) -> list[LogChunksRecord]:
    """Read ``labels.jsonl`` from the data set folder."""
    path = data / LABELS
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read LogChunks labels: {exc.strerror}") from exc
    records: list[LogChunksRecord] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(LogChunksRecord.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise InputError(f"{path}:{number}: not a LogChunks record: {exc}") from exc
    return records


def ensure_unpacked(data: Path, cache: Path) -> Path:
    """Unpack ``logs.tar.gz`` into ``cache`` unless it is already there; returns ``cache``."""
    marker = cache / ".unpacked"
    if marker.exists():
        return cache
    archive = data / ARCHIVE
    if not archive.is_file():
        raise InputError(f"{archive}: LogChunks archive not found")
    cache.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(cache, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise InputError(f"{archive}: cannot unpack: {exc}") from exc
    marker.write_text("ok\n", encoding="utf-8")
    return cache


def explain_file(path: Path, model: ModelChoice = "builtin") -> Explanation:
    """Explain one log file, streamed from disk."""
    with path.open("rb") as stream:
        return explain(iter_log_lines(read_chunks(stream)), model=model)


class LogFeatures(BaseModel):
    """The line model's view of one log: candidate lines, their features and gold labels."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    id: str
    repo: str
    numbers: tuple[int, ...]
    dense: npt.NDArray[np.float64]
    hashed: tuple[tuple[int, ...], ...]
    labels: npt.NDArray[np.float64]


def extract_features(
    root: Path,
    records: Iterable[LogChunksRecord],
    on_done: Callable[[LogFeatures], None] | None = None,
) -> list[LogFeatures]:
    """Candidate lines and features of every log, labelled 1 where the line is in gold."""
    found: list[LogFeatures] = []
    for record in records:
        ctx = _context_of_file(root / record.log)
        if ctx is None:
            continue
        table = candidate_table(ctx)
        gold = record.gold
        item = LogFeatures(
            id=record.id,
            repo=record.repo,
            numbers=tuple(table.numbers),
            dense=table.dense,
            hashed=tuple(tuple(row) for row in table.hashed),
            labels=np.array([float(n in gold) for n in table.numbers]),
        )
        found.append(item)
        if on_done is not None:
            on_done(item)
    return found


@dataclass(frozen=True)
class TrainingOptions:
    """Settings of the line model's training (see ``train_logistic``) and of its use.

    ``extra_seeds`` and ``extra_ratio`` (how many other candidates are listed, and how
    probable relative to the best), ``merge_gap`` (how near the best block a listed
    candidate's block must lie to join it), ``extent_threshold`` and ``extent_gap`` are stored
    with the model; the defaults were chosen on the out-of-fold figures. ``trees`` grow the
    boosted trees over the numeric features (``None``: none), weighing ``blend`` in a line's
    logit. ``extent_words`` lets the extent model weigh the hashed words of each line too
    (L2 ``extent_l2_hashed`` on their weights); measured within noise, so off by default.
    """

    l2: float = 1e-3
    l2_hashed: float = 1e-2
    steps: int = 600
    listwise: float = 1.0
    extent_steps: int = 400
    extent_threshold: float = 0.35
    extent_gap: int = 4
    extra_seeds: int = 4
    extra_ratio: float = 0.3
    merge_gap: int | None = 1
    trees: TreeOptions | None = dataclasses.field(default_factory=TreeOptions)
    blend: float = 0.5
    extent_trees: TreeOptions | None = None
    extent_blend: float = 0.5
    extent_words: bool = False
    extent_l2_hashed: float = 1e-2


def fit_line_model(
    logs: Sequence[LogFeatures], options: TrainingOptions | None = None
) -> LineModel:
    """Train the line scorer on these logs; each log weighs the same."""
    chosen = [log for log in logs if log.numbers]
    if not chosen:
        raise InputError("no logs to train the line model on (a fold needs other repositories)")
    settings = options if options is not None else TrainingOptions()
    dense = np.vstack([log.dense for log in chosen])
    labels = np.concatenate([log.labels for log in chosen])
    weights = np.concatenate([np.full(len(log.numbers), 1.0 / len(log.numbers)) for log in chosen])
    sizes = np.array([len(log.numbers) for log in chosen], dtype=np.int64)
    groups = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    lengths = [len(row) for log in chosen for row in log.hashed]
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = np.fromiter(
        (i for log in chosen for row in log.hashed for i in row), dtype=np.int64, count=indptr[-1]
    )
    fitted = train_logistic(
        dense,
        indptr,
        indices,
        labels,
        weights=weights,
        l2=settings.l2,
        l2_hashed=settings.l2_hashed,
        steps=settings.steps,
        groups=groups,
        listwise=settings.listwise,
    )
    trees = (
        fit_trees(dense, labels, weights, settings.trees) if settings.trees is not None else None
    )
    return dataclasses.replace(
        fitted,
        extra_seeds=settings.extra_seeds,
        extra_ratio=settings.extra_ratio,
        merge_gap=settings.merge_gap,
        trees=trees,
        blend=settings.blend if trees is not None else 0.0,
    )


def fold_models(
    logs: Sequence[LogFeatures], folds: int, options: TrainingOptions | None = None
) -> dict[int, LineModel]:
    """One model per fold, each trained only on the logs of repositories outside that fold."""
    return {
        fold: fit_line_model(
            [log for log in logs if repository_fold(log.repo, folds) != fold], options
        )
        for fold in range(folds)
    }


ALL_LOGS = -1
"""Key of the model trained on every log, next to the fold keys ``0 .. folds-1``."""


def train_models(
    root: Path,
    records: Sequence[LogChunksRecord],
    logs: Sequence[LogFeatures],
    folds: int,
    options: TrainingOptions | None = None,
    *,
    everything: bool = False,
) -> dict[int, LineModel]:
    """Seed and extent models per fold (and, with ``everything``, on all logs as ``ALL_LOGS``).

    The seed models come first (``fold_models``); then one more pass over the logs finds, for
    each model, the block it would start from in the logs it was trained on, and the extent
    model of that fold learns from those blocks only.
    """
    seeds = fold_models(logs, folds, options)
    if everything:
        seeds[ALL_LOGS] = fit_line_model(logs, options)
    settings = options if options is not None else TrainingOptions()
    examples: dict[int, list[ExtentExample]] = {key: [] for key in seeds}
    for record in records:
        fold = repository_fold(record.repo, folds)
        keys = [key for key in seeds if key != fold]
        ctx = _context_of_file(root / record.log)
        if ctx is None:
            continue
        gold = record.gold
        for key in keys:
            found = first_block(ctx, seeds[key])
            if found is None:
                continue
            seed, block, probability = found
            numbers, dense = extent_table(ctx, seed, block, probability)
            labels = np.array([float(n in gold) for n in numbers])
            words = extent_words(ctx, seed, numbers) if settings.extent_words else None
            examples[key].append((dense, labels, words))
    return {
        key: dataclasses.replace(model, extent=fit_extent(examples[key], options))
        for key, model in seeds.items()
    }


ExtentExample = tuple[FloatArray, FloatArray, list[list[int]] | None]
"""One log's lines around its seed: features, labels and (optionally) hashed words."""


def fit_extent(
    examples: Sequence[ExtentExample], options: TrainingOptions | None = None
) -> ExtentModel:
    """Train the extent model on the lines around each log's seed."""
    settings = options if options is not None else TrainingOptions()
    chosen = [example for example in examples if len(example[1])]
    if not chosen:
        raise InputError("no logs to train the extent model on (a fold needs other repositories)")
    dense = np.vstack([d for d, _l, _w in chosen])
    labels = np.concatenate([lab for _d, lab, _w in chosen])
    weights = np.concatenate([np.full(len(lab), 1.0 / len(lab)) for _d, lab, _w in chosen])
    rows = [row for _d, lab, words in chosen for row in (words or [[]] * len(lab))]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(row) for row in rows], out=indptr[1:])
    indices = np.fromiter((i for row in rows for i in row), dtype=np.int64, count=indptr[-1])
    fitted = train_logistic(
        dense,
        indptr,
        indices,
        labels,
        weights=weights,
        l2=settings.l2,
        l2_hashed=settings.extent_l2_hashed,
        steps=settings.extent_steps,
    )
    trees = (
        fit_trees(dense, labels, weights, settings.extent_trees)
        if settings.extent_trees is not None
        else None
    )
    return ExtentModel(
        dense=fitted.dense,
        mean=fitted.mean,
        scale=fitted.scale,
        bias=fitted.bias,
        threshold=settings.extent_threshold,
        gap=settings.extent_gap,
        trees=trees,
        blend=settings.extent_blend if trees is not None else 0.0,
        hashed=fitted.hashed if settings.extent_words else None,
    )


def _context_of_file(path: Path) -> LogContext | None:
    try:
        with path.open("rb") as stream:
            return context_of(iter_log_lines(read_chunks(stream)))
    except OSError as exc:
        raise InputError(f"{path}: cannot read log: {exc.strerror}") from exc


def run_logchunks(
    data: Path,
    cache: Path,
    *,
    records: Iterable[LogChunksRecord] | None = None,
    on_done: Callable[[LogScore], None] | None = None,
    model: ModelChoice | Callable[[LogChunksRecord], ModelChoice] = "builtin",
) -> list[LogScore]:
    """Explain every labelled log and score it; ``on_done`` is told after each log.

    ``model`` is the line model to use, or a function choosing one per log (out-of-fold
    scoring passes the model of the log's fold).
    """
    root = ensure_unpacked(data, cache)
    chosen = list(records) if records is not None else load_labels(data)
    scores: list[LogScore] = []
    for record in chosen:
        path = root / record.log
        began = time.perf_counter()
        try:
            explanation = explain_file(path, model(record) if callable(model) else model)
        except OSError as exc:
            raise InputError(f"{path}: cannot read log: {exc.strerror}") from exc
        seconds = time.perf_counter() - began
        score = score_log(
            record.id,
            [line.number for line in explanation.lines],
            record.gold,
            seconds=seconds,
            category=explanation.category,
            answer=explanation.answer,
        )
        scores.append(score)
        if on_done is not None:
            on_done(score)
    return scores
