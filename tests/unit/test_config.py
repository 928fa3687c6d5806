"""vanguard.yaml: valid files load; invalid ones fail with file:line: key: message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vanguard.config import (
    PrometheusSource,
    ScrapeConfig,
    ServiceConfig,
    VerificationConfig,
    VerifyMetric,
    WatchConfig,
    declared_note,
    load_settings,
    resolve_secret,
)
from vanguard.errors import ConfigError
from vanguard.sources.prometheus import Declared

FIXTURES = Path(__file__).parents[1] / "fixtures" / "config"


def test_valid_config_loads_with_paths_resolved_against_the_file() -> None:
    settings = load_settings(FIXTURES / "valid.yaml")
    assert settings.data_dir == (FIXTURES / "state").resolve()
    web = settings.service("web")
    assert web.watch[0].rule.threshold == 1e9
    assert web.supervisor is not None
    assert web.supervisor.program == "web"
    assert settings.policy.max_actions_per_service_per_day == 2
    assert settings.resolved_store_url() == f"sqlite:///{settings.data_dir / 'vanguard.db'}"


INVALID = [
    (
        "services:\n  - name: web\n    scrape: {url: ftp://x}\n",
        3,
        "services[0].scrape.url",
        "String should match pattern",
    ),
    (
        "policy:\n  max_actions_per_service_per_day: 1000\n",
        2,
        "policy.max_actions_per_service_per_day",
        "(got 1000)",
    ),
    ("temporal:\n  adress: embedded\n", 2, "temporal.adress", "Extra inputs are not permitted"),
    ("temporal:\n  address: nowhere\n", 2, "temporal.address", "expected 'embedded' or HOST:PORT"),
    (
        "services:\n  - name: a\n  - name: a\n",
        1,
        "services",
        "service names must be unique: a",
    ),
    (
        "notify:\n  - kind: webhook\n    url: http://x\n    secret: hunter2\n",
        2,
        "notify[0]",
        "use 'secret_env'",
    ),
    (
        "store_url: postgresql://u:pw@db/v\n",
        1,
        "store_url",
        "use 'store_url_env'",
    ),
    (
        "services:\n  - name: web\n    watch: [{metric: m}]\n",
        2,
        "services[0]",
        "need a 'scrape', 'prometheus' or 'pgbouncer'",
    ),
    (
        "services:\n  - name: db\n    pgbouncer:\n      admin_dsn: host=x password=hunter2\n"
        "      ini_path: p.ini\n",
        4,
        "services[0].pgbouncer.admin_dsn",
        "holds a password",
    ),
    *[
        (
            f"services:\n  - name: db\n    pgbouncer:\n      admin_dsn: {dsn}\n"
            "      ini_path: p.ini\n",
            4,
            "services[0].pgbouncer.admin_dsn",
            "holds a password",
        )
        for dsn in (
            "postgresql://postgres@127.0.0.1:6432/pgbouncer?password=hunter2",
            "postgresql://postgres:hunter2@127.0.0.1:6432/pgbouncer",
            "postgres://127.0.0.1/pgbouncer?pass%77ord=hunter2",
            "\"host=x password='hunter 2'\"",
        )
    ],
    (
        "services:\n  - name: db\n    pgbouncer:\n      admin_dsn: hunter2\n"
        "      ini_path: p.ini\n",
        4,
        "services[0].pgbouncer.admin_dsn",
        "not a libpq connection string",
    ),
    (
        "services:\n  - name: db\n    pgbouncer:\n      admin_dsn: host=x\n"
        "      ini_path: p.ini\n      max_pool_size: 100000\n",
        6,
        "services[0].pgbouncer.max_pool_size",
        "(got 100000)",
    ),
    (
        "services:\n  - name: db\n    pgbouncer:\n      admin_dsn: host=x\n"
        "      ini_path: p.ini\n      min_pool_size: 9\n      max_pool_size: 3\n",
        3,
        "services[0].pgbouncer",
        "min_pool_size 9 is above max_pool_size 3",
    ),
    ("api:\n  port: 1\n  port: 2\n", 3, "api.port", "duplicate key"),
    (
        "services:\n  - name: w\n    supervisor:\n      url: http://u:pw@127.0.0.1:9001/RPC2\n"
        "      program: w\n",
        4,
        "services[0].supervisor.url",
        "the URL holds credentials",
    ),
    (
        "services:\n  - name: web\n    scrape: {url: 'http://x/metrics'}\n    watch:\n"
        "      - metric: http_requests_total\n        kind: rate\n",
        6,
        "services[0].watch[0].kind",
        "Input should be 'gauge' or 'counter' (got 'rate')",
    ),
    (
        "services:\n  - name: web\n    scrape: {url: 'http://x/metrics'}\n    watch:\n"
        "      - metric: m\n        rule: {counter: true}\n",
        5,
        "services[0].watch[0]",
        "'rule.counter' (True) disagrees with the entry's kind (gauge); write the kind alone",
    ),
    (
        "services:\n  - name: web\n    scrape: {url: 'http://x/metrics'}\n    watch:\n"
        "      - metric: m\n        rule: {anomaly_level: 0}\n",
        6,
        "services[0].watch[0].rule.anomaly_level",
        "Input should be greater than 0",
    ),
    (
        "services:\n  - name: web\n    scrape: {url: 'http://x/metrics'}\n    watch:\n"
        "      - metric: m\n        rule: {anomaly_after: 20000}\n",
        6,
        "services[0].watch[0].rule.anomaly_after",
        "Input should be less than or equal to 10000",
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "message"), INVALID)
def test_invalid_config_names_file_line_key_and_value(
    tmp_path: Path, text: str, line: int, key: str, message: str
) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    err = info.value
    assert (err.file, err.line, err.key) == (str(path), line, key)
    assert message in str(err)
    assert str(err).startswith(f"{path}:{line}: {key}: ")


@pytest.mark.parametrize(
    "text",
    [
        "services:\n  - name: db\n    pgbouncer:\n      admin_dsn: host=x password=hunter2\n"
        "      ini_path: p.ini\n",
        "services:\n  - name: db\n    pgbouncer:\n"
        "      admin_dsn: postgresql://postgres@127.0.0.1/pgbouncer?password=hunter2\n"
        "      ini_path: p.ini\n",
        "services:\n  - name: db\n    pgbouncer:\n      admin_dsn: hunter2\n"
        "      ini_path: p.ini\n",
        "store_url: postgresql://u:hunter2@db/v\n",
        "services:\n  - name: w\n    supervisor:\n      url: http://u:hunter2@127.0.0.1:9001/RPC2\n"
        "      program: w\n",
        "notify:\n  - kind: webhook\n    url: http://x\n    secret: hunter2\n",
    ],
)
def test_an_error_about_a_secret_never_shows_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "hunter2" not in str(info.value)


def test_malformed_yaml_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text("api:\n  port: [1,\n")
    with pytest.raises(ConfigError, match=r"vanguard\.yaml:\d+: invalid YAML"):
        load_settings(path)


def test_missing_file_is_an_error_not_a_default(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "absent.yaml")


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="file is empty"):
        load_settings(path)


def test_secrets_come_from_env_or_file_and_placeholders_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VG_TEST_SECRET", "s3cr3t-value")
    assert resolve_secret(env="VG_TEST_SECRET", file=None, what="x") == "s3cr3t-value"
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    assert resolve_secret(env=None, file=secret_file, what="x") == "from-a-file"
    monkeypatch.setenv("VG_TEST_SECRET", "changeme")
    with pytest.raises(ConfigError, match="placeholder"):
        resolve_secret(env="VG_TEST_SECRET", file=None, what="x")
    monkeypatch.delenv("VG_TEST_SECRET")
    with pytest.raises(ConfigError, match="VG_TEST_SECRET is not set"):
        resolve_secret(env="VG_TEST_SECRET", file=None, what="x")


def test_a_secret_from_the_environment_is_stripped_as_one_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mounted secret's trailing newline must not become part of an HMAC key."""
    monkeypatch.setenv("VG_TEST_SECRET", "  s3cr3t-value\n")
    secret_file = tmp_path / "secret"
    secret_file.write_text("  s3cr3t-value\n")
    from_env = resolve_secret(env="VG_TEST_SECRET", file=None, what="x")
    assert from_env == resolve_secret(env=None, file=secret_file, what="x") == "s3cr3t-value"


