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
from vanguard.verify.series import (
    SeriesJudgement,
    Unmatched,
    combine_verifications,
    judge_each_series,
    own_series,
)
from vanguard.verify.settle import Settlement, settle

__all__ = [
    "SeriesJudgement",
    "Settlement",
    "Unmatched",
    "combine_verifications",
    "compare",
    "counter_rates",
    "holm",
    "judge_each_series",
    "mann_kendall_p",
    "mann_whitney_p",
    "own_series",
    "settle",
    "theil_sen_slope",
    "unproven",
]
