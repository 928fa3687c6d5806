"""Boosted trees over numeric features: they learn what a weighted sum cannot, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest

from vanguard.diagnose.linemodel import train_logistic
from vanguard.diagnose.trees import TreeOptions, fit_trees


def _crossed(count: int = 2000, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Two features whose combination, not either alone, says the label (exclusive or)."""
    rng = np.random.default_rng(seed)
    dense = rng.random((count, 3))
    labels = ((dense[:, 0] > 0.5) ^ (dense[:, 1] > 0.5)).astype(np.float64)
    return dense, labels


def test_trees_learn_a_combination_that_a_weighted_sum_cannot() -> None:
    dense, labels = _crossed()
    weights = np.full(len(labels), 1.0 / len(labels))
    trees = fit_trees(dense, labels, weights, TreeOptions(rounds=60, leaves=8, min_leaf=20))
    linear = train_logistic(
        dense,
        np.zeros(len(labels) + 1, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
        labels,
        weights=weights,
        l2=1e-3,
        steps=300,
    )
    fresh, truth = _crossed(seed=8)
    trees_right = np.mean((trees.logits(fresh) > 0) == (truth > 0))
    linear_right = np.mean((linear.logits(fresh, [()] * len(truth)) > 0) == (truth > 0))
    assert trees_right > 0.95
    assert linear_right < 0.65


def test_trees_respect_their_size_limits_and_are_reproducible() -> None:
    dense, labels = _crossed(800)
    weights = np.ones(len(labels))
    options = TreeOptions(rounds=5, leaves=6, min_leaf=50, bins=16)
    trees = fit_trees(dense, labels, weights, options)
    again = fit_trees(dense, labels, weights, options)
    assert len(trees.roots) == 5
    for field in ("feature", "threshold", "left", "right", "value", "roots"):
        assert np.array_equal(getattr(trees, field), getattr(again, field))
    ends = np.append(trees.roots[1:], len(trees.feature))
    for start, end in zip(trees.roots, ends, strict=True):
        leaves = trees.feature[start:end] < 0
        assert 1 <= leaves.sum() <= options.leaves
    single = fit_trees(dense, labels, weights, TreeOptions(rounds=1, leaves=6, min_leaf=50))
    landed = single.logits(dense) - single.base
    _values, counts = np.unique(landed, return_counts=True)
    assert counts.min() >= 50


def test_no_rows_give_no_scores_and_a_constant_label_gives_no_split() -> None:
    dense, labels = _crossed(300)
    trees = fit_trees(dense, labels, np.ones(len(labels)), TreeOptions(rounds=3))
    assert trees.logits(np.zeros((0, 3))).shape == (0,)
    flat = fit_trees(dense, np.ones(len(labels)), np.ones(len(labels)), TreeOptions(rounds=3))
    assert np.all(flat.feature == -1)
    assert np.all(flat.logits(dense) > 5)


def test_every_row_lands_in_the_leaf_its_training_split_sent_it_to() -> None:
    dense, labels = _crossed(600)
    dense[::7, 2] = np.nan
    dense[::11, 1] = np.inf
    dense[::13, 0] = -np.inf
    options = TreeOptions(rounds=1, leaves=8, min_leaf=20, rate=1.0, l2=1.0)
    trees = fit_trees(dense, labels, np.ones(len(labels)), options)
    landed = trees.logits(dense) - trees.base
    probability = np.full(len(labels), 1.0 / (1.0 + np.exp(-trees.base)))
    gradient, hessian = probability - labels, probability * (1.0 - probability)
    for value in np.unique(landed):
        rows = landed == value
        assert rows.sum() >= options.min_leaf
        expected = -gradient[rows].sum() / (hessian[rows].sum() + options.l2)
        assert value == pytest.approx(expected)


def test_options_that_cannot_grow_a_tree_are_refused() -> None:
    dense, labels = _crossed(100)
    with pytest.raises(ValueError, match="bins >= 2"):
        fit_trees(dense, labels, np.ones(100), TreeOptions(bins=1))