def test_pgbouncer_section_is_a_source_with_paths_resolved_against_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(
        "services:\n"
        "  - name: db\n"
        "    type: pgbouncer\n"
        "    pgbouncer:\n"
        "      admin_dsn: host=127.0.0.1 port=6432 dbname=pgbouncer user=postgres\n"
        "      ini_path: conf/pgbouncer.ini\n"
        "      git_repo: conf\n"
        "      database: bench\n"
        "      max_pool_size: 30\n"
        "      interval_s: 1\n"
        "    watch:\n"
        "      - metric: pgbouncer_pools_client_waiting_connections\n"
        "        labels: {database: bench}\n"
        "    verify:\n"
        "      - metric: pgbouncer_pools_client_waiting_connections\n"
        "      - metric: pgbouncer_pools_client_maxwait_seconds\n"
    )
    service = load_settings(path).service("db")
    assert service.pgbouncer is not None
    assert service.pgbouncer.ini_path == (tmp_path / "conf" / "pgbouncer.ini").resolve()
    assert service.pgbouncer.git_repo == (tmp_path / "conf").resolve()
    assert service.has_source
    assert service.interval_s == 1
    assert [v.metric for v in service.verify] == [
        "pgbouncer_pools_client_waiting_connections",
        "pgbouncer_pools_client_maxwait_seconds",
    ]
    assert all(v.better == "lower" for v in service.verify)


