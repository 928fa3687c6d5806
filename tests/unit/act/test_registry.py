"""Where a remedy's parameters come from, and what config check says before an incident."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.cli.entry import run
from vanguard.act.base import MemoryLedger
from vanguard.act.registry import build_adapters, check_patterns, check_services, remedy_params
from vanguard.cli.apps import app
from vanguard.config import (
    ConfigFileTarget,
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


PATTERN = """\
id: {id}
description: a remedy with its own parameters
service_types: [any]
metric: {metric}
signature:
  - {{field: trend.slope_per_hour, op: gt, value: 0}}
remedy:
  action: {action}
  params:
    {params}
rollback_safe: false
prior_confidence: 0.9
"""


def _write(folder: Path, pid: str, action: str, params: str, metric: str = "queue") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pid}.yaml"
    path.write_text(
        PATTERN.format(id=pid, action=action, params=params, metric=metric), encoding="utf-8"
    )
    return path


@pytest.mark.parametrize(
    ("action", "params", "key", "says"),
    [
        (
            "github.rerun",
            "max_wait_s: 1200",
            "remedy.params.max_wait_s",
            "less than or equal to 270",
        ),
        ("pgbouncer.resize", "factor: 50", "remedy.params.factor", "less than or equal to 10"),
        ("webhook.call", "{url_env: HOOK_URL, attempts: 99}", "remedy.params.attempts", "10"),
        ("config.set", "{key: db.password, value: x}", "remedy.params.key", "names a secret"),
        ("config.set", "{key: pool.size, value: 3, factor: 2}", "remedy.params", "exactly one"),
        ("config.set", "{key: pool.size, factor: 2, min: 5, max: 1}", "remedy.params", "min 5"),
        ("supervisor.restart", "{program: 'web api'}", "remedy.params.program", "pattern"),
        ("webhook.call", "{url: 'https://x.example/h', url_env: H}", "remedy.params", "one of"),
    ],
)
def test_a_parameter_the_adapter_refuses_is_an_error_at_load(
    tmp_path: Path, action: str, params: str, key: str, says: str
) -> None:
    """Ranges, patterns and the model's validators were left out: the first incident to
    apply the remedy failed (InvalidParams), while config check said ok."""
    path = _write(tmp_path, "bounded", action, params)
    adapters = build_adapters(MemoryLedger(), Settings())
    with pytest.raises(ConfigError) as caught:
        check_patterns(load_patterns([tmp_path], include_builtin=False), adapters)
    line = 9 if key == "remedy.params" else 10
    assert (caught.value.file, caught.value.line, caught.value.key) == (str(path), line, key)
    assert says in caught.value.message


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("github.rerun", "max_wait_s: 270"),
        ("pgbouncer.resize", "factor: 10"),
        (
            "webhook.call",
            "{url: 'https://x.example/h', attempts: 10, timeout_s: 5, max_wait_s: 10}",
        ),
        ("webhook.call", "{}"),
        ("config.set", "{key: pool.size, factor: 2, min: 1, max: 5}"),
        ("supervisor.restart", "{}"),
    ],
)
def test_parameters_within_the_adapters_limits_load(
    tmp_path: Path, action: str, params: str
) -> None:
    """What the service's section gives (a URL, a program, a repository) may be missing."""
    _write(tmp_path, "bounded", action, params)
    adapters = build_adapters(MemoryLedger(), Settings())
    check_patterns(load_patterns([tmp_path], include_builtin=False), adapters)


def test_config_check_refuses_a_rerun_that_could_never_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It printed ok, even with --strict; the first flaky run at 3 am failed to re-run."""
    path = _write(tmp_path / "patterns", "ci_slow", "github.rerun", "max_wait_s: 1200")
    config = tmp_path / "vanguard.yaml"
    config.write_text("patterns_dirs: [patterns]\n", encoding="utf-8")
    assert run(monkeypatch, "config", "check", str(config)) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert f"{path}:10: remedy.params.max_wait_s: invalid value 1200 for github.rerun" in said


def test_a_value_the_service_makes_impossible_is_an_error_not_a_missing_section(
    tmp_path: Path,
) -> None:
    """With a ``config_file:`` section in place, the warning told to add one."""
    _write(tmp_path, "pool_widen", "config.set", "{key: pool.size, value: '[3]'}")
    (pattern,) = load_patterns([tmp_path], include_builtin=False)
    adapters = build_adapters(MemoryLedger(), Settings())
    check_patterns([pattern], adapters)
    service = ServiceConfig(
        name="db",
        scrape=SCRAPE,
        watch=(WatchConfig(metric="queue"),),
        config_file=ConfigFileTarget(repo=tmp_path, file="pool.ini"),
    )
    with pytest.raises(ConfigError) as caught:
        list(check_services([pattern], [service], adapters))
    assert caught.value.key == "remedy.params"
    assert "on service db, with its 'config_file:' section, config.set refuses" in str(caught.value)
    assert "starts with '['" in str(caught.value)
    assert "give the service" not in str(caught.value)
