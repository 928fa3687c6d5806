"""``bench/bench_anomaly_level.py``: its alerts are the watch's, and its regression check."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from vanguard.detect.default import score_batch
from vanguard.detect.watch import SeriesState, WatchRule, step_many
from vanguard.model import Signal

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_anomaly_level.py"


def load() -> ModuleType:
    """The script as ``python bench/bench_anomaly_level.py`` runs it: its folder on the path."""
    if str(SCRIPT.parent) not in sys.path:
        sys.path.append(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("bench_anomaly_level", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_anomaly_level"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("after", [0, 200])
def test_the_bench_alerts_where_the_watch_alerts(after: int) -> None:
    """Scores from one batch, alerted by ``anomaly_alerts``, give the alerts the watch
    raises stepping the same series one sweep at a time."""
    bench = load()
    rule = WatchRule(anomaly_level=0.2, anomaly_after=after)
    points = 600
    families = ("Student t, 4 d.f.", "lognormal, σ 0.5", "forecast controls")
    rows = np.array(
        [
            bench.FAMILIES[name](np.random.default_rng([7, k]), points, k)
            for k, name in enumerate(families)
        ]
    )
    times = np.broadcast_to(bench.T0 + bench.STEP_S * np.arange(points), rows.shape)
    scores = score_batch(rows, times=np.ascontiguousarray(times))
    expected = [bench.anomaly_alerts(row, rule) for row in scores]

    states: list[SeriesState | None] = [None] * len(rows)
    seen: list[list[int]] = [[] for _ in rows]
    for i in range(points):
        at = datetime.fromtimestamp(bench.T0, UTC) + timedelta(seconds=i * bench.STEP_S)
        items = [
            (
                states[k],
                Signal(
                    source="bench",
                    service_name="svc",
                    metric_type="m",
                    labels={"k": str(k)},
                    timestamp=at,
                    value=float(rows[k, i]),
                ),
                rule,
            )
            for k in range(len(rows))
        ]
        for k, (state, alert) in enumerate(step_many(items)):
            states[k] = state
            if alert is not None:
                seen[k].append(i)
    assert seen == expected
    assert any(expected), "the case raises alerts to compare"
    assert all(i >= after for a in expected for i in a)


def test_the_regression_check_fails_on_noisy_young_series_or_a_missed_jump() -> None:
    bench = load()
    controls = "forecast controls"
    quiet = {"normal": (0.02, 0.06), "Poisson, mean 20": (0.04, 0.08), controls: (0.02, 0.1)}
    assert bench.regressions(quiet, 0.97) == []
    noisy = {"normal": (0.09, 0.06), "Poisson, mean 20": (0.04, 0.8), controls: (0.31, 0.1)}
    failures = bench.regressions(noisy, 0.5)
    assert len(failures) == 4
    assert "normal: 9% of new series" in failures[0]
    assert "Poisson, mean 20: 0.80 false anomaly alerts" in failures[1]
    assert "forecast controls: 31% of new series" in failures[2]
    assert "level jump" in failures[3]


def test_a_small_run_prints_every_table_and_its_verdict(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load()
    monkeypatch.setattr(
        sys, "argv", ["bench", "--series", "2", "--samples", "10050", "--holdbacks", "0"]
    )
    code = bench.main()
    out = capsys.readouterr().out
    assert "hold-back 200:" in out
    assert "  family | 0 | 200" in out
    assert "level jump, 200 |" in out
    assert "  context_prior | 400 | 600 | 800 | 900 | 1000" in out
    assert out.rstrip().endswith("regression check: ok" if code == 0 else "FAILED")