def test_webhook_section_takes_one_url_and_resolves_its_secret_file(tmp_path: Path) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(
        "services:\n"
        "  - name: queue\n"
        "    webhook:\n"
        "      url_env: RUNBOOK_URL\n"
        "      undo_url: https://runbooks.example.org/undo\n"
        "      secret_file: secrets/runbook\n"
    )
    hook = load_settings(path).service("queue").webhook
    assert hook is not None
    assert hook.secret_file == (tmp_path / "secrets" / "runbook").resolve()
    assert hook.params()["url_env"] == "RUNBOOK_URL"
    assert hook.params()["url"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("      timeout_s: 5\n", "exactly one of 'url' and 'url_env'"),
        ("      url: http://a/x\n      url_env: HOOK\n", "exactly one of 'url' and 'url_env'"),
        ("      url: http://ops:hunter2@a/x\n", "holds credentials"),
        ("      url: http://a/x\n      secret: hunter2\n", "'secret_env'"),
        (
            "      url: https://hooks.example.org/T0/B0/hunter2Xk3Lq9PzR7wN2vBt5\n",
            "holds a secret in its path",
        ),
        (
            "      url_env: HOOK\n      undo_url: https://a/undo?token=hunter2\n",
            "holds a secret in its path",
        ),
    ],
)
def test_webhook_section_errors_name_the_service_and_hide_secrets(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text("services:\n  - name: queue\n    webhook:\n" + body)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert message in str(info.value)
    assert "services[0].webhook" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_config_file_section_resolves_its_repository_against_the_file(tmp_path: Path) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(
        "services:\n"
        "  - name: checkout\n"
        "    config_file: {repo: deploy, file: checkout/values.yaml, push: true, branch: main}\n"
    )
    target = load_settings(path).service("checkout").config_file
    assert target is not None
    assert target.repo == (tmp_path / "deploy").resolve()
    assert target.params() == {
        "repo": str((tmp_path / "deploy").resolve()),
        "file": "checkout/values.yaml",
        "format": None,
        "push": True,
        "remote": "origin",
        "branch": "main",
    }


@pytest.mark.parametrize(
    "body",
    ["  - kind: webhook\n", "  - {kind: webhook, url: 'https://a/x', url_env: HOOK}\n"],
)
def test_a_notify_webhook_takes_one_url(tmp_path: Path, body: str) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text("notify:\n" + body)
    with pytest.raises(ConfigError, match="exactly one of 'url' and 'url_env'"):
        load_settings(path)
    path.write_text("notify:\n  - {kind: webhook, url_env: CHAT_HOOK, format: chat}\n")
    (target,) = load_settings(path).notify
    assert target.format == "chat"


@pytest.mark.parametrize(
    ("api", "hosts"),
    [
        ("{}", ("localhost", "127.0.0.1", "::1")),
        ("{host: localhost}", ("localhost", "127.0.0.1", "::1")),
        ("{host: '::1'}", ("localhost", "127.0.0.1", "::1")),
        ("{host: 127.0.0.2}", ("localhost", "127.0.0.1", "::1", "127.0.0.2")),
        ("{host: 0.0.0.0}", None),
        ("{host: 10.1.2.3}", None),
        (
            "{host: 127.0.0.1, allowed_hosts: [Vanguard.corp.example, localhost]}",
            ("localhost", "127.0.0.1", "::1", "vanguard.corp.example"),
        ),
        ("{host: 0.0.0.0, allowed_hosts: [vanguard.corp.example]}", ("vanguard.corp.example",)),
        ("{host: 10.1.2.3, allowed_hosts: ['*']}", ("10.1.2.3", "*")),
    ],
)
def test_a_loopback_api_answers_only_to_loopback_names_unless_told(
    tmp_path: Path, api: str, hosts: tuple[str, ...] | None
) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(f"api: {api}\n")
    assert load_settings(path).api.hosts() == hosts


SERVICE_WITH_WATCHES = """\
services:
  - name: app
    scrape: {url: http://127.0.0.1:9100/metrics}
    watch:
      - metric: myapp_queue_depth
        labels: {queue: %s}
        rule: {threshold: 100000}
      - metric: myapp_queue_depth
        labels: {queue: jobs}
        rule: {threshold: 40}
"""


def test_two_watch_entries_that_can_match_one_series_are_refused(tmp_path: Path) -> None:
    """The first entry matching a series steps it: the second (the threshold of 40 the
    user cared about) never ran, while the queue reached 115."""
    path = tmp_path / "vanguard.yaml"
    path.write_text(SERVICE_WITH_WATCHES % "jobs")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}:4: services[0].watch:")
    assert "watch[0] and watch[1] can both match a series of myapp_queue_depth" in str(info.value)
    path.write_text(SERVICE_WITH_WATCHES.replace("labels: {queue: %s}", "labels: {}"))
    with pytest.raises(ConfigError, match=r"watch\[0\] and watch\[1\]"):
        load_settings(path)
    path.write_text(SERVICE_WITH_WATCHES % "mail")
    assert len(load_settings(path).services[0].watch) == 2


