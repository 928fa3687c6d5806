"""The loose regression check every benchmark script ends with."""

from __future__ import annotations

from collections.abc import Sequence


def verdict(failures: Sequence[str]) -> int:
    """Print each failure and the check's verdict; the script's exit code (1 on failure)."""
    for failure in failures:
        print(f"REGRESSION: {failure}")
    print("regression check:", "FAILED" if failures else "ok")
    return 1 if failures else 0
