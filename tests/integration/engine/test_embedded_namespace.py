"""The embedded Temporal server serves the namespace the configuration names."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vanguard.config import Settings, TemporalConfig
from vanguard.engine.devserver import find_temporal_binary
from vanguard.engine.embedded import Endpoints, serve
from vanguard.engine.runtime import build_runtime
from vanguard.netutil import free_port

pytestmark = pytest.mark.integration


async def test_a_namespace_other_than_default_is_created_on_the_embedded_server(
    tmp_path: Path,
) -> None:
    """It was started with ``default`` alone, so a worker for ``ops`` could not connect."""
    find_temporal_binary()
    settings = Settings(
        data_dir=tmp_path,
        temporal=TemporalConfig(namespace="ops", port=free_port(), connect_timeout_s=20),
    )
    runtime = build_runtime(settings, notifiers=[])
    stop = asyncio.Event()
    seen: list[Endpoints] = []

    def announce(endpoints: Endpoints) -> None:
        seen.append(endpoints)
        stop.set()

    try:
        await asyncio.wait_for(
            serve(settings, runtime, stop, announce=announce, api=False, watch=False), 90
        )
    finally:
        runtime.close()
    assert len(seen) == 1