def test_a_custom_gate_list_that_drops_a_configured_setting_is_refused_at_load(
    tmp_path: Path,
) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(
        "policy:\n"
        "  require_approval_for: [supervisor.restart]\n"
        "  min_confidence: 0\n"
        "  gates: [pause, remedy, automation, dry_run, rate_limit, cooldown, circuit_breaker]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}:4: policy.gates:")
    assert "require_approval_for is ['supervisor.restart'] but the gate 'approval'" in str(
        info.value
    )


@pytest.mark.parametrize(
    ("policy", "where", "says"),
    [
        (
            "  gates: [pause, remedy, automation, dry_run, confidence, rate_limit,\n"
            "          cooldown, circuit_breaker, aproval]\n",
            ":3: policy.gates[8]:",
            "unknown gate 'aproval'",
        ),
        (
            "  require_approval_for:\n    - github.rerun\n    - supervisor.restrat\n",
            ":4: policy.require_approval_for[1]:",
            "unknown action kind 'supervisor.restrat'",
        ),
        (
            "  unmetered_actions: [github.triag]\n",
            ":2: policy.unmetered_actions[0]:",
            "unknown action kind 'github.triag'",
        ),
    ],
)
def test_a_mistyped_gate_or_approval_kind_is_refused_at_load(
    tmp_path: Path, policy: str, where: str, says: str
) -> None:
    """A typo would fail every decision (a gate) or act with nobody asked (an approval)."""
    path = tmp_path / "vanguard.yaml"
    path.write_text("policy:\n" + policy)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}{where}")
    assert says in str(info.value)


def test_approval_for_every_action_is_still_written_as_a_star(tmp_path: Path) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text("policy: {require_approval_for: ['*', pgbouncer.resize]}\n")
    assert load_settings(path).policy.require_approval_for == ("*", "pgbouncer.resize")


