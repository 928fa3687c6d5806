"""Each stage's public surface is explicit; changing it is a deliberate act."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "vanguard.act": [
        "ADAPTER_FACTORIES",
        "Adapter",
        "Ledger",
        "LedgerEntry",
        "MemoryLedger",
        "build_adapters",
        "check_patterns",
    ],
    "vanguard.api": ["create_app"],
    "vanguard.diagnose": [
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
    ],
    "vanguard.engine": [
        "DevServer",
        "RemediationWorkflow",
        "Runtime",
        "WatcherWorkflow",
        "build_runtime",
        "build_worker",
        "connect",
        "find_temporal_binary",
        "incident_id_for",
        "start_remediation",
        "start_watcher",
    ],
    "vanguard.sources": [
        "PrometheusClient",
        "ScrapeSchedule",
        "Series",
        "TargetState",
        "parse_exposition",
        "poll_targets",
        "scrape",
    ],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_all_is_pinned_and_every_name_resolves(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(PUBLIC[module])
    for name in mod.__all__:
        assert getattr(mod, name) is not None
