"""``bench/bench_forecast.py --plots``: a ramp drawn with its forecast and true breach."""

from __future__ import annotations

import importlib.util
import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from vanguard.detect.watch import WatchRule

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_forecast.py"
NS = {"s": "http://www.w3.org/2000/svg"}


def load() -> ModuleType:
    """The script as ``python bench/bench_forecast.py`` runs it: its folder on the path."""
    if str(SCRIPT.parent) not in sys.path:
        sys.path.append(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("bench_forecast", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_forecast"] = module
    spec.loader.exec_module(module)
    return module


def test_a_forecast_ramp_shows_both_dots_and_the_predicted_stretch() -> None:
    bench = load()
    rule = WatchRule(threshold=bench.LIMIT, horizon_s=3 * 3600.0)
    ramp = bench.ramp_run(0, rule)
    lead, error = ramp.lead_and_error
    root = ET.fromstring(bench.ramp_svg(ramp))
    assert len(root.findall(".//s:circle[@class='mark']", NS)) == 2
    (span,) = root.findall(".//s:rect[@class='span']", NS)
    (level,) = root.findall(".//s:line[@class='level']", NS)
    assert float(span.attrib["width"]) > 0
    assert level is not None
    title = root.find("s:text", NS)
    assert title is not None
    assert f"{lead / 3600:.2f} h before the breach" in (title.text or "")
    assert f"{error:.1%}" in (title.text or "")


def test_a_ramp_never_forecast_marks_only_its_breach() -> None:
    bench = load()
    seen = bench.ramp_run(0, WatchRule(threshold=bench.LIMIT, horizon_s=3 * 3600.0))
    ramp = bench.RampRun(seen.seed, seen.times, seen.values, seen.breach_s)
    assert ramp.lead_and_error is None
    root = ET.fromstring(bench.ramp_svg(ramp))
    assert len(root.findall(".//s:circle[@class='mark']", NS)) == 1
    assert not root.findall(".//s:rect[@class='span']", NS)
    assert "never forecast" in ET.tostring(root, encoding="unicode")


def test_the_hindsight_line_times_a_clean_ramp_exactly_and_only_from_its_start() -> None:
    bench = load()
    knee, limit, rise_s = bench.FLAT_S, bench.LIMIT, bench.RAMP_S
    times = np.arange(0.0, knee + rise_s + 1800.0, bench.STEP_S)
    clean = bench.BASE + (limit - bench.BASE) / rise_s * np.clip(times - knee, 0.0, None)
    breach = knee + rise_s
    ramp = bench.RampRun(0, times, clean, breach, knee_s=knee)
    assert ramp.hindsight_error() < 1e-6
    falling = 2 * bench.BASE - clean
    assert bench.RampRun(0, times, falling, breach, knee_s=knee).hindsight_error() == math.inf
    early = bench.RampRun(0, times, clean, breach, knee_s=knee - 3600.0)
    assert early.hindsight_error() >= 0.15


def test_the_healthy_controls_stay_far_below_their_limits() -> None:
    """Every control is healthy: a day of it never comes near its limit, so any breach
    forecast on it is false; the wander has the spread its reversion and shocks give."""
    bench = load()
    for k, control in enumerate(bench.CONTROLS):
        values = control.values(np.random.default_rng([30_000, 0, k]), bench.CONTROL_DAY)
        assert len(values) == bench.CONTROL_DAY
        if control.kind == "wander":
            sd = bench.wander_sd(control.reversion)
            assert control.threshold == pytest.approx(65.0 + 7.0 * sd, abs=0.1)
            assert values.max() < 65.0 + 5.0 * sd
            assert abs(values.mean() - 65.0) < 2.0 * sd
            assert 0.6 * sd < values.std() < 1.5 * math.hypot(sd, control.noise)
        else:
            assert control.threshold == 200.0
            assert 49.0 - 5 * control.noise < values.min() < 51.0
            assert 79.0 < values.max() < 81.0 + 5 * control.noise
