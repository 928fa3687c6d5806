"""The detector contract every streaming detector follows, and thresholding as a wrapper.

``learn_one(x, t)`` folds one value into the detector; ``score_one(x, t)`` says how
anomalous ``x`` is *given what was learned before it*, in [0, 1] (high = anomalous),
without changing the detector. During warm-up ``ready`` is ``False`` and every score is 0.
Time comes with the data (``t``, epoch seconds, optional), never from a clock, so a replay
is exact.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Detector", "Thresholded"]


@runtime_checkable
class Detector(Protocol):
    """A streaming anomaly detector over one series of floats."""

    @property
    def ready(self) -> bool: ...

    def learn_one(self, x: float, t: float | None = None) -> None: ...

    def score_one(self, x: float, t: float | None = None) -> float: ...


class Thresholded:
    """Turn a detector's score into a yes/no alarm at ``threshold``.

    >>> from vanguard.detect.zscore import RollingZScore
    >>> alarm = Thresholded(RollingZScore(window=20, warmup=10), threshold=0.9)
    >>> flags = [alarm.alarm_one(v) for v in [1.0, 1.1, 0.9] * 10 + [50.0]]
    >>> flags[-1], any(flags[:-1])
    (True, False)
    """

    def __init__(self, detector: Detector, threshold: float) -> None:
        self.detector = detector
        self.threshold = threshold

    def alarm_one(self, x: float, t: float | None = None) -> bool:
        """Score ``x``, learn it, and say whether the score reached the threshold."""
        score = self.detector.score_one(x, t)
        self.detector.learn_one(x, t)
        return score >= self.threshold
