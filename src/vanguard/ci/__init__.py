"""The CI failure agent: GitHub Actions events, healing by class, triage, health figures.

Only the pure core is re-exported here (``vanguard.config`` imports this package, so it
stays free of I/O imports); the side-effecting parts are imported from their modules:
``vanguard.ci.client`` (GitHub over githubkit), ``vanguard.ci.intake`` (deliveries to
incidents), ``vanguard.ci.poller``, ``vanguard.ci.records`` (the CI tables).
"""

from vanguard.ci.budget import ApiBudget, BudgetCheck
from vanguard.ci.config import GitHubConfig, HealingConfig, PollConfig, TriageConfig
from vanguard.ci.events import Delivery, Rejected, parse_delivery, sign, verify_signature
from vanguard.ci.healing import (
    FailureClass,
    FailureSighting,
    HealKind,
    HealPlan,
    StormVerdict,
    detect_storm,
    plan_heal,
)
from vanguard.ci.health import (
    AttemptRecord,
    DailySuccess,
    HealthFigures,
    daily_success,
    health_figures,
)
from vanguard.ci.triage import (
    Command,
    IssueDraft,
    TriageFacts,
    is_authorised,
    owners_for,
    parse_codeowners,
    parse_command,
    render_issue,
)

__all__ = [
    "ApiBudget",
    "AttemptRecord",
    "BudgetCheck",
    "Command",
    "DailySuccess",
    "Delivery",
    "FailureClass",
    "FailureSighting",
    "GitHubConfig",
    "HealKind",
    "HealPlan",
    "HealingConfig",
    "HealthFigures",
    "IssueDraft",
    "PollConfig",
    "Rejected",
    "StormVerdict",
    "TriageConfig",
    "TriageFacts",
    "daily_success",
    "detect_storm",
    "health_figures",
    "is_authorised",
    "owners_for",
    "parse_codeowners",
    "parse_command",
    "parse_delivery",
    "plan_heal",
    "render_issue",
    "sign",
    "verify_signature",
]
