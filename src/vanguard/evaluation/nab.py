"""Numenta Anomaly Benchmark scoring, implemented from the rules in the corpus README.

Each row of a file gets a weight: inside a labelled window, a scaled sigmoid of its position
(1 at the window start, falling to 0 at its end, times ``tp``); outside, a negative weight
(``-fp`` before the first window, less harmful just after a window). Rows in the probation
period (the first 15 %, at most 750 rows) are not scored. For a threshold, a detector
earns the best weight among its detections in each window (else ``-fn``) plus the weights of
its detections outside windows. The threshold is optimised over the whole corpus and the
total is normalised so that the null detector scores 0 and a perfect one 100.

Scores for every threshold are computed at once: each window contributes a step function of
the threshold (its running best weight), each outside row a single step, so one sort of all
steps gives the total at every candidate threshold. A threshold fixed in advance (a
detector's operating point, such as the watch's alert level) is read off the same totals.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from vanguard.errors import InputError

__all__ = [
    "PROFILES",
    "CorpusScore",
    "NabFile",
    "Profile",
    "load_corpus",
    "load_profiles",
    "probation_length",
    "row_weights",
    "scaled_sigmoid",
    "score_corpus",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class Profile(BaseModel):
    """An application profile: the cost of a true positive, false positive, false negative."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    tp: float = Field(gt=0.0)
    fp: float = Field(ge=0.0)
    fn: float = Field(ge=0.0)


