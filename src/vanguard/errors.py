"""One error tree for Vanguard.

Every error carries a stable ``code`` that scripts and the audit trail may rely on::

    VanguardError                      vanguard
    ├── ConfigError                    config          bad vanguard.yaml / pattern file
    ├── InputError                     input           bad data given to a command (CSV, log)
    ├── InvalidTransition              incident.transition
    ├── StoreError                     store
    │   └── StoreNotFound              store.not_found a reading command found no store
    ├── SourceError                    source          a metric/event source failed
    │   └── ScrapeError                source.scrape
    ├── NotifyError                    notify          a notification channel failed
    ├── AdapterError                   adapter         an action could not be planned/applied
    │   ├── UnknownAdapter             adapter.unknown
    │   ├── InvalidParams              adapter.params  an action's parameters are malformed
    │   └── ActionFailed               adapter.failed
    └── EngineError                    engine
        └── TemporalUnavailable        engine.temporal_unavailable

Library exceptions are translated at the boundary with ``raise ... from``.
"""

from __future__ import annotations

from pydantic import ValidationError

__all__ = [
    "ActionFailed",
    "ActionFenced",
    "ActionWithheld",
    "AdapterError",
    "ConfigError",
    "EngineError",
    "InputError",
    "InvalidParams",
    "InvalidTransition",
    "NotifyError",
    "PartlyApplied",
    "ScrapeError",
    "SourceError",
    "StoreError",
    "StoreNotFound",
    "TemporalUnavailable",
    "UnknownAdapter",
    "VanguardError",
    "describe_validation_error",
]


class VanguardError(Exception):
    """Base of every error Vanguard raises on purpose."""

    code = "vanguard"


class ConfigError(VanguardError):
    """Raised when a configuration or pattern file is missing or invalid.

    The message reads ``file:line: key: message`` so editors can jump to it.
    """

    code = "config"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str = "",
        more: tuple[str, ...] = (),
    ) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.message = message
        self.more = more
        """Further problems found in the same file, each as its own located line."""
        where = (f"{file}:{line}" if line is not None else file) if file else ""
        text = f"{key}: {message}" if key else message
        super().__init__(f"{where}: {text}" if where else text)


class InputError(VanguardError):
    """Raised when data handed to a command (a CSV file, a log) cannot be used at all."""

    code = "input"


class InvalidTransition(VanguardError):
    """Raised when an incident is asked to move to a state its current state does not allow."""

    code = "incident.transition"


class StoreError(VanguardError):
    """Raised when the store cannot be opened, migrated or written."""

    code = "store"


class StoreNotFound(StoreError):
    """Raised when a command that only reads is pointed at a SQLite file that does not exist
    or a database without Vanguard's tables: it creates nothing, so a mistyped or deleted
    store is an error rather than an empty one that reads as intact."""

    code = "store.not_found"


class SourceError(VanguardError):
    """Raised when a metric or event source cannot deliver."""

    code = "source"


class ScrapeError(SourceError):
    """Raised when a Prometheus endpoint or server cannot be read or parsed."""

    code = "source.scrape"


class NotifyError(VanguardError):
    """Raised when a notification could not be delivered on one or more channels."""

    code = "notify"


class AdapterError(VanguardError):
    """Raised when an action cannot be planned, applied, verified or rolled back."""

    code = "adapter"


class UnknownAdapter(AdapterError):
    """Raised when a remedy names an action kind no adapter is registered for."""

    code = "adapter.unknown"


class InvalidParams(AdapterError):
    """Raised when an action's parameters are missing or malformed: retrying cannot help."""

    code = "adapter.params"


class ActionFailed(AdapterError):
    """Raised when a side effect was attempted and the target reported failure."""

    code = "adapter.failed"


class ActionWithheld(ActionFailed):
    """Raised when the gates, run again just before an approved action, no longer let it
    through (a pause, a freeze window, a limit used up meanwhile): nothing was done, and
    the incident ends declined, not failed."""

    code = "adapter.withheld"


class ActionFenced(AdapterError):
    """Raised when an attempt would begin an action its workflow already settled as never
    begun: the outcome told people nothing was changed, so nothing may change now."""

    code = "adapter.fenced"


class PartlyApplied(ActionFailed):
    """Raised when an action was begun and then failed for good: it may be half done.

    The incident escalates to a person instead of ending as a plain failure.
    """

    code = "adapter.partly_applied"


class EngineError(VanguardError):
    """Raised when the workflow engine cannot run or be reached."""

    code = "engine"


class TemporalUnavailable(EngineError):
    """Raised when the Temporal server cannot be reached within the connect timeout."""

    code = "engine.temporal_unavailable"


def describe_validation_error(
    exc: ValidationError, *, limit: int | None = None, root: str = "<body>"
) -> str:
    """``loc: msg`` of each problem pydantic found, joined; ``root`` names an empty ``loc``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or root}: {e['msg']}" for e in exc.errors()[:limit]
    )
