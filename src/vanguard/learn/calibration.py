"""Per-pattern confidence from outcomes: a Beta-binomial update of the pattern's prior.

The pattern's prior confidence ``p`` counts as ``prior_weight`` pseudo-outcomes, i.e. a
``Beta(p·w, (1-p)·w)`` prior. Each ``resolved`` outcome is a success, each ``rolled_back``,
``escalated`` or ``failed`` one a failure; ``declined`` and ``dry_run`` say nothing about the
remedy and are ignored. The calibrated confidence is the posterior mean
``(p·w + s) / (w + s + f)``: it starts at the prior, moves with evidence, and a single lucky
or unlucky outcome cannot swing it far.

What Vanguard counts (``count_outcomes``, and the store's ``outcome_counts`` in SQL):

* only outcomes of the pattern's current remedy action: a new version with another remedy
  starts from its prior, not from the old remedy's record. Outcomes stored without an
  action (by an older Vanguard, with no diagnosis to take it from) still count. A new
  version with the same action keeps the record: the record judges what is done;
* on each service, at most ``breaker_threshold`` failures in a row: past that the service's
  circuit breaker stops the remedy there, so further failures say more about that one
  service than about the remedy everywhere, and one flapping service cannot drag the
  pattern down on every other one without end. A success on the service starts a new run.

Vanguard does not age outcomes: a pattern that lost trust wins it back through successes
people approved (about four per failure while ``min_confidence`` is 0.8), and a service's
breaker lets a trial through after its cooldown. ``half_life`` (an outcome of age ``a``
counts ``0.5 ** (a / half_life)``) is for analyses of outcome lists by hand only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from vanguard.errors import InputError
from vanguard.model import Frozen, Outcome, OutcomeStatus

__all__ = [
    "FAILURE",
    "SUCCESS",
    "OutcomeCounts",
    "Posterior",
    "calibrate",
    "calibrate_patterns",
    "count_outcomes",
    "outcome_kind",
    "posterior",
]

SUCCESS: frozenset[OutcomeStatus] = frozenset({OutcomeStatus.resolved})
FAILURE: frozenset[OutcomeStatus] = frozenset(
    {OutcomeStatus.rolled_back, OutcomeStatus.escalated, OutcomeStatus.failed}
)
MAX_PRIOR_WEIGHT = 1e6


def outcome_kind(
    status: OutcomeStatus | Outcome,
) -> Literal["success", "failure", "ignored"]:
    """Whether an outcome (or its status) counts for the remedy, against it, or not at all;
    an outcome that ``teaches`` nothing is ignored whatever its status."""
    if isinstance(status, Outcome):
        if not status.teaches:
            return "ignored"
        status = status.status
    if status in SUCCESS:
        return "success"
    if status in FAILURE:
        return "failure"
    return "ignored"


class OutcomeCounts(Frozen):
    """A pattern's outcomes as calibration counts them (see the module docstring)."""

    won: int = Field(default=0, ge=0)
    lost: int = Field(default=0, ge=0)
    ignored: int = Field(default=0, ge=0)
    beyond_breaker: int = Field(default=0, ge=0)
    """Failures past ``breaker_threshold`` in a row on one service: left to its breaker."""


def count_outcomes(
    by_service: Mapping[str, Iterable[Outcome]],
    *,
    action: str | None = None,
    breaker_threshold: int | None = None,
) -> OutcomeCounts:
    """Count one pattern's outcomes, grouped by service, as calibration does.

    With ``action``, outcomes of another remedy are left out (those stored without one
    count); with ``breaker_threshold``, each service's failures in a row count up to it.
    """
    won = lost = ignored = beyond = 0
    for outcomes in by_service.values():
        in_a_row = 0
        for outcome in sorted(outcomes, key=lambda o: (o.finished_at, o.incident_id)):
            if action is not None and outcome.action not in (None, action):
                continue
            kind = outcome_kind(outcome)
            if kind == "success":
                won += 1
                in_a_row = 0
            elif kind == "ignored":
                ignored += 1
            elif breaker_threshold is not None and in_a_row >= breaker_threshold:
                beyond += 1
            else:
                lost += 1
                in_a_row += 1
    return OutcomeCounts(won=won, lost=lost, ignored=ignored, beyond_breaker=beyond)