PROFILES: tuple[Profile, ...] = (
    Profile(name="standard", tp=1.0, fp=0.11, fn=1.0),
    Profile(name="reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0),
    Profile(name="reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0),
)


@dataclass(frozen=True)
class NabFile:
    """One series of the corpus: times (epoch seconds), values, windows as row ranges."""

    name: str
    times: F64
    values: F64
    windows: tuple[tuple[int, int], ...]


class CorpusScore(BaseModel):
    """A profile's score over the corpus, with the threshold it was measured at."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    profile: str
    threshold: float
    raw: float
    normalized: float
    detected_windows: int
    windows: int
    false_positives: int


def scaled_sigmoid(position: float) -> float:
    """NAB's weight of a relative position: 0.987 at -1, 0 at 0, -0.987 at 1, -1 from 3."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_length(rows: int) -> int:
    """Rows at the start of a file that are not scored: 15 %, at most 750."""
    return min(math.floor(0.15 * rows), 750)


def row_weights(rows: int, windows: Sequence[tuple[int, int]], profile: Profile) -> tuple[F64, I64]:
    """Weight of a detection at each row and its window index (-1 outside windows)."""
    weights = np.empty(rows)
    window_of = np.full(rows, -1, dtype=np.int64)
    max_tp = scaled_sigmoid(-1.0)
    ordered = sorted(windows)
    w = 0
    prev_right: int | None = None
    prev_width = 0
    i = 0
    while i < rows:
        if w < len(ordered) and i == ordered[w][0]:
            start, end = ordered[w]
            width = end - start + 1
            for j in range(start, end + 1):
                weights[j] = scaled_sigmoid(-(end - j + 1) / width) * profile.tp / max_tp
                window_of[j] = w
            prev_right, prev_width = end, width
            w += 1
            i = end + 1
            continue
        position = 3.0 if prev_right is None else abs(prev_right - i) / max(prev_width - 1, 1)
        weights[i] = scaled_sigmoid(position) * profile.fp
        i += 1
    return weights, window_of


def score_corpus(
    files: Sequence[NabFile],
    scores: Sequence[F64],
    profile: Profile,
    threshold: float | None = None,
) -> CorpusScore:
    """Best normalised score of ``scores`` (one array per file) over every threshold, or
    the score at ``threshold`` when given: an operating point fixed in advance (the watch's
    alert level), which may score below the null detector."""
    thresholds: list[F64] = []
    deltas: list[F64] = []
    counted = 0
    total_windows = 0
    fp_rows: list[F64] = []
    for nab, score in zip(files, scores, strict=True):
        rows = len(nab.values)
        if len(score) != rows:
            raise InputError(f"{nab.name}: {len(score)} scores for {rows} rows")
        weights, window_of = row_weights(rows, nab.windows, profile)
        scored = np.arange(rows) >= probation_length(rows)
        total_windows += len(nab.windows)
        outside = scored & (window_of < 0)
        thresholds.append(score[outside])
        deltas.append(weights[outside])
        fp_rows.append(score[outside])
        for k in range(len(nab.windows)):
            inside = scored & (window_of == k)
            if not inside.any():
                continue
            counted += 1
            s, wt = score[inside], weights[inside]
            order = np.argsort(-s, kind="stable")
            best = np.maximum.accumulate(wt[order])
            step = np.diff(np.concatenate(([-profile.fn], best)))
            thresholds.append(s[order])
            deltas.append(step)
    all_t = np.concatenate(thresholds) if thresholds else np.empty(0)
    all_d = np.concatenate(deltas) if deltas else np.empty(0)
    null = -profile.fn * counted
    best_raw, best_t = null, math.inf
    if len(all_t):
        order = np.argsort(-all_t, kind="stable")
        t_sorted = all_t[order]
        cum = null + np.cumsum(all_d[order])
        if threshold is not None:
            reached = int(np.count_nonzero(t_sorted >= threshold))
            best_raw = float(cum[reached - 1]) if reached else null
        else:
            last_of_tie = np.r_[t_sorted[1:] != t_sorted[:-1], True]
            candidates = cum[last_of_tie]
            k = int(np.argmax(candidates))
            if candidates[k] > best_raw:
                best_raw, best_t = float(candidates[k]), float(t_sorted[last_of_tie][k])
    if threshold is not None:
        best_t = threshold
    perfect = profile.tp * total_windows
    floor = -profile.fn * total_windows
    detected = 0
    for nab, score in zip(files, scores, strict=True):
        _, window_of = row_weights(len(nab.values), nab.windows, profile)
        scored = np.arange(len(score)) >= probation_length(len(score))
        hit = scored & (window_of >= 0) & (score >= best_t)
        detected += len(np.unique(window_of[hit]))
    false_positives = int(sum(int((s >= best_t).sum()) for s in fp_rows))
    return CorpusScore(
        profile=profile.name,
        threshold=best_t,
        raw=best_raw,
        normalized=100.0 * (best_raw - floor) / (perfect - floor) if perfect > floor else 0.0,
        detected_windows=detected,
        windows=total_windows,
        false_positives=false_positives,
    )


def load_profiles(path: Path) -> tuple[Profile, ...]:
    """Profiles from NAB's ``config/profiles.json``."""
    try:
        raw = json.loads(path.read_text())
        return tuple(
            Profile(
                name=name,
                tp=body["CostMatrix"]["tpWeight"],
                fp=body["CostMatrix"]["fpWeight"],
                fn=body["CostMatrix"]["fnWeight"],
            )
            for name, body in raw.items()
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: cannot read NAB profiles: {exc}") from exc


def _epoch(stamp: str) -> float:
    return float(np.datetime64(stamp.strip()[:19].replace(" ", "T"), "s").astype(np.int64))


def load_corpus(root: Path) -> list[NabFile]:
    """Every file listed in ``labels/combined_windows.json`` under ``root``, sorted by name."""
    labels_path = root / "labels" / "combined_windows.json"
    try:
        labels: dict[str, list[list[str]]] = json.loads(labels_path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{labels_path}: cannot read NAB labels: {exc}") from exc
    files = []
    for name in sorted(labels):
        path = root / "data" / name
        try:
            with path.open(newline="") as fh:
                rows = list(csv.reader(fh))
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc}") from exc
        if not rows or rows[0][:2] != ["timestamp", "value"]:
            raise InputError(f"{path}: expected header timestamp,value")
        times = np.array([_epoch(r[0]) for r in rows[1:]])
        values = np.array([float(r[1]) for r in rows[1:]])
        windows = []
        for start, end in labels[name]:
            t0, t1 = _epoch(start), _epoch(end)
            i0 = int(np.searchsorted(times, t0, side="left"))
            i1 = int(np.searchsorted(times, t1, side="left"))
            windows.append((i0, min(i1, len(times) - 1)))
        files.append(NabFile(name=name, times=times, values=values, windows=tuple(windows)))
    return files
