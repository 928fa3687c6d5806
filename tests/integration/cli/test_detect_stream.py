"""``vanguard detect`` as a process: its memory stays flat however long the input is, and
``-o /dev/stdout`` writes into the pipe it is given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vanguard

pytestmark = pytest.mark.integration

SRC = Path(vanguard.__file__).resolve().parents[1]
"""The sources under test, so the child process runs them and not an installed copy."""
ROWS = 400_000
"""Enough for a whole-file reader to need about 150 MB more than a streaming one."""
VANGUARD = ("-c", "from vanguard.cli import main; main()")
"""``python *VANGUARD *args`` runs ``vanguard *args``."""
HEADROOM_MB = 60.0
"""What the long input may cost over a 1,000-row one: chunks are 8,192 rows (a few MB)."""

MEASURE = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""
"""Runs a command and prints its peak RSS in KB. A child's peak counts its parent's memory at
the fork, so the command runs under this small process rather than straight under pytest."""


def write_series(path: Path, rows: int) -> Path:
    """``rows`` one-minute samples of noise, written 100,000 rows at a time."""
    values = np.round(20 + np.random.default_rng(0).normal(0, 1, rows), 4).tolist()
    with path.open("w") as fh:
        fh.write("timestamp,value\n")
        for start in range(0, rows, 100_000):
            block = range(start, min(rows, start + 100_000))
            fh.write("".join(f"{1_700_000_000 + 60 * i},{values[i]}\n" for i in block))
    return path


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` on the sources under test; stdout and stderr are pipes."""
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        check=False,
    )


def peak_rss_mb(*args: str) -> float:
    """Run ``vanguard *args`` in a fresh interpreter; the peak resident memory of that process."""
    done = run_python("-c", MEASURE, sys.executable, *VANGUARD, *args)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) / 1024


def test_a_long_input_needs_no_more_memory_than_a_short_one(tmp_path: Path) -> None:
    """The zscore detector keeps the run short; the reading and writing measured are shared.

    The default detector's carried state is a fixed 1.5 KB (``tests/unit/detect``), but it
    scores a few thousand rows a second on one series, too slow for this many rows here.
    """
    short = write_series(tmp_path / "short.csv", 1_000)
    long = write_series(tmp_path / "long.csv", ROWS)
    out = tmp_path / "out.csv"
    base = peak_rss_mb("detect", str(short), "-o", str(out), "--detector", "zscore")
    peak = peak_rss_mb("detect", str(long), "-o", str(out), "--detector", "zscore")
    assert peak - base < HEADROOM_MB, f"{ROWS:,} rows: {peak:.0f} MB, 1,000 rows: {base:.0f} MB"
    with out.open() as fh:
        assert sum(1 for _ in fh) == ROWS + 1


def test_output_to_dev_stdout_on_a_pipe_is_written_into_the_pipe(tmp_path: Path) -> None:
    """``vanguard detect IN -o /dev/stdout | tail -1``: resolved, /dev/stdout names no
    path (``/proc/PID/fd/pipe:[N]``), so it must be written as it is, not replaced."""
    series = write_series(tmp_path / "in.csv", 50)
    done = run_python(*VANGUARD, "detect", str(series), "-o", "/dev/stdout")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "timestamp,value,anomaly_score"
    assert len(lines) == 51
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