def test_an_env_setting_holding_a_url_is_refused_without_showing_its_password(
    tmp_path: Path,
) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text('store_url_env: "postgresql+psycopg://app:hunter2hunter2@db/app"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}:1: store_url_env:")
    assert "name of an environment variable" in message
    assert "hunter2hunter2" not in message
    hook = tmp_path / "hook.yaml"
    hook.write_text(
        "notify:\n  - kind: webhook\n    format: chat\n"
        "    url_env: https://hooks.slack.com/services/T0/B0/abcdefSECRETpath\n"
    )
    with pytest.raises(ConfigError) as hidden:
        load_settings(hook)
    assert "abcdefSECRETpath" not in str(hidden.value)
    assert "value not shown" in str(hidden.value)


PASTED_SECRETS = [
    "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
    "deadbeef0123456789abcdef0123456789abcdef",
    "sk-abcdefghijklmnopqrstuvwx",
    "xoxb-1234567890-abcdefghij",
]


@pytest.mark.parametrize("secret", PASTED_SECRETS)
@pytest.mark.parametrize(
    ("section", "line", "key"),
    [
        ("github: {{repositories: [a/b], token_env: {}}}\n", 1, "github.token_env"),
        ("notify:\n  - {{kind: webhook, url_env: {}}}\n", 2, "notify[0].url_env"),
        ("store_url_env: {}\n", 1, "store_url_env"),
    ],
)
def test_a_secret_pasted_where_a_variables_name_goes_is_refused_unseen(
    tmp_path: Path, secret: str, section: str, line: int, key: str
) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(section.format(secret))
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: {key}: ")
    assert secret not in message
    assert "looks like a secret" in message
    assert "that variable's name here" in message


@pytest.mark.parametrize(
    "name",
    [
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "SLACK_WEBHOOK_URL",
        "PGPASSWORD",
        "VANGUARD_STORE_URL_2",
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
        "K8S_SERVICE_ACCOUNT_TOKEN_FILE",
        "http_proxy",
    ],
)
def test_variable_names_are_not_taken_for_secrets(tmp_path: Path, name: str) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(f"github: {{repositories: [a/b], token_env: {name}}}\n")
    github = load_settings(path).github
    assert github is not None
    assert github.token_env == name


@pytest.mark.parametrize("secret", PASTED_SECRETS[:5])
def test_an_unset_variable_whose_name_looks_like_a_secret_is_not_named(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.delenv(secret, raising=False)
    with pytest.raises(ConfigError) as info:
        resolve_secret(env=secret, file=None, what="github.token")
    assert str(info.value).startswith("github.token: names an environment variable that is not")
    assert "put the variable's name there" in str(info.value)
    assert secret not in str(info.value)


def test_aliases_that_expand_without_bound_are_refused(tmp_path: Path) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for level in "bcdefgh":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [*{previous}, *{previous}, *{previous}, *{previous}]")
    path = tmp_path / "vanguard.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="more than 100,000 values"):
        load_settings(path)


def test_yaml_nested_past_any_use_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested"):
        load_settings(path)
    shallow = tmp_path / "shallow.yaml"
    shallow.write_text("a: " + "[" * 80 + "]" * 80 + "\n")
    with pytest.raises(ConfigError, match="nested more than 64 levels"):
        load_settings(shallow)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "services: [{name: w, scrape: {url: 'http://x', interval_s: yes}}]\n",
            r"interval_s: expected a number; YAML reads yes, no, on and off as booleans \(got True",
        ),
        ("policy: {dry_run: 1}\n", r"dry_run: expected true or false \(got 1\)"),
        ("policy: {max_actions_per_day: on}\n", "max_actions_per_day: expected a number"),
        ("github: {poll: {per_page: no}}\n", r"per_page: expected a number.* \(got False\)"),
    ],
)
def test_yaml_booleans_and_numbers_are_not_taken_for_each_other(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=says):
        load_settings(path)


def test_a_yaml_boolean_mixup_is_reported_at_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text("policy:\n  min_confidence: 0.5\n  dry_run: 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}:3: policy.dry_run: expected true or false")


def test_every_problem_of_a_file_is_reported_in_line_order(tmp_path: Path) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text("api: {port: 99999}\nbogus: 1\npolicy: {min_confidence: 2}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}:1: api.port:")
    assert [line.split(": ")[0] for line in info.value.more] == [f"{path}:2", f"{path}:3"]
    assert "bogus" in info.value.more[0]
    assert "policy.min_confidence" in info.value.more[1]


