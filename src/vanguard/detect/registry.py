"""Detector names to constructors, and scoring a series, whole or in chunks, with any of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from vanguard.detect.base import Detector
from vanguard.detect.default import BatchState, DefaultDetector, score_chunk
from vanguard.detect.zscore import RollingZScore
from vanguard.errors import InputError

__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "SeriesScorer", "create", "score_series"]

DEFAULT_DETECTOR = "default"

DETECTORS: Mapping[str, Callable[[], Detector]] = MappingProxyType(
    {"default": DefaultDetector, "zscore": RollingZScore}
)


def create(name: str) -> Detector:
    """A fresh detector registered under ``name``."""
    try:
        factory = DETECTORS[name]
    except KeyError:
        known = ", ".join(sorted(DETECTORS))
        raise InputError(f"unknown detector {name!r} (known: {known})") from None
    return factory()


def score_series(
    name: str, values: NDArray[np.float64], times: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """Causal scores of one series (NaN value = no sample: score 0, detector unchanged).

    ``times`` are epoch seconds (NaN where unknown); the default detector runs its batch path.
    """
    return SeriesScorer(name).score(values, times)


class SeriesScorer:
    """Scores one series a chunk at a time, carrying the detector from each chunk to the next.

    The scores of the chunks, joined, are those of ``score_series`` on the whole series, bit
    for bit: the default detector resumes its batch path from the state ``score_chunk``
    returned, any other keeps its one ``Detector``. Memory is the detector's, not the series'.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._carried: BatchState | Detector = (
            BatchState.zeros(1) if name == DEFAULT_DETECTOR else create(name)
        )

    def score(
        self, values: NDArray[np.float64], times: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        """Scores of the next ``values`` of the series, which the detector then learns."""
        if isinstance(self._carried, BatchState):
            stamps = None if times is None else times[None, :]
            self._carried, scores = score_chunk(self._carried, values[None, :], times=stamps)
            first: NDArray[np.float64] = scores[0]
            return first
        out = np.zeros(len(values))
        moments: list[float | None] = [None] * len(values) if times is None else times.tolist()
        for i, (x, t) in enumerate(zip(values.tolist(), moments, strict=True)):
            if np.isfinite(x):
                out[i] = self._carried.score_one(x, t)
                self._carried.learn_one(x, t)
        return out