class Posterior(Frozen):
    """The Beta posterior of a pattern's success rate and the evidence behind it."""

    alpha: float = Field(ge=0.0)
    beta: float = Field(ge=0.0)
    successes: float = Field(ge=0.0)
    failures: float = Field(ge=0.0)
    ignored: int = Field(ge=0)

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def variance(self) -> float:
        total = self.alpha + self.beta
        return self.alpha * self.beta / (total * total * (total + 1.0))


def posterior(
    prior: float,
    outcomes: Sequence[Outcome] | OutcomeCounts,
    *,
    prior_weight: float = 10.0,
    now: datetime | None = None,
    half_life: timedelta | None = None,
) -> Posterior:
    """Update ``Beta(prior·w, (1-prior)·w)`` with ``outcomes`` (or their counts, which
    cannot be aged); see the module docstring."""
    _check(prior, prior_weight, now, half_life)
    if isinstance(outcomes, OutcomeCounts):
        if half_life is not None:
            raise InputError("half_life needs the outcomes' times, not their counts")
        return Posterior(
            alpha=prior * prior_weight + outcomes.won,
            beta=(1.0 - prior) * prior_weight + outcomes.lost,
            successes=outcomes.won,
            failures=outcomes.lost,
            ignored=outcomes.ignored,
        )
    successes = failures = 0.0
    ignored = 0
    for outcome in outcomes:
        kind = outcome_kind(outcome)
        if kind == "ignored":
            ignored += 1
            continue
        weight = _weight(outcome.finished_at, now, half_life)
        if kind == "success":
            successes += weight
        else:
            failures += weight
    return Posterior(
        alpha=prior * prior_weight + successes,
        beta=(1.0 - prior) * prior_weight + failures,
        successes=successes,
        failures=failures,
        ignored=ignored,
    )


def calibrate(
    prior: float,
    outcomes: Sequence[Outcome] | OutcomeCounts,
    *,
    prior_weight: float = 10.0,
    now: datetime | None = None,
    half_life: timedelta | None = None,
) -> float:
    """The calibrated confidence in [0, 1]: the posterior mean of the remedy's success rate."""
    return posterior(prior, outcomes, prior_weight=prior_weight, now=now, half_life=half_life).mean


def calibrate_patterns(
    priors: Mapping[str, float],
    outcomes: Sequence[Outcome],
    *,
    prior_weight: float = 10.0,
    now: datetime | None = None,
    half_life: timedelta | None = None,
) -> dict[str, float]:
    """Calibrate every pattern in ``priors`` with the outcomes that name it."""
    by_pattern: dict[str, list[Outcome]] = {pattern_id: [] for pattern_id in priors}
    for outcome in outcomes:
        if outcome.pattern_id in by_pattern:
            by_pattern[outcome.pattern_id].append(outcome)
    return {
        pattern_id: calibrate(
            priors[pattern_id],
            mine,
            prior_weight=prior_weight,
            now=now,
            half_life=half_life,
        )
        for pattern_id, mine in by_pattern.items()
    }


def _weight(at: datetime, now: datetime | None, half_life: timedelta | None) -> float:
    if half_life is None or now is None:
        return 1.0
    age = max((now - at) / half_life, 0.0)
    return float(0.5**age)


def _check(
    prior: float, prior_weight: float, now: datetime | None, half_life: timedelta | None
) -> None:
    if not (math.isfinite(prior) and 0.0 <= prior <= 1.0):
        raise InputError(f"prior must be a probability in [0, 1], got {prior!r}")
    if not (math.isfinite(prior_weight) and 0.0 < prior_weight <= MAX_PRIOR_WEIGHT):
        raise InputError(f"prior_weight must be in (0, {MAX_PRIOR_WEIGHT:g}], got {prior_weight!r}")
    if half_life is not None:
        if half_life <= timedelta(0):
            raise InputError(f"half_life must be positive, got {half_life}")
        if now is None:
            raise InputError("half_life needs 'now' to age the outcomes against")
