"""Verify: did the action help? Baseline versus after-action window, with evidence."""

from vanguard.verify.compare import compare, mann_kendall_p, mann_whitney_p, theil_sen_slope

__all__ = ["compare", "mann_kendall_p", "mann_whitney_p", "theil_sen_slope"]
