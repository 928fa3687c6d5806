"""Verify: did the action help? Baseline versus after-action window, with evidence."""

from vanguard.verify.compare import (
    compare,
    holm,
    mann_kendall_p,
    mann_whitney_p,
    theil_sen_slope,
    unproven,
)
from vanguard.verify.rates import counter_rates
from vanguard.verify.settle import Settlement, settle

__all__ = [
    "Settlement",
    "compare",
    "counter_rates",
    "holm",
    "mann_kendall_p",
    "mann_whitney_p",
    "settle",
    "theil_sen_slope",
    "unproven",
]
