"""Diagnose: match alerts to known patterns; explain and classify CI failures."""

from vanguard.diagnose.cilog import ExplainedLine, Explanation, explain
from vanguard.diagnose.classify import Classification, classify
from vanguard.diagnose.matcher import match
from vanguard.diagnose.operators import FIELDS, Operator
from vanguard.diagnose.patterns import Condition, Pattern, builtin_patterns_dir, load_patterns
from vanguard.diagnose.taxonomy import Taxonomy, builtin_taxonomy, load_taxonomy

__all__ = [
    "FIELDS",
    "Classification",
    "Condition",
    "ExplainedLine",
    "Explanation",
    "Operator",
    "Pattern",
    "Taxonomy",
    "builtin_patterns_dir",
    "builtin_taxonomy",
    "classify",
    "explain",
    "load_patterns",
    "load_taxonomy",
    "match",
]
