"""The GitHub API-call budget: our own hourly cap, GitHub's rate-limit headers, Retry-After.

A frozen value updated by pure functions with the time passed in: ``check`` says whether a
call may go out now (and if not, until when to wait and why), ``spend`` counts one, and
``observe`` reads a response's ``x-ratelimit-*`` and ``Retry-After`` headers, and ``refund``
gives back a call GitHub did not charge (a 304). A 403/429 with
``Retry-After`` or an exhausted ``x-ratelimit-remaining`` blocks every call until GitHub says
so; any other rate limit (a 429, or a 403 whose message names the secondary rate limit or
abuse detection) blocks for a minute, as GitHub asks, and a later answer never shortens a
block. No wait is kept or honoured for more than ``MAX_WAIT`` (GitHub's quota window is an
hour): a header asking for longer, from a proxy or a clock far ahead, would otherwise stop
every call for as long as it said. ``reserve`` keeps the last calls of GitHub's quota, and
of the hourly cap (at most half of it), for re-runs and issues: polling and log reading
must not starve them, least of all when several processes spend one budget kept in the
store.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["MAX_WAIT", "ApiBudget", "BudgetCheck", "rate_limited"]

HOUR = timedelta(hours=1)
MAX_WAIT = HOUR
"""The longest wait kept or honoured, measured on the clock of the host that reads it."""
CAPPED = f"capped at {int(MAX_WAIT.total_seconds())} s by this host's clock"
SECONDARY_LIMIT_WAIT = timedelta(seconds=60)
SECONDARY_LIMIT_WORDS = ("secondary rate limit", "abuse")
"""What GitHub's message says when a 403 is its secondary rate limit, not a refusal."""


def rate_limited(status: int, headers: Mapping[str, str], message: str = "") -> bool:
    """Whether a refused request was GitHub's rate limiting: wait and retry, it will pass.

    A 429 always is; a 403 is when it carries ``Retry-After``, an exhausted quota, or a
    message naming the secondary rate limit (which GitHub sends without either header).
    """
    if status == 429:
        return True
    if status != 403:
        return False
    h = {k.lower(): v for k, v in headers.items()}
    text = message.lower()
    return (
        "retry-after" in h
        or (h.get("x-ratelimit-remaining") or "").strip() == "0"
        or any(word in text for word in SECONDARY_LIMIT_WORDS)
    )


