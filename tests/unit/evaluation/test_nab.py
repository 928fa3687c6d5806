"""NAB scoring on hand-computed cases: weights, probation, thresholds, normalisation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vanguard.errors import InputError
from vanguard.evaluation.nab import (
    PROFILES,
    NabFile,
    Profile,
    load_corpus,
    load_profiles,
    probation_length,
    row_weights,
    scaled_sigmoid,
    score_corpus,
)

STANDARD = PROFILES[0]
LOW_FN = PROFILES[2]


def one_window_file(scores: dict[int, float]) -> tuple[NabFile, np.ndarray]:
    """20 rows, probation 3 rows, one window on rows 10..13 (width 4)."""
    nab = NabFile(
        name="f.csv",
        times=np.arange(20, dtype=float) * 300,
        values=np.zeros(20),
        windows=((10, 13),),
    )
    s = np.zeros(20)
    for row, value in scores.items():
        s[row] = value
    return nab, s


def test_scaled_sigmoid_landmarks() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.0) == -1.0


def test_probation_is_fifteen_percent_capped_at_750() -> None:
    assert probation_length(20) == 3
    assert probation_length(4032) == 604
    assert probation_length(10_000) == 750


def test_row_weights_by_hand() -> None:
    weights, window_of = row_weights(20, [(10, 13)], STANDARD)
    assert weights[:10] == pytest.approx([-0.11] * 10)
    assert weights[10:14] == pytest.approx([1.0, 0.96699, 0.859793, 0.562124], abs=1e-5)
    assert weights[14] == pytest.approx(-0.075049, abs=1e-5)
    assert list(window_of[9:15]) == [-1, 0, 0, 0, 0, -1]
    assert weights[-1] == pytest.approx(-0.109990, abs=1e-6)


def test_single_early_detection() -> None:
    nab, s = one_window_file({11: 1.0})
    result = score_corpus([nab], [s], STANDARD)
    assert result.raw == pytest.approx(0.96699, abs=1e-5)
    assert result.normalized == pytest.approx(100 * (0.96699 + 1) / 2, abs=1e-3)
    assert result.threshold == 1.0
    assert (result.detected_windows, result.windows, result.false_positives) == (1, 1, 0)


def test_false_positive_before_window_costs_fp_weight() -> None:
    nab, s = one_window_file({5: 1.0, 12: 1.0})
    result = score_corpus([nab], [s], STANDARD)
    assert result.raw == pytest.approx(-0.11 + 0.859793, abs=1e-5)
    assert result.false_positives == 1


def test_threshold_is_optimised_over_graded_scores() -> None:
    nab, s = one_window_file({14: 0.9, 13: 0.8})
    result = score_corpus([nab], [s], STANDARD)
    assert result.threshold == 0.8
    assert result.raw == pytest.approx(-0.075049 + 0.562124, abs=1e-5)
    assert result.normalized == pytest.approx(100 * (1 + 0.487075) / 2, abs=1e-3)


def test_only_the_best_detection_in_a_window_counts() -> None:
    nab, s = one_window_file({10: 0.5, 11: 0.7, 12: 0.9, 13: 0.9})
    result = score_corpus([nab], [s], STANDARD)
    assert result.threshold == 0.5
    assert result.raw == pytest.approx(1.0)


def test_a_fixed_threshold_is_scored_where_it_stands() -> None:
    """An operating point fixed in advance is not optimised: it may miss, and score below
    the null detector where every threshold above its false positive would score 0."""
    nab, s = one_window_file({5: 0.9, 12: 0.4})
    at_high = score_corpus([nab], [s], STANDARD, threshold=0.5)
    assert at_high.threshold == 0.5
    assert at_high.raw == pytest.approx(-1.11)
    assert at_high.normalized == pytest.approx(100 * (-1.11 + 1) / 2)
    assert (at_high.detected_windows, at_high.false_positives) == (0, 1)
    at_low = score_corpus([nab], [s], STANDARD, threshold=0.4)
    assert at_low.raw == pytest.approx(-0.11 + 0.859793, abs=1e-5)
    assert (at_low.detected_windows, at_low.false_positives) == (1, 1)
    assert score_corpus([nab], [s], STANDARD).raw == at_low.raw
    assert score_corpus([nab], [s], STANDARD, threshold=0.95).raw == pytest.approx(-1.0)


def test_probation_rows_are_ignored() -> None:
    nab, s = one_window_file({1: 1.0, 2: 0.9, 12: 0.5})
    _, without = one_window_file({12: 0.5})
    assert score_corpus([nab], [s], STANDARD) == score_corpus([nab], [without], STANDARD)


def test_null_detector_scores_zero() -> None:
    nab = NabFile(name="n.csv", times=np.arange(100.0), values=np.zeros(100), windows=((80, 83),))
    result = score_corpus([nab], [np.zeros(100)], STANDARD)
    assert result.raw == pytest.approx(-1.0)
    assert result.normalized == pytest.approx(0.0)
    assert result.detected_windows == 0


def test_fn_weight_of_profile_scales_the_floor() -> None:
    nab, s = one_window_file({12: 1.0})
    result = score_corpus([nab], [s], LOW_FN)
    assert result.raw == pytest.approx(0.859793, abs=1e-5)
    assert result.normalized == pytest.approx(100 * (0.859793 + 2) / 3, abs=1e-3)


def test_ties_are_detected_together() -> None:
    nab, s = one_window_file({4: 0.6, 11: 0.6})
    result = score_corpus([nab], [s], STANDARD)
    assert result.threshold == 0.6
    assert result.raw == pytest.approx(0.96699 - 0.11, abs=1e-5)


def test_corpus_total_spans_files() -> None:
    nab, s = one_window_file({10: 1.0})
    quiet = NabFile(name="q.csv", times=np.arange(20.0), values=np.zeros(20), windows=())
    noisy = np.zeros(20)
    noisy[[6, 8]] = 1.0
    result = score_corpus([nab, quiet], [s, noisy], STANDARD)
    assert result.raw == pytest.approx(1.0 - 0.22)
    assert result.false_positives == 2


def test_length_mismatch_is_an_input_error() -> None:
    nab, _ = one_window_file({})
    with pytest.raises(InputError, match="19 scores for 20 rows"):
        score_corpus([nab], [np.zeros(19)], STANDARD)


def test_load_corpus_and_profiles(tmp_path: Path) -> None:
    (tmp_path / "data" / "cat").mkdir(parents=True)
    (tmp_path / "labels").mkdir()
    (tmp_path / "config").mkdir()
    lines = ["timestamp,value"] + [f"2014-01-01 00:{m:02d}:00,{m}.5" for m in range(30)]
    (tmp_path / "data" / "cat" / "a.csv").write_text("\n".join(lines) + "\n")
    labels = {"cat/a.csv": [["2014-01-01 00:10:00.000000", "2014-01-01 00:12:00.000000"]]}
    (tmp_path / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    profiles = {"standard": {"CostMatrix": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0}}}
    (tmp_path / "config" / "profiles.json").write_text(json.dumps(profiles))
    (nab,) = load_corpus(tmp_path)
    assert nab.name == "cat/a.csv"
    assert nab.windows == ((10, 12),)
    assert nab.values[3] == 3.5
    assert nab.times[1] - nab.times[0] == 60.0
    assert load_profiles(tmp_path / "config" / "profiles.json") == (
        Profile(name="standard", tp=1.0, fp=0.11, fn=1.0),
    )


def test_missing_corpus_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read NAB labels"):
        load_corpus(tmp_path)
