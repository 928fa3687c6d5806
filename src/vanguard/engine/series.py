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

    A candidate agrees with the alert when no label it carries has another value than the
    alert's: an alert's routing labels (``team``) are on no series, and labels a source adds
    (``instance``) are not on the alert, so neither hides the alert's series. Of the agreeing
    candidates, the alert's is the one carrying the most of the alert's labels (``pool=a``
    over an unlabelled total), and it must carry one when any candidate does (an unlabelled
    total is not pool ``b``'s series). None, or several equally specific, is no answer: a
    guess between series (another pool) is no verdict on the alerting one.
    """
    carried = {name for labels in candidates.values() for name in labels}
    told = {name: value for name, value in alert.items() if name in carried}
    shared: dict[K, int] = {
        key: sum(name in labels for name in told)
        for key, labels in candidates.items()
        if all(labels.get(name, value) == value for name, value in told.items())
    }
    most = max(shared.values(), default=0)
    found = [key for key, count in shared.items() if count == most]
    if not found or (told and most == 0):
        return Unmatched.none
    return found[0] if len(found) == 1 else Unmatched.several
