"""Detect: pure streaming detectors and the per-series watch the loop runs on every sample."""

from vanguard.detect.default import DEFAULT_PARAMS, DefaultParams, DefaultState, score_batch
from vanguard.detect.watch import SeriesState, WatchRule, fingerprint, step

__all__ = [
    "DEFAULT_PARAMS",
    "DefaultParams",
    "DefaultState",
    "SeriesState",
    "WatchRule",
    "fingerprint",
    "score_batch",
    "step",
]
