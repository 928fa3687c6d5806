"""Which of the series read is the alert's own: one answer for every step of verification."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from enum import Enum
from typing import TypeVar

__all__ = ["Unmatched", "own_series"]

K = TypeVar("K", bound=Hashable)


class Unmatched(Enum):
    """Why no series is the alert's own: ``none`` matches, or ``several`` do."""

    none = "none"
    several = "several"


def own_series(
    alert: Mapping[str, str], candidates: Mapping[K, Mapping[str, str]]
) -> K | Unmatched:
    """The key of the one candidate series that is the alert's, told by its labels.

    Only the label names the candidates carry count: an alert's routing labels (``team``)
    are on no series and must not hide its own. The alert's series is the candidate that
    carries every remaining label with the alert's value; labels of its own the alert lacks
    (``instance``) do not matter. None or several such candidates is no answer: a guess
    between series (another pool) is no verdict on the alerting one.
    """
    carried = {name for labels in candidates.values() for name in labels}
    told = {name: value for name, value in alert.items() if name in carried}.items()
    found = [key for key, labels in candidates.items() if labels.items() >= told]
    if len(found) == 1:
        return found[0]
    return Unmatched.several if found else Unmatched.none
