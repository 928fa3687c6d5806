"""Detect: pure streaming detectors and the per-series watch the loop runs on every sample."""

from vanguard.detect.base import Detector, Thresholded
from vanguard.detect.default import (
    DEFAULT_PARAMS,
    DefaultDetector,
    DefaultParams,
    DefaultState,
    score_batch,
)
from vanguard.detect.registry import DETECTORS, create, score_series
from vanguard.detect.watch import SeriesState, WatchRule, fingerprint, step
from vanguard.detect.zscore import RollingZScore

__all__ = [
    "DEFAULT_PARAMS",
    "DETECTORS",
    "DefaultDetector",
    "DefaultParams",
    "DefaultState",
    "Detector",
    "RollingZScore",
    "SeriesState",
    "Thresholded",
    "WatchRule",
    "create",
    "fingerprint",
    "score_batch",
    "score_series",
    "step",
]
