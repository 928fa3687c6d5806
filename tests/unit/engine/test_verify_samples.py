"""Verification needs at least one reading after the action."""

from __future__ import annotations

from pathlib import Path

import pytest

from vanguard.act.base import MemoryLedger
from vanguard.config import Settings
from vanguard.engine.activities import Activities
from vanguard.store import Store


@pytest.mark.parametrize("samples", [0, -1])
def test_fewer_than_one_verify_sample_is_refused(store: Store, samples: int) -> None:
    """No reading after the action would leave nothing to compare (a median of nothing)."""
    with pytest.raises(ValueError, match=f"verify_samples must be at least 1, got {samples}"):
        Activities(
            Settings(data_dir=Path(".")), store, [], {}, MemoryLedger(), [], verify_samples=samples
        )


def test_one_verify_sample_is_enough(store: Store) -> None:
    acts = Activities(
        Settings(data_dir=Path(".")), store, [], {}, MemoryLedger(), [], verify_samples=1
    )
    assert acts.verify_samples == 1
