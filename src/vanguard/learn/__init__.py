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

__all__ = [
    "FAILURE",
    "SUCCESS",
    "Posterior",
    "calibrate",
    "calibrate_patterns",
    "outcome_kind",
    "posterior",
]
