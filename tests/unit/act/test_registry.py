"""Where a remedy's parameters come from, and what config check says before an incident."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vanguard.act.base import MemoryLedger
from vanguard.act.registry import build_adapters, check_patterns, check_services, remedy_params
from vanguard.cli.apps import app
from vanguard.config import (
    ScrapeConfig,
    ServiceConfig,
    Settings,
    SupervisorTarget,
    WatchConfig,
    WebhookTarget,
)
from vanguard.diagnose.patterns import builtin_patterns_dir, load_patterns
from vanguard.errors import ConfigError

SCRAPE = ScrapeConfig(url="http://127.0.0.1:9/metrics")
LEAK = WatchConfig(metric="process_resident_memory_bytes")


def test_the_service_section_lies_over_the_pattern() -> None:
    hook = ServiceConfig(name="q", webhook=WebhookTarget(url_env="RUNBOOK_URL"))
    merged = remedy_params(
        "webhook.call", {"url": "https://pattern.example/x", "body": {"n": 1}}, hook
    )
    assert merged["url_env"] == "RUNBOOK_URL"
    assert "url" not in merged, "a service's url_env replaces the pattern's url"
    assert merged["body"] == {"n": 1}
    supervised = ServiceConfig(
        name="web", supervisor=SupervisorTarget(url="http://127.0.0.1:9001/RPC2", program="web")
    )
    assert remedy_params("supervisor.restart", {}, supervised)["program"] == "web"
    assert remedy_params("supervisor.restart", {"x": 1}, None) == {"x": 1}


def test_a_remedy_that_would_lack_its_target_is_named_before_any_incident() -> None:
    adapters = build_adapters(MemoryLedger(), Settings())
    patterns = load_patterns()
    bare = ServiceConfig(name="web", scrape=SCRAPE, watch=(LEAK,))
    (warning,) = check_services(patterns, [bare], adapters)
    assert warning.startswith("service web: pattern memory_leak_gradual would run")
    assert "url: Field required" in warning
    assert "give the service a 'supervisor:' section" in warning
    ready = bare.model_copy(
        update={"supervisor": SupervisorTarget(url="http://127.0.0.1:9001/RPC2", program="web")}
    )
    assert list(check_services(patterns, [ready], adapters)) == []
    unwatched = ServiceConfig(name="db", scrape=SCRAPE, watch=(WatchConfig(metric="up"),))
    assert list(check_services(patterns, [unwatched], adapters)) == []


def test_config_check_warns_and_strict_fails(tmp_path: Path) -> None:
    config = tmp_path / "vanguard.yaml"
    config.write_text(
        "services:\n  - name: web\n    scrape: {url: 'http://127.0.0.1:9/metrics'}\n"
        "    watch:\n      - metric: process_resident_memory_bytes\n"
    )
    lenient = CliRunner().invoke(app, ["config", "check", str(config)], env={"COLUMNS": "200"})
    assert lenient.exit_code == 0
    assert "warning: service web: pattern memory_leak_gradual" in lenient.output
    assert "1 warning(s) (1 services" in lenient.output
    strict = CliRunner().invoke(app, ["config", "check", "--strict", str(config)])
    assert strict.exit_code == 2


@pytest.mark.parametrize(
    ("old", "new", "line", "key"),
    [
        ("action: supervisor.restart", "action: supervisor.restrt", 14, "remedy.action"),
        ("params: {}", "params: {signal: 9}", 15, "remedy.params"),
    ],
)
def test_a_remedy_error_names_the_pattern_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, key: str
) -> None:
    text = (builtin_patterns_dir() / "memory_leak_gradual.yaml").read_text()
    assert old in text
    path = tmp_path / "memory_leak_gradual.yaml"
    path.write_text(text.replace(old, new))
    adapters = build_adapters(MemoryLedger(), Settings())
    with pytest.raises(ConfigError) as caught:
        check_patterns(load_patterns([tmp_path]), adapters)
    assert (caught.value.file, caught.value.line, caught.value.key) == (str(path), line, key)