@pytest.mark.parametrize(
    ("hosts", "says"),
    [
        ("[]", "at least 1 item"),
        ("[vanguard.corp:8780]", "without the port"),
        ("['https://vanguard.corp']", "a host name, not a URL"),
    ],
)
def test_allowed_hosts_are_host_names(tmp_path: Path, hosts: str, says: str) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(f"api: {{allowed_hosts: {hosts}}}\n")
    with pytest.raises(ConfigError, match=says):
        load_settings(path)


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{url: 'http://u:pw@prom:9090'}", "carries credentials"),
        ("{url: 'http://prom:9090', selector: {'a-b': x}}", "not Prometheus label names"),
        ("{url: 'prom:9090'}", "should match pattern"),
    ],
)
def test_a_prometheus_source_is_checked(tmp_path: Path, source: str, says: str) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(
        "services:\n  - name: web\n    prometheus: " + source + "\n    watch: [{metric: mem}]\n"
    )
    with pytest.raises(ConfigError, match=says):
        load_settings(path)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://admin:hunter2pass@127.0.0.1:19101/metrics", "carries credentials"),
        ("http://admin@127.0.0.1:19101/metrics", "carries credentials"),
        ("http://127.0.0.1:19101/metrics?token=hunter2pass", "parameter 'token' names a secret"),
        ("http://h/metrics?module=x&X-Api-Key=hunter2pass", "parameter 'X-Api-Key' names"),
        ("http://h/metrics?access%5Ftoken=hunter2pass", "parameter 'access_token' names"),
    ],
)
def test_a_scrape_url_with_credentials_is_refused_without_showing_them(
    tmp_path: Path, url: str, says: str
) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(f"services:\n  - name: web\n    scrape: {{url: '{url}'}}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert f"{path}:3: services[0].scrape.url: " in message
    assert says in message
    assert "serve the endpoint without authentication" in message
    assert "hunter2pass" not in message


def test_a_scrape_url_may_carry_ordinary_query_parameters(tmp_path: Path) -> None:
    path = tmp_path / "vanguard.yaml"
    url = "http://127.0.0.1:9115/probe?module=http_2xx&target=db"
    path.write_text(f"services:\n  - name: web\n    scrape: {{url: '{url}'}}\n")
    scrape = load_settings(path).service("web").scrape
    assert scrape is not None
    assert scrape.url == url


def test_a_prometheus_server_alone_is_a_source_for_watching(tmp_path: Path) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(
        "services:\n  - name: web\n    prometheus: {url: 'http://prom:9090', selector: "
        "{job: web}, interval_s: 30}\n    watch: [{metric: mem}]\n"
    )
    (service,) = load_settings(path).services
    assert service.interval_s == 30
    assert service.prometheus is not None
    assert service.prometheus.selector == {"job": "web"}


def test_a_watch_is_a_counter_by_its_name_unless_its_kind_says_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(
        "services:\n  - name: web\n    scrape: {url: 'http://x/metrics'}\n    watch:\n"
        "      - {metric: http_requests_total, rule: {threshold: 50}}\n"
        "      - {metric: http_request_duration_seconds_count}\n"
        "      - {metric: http_request_duration_seconds_sum}\n"
        "      - {metric: http_request_duration_seconds_bucket, labels: {le: '0.5'}}\n"
        "      - {metric: process_resident_memory_bytes}\n"
        "      - {metric: worker_count, kind: gauge}\n"
        "      - {metric: jobs_done, kind: counter}\n"
        "      - {metric: jobs_total_seconds}\n"
    )
    (web,) = load_settings(path).services
    kinds = [(w.kind, w.rule.counter) for w in web.watch]
    assert kinds == [
        ("counter", True),
        ("gauge", False),
        ("gauge", False),
        ("counter", True),
        ("gauge", False),
        ("gauge", False),
        ("counter", True),
        ("gauge", False),
    ]
    assert web.watch[0].rule.threshold == 50


def test_a_kind_a_target_declares_otherwise_is_told_with_how_the_entry_took_its_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "vanguard.yaml"
    path.write_text(
        "services:\n  - name: web\n    scrape: {url: 'http://x/metrics'}\n    watch:\n"
        "      - {metric: wait_seconds_count}\n"
        "      - {metric: depth, kind: counter}\n"
        "      - {metric: pool_count, kind: gauge}\n"
    )
    wait, depth, pool = load_settings(path).services[0].watch
    assert [w.kind_by_name for w in (wait, depth, pool)] == [True, False, False]
    histogram = Declared(
        metric="wait_seconds_count",
        kind="counter",
        family="wait_seconds",
        type="histogram",
        source="http://x/metrics",
    )
    gauge = Declared(metric="depth", kind="gauge", family="depth", type="gauge", source="t")
    assert declared_note(wait, histogram) == (
        "http://x/metrics declares wait_seconds_count a counter (# TYPE wait_seconds "
        "histogram) but it is watched as a gauge (taken from its name): its raw count is "
        "watched, so a restart reads as a fall and the threshold is compared to a count, not "
        "a rate per second; write 'kind: counter' in its watch entry"
    )
    note = declared_note(depth, gauge)
    assert note is not None
    assert "watched as a counter ('kind: counter' is written)" in note
    assert "a breach of its value goes unseen; write 'kind: gauge'" in note
    assert declared_note(pool, gauge.model_copy(update={"metric": "pool_count"})) is None


def test_a_dumped_watch_entry_loads_again_as_the_same_kind(tmp_path: Path) -> None:
    """A dump holds both ``kind`` and the ``rule.counter`` it sets; they agree, so it loads.

    Only whether the kind was written differs: the dump writes it."""
    path = tmp_path / "vanguard.yaml"
    path.write_text(
        "services:\n  - name: web\n    scrape: {url: 'http://x/metrics'}\n    watch:\n"
        "      - {metric: http_requests_total}\n      - {metric: jobs_total, kind: gauge}\n"
    )
    (web,) = load_settings(path).services
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump({"services": [web.model_dump(mode="json")]}))
    loaded = load_settings(again).services[0].watch
    assert [w.model_dump() for w in loaded] == [w.model_dump() for w in web.watch]
    assert not any(w.kind_by_name for w in loaded), "a dump writes every kind"


