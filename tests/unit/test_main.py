"""``python -m vanguard`` runs the ``vanguard`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import vanguard

SRC = Path(vanguard.__file__).resolve().parents[1]


def test_python_m_vanguard_is_the_vanguard_command(tmp_path: Path) -> None:
    """It failed: "No module named vanguard.__main__"."""
    src = tmp_path / "in.csv"
    src.write_text("timestamp,value\n" + "".join(f"{60 * i},1\n" for i in range(5)))
    done = subprocess.run(
        [sys.executable, "-m", "vanguard", "detect", str(src), "-o", "/dev/stdout"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "timestamp,value,anomaly_score"
    assert len(done.stdout.splitlines()) == 6
    missing = subprocess.run(
        [sys.executable, "-m", "vanguard", "detect", str(tmp_path / "gone.csv"), "-o", "x"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        timeout=120,
        check=False,
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"error: {tmp_path / 'gone.csv'}: cannot read")
