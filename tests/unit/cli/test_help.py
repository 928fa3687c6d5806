"""Every command's help reads as text: no reStructuredText quotes, no hard line breaks."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from vanguard.cli import app


def _commands(command: Any, path: str = "vanguard") -> list[tuple[str, Any]]:
    if hasattr(command, "commands"):
        return [
            found
            for name, sub in command.commands.items()
            for found in _commands(sub, f"{path} {name}")
        ]
    return [(path, command)]


def test_help_is_reflowed_text() -> None:
    commands = _commands(typer.main.get_command(app))
    assert len(commands) > 20
    for path, command in commands:
        text = command.help or ""
        assert text, f"{path} has no help"
        assert "``" not in text, path
        for paragraph in text.split("\n\n"):
            assert "\n" not in paragraph, f"{path}: a hard line break in {paragraph!r}"


def test_no_flag_reads_as_if_it_took_a_value() -> None:
    """Rich help showed every flag, ``--help`` included, with a ``<bool>`` placeholder."""
    for path, _ in _commands(typer.main.get_command(app)):
        result = CliRunner().invoke(app, [*path.split()[1:], "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, path
        assert "--help  " in result.output, path
        assert "<bool>" not in result.output, path


def test_every_option_says_what_it_does() -> None:
    """``--json`` of replay, patterns and incidents list/show, and ``--verbose``, said nothing."""
    bare = [
        f"{path} {param.opts[0]}"
        for path, command in _commands(typer.main.get_command(app))
        for param in command.params
        if param.param_type_name == "option" and not param.help
    ]
    assert bare == []
