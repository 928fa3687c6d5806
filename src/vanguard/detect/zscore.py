"""Rolling robust z-score: the textbook baseline the default detector is measured against."""

from __future__ import annotations

import math
from collections import deque

from vanguard.errors import ConfigError

__all__ = ["RollingZScore"]


class RollingZScore:
    """Distance of a value from the median of the last ``window`` values, in MAD sigmas.

    The score maps ``|z|`` to [0, 1] with ``1 - exp(-(|z| - 3)² / 8)`` above 3 σ, so
    ordinary noise scores 0 and a 10 σ spike scores about 1.

    >>> det = RollingZScore(window=10, warmup=5)
    >>> for v in [10.0, 10.2, 9.8, 10.1, 9.9, 10.0]:
    ...     det.learn_one(v)
    >>> det.score_one(10.05), round(det.score_one(30.0), 3)
    (0.0, 1.0)
    """

    def __init__(self, window: int = 100, warmup: int = 30) -> None:
        if window < 3:
            raise ConfigError(f"must be at least 3, got {window}", key="window")
        if warmup < 1:
            raise ConfigError(f"must be at least 1, got {warmup}", key="warmup")
        self.window = window
        self.warmup = warmup
        self._values: deque[float] = deque(maxlen=window)
        self._seen = 0

    @property
    def ready(self) -> bool:
        return self._seen >= self.warmup

    def learn_one(self, x: float, t: float | None = None) -> None:
        if math.isfinite(x):
            self._values.append(x)
            self._seen += 1

    def score_one(self, x: float, t: float | None = None) -> float:
        if not self.ready or not math.isfinite(x):
            return 0.0
        ordered = sorted(self._values)
        med = ordered[len(ordered) // 2]
        mad = sorted(abs(v - med) for v in ordered)[len(ordered) // 2]
        spread = 1.4826 * mad
        if spread == 0.0:
            return 0.0 if x == med else 1.0
        excess = max(abs(x - med) / spread - 3.0, 0.0)
        return 1.0 - math.exp(-excess * excess / 8.0)
