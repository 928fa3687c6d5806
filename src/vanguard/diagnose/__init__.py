"""Diagnose: match alerts to known patterns; explain and classify CI failures."""

from vanguard.diagnose.matcher import match
from vanguard.diagnose.operators import FIELDS, Operator
from vanguard.diagnose.patterns import Condition, Pattern, builtin_patterns_dir, load_patterns

__all__ = [
    "FIELDS",
    "Condition",
    "Operator",
    "Pattern",
    "builtin_patterns_dir",
    "load_patterns",
    "match",
]
