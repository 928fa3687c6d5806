"""Learn: outcome statistics and per-pattern confidence calibration."""

from vanguard.learn.calibration import (
    FAILURE,
    SUCCESS,
    Posterior,
    calibrate,
    calibrate_patterns,
    outcome_kind,
    posterior,
)
from vanguard.learn.stats import PatternStats, summarize

__all__ = [
    "FAILURE",
    "SUCCESS",
    "PatternStats",
    "Posterior",
    "calibrate",
    "calibrate_patterns",
    "outcome_kind",
    "posterior",
    "summarize",
]
