"""Sources: metric scraping, Prometheus queries, webhooks, replay."""

from vanguard.sources.prometheus import (
    PrometheusClient,
    ScrapeSchedule,
    Series,
    TargetState,
    parse_exposition,
    poll_targets,
    scrape,
)

__all__ = [
    "PrometheusClient",
    "ScrapeSchedule",
    "Series",
    "TargetState",
    "parse_exposition",
    "poll_targets",
    "scrape",
]