class BudgetCheck(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed: bool
    reason: str
    retry_at: AwareDatetime | None = None


class ApiBudget(BaseModel):
    """Calls spent in the current hour, and what GitHub last said about our quota."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    calls_per_hour: int = Field(ge=1)
    reserve: int = Field(default=0, ge=0)
    window_start: AwareDatetime | None = None
    used: int = Field(default=0, ge=0)
    remaining: int | None = None
    reset_at: AwareDatetime | None = None
    blocked_until: AwareDatetime | None = None
    blocked_reason: str = ""

    def settled(self, now: datetime) -> ApiBudget:
        """The budget as a host whose clock reads ``now`` must honour it.

        A window that starts later than ``now`` (written by a host whose clock runs ahead)
        starts now, its calls still counted; a wait or a reset further than ``MAX_WAIT``
        away ends ``MAX_WAIT`` from now, and the reason says so. Kept, the result bounds
        the wait for every other host too.
        """
        update: dict[str, object] = {}
        latest = now + MAX_WAIT
        if self.window_start is not None and self.window_start > now:
            update["window_start"] = now
        if self.blocked_until is not None and self.blocked_until > latest:
            update["blocked_until"] = latest
            if CAPPED not in self.blocked_reason:
                update["blocked_reason"] = f"{self.blocked_reason} ({CAPPED})"
        if self.reset_at is not None and self.reset_at > latest:
            update["reset_at"] = latest
        return self.model_copy(update=update) if update else self

    def _rolled(self, now: datetime) -> ApiBudget:
        budget = self.settled(now)
        if budget.window_start is None or now - budget.window_start >= HOUR:
            return budget.model_copy(update={"window_start": now, "used": 0})
        return budget

    @property
    def kept(self) -> int:
        """Calls of the hourly cap only essential calls may spend: ``reserve``, at most half
        the cap (a reserve as large as the cap would leave polling nothing)."""
        return min(self.reserve, self.calls_per_hour // 2)

    def check(self, now: datetime, *, essential: bool = False) -> BudgetCheck:
        """May a call go out at ``now``? ``essential`` calls (re-runs, issues) use the reserve."""
        budget = self._rolled(now)
        if budget.blocked_until is not None and now < budget.blocked_until:
            return BudgetCheck(
                allowed=False,
                reason=f"GitHub asked us to wait: {budget.blocked_reason}",
                retry_at=budget.blocked_until,
            )
        cap = budget.calls_per_hour if essential else budget.calls_per_hour - budget.kept
        if budget.used >= cap:
            kept = (
                f" (the last {budget.kept} are kept for re-runs and issues)"
                if budget.kept and not essential
                else ""
            )
            return BudgetCheck(
                allowed=False,
                reason=f"own budget of {budget.calls_per_hour} calls per hour spent{kept}",
                retry_at=(budget.window_start or now) + HOUR,
            )
        stale = budget.reset_at is not None and now >= budget.reset_at
        low = budget.remaining is not None and budget.remaining <= budget.reserve
        if low and not stale and not essential:
            return BudgetCheck(
                allowed=False,
                reason=(
                    f"only {budget.remaining} GitHub calls left until the reset; "
                    f"{budget.reserve} are kept for re-runs and issues"
                ),
                retry_at=budget.reset_at,
            )
        return BudgetCheck(allowed=True, reason="within budget")

    def spend(self, now: datetime) -> ApiBudget:
        budget = self._rolled(now)
        return budget.model_copy(update={"used": budget.used + 1})

    def refund(self, now: datetime) -> ApiBudget:
        """Give back a call spent this hour that GitHub did not charge (a 304 Not Modified
        to a conditional request): the poller's unchanged listings must not use up the
        calls its log reading needs."""
        budget = self._rolled(now)
        return budget.model_copy(update={"used": max(0, budget.used - 1)})

    def observe(
        self, now: datetime, status: int, headers: Mapping[str, str], message: str = ""
    ) -> ApiBudget:
        """Update from one response's status, headers (case-insensitive) and error message.

        A header that is no number, or one out of range, is taken as absent; a wait beyond
        ``MAX_WAIT`` is kept as ``MAX_WAIT``, and its reason says so.
        """
        h = {k.lower(): v for k, v in headers.items()}
        latest = now + MAX_WAIT
        budget = self.settled(now)
        update: dict[str, object] = {}
        remaining = _int(h.get("x-ratelimit-remaining"))
        reset_s = _int(h.get("x-ratelimit-reset"))
        far = reset_s is not None and reset_s > latest.timestamp()
        reset = None if reset_s is None else latest if far else _utc(reset_s)
        if remaining is not None:
            update["remaining"] = remaining
        if reset is not None:
            update["reset_at"] = reset
        retry_after = _int(h.get("retry-after"))
        block: tuple[datetime, str] | None = None
        if status in (403, 429):
            if retry_after is not None:
                seconds = min(retry_after, int(MAX_WAIT.total_seconds()))
                capped = f", {CAPPED}" if seconds < retry_after else ""
                block = (
                    now + timedelta(seconds=seconds),
                    f"Retry-After {retry_after} s (HTTP {status}){capped}",
                )
            elif remaining == 0 and reset is not None:
                capped = f", {CAPPED}" if far else ""
                block = (
                    reset,
                    f"rate limit exhausted until the reset (HTTP {status}){capped}",
                )
            elif rate_limited(status, h, message):
                block = (
                    now + SECONDARY_LIMIT_WAIT,
                    f"rate limited without a usable Retry-After (HTTP {status}): waiting a minute",
                )
        if block is not None and (budget.blocked_until is None or block[0] > budget.blocked_until):
            update["blocked_until"], update["blocked_reason"] = block
        return budget.model_copy(update=update)


def _int(value: str | None) -> int | None:
    """A header's whole number of zero or more, else ``None`` (absent, junk or negative)."""
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)
