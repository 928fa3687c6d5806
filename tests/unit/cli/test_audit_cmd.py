"""``vanguard audit verify|export`` on a real SQLite store and on exported files."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tests.stores import sqlite_write_lock_is_free
from vanguard.cli.apps import app
from vanguard.errors import InputError
from vanguard.store import AuditEntry, AuditLog, ChainCheck, default_store_url, open_store
from vanguard.store import audit as audit_module

T0 = datetime(2026, 12, 6, 12, tzinfo=UTC)


def _append(url: str, count: int, start: int = 0) -> None:
    store = open_store(url)
    try:
        with store.session() as session:
            log = AuditLog(session)
            for i in range(start, start + count):
                log.append(
                    incident_id=f"inc-{i % 2}",
                    kind="step",
                    payload={"i": i, "token": "ghp_0123456789abcdefghijABCDEFGHIJklmnop"},
                    at=T0 + timedelta(seconds=i),
                )
    finally:
        store.close()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = default_store_url(tmp_path / "data")
    _append(url, 5)
    return url


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_the_store_and_its_export_verify_to_the_same_head(store_url: str, tmp_path: Path) -> None:
    code, said = _run("verify", "--store", store_url)
    assert code == 0
    assert said.startswith("5 entries, chain intact, head ")
    export = tmp_path / "audit.jsonl"
    code, _ = _run("export", "--store", store_url, "--output", str(export))
    assert code == 0
    lines = export.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert "ghp_0123456789" not in export.read_text(), "secrets were redacted before storing"
    code, from_file = _run("verify", "--file", str(export))
    assert code == 0
    assert from_file == said
    code, stdout = _run("export", "--store", store_url)
    assert stdout.splitlines() == lines


def test_an_edited_export_is_caught_at_the_edited_entry(store_url: str, tmp_path: Path) -> None:
    export = tmp_path / "audit.jsonl"
    _run("export", "--store", store_url, "--output", str(export))
    lines = export.read_text().splitlines()
    entry = json.loads(lines[2])
    entry["payload"]["i"] = 99
    lines[2] = json.dumps(entry)
    export.write_text("\n".join(lines) + "\n")
    code, said = _run("verify", "--file", str(export))
    assert code == 1
    assert "BROKEN after 2 good entries (first bad entry: 3)" in said
    assert "entry 3 was altered" in said

    export.write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    code, said = _run("verify", "--file", str(export))
    assert code == 1
    assert "expected entry 2, found 3" in said


def _sql(url: str, *statements: str) -> None:
    store = open_store(url)
    try:
        with store.session() as session:
            for statement in statements:
                session.execute(text(statement))
    finally:
        store.close()


def test_a_head_kept_elsewhere_shows_a_chain_cut_behind_it(store_url: str, tmp_path: Path) -> None:
    code, said = _run("verify", "--store", store_url)
    assert code == 0
    kept = said.split()[-1]
    assert re.fullmatch(r"5:[0-9a-f]{64}", kept), said
    _append(store_url, 2, start=5)
    code, said = _run("verify", "--store", store_url, "--expect-head", kept)
    assert code == 0
    assert said.startswith("7 entries, chain intact, kept head 5 unchanged, head 7:")
    export = tmp_path / "audit.jsonl"
    _run("export", "--store", store_url, "--output", str(export))
    code, from_file = _run("verify", "--file", str(export), "--expect-head", kept)
    assert (code, from_file) == (0, said)

    _sql(
        store_url,
        "DELETE FROM audit_entries WHERE seq > 4",
        "UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_entries WHERE seq = 4)",
    )
    code, said = _run("verify", "--store", store_url)
    assert code == 0, "the chain alone cannot tell"
    code, said = _run("verify", "--store", store_url, "--expect-head", kept)
    assert code == 1
    assert said == (
        f"audit trail BROKEN: entry 5 of the kept head {kept[:14]} is missing: the chain "
        "ends at entry 4, so entries were cut from its end and its head moved back since "
        "that head was kept\n"
    )


def test_a_kept_head_must_be_seq_colon_hash_and_a_partial_export_cannot_show_one(
    store_url: str, tmp_path: Path
) -> None:
    _, said = _run("verify", "--store", store_url)
    kept = said.split()[-1]
    for bad in ("5", kept[:-1], f"head {kept}", f"-1:{kept[2:]}"):
        with pytest.raises(InputError, match=r"^kept head .*: not SEQ:HASH"):
            _run("verify", "--store", store_url, f"--expect-head={bad}")
    export = tmp_path / "inc-1.jsonl"
    _export_incident(store_url, "inc-1", export)
    with pytest.raises(InputError, match=r"a partial export .* cannot show a kept head"):
        _run("verify", "--file", str(export), "--expect-head", kept)


def test_verify_and_export_leave_the_write_lock_to_the_worker(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``BEGIN IMMEDIATE`` would hold every write of the worker for the whole walk."""
    free: list[bool] = []
    walk, entry = audit_module._walk, audit_module._entry

    def walking(links: Iterable[Any]) -> tuple[ChainCheck | None, int, str]:
        free.append(sqlite_write_lock_is_free(store_url))
        return walk(links)

    def exporting(row: Any) -> AuditEntry:
        free.append(sqlite_write_lock_is_free(store_url))
        return entry(row)

    monkeypatch.setattr(audit_module, "_walk", walking)
    monkeypatch.setattr(audit_module, "_entry", exporting)
    assert _run("verify", "--store", store_url)[0] == 0
    assert _run("export", "--store", store_url)[0] == 0
    assert free == [True] * 6


