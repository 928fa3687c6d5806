"""``vanguard replay --csv``: the table, JSON, plot and clear errors (no server needed)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from vanguard.cli.apps import app
from vanguard.errors import ConfigError, InputError, ScrapeError

MIB = 2**20
CONFIG = """\
services:
  - name: web
    type: python-web
    scrape: {url: "http://127.0.0.1:9/metrics"}
    watch:
      - metric: process_resident_memory_bytes
        rule: {threshold: 419430400, horizon_s: 7200, min_confidence: 0.6}
policy: {max_actions_per_service_per_day: 2}
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "vanguard.yaml"
    config.write_text(CONFIG)
    rng = np.random.default_rng(5)
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    rows = ["timestamp,value"]
    for i in range(1440):
        value = 200 * MIB + max(0, i % 480 - 120) * 0.6 * MIB + rng.normal(0, 2 * MIB)
        rows.append(f"{(t0 + timedelta(minutes=i)).isoformat()},{value:.0f}")
    rows.insert(50, "2026-12-01T00:48:00+00:00,not-a-number")
    history = tmp_path / "mem.csv"
    history.write_text("\n".join(rows) + "\n")
    return config, history


def _invoke(*args: str) -> Result:
    result = CliRunner().invoke(app, ["replay", *args], env={"COLUMNS": "160"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def _run(*args: str) -> str:
    return _invoke(*args).output


def test_the_table_tells_what_the_loop_would_have_done(files: tuple[Path, Path]) -> None:
    config, history = files
    done = _invoke("--service", "web", "--csv", str(history), "-c", str(config))
    said = done.stdout
    assert done.stderr == (
        f"warning {history}: 1 row(s) held (not replayed): non-numeric value; line(s) 51\n"
    )
    assert "service web: 1440 points in 1 series replayed" in said
    assert "forecast" in said
    assert "memory_leak_gradual" in said
    assert "2 actions on web in 24 h, limit 2" in said
    tally = said.strip().splitlines()[-1]
    assert tally.startswith("would act 2, ask a person ")


def test_json_and_plot(files: tuple[Path, Path], tmp_path: Path) -> None:
    """``--json`` is for scripts (``| jq``): stdout holds the JSON alone, even when a row
    is held (that warning goes to stderr)."""
    config, history = files
    plot = tmp_path / "replay.svg"
    done = _invoke(
        "--service", "web", "--csv", str(history), "-c", str(config), "--json", "--plot", str(plot)
    )
    report = json.loads(done.stdout)
    assert "1 row(s) held" in done.stderr
    assert report["tally"]["act"] == 2
    assert report["points"] == 1440
    incidents = report["incidents"]
    assert incidents[0]["diagnosis"]["pattern_id"] == "memory_leak_gradual"
    root = ET.parse(plot).getroot()
    dots = [e for e in root.iter() if e.tag.endswith("circle")]
    assert len(dots) == len(incidents)


def test_errors_name_what_is_wrong(files: tuple[Path, Path]) -> None:
    config, history = files
    with pytest.raises(InputError, match="exactly one of --csv FILE and --prometheus URL"):
        _run("--service", "web", "-c", str(config))
    with pytest.raises(ConfigError, match="no service named 'api'"):
        _run("--service", "api", "--csv", str(history), "-c", str(config))
    with pytest.raises(InputError, match="service web watches process_resident_memory_bytes"):
        _run("--service", "web", "--csv", str(history), "--metric", "cpu", "-c", str(config))
    with pytest.raises(InputError, match=r"--since '60x': a duration like"):
        _run(
            "--service",
            "web",
            "--prometheus",
            "http://127.0.0.1:1",
            "--since",
            "60x",
            "-c",
            str(config),
        )
    with pytest.raises(InputError, match=r"--step '2d': between 1 s and 1 day$"):
        _run(
            "--service",
            "web",
            "--prometheus",
            "http://127.0.0.1:1",
            "--step",
            "2d",
            "-c",
            str(config),
        )
    with pytest.raises(InputError, match=r"--since '500d': between 1 s and 400 days$"):
        _run(
            "--service",
            "web",
            "--prometheus",
            "http://127.0.0.1:1",
            "--since",
            "500d",
            "-c",
            str(config),
        )
    with pytest.raises(InputError, match=r"^--since applies only with --prometheus"):
        _run("--service", "web", "--csv", str(history), "--since", "1h", "-c", str(config))


def test_an_unreachable_server_is_named_without_its_password(files: tuple[Path, Path]) -> None:
    config, _ = files
    url = "http://admin:pw123secret@127.0.0.1:1"
    with pytest.raises(ScrapeError, match=r"admin:\[REDACTED\]@127.0.0.1:1/api/v1/") as info:
        _run("--service", "web", "--prometheus", url, "-c", str(config))
    assert "pw123secret" not in str(info.value)


def test_a_service_watching_several_metrics_needs_metric(files: tuple[Path, Path]) -> None:
    config, history = files
    config.write_text(
        CONFIG.replace(
            "    watch:\n",
            "    watch:\n      - metric: open_fds\n        rule: {threshold: 1000}\n",
        )
    )
    with pytest.raises(InputError, match="watches open_fds, process_resident_memory_bytes: say"):
        _run("--service", "web", "--csv", str(history), "-c", str(config))
    said = _run(
        "--service", "web", "--csv", str(history), "-c", str(config),
        "--metric", "process_resident_memory_bytes",
    )  # fmt: skip
    assert "1440 points in 1 series replayed" in said


def test_an_incident_stays_busy_for_the_baseline_read_and_the_window(
    files: tuple[Path, Path],
) -> None:
    """The live loop reads a baseline before acting, then waits out the window: an alert
    within both folds into the incident (and a second action waits), not the window alone."""
    config, history = files

    def folded(verification: str) -> int:
        config.write_text(CONFIG + verification)
        said = _invoke("--service", "web", "--csv", str(history), "-c", str(config), "--json")
        report = json.loads(said.stdout)
        return sum(i["folded"] for i in report["incidents"])

    short = folded("verification: {baseline_s: 60, window_s: 60}\n")
    long = folded("verification: {baseline_s: 3540, window_s: 60}\n")
    assert long > short, "a long baseline read keeps the incident busy longer"


QUEUES = """\
services:
  - name: q
    scrape: {url: "http://127.0.0.1:9/metrics", interval_s: 60}
    watch:
      - {metric: app_queue_depth, labels: {queue: mail}, rule: {threshold: 20}}
      - {metric: app_queue_depth, labels: {queue: bulk}, rule: {threshold: 5000}}
"""


def test_a_metric_watched_twice_needs_the_series_labels(tmp_path: Path) -> None:
    """Two watch entries of one metric, told apart by labels: the file's series must be
    named, or the replay would run it under whichever entry came first."""
    config = tmp_path / "vanguard.yaml"
    config.write_text(QUEUES)
    rows = ["timestamp,value"] + [f"{1764547200 + 60 * i},{1000 + i % 5}" for i in range(120)]
    bulk = tmp_path / "bulk.csv"
    bulk.write_text("\n".join(rows) + "\n")
    given = ("--service", "q", "--csv", str(bulk), "-c", str(config), "--json")
    refused = (
        r"^service q watches app_queue_depth 2 times \(\{queue=mail\}, \{queue=bulk\}\): say "
        r"which series the file holds with --labels, e.g. --labels queue=mail$"
    )
    with pytest.raises(InputError, match=refused):
        _run(*given)
    with pytest.raises(InputError, match=refused):
        _run(*given, "--metric", "app_queue_depth")
    as_bulk = json.loads(_invoke(*given, "--labels", "queue=bulk").stdout)
    assert (as_bulk["points"], as_bulk["incidents"]) == (120, []), "1000 deep is fine for bulk"
    as_mail = json.loads(_invoke(*given, "--labels", "queue=mail").stdout)
    assert as_mail["incidents"][0]["alert"]["labels"] == {"queue": "mail"}
    with pytest.raises(InputError, match=r"^--labels 'queue=other': no watch of app_queue_"):
        _run(*given, "--labels", "queue=other")
    with pytest.raises(InputError, match=r"^--labels 'queue': give name=value pairs"):
        _run(*given, "--labels", "queue")
    prometheus = ("--service", "q", "--prometheus", "http://127.0.0.1:1", "-c", str(config))
    with pytest.raises(InputError, match=r"^--labels applies only with --csv"):
        _run(*prometheus, "--labels", "queue=mail")
    with pytest.raises(InputError, match=r"^--metric applies only with --csv"):
        _run(*prometheus, "--metric", "app_queue_depth")


def test_a_counter_is_plotted_as_the_rate_its_threshold_is_in(tmp_path: Path) -> None:
    """The watch sees a counter's per-second rate and its threshold is a rate: the plot
    draws the rate, or the threshold line sits on an axis of cumulative counts."""
    config = tmp_path / "vanguard.yaml"
    config.write_text(
        "services:\n"
        "  - name: web\n"
        "    scrape: {url: 'http://127.0.0.1:9/metrics', interval_s: 60}\n"
        "    watch:\n"
        "      - {metric: http_requests_total, rule: {threshold: 20}}\n"
    )
    rows = ["timestamp,value"] + [f"{1764547200 + 60 * i},{30 * 60 * i}" for i in range(240)]
    counts = tmp_path / "c.csv"
    counts.write_text("\n".join(rows) + "\n")
    plot = tmp_path / "replay.svg"
    said = _run("--service", "web", "--csv", str(counts), "-c", str(config), "--plot", str(plot))
    assert "breach" in said, "30/s against a threshold of 20/s"
    svg = plot.read_text()
    assert "http_requests_total (per second)" in svg
    axis = [float(t) for t in re.findall(r'text-anchor="end">([-+.e\d]+)</text>', svg)]
    assert axis
    assert max(axis) < 100, "the y axis spans the rate of 30/s and the threshold of 20/s"
    assert 'class="level"' in svg


def test_a_row_stamped_ahead_is_named_and_the_replay_goes_on(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    """One row stamped a year ahead held every later row: replay saw 5 hours of a day."""
    config, history = files
    rows = history.read_text().splitlines()
    rows[300] = "2027-12-01T04:58:00+00:00," + rows[300].split(",")[1]
    ahead = tmp_path / "ahead.csv"
    ahead.write_text("\n".join(rows) + "\n")
    done = _invoke("--service", "web", "--csv", str(ahead), "-c", str(config))
    assert done.stderr.splitlines()[1:] == [
        f"warning {ahead}: 1 row(s) held (not replayed): timestamp before the previous row; "
        "line(s) 302",
        f"warning {ahead}: 1 row(s) stamped far before the row before them (that row looks "
        "stamped ahead): the series goes on from line(s) 303, as the live watch does",
    ]
    assert "service web: 1439 points in 1 series replayed" in done.stdout
