"""``config.set``'s editor: one value's text changes, everything else stays (no I/O)."""

from __future__ import annotations

import json

import pytest
import yaml

from vanguard.act.base import validate_params
from vanguard.act.configfile import (
    ConfigFormat,
    ConfigSetParams,
    Scalar,
    file_format,
    locate,
    scaled,
    with_value,
)
from vanguard.errors import AdapterError, InvalidParams

YAML = """\
# pool settings, owned by the platform team
pool:
  size: 20      # raised by hand in May
  name: "main"
  timeout: 2.5
workers:
  - replicas: 3
  - {replicas: 5, zone: b}
flag: true
"""
JSON = '{\n  "pool": {"size": 20, "name": "x"},\n  "list": [1, {"a": 2}],\n  "flag": false\n}\n'
INI = """\
; global
[pgbouncer]
default_pool_size = 20 ; tuned
max_client_conn: 100
[databases]
bench = host=127.0.0.1 dbname=bench
"""
ENV = "# service env\nexport WORKERS=4 # cores\nNAME='blue green'\nEMPTY=\n"


@pytest.mark.parametrize(
    ("text", "fmt", "key", "old", "new"),
    [
        (YAML, "yaml", "pool.size", 20, 24),
        (YAML, "yaml", "pool.name", "main", "blue green"),
        (YAML, "yaml", "pool.timeout", 2.5, 3.0),
        (YAML, "yaml", "workers.0.replicas", 3, 4),
        (YAML, "yaml", "workers.1.replicas", 5, 6),
        (YAML, "yaml", "flag", True, False),
        (JSON, "json", "pool.size", 20, 30),
        (JSON, "json", "list.1.a", 2, 7),
        (JSON, "json", "flag", False, True),
        (INI, "ini", "pgbouncer.default_pool_size", 20, 25),
        (INI, "ini", "pgbouncer.max_client_conn", 100, 200),
        (ENV, "env", "WORKERS", 4, 6),
        (ENV, "env", "NAME", "blue green", "red"),
        (ENV, "env", "EMPTY", "", "x y"),
    ],
)
def test_one_value_changes_and_nothing_else(
    text: str, fmt: ConfigFormat, key: str, old: Scalar, new: Scalar
) -> None:
    assert locate(text, fmt, key).value == old
    edited = with_value(text, fmt, key, new)
    assert locate(edited, fmt, key).value == new
    where = locate(text, fmt, key)
    after = locate(edited, fmt, key)
    assert edited[: where.start] == text[: where.start]
    assert edited[after.end :] == text[where.end :]
    if fmt == "yaml":
        assert yaml.safe_load(edited) is not None
    if fmt == "json":
        json.loads(edited)


def test_comments_and_layout_survive_a_yaml_edit() -> None:
    edited = with_value(YAML, "yaml", "pool.size", 24)
    assert "  size: 24      # raised by hand in May\n" in edited
    assert edited.startswith("# pool settings, owned by the platform team\n")


@pytest.mark.parametrize(
    ("text", "fmt", "key", "message"),
    [
        (YAML, "yaml", "pool.missing", "missing 'missing'"),
        (YAML, "yaml", "pool", "a mapping or a list"),
        (YAML, "yaml", "workers.9.replicas", "cannot step into '9'"),
        (YAML, "yaml", "pool..size", "malformed key"),
        ("a: |\n  text\n", "yaml", "a", "block scalar"),
        ("a: [1\n", "yaml", "a", "not valid YAML"),
        ("---\na: 1\n---\na: 2\n", "yaml", "a", "not valid YAML"),
        (JSON, "json", "pool.missing", "missing 'missing'"),
        (JSON, "json", "list", "an object or an array"),
        ('{"a": 1,}', "json", "a", "not valid JSON"),
        (INI, "ini", "databases.other", "no key 'other' in section [databases]"),
        (INI, "ini", "size", "the top of the file"),
        (ENV, "env", "ABSENT", "no variable 'ABSENT'"),
        ("A='open\n", "env", "A", "unclosed quote"),
    ],
)
def test_what_cannot_be_edited_is_named(
    text: str, fmt: ConfigFormat, key: str, message: str
) -> None:
    with pytest.raises(AdapterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        locate(text, fmt, key)


def test_format_comes_from_the_suffix_or_is_asked_for() -> None:
    assert file_format("deploy/values.yml") == "yaml"
    assert file_format("conf/pgbouncer.ini") == "ini"
    assert file_format("svc/.env") == "env"
    assert file_format("app.settings", "json") == "json"
    with pytest.raises(AdapterError, match="set 'format'"):
        file_format("app.toml")


def test_scaling_moves_an_integer_a_step_and_stays_in_bounds() -> None:
    assert scaled(20, 1.2, None, None) == 24
    assert scaled(2, 1.2, None, None) == 3
    assert scaled(3, 0.9, None, None) == 2
    assert scaled(45, 1.2, None, 50) == 50
    assert scaled(1, 0.5, 1, None) == 1
    assert scaled(2.5, 2.0, None, 4.0) == 4.0
    with pytest.raises(AdapterError, match="needs a number"):
        scaled("main", 1.2, None, None)
    with pytest.raises(AdapterError, match="needs a number"):
        scaled(True, 1.2, None, None)


@pytest.mark.parametrize("key", ["DB_PASSWORD", "auth.api_key", "github.token"])
def test_a_secret_is_never_a_setting_to_change(key: str) -> None:
    """Its old and new value would land in the plan, the decision and the audit trail."""
    params = {"repo": "/srv/conf", "file": "app.env", "key": key, "value": "x"}
    with pytest.raises(InvalidParams, match=f"'{key}' names a secret"):
        validate_params(ConfigSetParams, "config.set", params)
    allowed = validate_params(ConfigSetParams, "config.set", params | {"key": "POOL_SIZE"})
    assert allowed.key == "POOL_SIZE"


@pytest.mark.parametrize(
    ("file", "value", "message"),
    [
        ("pgbouncer.ini", "8\nadmin_users = mallory", "holds a line break"),
        ("app.env", "4\rEXTRA=1", "holds a line break"),
        ("values.yaml", "a\u2028b", "holds a line break"),
        ("pgbouncer.ini", "[admin]", "starts with '\\['"),
        ("app.settings", " [admin]", "starts with '\\['"),
    ],
)
def test_a_value_cannot_add_lines_to_the_file(file: str, value: str, message: str) -> None:
    """In an INI or ``.env`` file, a line break in the value would add a setting or a section
    of the pattern's choosing."""
    params = {"repo": "/srv/conf", "file": file, "key": "pool.size", "value": value}
    if file == "app.settings":
        params["format"] = "ini"
    with pytest.raises(InvalidParams, match=message):
        validate_params(ConfigSetParams, "config.set", params)


def test_a_value_on_one_line_is_allowed() -> None:
    for file, value in [("values.yaml", "[not a section]"), ("pgbouncer.ini", "a [b]")]:
        params = {"repo": "/srv/conf", "file": file, "key": "pool.size", "value": value}
        assert validate_params(ConfigSetParams, "config.set", params).value == value