def test_an_edited_store_is_caught(store_url: str) -> None:
    store = open_store(store_url)
    with store.session() as session:
        session.execute(text("UPDATE audit_entries SET kind = 'quiet' WHERE seq = 4"))
    store.close()
    code, said = _run("verify", "--store", store_url)
    assert code == 1
    assert "first bad entry: 4" in said


def _export_incident(store_url: str, incident: str, export: Path) -> list[str]:
    """``audit export --incident``: its lines, the header first."""
    _run("export", "--store", store_url, "--incident", incident, "--output", str(export))
    return export.read_text().splitlines()


def test_a_partial_export_is_checked_entry_by_entry_not_as_a_chain(
    store_url: str, tmp_path: Path
) -> None:
    export = tmp_path / "inc-1.jsonl"
    header, *lines = _export_incident(store_url, "inc-1", export)
    assert json.loads(header) == {"partial": True, "incident_id": "inc-1"}
    assert [json.loads(x)["seq"] for x in lines] == [2, 4]
    code, said = _run("verify", "--file", str(export))
    assert code == 3, "intact as far as a file can tell: not the 0 of a whole chain"
    assert said.startswith("2 entries of a partial export, each intact and in order")
    assert "cannot be told from the file" in said
    entry = json.loads(lines[1])
    entry["payload"]["i"] = 99
    export.write_text("\n".join([header, lines[0], json.dumps(entry)]) + "\n")
    code, said = _run("verify", "--file", str(export))
    assert code == 1
    assert "entry 4 was altered" in said
    export.write_text("\n".join(lines) + "\n")
    code, said = _run("verify", "--file", str(export))
    assert code == 3, "an export written before the header is still read"


def test_an_incident_export_from_entry_1_is_partial_and_its_gaps_are_not_a_break(
    store_url: str, tmp_path: Path
) -> None:
    """inc-0 holds entries 1, 3 and 5 of an intact chain: never the 0 of a whole chain, and
    never a break for the entries of inc-1 between them."""
    export = tmp_path / "inc-0.jsonl"
    _, *lines = _export_incident(store_url, "inc-0", export)
    assert [json.loads(x)["seq"] for x in lines] == [1, 3, 5]
    code, said = _run("verify", "--file", str(export))
    assert code == 3
    assert said.startswith("3 entries of a partial export, each intact and in order")


def test_a_malformed_export_names_the_line(tmp_path: Path) -> None:
    export = tmp_path / "bad.jsonl"
    export.write_text('{"seq": 1}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:1: "):
        _run("verify", "--file", str(export))
    with pytest.raises(InputError, match="cannot read"):
        _run("verify", "--file", str(tmp_path / "missing.jsonl"))


def test_junk_or_a_nan_in_an_export_is_reported_not_a_traceback(
    store_url: str, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(InputError, match=r"junk\.jsonl: not an export: not UTF-8 text"):
        _run("verify", "--file", str(junk))

    export = tmp_path / "audit.jsonl"
    _run("export", "--store", store_url, "--output", str(export))
    lines = export.read_text().splitlines()
    lines[1] = lines[1].replace('"i":1', '"i":NaN')
    assert "NaN" in lines[1]
    export.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    code, said = _run("verify", "--file", str(export))
    assert code == 1
    assert "entry 2 was altered: it holds a number JSON cannot carry" in said


def test_swapped_entries_are_named_as_such(store_url: str, tmp_path: Path) -> None:
    export = tmp_path / "audit.jsonl"
    _run("export", "--store", store_url, "--output", str(export))
    lines = export.read_text().splitlines()
    export.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    code, said = _run("verify", "--file", str(export))
    assert code == 1
    assert "entry 1 follows entry 2: entries were reordered" in said


def test_an_unwritable_output_or_an_unknown_incident_is_an_input_error(
    store_url: str, tmp_path: Path
) -> None:
    for output in (tmp_path / "nonexist" / "a.jsonl", tmp_path):
        with pytest.raises(InputError, match=f"^{output}: cannot write: "):
            _run("export", "--store", store_url, "-o", str(output))
    target = tmp_path / "nope.jsonl"
    with pytest.raises(InputError, match="no audit entries of incident 'nope' in sqlite:///"):
        _run("export", "--store", store_url, "--incident", "nope", "-o", str(target))
    assert not target.exists(), "nothing is written for an incident that is not there"
