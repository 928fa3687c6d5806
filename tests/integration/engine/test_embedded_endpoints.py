"""What ``vanguard up`` announces is where it answers: the GitHub webhook included."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from tests.integration.ci.helpers import SECRET, headers
from vanguard.ci.config import GitHubConfig
from vanguard.config import ApiConfig, Settings, TemporalConfig
from vanguard.engine.devserver import find_temporal_binary
from vanguard.engine.embedded import Endpoints, serve
from vanguard.engine.runtime import build_runtime
from vanguard.netutil import free_port

pytestmark = pytest.mark.integration


async def test_the_github_webhook_is_announced_where_the_api_receives_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    find_temporal_binary()
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "ghs_endpoints_test_token")
    monkeypatch.setenv("VANGUARD_TEST_HOOK_SECRET", SECRET.decode())
    port = free_port()
    settings = Settings(
        data_dir=tmp_path,
        temporal=TemporalConfig(port=free_port(), connect_timeout_s=20),
        api=ApiConfig(port=port),
        github=GitHubConfig(
            token_env="VANGUARD_TEST_GH_TOKEN", webhook_secret_env="VANGUARD_TEST_HOOK_SECRET"
        ),
    )
    runtime = build_runtime(settings, notifiers=[])
    stop = asyncio.Event()
    seen: list[Endpoints] = []
    answers: list[httpx.Response] = []
    pinging: list[asyncio.Task[None]] = []

    async def ping(url: str) -> None:
        body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
        try:
            async with httpx.AsyncClient() as client:
                answers.append(await client.post(url, content=body, headers=headers("ping", body)))
        finally:
            stop.set()

    def announce(endpoints: Endpoints) -> None:
        seen.append(endpoints)
        if endpoints.github_webhook is None:
            stop.set()
        else:
            pinging.append(asyncio.get_running_loop().create_task(ping(endpoints.github_webhook)))

    try:
        await asyncio.wait_for(
            serve(settings, runtime, stop, announce=announce, api=True, watch=False), 90
        )
        await asyncio.gather(*pinging)
    finally:
        runtime.close()
    (endpoints,) = seen
    assert endpoints.github_webhook == f"http://127.0.0.1:{port}/webhooks/github"
    (answer,) = answers
    assert answer.status_code == 202, answer.text
    assert (answer.json()["reason"], answer.json()["status"]) == ("ping", "ignored")
