"""Detector names to constructors, and scoring a whole series with any of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from vanguard.detect.base import Detector
from vanguard.detect.default import DefaultDetector, score_batch
from vanguard.detect.zscore import RollingZScore
from vanguard.errors import InputError

__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "create", "score_series"]

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
    if name == DEFAULT_DETECTOR:
        stamps = None if times is None else times[None, :]
        scores: NDArray[np.float64] = score_batch(values[None, :], times=stamps)[0]
        return scores
    detector = create(name)
    out = np.zeros(len(values))
    moments: list[float | None] = [None] * len(values) if times is None else times.tolist()
    for i, (x, t) in enumerate(zip(values.tolist(), moments, strict=True)):
        if np.isfinite(x):
            out[i] = detector.score_one(x, t)
            detector.learn_one(x, t)
    return out
