"""Gradient-boosted trees over the candidate lines' numeric features, in numpy.

The seed model's logistic part weighs each feature on its own; what makes a line the reason
often lies in how features combine (a strong line inside the failed step but far from its
end; a weak one that is the last before the CI marker). Trees learn those combinations.
Training grows each tree leaf by leaf over quantile bins of the features (the histogram
method of LightGBM and scikit-learn's ``HistGradientBoostingClassifier``), on the gradients
of the logistic loss; prediction walks every tree at once, one array step per level.
Deterministic: the same rows give the same trees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["TreeEnsemble", "TreeOptions", "fit_trees"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TreeEnsemble:
    """Trees as flat node arrays; a row goes left where ``value <= threshold``.

    ``feature`` is -1 at a leaf; ``value`` holds a leaf's contribution to the logit (the
    learning rate already applied); ``roots`` is each tree's first node; ``depth`` the
    deepest path, so prediction knows how many steps to take.
    """

    feature: IntArray
    threshold: FloatArray
    left: IntArray
    right: IntArray
    value: FloatArray
    roots: IntArray
    depth: int
    base: float

    def logits(self, dense: FloatArray) -> FloatArray:
        """The summed logit of every row of ``dense`` (one row per line)."""
        count = dense.shape[0]
        if count == 0 or not len(self.roots):
            return np.full(count, self.base)
        nodes = np.repeat(self.roots[None, :], count, axis=0)
        rows = np.arange(count)[:, None]
        for _ in range(self.depth):
            feature = self.feature[nodes]
            leaf = feature < 0
            if leaf.all():
                break
            value = dense[rows, np.maximum(feature, 0)]
            step = np.where(value <= self.threshold[nodes], self.left[nodes], self.right[nodes])
            nodes = np.where(leaf, nodes, step)
        return np.asarray(self.base + self.value[nodes].sum(axis=1), dtype=np.float64)

    def to_arrays(self, prefix: str, blend: float) -> dict[str, npt.NDArray[Any]]:
        """The trees (and the share ``blend`` of the logit they take) as named arrays."""
        return {
            f"{prefix}feature": self.feature.astype(np.int16),
            f"{prefix}threshold": self.threshold.astype(np.float32),
            f"{prefix}left": self.left.astype(np.int32),
            f"{prefix}right": self.right.astype(np.int32),
            f"{prefix}value": self.value.astype(np.float32),
            f"{prefix}roots": self.roots.astype(np.int32),
            f"{prefix}meta": np.array([self.base, self.depth, blend], dtype=np.float64),
        }

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, npt.NDArray[Any]], prefix: str
    ) -> tuple[TreeEnsemble | None, float]:
        """Trees written by ``to_arrays`` and their blend; ``(None, 0.0)`` when absent."""
        if f"{prefix}meta" not in arrays:
            return None, 0.0
        meta = arrays[f"{prefix}meta"]
        trees = cls(
            feature=arrays[f"{prefix}feature"].astype(np.int64),
            threshold=arrays[f"{prefix}threshold"].astype(np.float64),
            left=arrays[f"{prefix}left"].astype(np.int64),
            right=arrays[f"{prefix}right"].astype(np.int64),
            value=arrays[f"{prefix}value"].astype(np.float64),
            roots=arrays[f"{prefix}roots"].astype(np.int64),
            depth=int(meta[1]),
            base=float(meta[0]),
        )
        return trees, float(meta[2])


@dataclass(frozen=True)
class TreeOptions:
    """How the trees are grown: ``rounds`` trees of at most ``leaves`` leaves, each leaf
    holding at least ``min_leaf`` rows, leaf values shrunk by ``l2`` and scaled by ``rate``;
    features cut into at most ``bins`` quantile bins."""

    rounds: int = 400
    leaves: int = 15
    rate: float = 0.05
    min_leaf: int = 80
    l2: float = 1.0
    bins: int = 64


@dataclass(eq=False)
class _Leaf:
    rows: IntArray
    gradient: FloatArray
    hessian: FloatArray
    counts: FloatArray
    node: int
    depth: int
    gain: float = 0.0
    feature: int = -1
    cut: int = -1


def _edges(column: FloatArray, bins: int) -> FloatArray:
    """Cut points of one feature: quantiles of its finite values, as float32 values so stored
    trees agree. NaN and +inf fall past the last cut (right), -inf before the first (left),
    the same in training and in prediction."""
    finite = column[np.isfinite(column)]
    if not len(finite):
        return np.zeros(0)
    quantiles = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return np.unique(quantiles.astype(np.float32)).astype(np.float64)


def fit_trees(
    dense: FloatArray,
    labels: FloatArray,
    weights: FloatArray,
    options: TreeOptions | None = None,
) -> TreeEnsemble:
    """Boost trees on the weighted logistic loss of ``labels`` (0/1) given ``dense``."""
    settings = options if options is not None else TreeOptions()
    if settings.bins < 2 or settings.leaves < 1 or settings.rounds < 0:
        raise ValueError(f"tree options need bins >= 2, leaves >= 1, rounds >= 0: {settings}")
    count, width = dense.shape
    edges = [_edges(dense[:, j], settings.bins) for j in range(width)]
    stride = settings.bins
    codes = (
        np.column_stack(
            [np.searchsorted(edges[j], dense[:, j], side="left") for j in range(width)]
        ).astype(np.int64)
        + np.arange(width, dtype=np.int64) * stride
    )
    mean = float(np.average(labels, weights=weights))
    mean = min(max(mean, 1e-6), 1 - 1e-6)
    base = float(np.log(mean / (1 - mean)))
    score = np.full(count, base)
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    value: list[float] = []
    roots: list[int] = []
    depth = 0
    size = width * stride

    def new_node() -> int:
        """Append a leaf node (a split overwrites it) and return its index."""
        feature.append(-1)
        threshold.append(0.0)
        left.append(-1)
        right.append(-1)
        value.append(0.0)
        return len(feature) - 1

    def histogram(
        rows: IntArray, grad: FloatArray, hess: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        flat = codes[rows].ravel()

        def summed(weight: FloatArray | None) -> FloatArray:
            found = np.bincount(flat, weight, size).reshape(width, stride)
            return np.asarray(found, dtype=np.float64)

        return (
            summed(np.repeat(grad[rows], width)),
            summed(np.repeat(hess[rows], width)),
            summed(None),
        )

    def best_split(leaf: _Leaf) -> None:
        lam, least = settings.l2, max(settings.min_leaf, 1)
        g_left = np.cumsum(leaf.gradient, axis=1)[:, :-1]
        h_left = np.cumsum(leaf.hessian, axis=1)[:, :-1]
        c_left = np.cumsum(leaf.counts, axis=1)[:, :-1]
        g_all, h_all, c_all = leaf.gradient[0].sum(), leaf.hessian[0].sum(), leaf.counts[0].sum()
        g_right, h_right, c_right = g_all - g_left, h_all - h_left, c_all - c_left
        gain = g_left**2 / (h_left + lam) + g_right**2 / (h_right + lam) - g_all**2 / (h_all + lam)
        gain[(c_left < least) | (c_right < least) | (h_left < 1e-9) | (h_right < 1e-9)] = -1.0
        feature_at, cut_at = np.unravel_index(int(np.argmax(gain)), gain.shape)
        leaf.gain = float(gain[feature_at, cut_at])
        leaf.feature, leaf.cut = int(feature_at), int(cut_at)

    for _ in range(settings.rounds):
        probability = 0.5 * (1.0 + np.tanh(0.5 * score))
        grad = weights * (probability - labels)
        hess = weights * probability * (1.0 - probability)
        everything = np.arange(count, dtype=np.int64)
        roots.append(new_node())
        root = _Leaf(everything, *histogram(everything, grad, hess), node=roots[-1], depth=0)
        best_split(root)
        open_leaves = [root]
        while len(open_leaves) < settings.leaves:
            leaf = max(open_leaves, key=lambda item: item.gain)
            if leaf.gain <= 0:
                break
            open_leaves.remove(leaf)
            j, cut = leaf.feature, leaf.cut
            goes_left = codes[leaf.rows, j] - j * stride <= cut
            parts = (leaf.rows[goes_left], leaf.rows[~goes_left])
            small = 0 if len(parts[0]) <= len(parts[1]) else 1
            small_hist = histogram(parts[small], grad, hess)
            big_hist = (
                leaf.gradient - small_hist[0],
                leaf.hessian - small_hist[1],
                leaf.counts - small_hist[2],
            )
            children = []
            for side, rows in enumerate(parts):
                hist = small_hist if side == small else big_hist
                child = _Leaf(rows, *hist, node=new_node(), depth=leaf.depth + 1)
                best_split(child)
                children.append(child)
            feature[leaf.node] = j
            threshold[leaf.node] = float(edges[j][cut])
            left[leaf.node], right[leaf.node] = children[0].node, children[1].node
            depth = max(depth, leaf.depth + 1)
            open_leaves.extend(children)
        for leaf in open_leaves:
            g_sum, h_sum = leaf.gradient[0].sum(), leaf.hessian[0].sum()
            step = -settings.rate * g_sum / (h_sum + settings.l2)
            value[leaf.node] = float(step)
            score[leaf.rows] += step
    return TreeEnsemble(
        feature=np.array(feature, dtype=np.int64),
        threshold=np.array(threshold, dtype=np.float64),
        left=np.array(left, dtype=np.int64),
        right=np.array(right, dtype=np.int64),
        value=np.array(value, dtype=np.float64),
        roots=np.array(roots, dtype=np.int64),
        depth=depth,
        base=base,
    )
