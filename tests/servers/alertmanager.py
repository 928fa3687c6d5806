"""Alertmanager (Debian package) sending every notification to one webhook, fast.

``group_wait``/``group_interval`` of 1 s and ``send_resolved`` so tests see firing and
resolved POSTs within seconds; clustering off (no gossip port on 0.0.0.0).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from tests.servers.process import read_tail, require_binary, stop_popen
from vanguard.netutil import wait_for_port

__all__ = ["AlertmanagerServer", "StartAlertmanager"]

HOST = "127.0.0.1"


class StartAlertmanager(Protocol):
    """The ``alertmanager_server`` fixture: start one that posts to ``webhook_url``."""

    def __call__(self, webhook_url: str) -> AlertmanagerServer: ...


@dataclass
class AlertmanagerServer:
    """A running Alertmanager; ``url`` is what Prometheus' ``alerting`` section points at."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.root / "alertmanager.log"

    @classmethod
    def start(cls, webhook_url: str, port: int, *, timeout_s: float = 20.0) -> AlertmanagerServer:
        binary = require_binary(
            "prometheus-alertmanager",
            Path("/usr/bin/prometheus-alertmanager"),
            Path("/usr/bin/alertmanager"),
        )
        root = Path(tempfile.mkdtemp(prefix="vanguard-alertmanager-"))
        config: dict[str, Any] = {
            "route": {
                "receiver": "webhook",
                "group_by": ["alertname"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "webhook",
                    "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
                }
            ],
        }
        conf = root / "alertmanager.yml"
        conf.write_text(yaml.safe_dump(config, sort_keys=False))
        argv = [
            str(binary),
            f"--config.file={conf}",
            f"--storage.path={root / 'data'}",
            f"--web.listen-address={HOST}:{port}",
            "--cluster.listen-address=",
        ]
        with (root / "alertmanager.log").open("wb") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=root
            )
        server = cls(root=root, port=port, proc=proc)
        try:
            server._wait_ready(timeout_s)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"alertmanager exited {self.proc.returncode}:\n{read_tail(self.log_file)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        raise RuntimeError(
            f"alertmanager not ready after {timeout_s} s:\n{read_tail(self.log_file)}"
        )

    def stop(self, *, timeout_s: float = 10.0) -> None:
        stop_popen(self.proc, sig=signal.SIGTERM, timeout_s=timeout_s)
        wait_for_port(HOST, self.port, timeout_s=5.0, closed=True)
        shutil.rmtree(self.root, ignore_errors=True)
