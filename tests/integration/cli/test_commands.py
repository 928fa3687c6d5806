"""The command line as a user runs it: real processes, exit codes, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client import Histogram

from tests.integration.store import values
from tests.leaks import leak_alert
from tests.servers.exporter import Exporter
from tests.servers.process import processes_mentioning
from vanguard.incident import Incident
from vanguard.netutil import free_port, is_port_open, wait_for_port
from vanguard.store import IncidentRepo, default_store_url, open_store

pytestmark = pytest.mark.integration

VANGUARD = str(Path(sys.prefix) / "bin" / "vanguard")
FIXTURES = Path(__file__).parents[2] / "fixtures" / "config"


def run(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``vanguard ARGS``, with ``env`` added to this environment."""
    return subprocess.run(
        [VANGUARD, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


SECRET_SET = {"VANGUARD_HOOK_SECRET": "a-test-secret-of-some-length"}
"""The environment the valid fixture names, so that checking it says ok."""


def test_config_check_accepts_a_valid_file() -> None:
    result = run("config", "check", str(FIXTURES / "valid.yaml"), env=SECRET_SET)
    assert result.returncode == 0, result.stderr
    assert "ok (1 services" in result.stdout


def test_config_check_rejects_with_exit_2_and_file_line_key(tmp_path: Path) -> None:
    bad = tmp_path / "vanguard.yaml"
    bad.write_text(
        "services:\n  - name: web\n    scrape:\n      url: http://x\n      interval_s: 0\n"
    )
    result = run("config", "check", str(bad))
    assert result.returncode == 2
    assert f"{bad}:5: services[0].scrape.interval_s:" in result.stderr
    assert "(got 0)" in result.stderr
    assert "Traceback" not in result.stderr
    bad.write_text("api: {port: 99999}\nbogus: 1\n")
    both = run("config", "check", str(bad))
    assert both.returncode == 2
    assert both.stderr.splitlines()[1].startswith(f"{bad}:2: bogus:"), "every problem is named"


def test_config_check_warns_of_a_key_that_is_not_read(tmp_path: Path) -> None:
    config = tmp_path / "vanguard.yaml"
    config.write_text(
        (FIXTURES / "valid.yaml")
        .read_text()
        .replace("    scrape:\n", "    scrape:\n      metrics: [process_resident_memory_bytes]\n")
    )
    result = run("config", "check", str(config))
    assert result.returncode == 0, result.stderr
    assert "services[0].scrape.metrics is not read" in " ".join(result.stdout.split())
    assert run("config", "check", "--strict", str(config)).returncode == 2


def test_config_check_asks_for_the_kind_of_a_series_named_like_a_counter(
    tmp_path: Path,
) -> None:
    """A gauge watched as a counter misses its breach: ``_count`` is taken as a gauge and
    the check asks; a ``_total`` taken as a counter is said, its threshold being a rate."""
    config = tmp_path / "vanguard.yaml"
    config.write_text(
        "services:\n  - name: db\n    scrape: {url: 'http://127.0.0.1:9187/metrics'}\n"
        "    watch:\n"
        "      - {metric: pg_stat_activity_count, rule: {threshold: 90}}\n"
        "      - {metric: http_requests_total, rule: {threshold: 50}}\n"
        "      - {metric: jobs_total, kind: counter}\n"
        "      - {metric: worker_count, kind: gauge}\n"
    )
    result = run("config", "check", str(config))
    assert result.returncode == 0, result.stderr
    told = " ".join(result.stdout.split())
    assert "services[0].watch[0]: pg_stat_activity_count may be a counter or a gauge" in told
    assert "(taken as a gauge)" in told
    assert "services[0].watch[1]: http_requests_total is watched as its per-second rate" in told
    assert "watch[2]" not in told
    assert "watch[3]" not in told


def test_config_check_probe_tells_a_kind_the_target_declares_otherwise(tmp_path: Path) -> None:
    """``--probe`` reads each target once: a histogram's ``_count`` taken as a gauge by its
    name and a gauge written as a counter are told, a kind that agrees is not, and a
    target that cannot be read is said without stopping the check."""
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    with Exporter() as exporter:
        Histogram("wait_seconds", "Waits.", registry=exporter.registry).observe(1)
        exporter.gauge("depth", "Queued.").set(3)
        exporter.gauge("pool_count", "Open.").set(2)
        config = tmp_path / "vanguard.yaml"
        config.write_text(
            f"services:\n  - name: jobs\n    scrape: {{url: '{exporter.url}'}}\n"
            "    watch:\n"
            "      - {metric: wait_seconds_count}\n"
            "      - {metric: depth, kind: counter}\n"
            "      - {metric: pool_count, kind: gauge}\n"
            f"  - name: gone\n    scrape: {{url: '{dead}', timeout_s: 1}}\n"
            "    watch:\n      - {metric: up, kind: gauge}\n"
        )
        plain = run("config", "check", str(config))
        result = run("config", "check", "--probe", str(config))
    assert "declares" not in plain.stdout, "only --probe reaches the targets"
    assert result.returncode == 0, result.stderr
    told = " ".join(result.stdout.split())
    assert (
        f"services[0].watch[0]: {exporter.url} declares wait_seconds_count a counter "
        "(# TYPE wait_seconds histogram) but it is watched as a gauge (taken from its name)"
    ) in told
    assert "services[0].watch[1]: " in told
    assert "declares depth a gauge (# TYPE depth gauge)" in told
    assert "write 'kind: gauge' in its watch entry" in told
    assert "watch[2]" not in told
    assert f"services[1]: cannot probe the declared kinds: {dead}" in told


def test_worker_fails_fast_when_temporal_is_unreachable(tmp_path: Path) -> None:
    config = tmp_path / "vanguard.yaml"
    config.write_text("temporal:\n  connect_timeout_s: 3\n")
    port = free_port()
    started = time.monotonic()
    result = run("worker", "-c", str(config), "--temporal", f"127.0.0.1:{port}", timeout=60)
    assert result.returncode == 1
    assert "cannot reach Temporal" in result.stderr
    assert time.monotonic() - started < 30


def test_up_serves_and_sigterm_stops_everything_it_started(tmp_path: Path) -> None:
    api_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    config = tmp_path / "vanguard.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"temporal:\n  port: {temporal_port}\n  ui_port: {ui_port}\n"
        f"api:\n  port: {api_port}\n"
    )
    proc = subprocess.Popen(
        [VANGUARD, "up", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_for_port("127.0.0.1", api_port, timeout_s=60), "API never listened"
        health = httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=10)
        assert health.json()["status"] == "ok"
        assert is_port_open("127.0.0.1", temporal_port)
        assert processes_mentioning(str(tmp_path / "data")), "the dev server should run"
        ui_running = is_port_open("127.0.0.1", ui_port)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "Temporal UI" not in out, "the Web UI has no login: it runs only when asked for"
    assert not ui_running, "a ui_port alone does not start it"
    assert f"API           http://127.0.0.1:{api_port}" in out
    assert not is_port_open("127.0.0.1", api_port)
    assert not is_port_open("127.0.0.1", temporal_port)
    assert processes_mentioning(str(tmp_path / "data")) == []
    assert (tmp_path / "data" / "temporal.db").exists(), "Temporal state is persisted"


def test_api_alone_requires_its_token_and_answers_only_to_loopback_names(
    tmp_path: Path,
) -> None:
    """Without --temporal nothing can start, but the token and the Host check still hold."""
    port = free_port()
    config = tmp_path / "vanguard.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"api:\n  port: {port}\n  alertmanager_token_env: VANGUARD_TEST_AM_TOKEN\n"
        "github:\n  webhook_secret_env: VANGUARD_TEST_GH_SECRET\n"
    )
    env = {
        **os.environ,
        "VANGUARD_TEST_AM_TOKEN": "am-token-for-the-api",
        "VANGUARD_TEST_GH_SECRET": "gh-secret-for-the-api",
    }
    proc = subprocess.Popen(
        [VANGUARD, "api", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_port("127.0.0.1", port, timeout_s=60), "API never listened"
        body = b'{"version": "4"}'
        json_type = {"Content-Type": "application/json"}
        anonymous = httpx.post(f"{url}/api/alertmanager", content=body, headers=json_type)
        known = httpx.post(
            f"{url}/api/alertmanager",
            content=body,
            headers={**json_type, "Authorization": "Bearer am-token-for-the-api"},
        )
        rebound = httpx.get(f"{url}/healthz", headers={"Host": "rebind.attacker.example"})
        local = httpx.get(f"http://localhost:{port}/healthz")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert anonymous.status_code == 401
    assert known.status_code == 422, "past the token, the body is checked"
    assert rebound.status_code == 400
    assert local.status_code == 200
    assert "'github' section is not used without --temporal" in out
    assert f"API  http://127.0.0.1:{port}" in out


def test_incidents_list_and_show_read_the_store(tmp_path: Path) -> None:
    url = default_store_url(tmp_path)
    store = open_store(url)
    with store.session() as session:
        alert = leak_alert("web", datetime(2026, 5, 1, tzinfo=UTC))
        IncidentRepo(session).save_incident(Incident.open("inc-42", alert))
        IncidentRepo(session).save_incident(Incident.open("inc-20261206-e7e31ba0d6da", alert))
        marked = alert.model_copy(update={"summary": "queue [/red] stuck [bold]now[/bold]"})
        IncidentRepo(session).save_incident(Incident.open("inc-markup", marked))
    store.close()
    listed = run("incidents", "list", "--store", url, env={"COLUMNS": "80"})
    assert listed.returncode == 0, listed.stderr
    assert "inc-42" in listed.stdout
    assert "inc-20261206-e7e31ba0d6da" in listed.stdout, "80 columns keep the id whole"
    assert "[/red]" in listed.stdout, "an alert's text is printed as text, never as markup"
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    assert "synthetic leak on web" in listed.stdout, "a narrow terminal still shows the summary"
    wide = subprocess.run(
        [VANGUARD, "incidents", "list", "--store", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},
    )
    assert "┃ summary" in wide.stdout, "a pipe or a CI log is not squeezed to 80 columns"
    assert "synthetic leak on web" in wide.stdout
    shown_markup = run("incidents", "show", "inc-markup", "--store", url)
    assert shown_markup.returncode == 0, shown_markup.stderr
    assert "queue [/red] stuck [bold]now[/bold]" in shown_markup.stdout
    waiting = run("incidents", "list", "--store", url, "--state", "awaiting_approval")
    assert waiting.returncode == 0, waiting.stderr
    assert "inc-42" not in waiting.stdout
    opened = run("incidents", "list", "--store", url, "--state", "open", "--service", "web")
    assert "inc-42" in opened.stdout
    shown = run("incidents", "show", "inc-42", "--store", url, "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"incident_id": "inc-42"' in shown.stdout
    missing = run("incidents", "show", "inc-0", "--store", url)
    assert missing.returncode == 2
    assert "no incident 'inc-0'" in missing.stderr
    assert os.path.exists(tmp_path / "vanguard.db")


def test_incidents_show_prints_no_secret_an_action_holds(tmp_path: Path) -> None:
    url = default_store_url(tmp_path)
    store = open_store(url)
    with store.session() as session:
        repo = IncidentRepo(session)
        alert = leak_alert("web", datetime(2026, 5, 1, tzinfo=UTC))
        repo.save_incident(Incident.open("inc-1", alert))
        repo.save_action(values.resize_holding("inc-1", "Sup3rSecretPw"))
    store.close()
    for extra in ((), ("--json",)):
        shown = run("incidents", "show", "inc-1", "--store", url, *extra)
        assert shown.returncode == 0, shown.stderr
        assert "Sup3rSecretPw" not in shown.stdout
        assert "[REDACTED]" in shown.stdout


def test_config_check_warns_of_an_environment_variable_that_is_not_set(tmp_path: Path) -> None:
    """It said ok, and `vanguard up` then refused to start: a deploy round trip."""
    config = tmp_path / "vanguard.yaml"
    config.write_text(
        (FIXTURES / "valid.yaml").read_text()
        + "  - kind: webhook\n    url_env: VANGUARD_TEST_UNSET_HOOK\n"
    )
    result = run("config", "check", str(config), env=SECRET_SET)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert "notify[1].url_env: environment variable VANGUARD_TEST_UNSET_HOOK is not set" in said
    assert "VANGUARD_HOOK_SECRET" not in said, "a variable that is set is not mentioned"
    hook = {**SECRET_SET, "VANGUARD_TEST_UNSET_HOOK": "https://hooks.example.org/x"}
    assert "ok (1 services" in " ".join(
        run("config", "check", str(config), env=hook).stdout.split()
    )
