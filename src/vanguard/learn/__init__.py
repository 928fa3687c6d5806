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
    confidence_legend,
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
    "confidence_legend",
    "count_outcomes",
    "outcome_kind",
    "pattern_confidences",
    "posterior",
    "summarize",
]
