"""Every registered detector honours the contract written on ``Detector``."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

import vanguard.detect as detect_pkg
from vanguard.detect.base import Detector, Thresholded
from vanguard.detect.registry import DETECTORS, SeriesScorer, create, score_series
from vanguard.detect.zscore import RollingZScore
from vanguard.errors import ConfigError, InputError


def series(n: int = 600, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [10.0 + rng.gauss(0, 1) for _ in range(n)] + [60.0]


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_contract(name: str) -> None:
    assert not create(name).ready
    det = create(name)
    assert isinstance(det, Detector)
    values = series()
    scores = []
    for i, x in enumerate(values):
        before = det.score_one(x, 1.7e9 + 60 * i)
        again = det.score_one(x, 1.7e9 + 60 * i)
        assert before == again
        assert 0.0 <= before <= 1.0
        if not det.ready:
            assert before == 0.0
        scores.append(before)
        det.learn_one(x, 1.7e9 + 60 * i)
    assert det.ready
    assert scores[-1] >= 0.9
    assert max(scores[:-1]) < scores[-1]


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_score_series_matches_streaming_and_skips_nan(name: str) -> None:
    values = np.array([*series(300, 1)[:150], math.nan, *series(300, 1)[150:]])
    times = 1.7e9 + 60.0 * np.arange(len(values), dtype=np.float64)
    scores = score_series(name, values, times)
    det = create(name)
    expected = []
    for x, t in zip(values.tolist(), times.tolist(), strict=True):
        if math.isnan(x):
            expected.append(0.0)
            continue
        expected.append(det.score_one(x, t))
        det.learn_one(x, t)
    assert np.allclose(scores, expected)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_scoring_in_chunks_gives_the_scores_of_the_whole_series(name: str) -> None:
    values = np.array([*series(900, 3)[:400], math.nan, *series(900, 3)[400:]])
    times = 1.7e9 + 60.0 * np.arange(len(values), dtype=np.float64)
    scorer = SeriesScorer(name)
    chunks = [scorer.score(values[i : i + 7], times[i : i + 7]) for i in range(0, len(values), 7)]
    whole = score_series(name, values, times)
    assert np.array_equal(np.concatenate(chunks), whole)
    assert whole[-1] >= 0.9


def test_zscore_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match="window: must be at least 3, got 2"):
        RollingZScore(window=2)
    with pytest.raises(ConfigError, match="warmup"):
        RollingZScore(warmup=0)


def test_unknown_detector_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown detector 'nope'"):
        create("nope")


def test_thresholded_wrapper_alarms_on_the_spike() -> None:
    alarm = Thresholded(create("zscore"), threshold=0.9)
    flags = [alarm.alarm_one(x) for x in series(200, 2)]
    assert flags[-1]
    assert sum(flags) == 1


def test_public_surface_is_pinned() -> None:
    assert sorted(detect_pkg.__all__) == [
        "DEFAULT_PARAMS",
        "DETECTORS",
        "DefaultDetector",
        "DefaultParams",
        "DefaultState",
        "Detector",
        "RollingZScore",
        "SeriesState",
        "Thresholded",
        "WatchRule",
        "create",
        "fingerprint",
        "score_batch",
        "score_series",
        "step",
    ]
