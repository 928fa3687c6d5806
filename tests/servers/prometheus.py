"""A Prometheus server (Debian package) scraping given targets every second.

Prometheus scrapes a new target only ~5 s after start (service discovery batches its
updates), so ``start`` waits until every target reports health "up" before returning.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import yaml

from tests.servers.process import read_tail, require_binary, stop_popen
from vanguard.netutil import wait_for_port

__all__ = ["PrometheusServer", "ScrapeTarget", "StartPrometheus"]

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ScrapeTarget:
    """One scrape job: its ``job`` label and the full ``/metrics`` URL."""

    job: str
    url: str


class StartPrometheus(Protocol):
    """The ``prometheus_server`` fixture."""

    def __call__(
        self,
        targets: Sequence[ScrapeTarget],
        *,
        rule_files: Sequence[Path] = (),
        alertmanager: str | None = None,
        wait_up: bool = True,
    ) -> PrometheusServer: ...


def _get_json(url: str, timeout_s: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.load(response)


@dataclass
class PrometheusServer:
    """A running Prometheus; ``url`` is its base URL (``/api/v1/...`` below it)."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    targets: tuple[ScrapeTarget, ...]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.root / "prometheus.log"

    @classmethod
    def start(
        cls,
        targets: Sequence[ScrapeTarget],
        port: int,
        *,
        rule_files: Sequence[Path] = (),
        alertmanager: str | None = None,
        timeout_s: float = 20.0,
    ) -> PrometheusServer:
        """Write a config (1 s scrape and rule interval) and start Prometheus on ``port``."""
        binary = require_binary("prometheus", Path("/usr/bin/prometheus"))
        root = Path(tempfile.mkdtemp(prefix="vanguard-prometheus-"))
        rules = []
        for i, rule in enumerate(rule_files):
            copy = root / f"rules-{i}-{rule.name}"
            shutil.copyfile(rule, copy)
            rules.append(str(copy))
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": rules,
            "scrape_configs": [
                {
                    "job_name": t.job,
                    "metrics_path": urlsplit(t.url).path or "/metrics",
                    "scheme": urlsplit(t.url).scheme or "http",
                    "static_configs": [{"targets": [urlsplit(t.url).netloc]}],
                }
                for t in targets
            ],
        }
        if alertmanager is not None:
            am = urlsplit(alertmanager)
            config["alerting"] = {
                "alertmanagers": [
                    {"scheme": am.scheme or "http", "static_configs": [{"targets": [am.netloc]}]}
                ]
            }
        conf = root / "prometheus.yml"
        conf.write_text(yaml.safe_dump(config, sort_keys=False))
        argv = [
            str(binary),
            f"--config.file={conf}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address={HOST}:{port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
        ]
        with (root / "prometheus.log").open("wb") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=root
            )
        server = cls(root=root, port=port, proc=proc, targets=tuple(targets))
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
                    f"prometheus exited {self.proc.returncode}:\n{read_tail(self.log_file)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"prometheus not ready after {timeout_s} s:\n{read_tail(self.log_file)}")

    def target_health(self) -> dict[str, str]:
        """``job`` → health ("up", "down", "unknown") from ``/api/v1/targets``."""
        body = _get_json(f"{self.url}/api/v1/targets?state=active")
        return {t["labels"]["job"]: t["health"] for t in body["data"]["activeTargets"]}

    def wait_targets_up(self, *, timeout_s: float = 20.0) -> None:
        """Block until every configured target was scraped successfully at least once."""
        wanted = {t.job for t in self.targets}
        deadline = time.monotonic() + timeout_s
        health: dict[str, str] = {}
        while time.monotonic() < deadline:
            health = self.target_health()
            if all(health.get(job) == "up" for job in wanted):
                return
            time.sleep(0.2)
        raise RuntimeError(f"prometheus targets not up after {timeout_s} s: {health}")

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """SIGTERM, SIGKILL after ``timeout_s``, port closed, files removed."""
        stop_popen(self.proc, sig=signal.SIGTERM, timeout_s=timeout_s)
        wait_for_port(HOST, self.port, timeout_s=5.0, closed=True)
        shutil.rmtree(self.root, ignore_errors=True)
