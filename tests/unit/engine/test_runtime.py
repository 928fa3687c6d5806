"""What the worker says as it assembles the loop from its settings."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vanguard.config import Settings
from vanguard.diagnose.patterns import builtin_patterns_dir
from vanguard.engine.runtime import build_runtime


def test_a_pattern_that_replaces_a_built_in_one_is_logged_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A team's copy of a built-in pattern replaced it without a word in the log."""
    patterns = tmp_path / "patterns"
    patterns.mkdir()
    leak = (builtin_patterns_dir() / "memory_leak_gradual.yaml").read_text(encoding="utf-8")
    (patterns / "memory_leak_gradual.yaml").write_text(leak, encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", patterns_dirs=(patterns,))
    with caplog.at_level(logging.INFO, logger="vanguard.engine.runtime"):
        build_runtime(settings).close()
    said = [r.getMessage() for r in caplog.records if r.name == "vanguard.engine.runtime"]
    assert said == [
        f"{patterns / 'memory_leak_gradual.yaml'} overrides the built-in memory_leak_gradual"
    ]