def test_a_verify_series_is_a_counter_by_its_kind_its_watch_entry_or_its_name(
    tmp_path: Path,
) -> None:
    """Judged raw, a counter reset by the remedy's restart reads as an improvement."""
    path = tmp_path / "vanguard.yaml"
    path.write_text(
        "services:\n  - name: web\n    scrape: {url: 'http://x/metrics'}\n    verify:\n"
        "      - {metric: http_errors_total}\n"
        "      - {metric: worker_count, kind: gauge}\n"
        "      - {metric: jobs_done, kind: counter, better: higher}\n"
        "      - {metric: queue_depth}\n"
    )
    (web,) = load_settings(path).services
    assert [v.counter() for v in web.verify] == [True, False, True, False]
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump({"services": [web.model_dump(mode="json")]}))
    assert load_settings(again).services[0].verify == web.verify


def test_a_verify_series_unnamed_kind_follows_the_services_watch_entry() -> None:
    """``myapp_errors`` watched as a counter must be judged as one, whatever its name."""
    watch = (WatchConfig(metric="myapp_errors", kind="counter"),)
    assert VerifyMetric(metric="myapp_errors").counter(watch)
    assert not VerifyMetric(metric="myapp_errors").counter()
    assert not VerifyMetric(metric="myapp_errors", kind="gauge").counter(watch)
    assert not VerifyMetric(metric="pg_stat_activity_count").counter()


def test_a_patterns_directory_that_is_not_there_is_named_with_its_line(tmp_path: Path) -> None:
    """It was told at startup without the file, line and key every other mistake gets,
    and pasting the README's example failed on it until a directory was made."""
    path = tmp_path / "vanguard.yaml"
    path.write_text("data_dir: state\npatterns_dirs:\n  - patterns\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}:3: patterns_dirs[0]: patterns directory ")
    assert str(tmp_path / "patterns") in str(info.value)
    (tmp_path / "patterns").mkdir()
    assert load_settings(path).patterns_dirs == (tmp_path / "patterns",)


def test_a_baseline_too_short_to_tell_memory_is_warned_of() -> None:
    scraped = ServiceConfig(name="web", type="web", scrape=ScrapeConfig(url="http://x"))
    served = ServiceConfig(
        name="db",
        type="pg",
        prometheus=PrometheusSource(url="http://prometheus:9090", interval_s=30),
    )
    sourceless = ServiceConfig(name="ci", type="github")
    verification = VerificationConfig(baseline_s=300, sample_interval_s=5)
    assert verification.baseline_readings(scraped) == 60
    assert verification.baseline_readings(served) == 10
    (warning,) = verification.short_baselines([scraped, served, sourceless])
    assert warning.startswith(
        "verification.baseline_s: 300 s holds 10 readings of service 'db' (one every 30 s)"
    )
    assert warning.endswith("give the baseline at least 600 s")
    assert VerificationConfig(baseline_s=600).short_baselines([served]) == []
