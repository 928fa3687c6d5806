"""Learn: outcome statistics and per-pattern confidence calibration."""

from vanguard.learn.calibration import (
    FAILURE,
    SUCCESS,
    OutcomeCounts,
    Posterior,
    calibrate,
    calibrate_patterns,
    count_outcomes,
    outcome_kind,
    posterior,
)
from vanguard.learn.stats import (
    PatternConfidence,
    PatternStats,
    pattern_confidences,
    summarize,
)

__all__ = [
    "FAILURE",
    "SUCCESS",
    "OutcomeCounts",
    "PatternConfidence",
    "PatternStats",
    "Posterior",
    "calibrate",
    "calibrate_patterns",
    "count_outcomes",
    "outcome_kind",
    "pattern_confidences",
    "posterior",
    "summarize",
]
