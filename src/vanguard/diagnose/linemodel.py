"""A learned line scorer for failed CI logs: logistic regression over rule and token features.

The rule-based ranker in ``cilog`` proposes candidate lines and describes each by numbers it
already computes (evidence, place in the failed step, block shape) plus hashed words of the
line and its neighbours. This module holds the weights that turn those features into the
probability that a line belongs to the labelled failure reason (``LineModel``, which picks
the seed line) and that a line near the seed belongs to its report (``ExtentModel``), the
numpy code that trains them, and the loader of the shipped weights. The weights are plain
numbers: no log text is stored, only hash buckets of lowercase word shapes.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from io import BytesIO
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from vanguard.diagnose.trees import TreeEnsemble

__all__ = [
    "HASH_BITS",
    "MODEL_FILE",
    "ExtentModel",
    "LineModel",
    "builtin_model",
    "hashed_tokens",
    "train_logistic",
]

HASH_BITS = 14
"""Hash buckets for word features: 16,384 weights, small enough to ship as package data."""
MODEL_FILE = "cilog_model.npz"
_WORD = re.compile(r"[a-z_]+|[^\sa-z_\d]")
_DIGITS = re.compile(r"\d+")
_SHAPE = re.compile(r"[a-z]+|[A-Z]+|\d+|\s+")
MAX_WORDS = 16
"""Words of a line that are hashed; a long line's tail rarely changes what it reports."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _bucket(token: str) -> int:
    return zlib.crc32(token.encode()) & ((1 << HASH_BITS) - 1)


def _shape_of(text: str) -> str:
    def mark(match: re.Match[str]) -> str:
        part = match.group(0)
        if part[0].isspace():
            return " "
        if part[0].isdigit():
            return "0"
        return "a" if part[0].islower() else "A"

    return _SHAPE.sub(mark, text.strip())[:12]


def hashed_tokens(text: str, prefix: str, place: str = "") -> list[int]:
    """Hash buckets of a line's lowercase words, word pairs, first word and shape.

    ``prefix`` keeps the line itself apart from its neighbours (``""``, ``"p"``, ``"n"``);
    ``place`` (where the line sits, e.g. the end of the failed step) is paired with the first
    word and the shape, since the same words mean more in some places than in others.
    Digits are blurred so that counts, line numbers and ids share a bucket.
    """
    low = _DIGITS.sub("0", text.lower())
    words = _WORD.findall(low)[:MAX_WORDS]
    tokens = [f"{prefix}w:{word}" for word in words]
    tokens.extend(f"{prefix}b:{a} {b}" for a, b in pairwise(words))
    if words:
        tokens.append(f"{prefix}f:{words[0]}")
    shape = _shape_of(text)
    tokens.append(f"{prefix}s:{shape}")
    if place:
        tokens.append(f"{place}s:{shape}")
        if words:
            tokens.append(f"{place}f:{words[0]}")
    return [_bucket(token) for token in tokens]


@dataclass(frozen=True, slots=True)
class ExtentModel:
    """Which lines around the best seed join its block: logistic weights and how to grow.

    A line is kept when its probability reaches ``threshold``; growing outwards from the seed
    stops after ``gap`` lines in a row below it. ``trees``, when present, take ``blend`` of
    a line's logit, as in ``LineModel``.
    """

    dense: FloatArray
    mean: FloatArray
    scale: FloatArray
    bias: float
    threshold: float = 0.35
    gap: int = 4
    trees: TreeEnsemble | None = None
    blend: float = 0.0
    hashed: FloatArray | None = None

    def probabilities(self, dense: FloatArray, rows: Sequence[Sequence[int]]) -> FloatArray:
        """Probability that each line belongs to the seed's report (``rows``: its buckets)."""
        if dense.shape[0] == 0:
            return np.zeros(0)
        value: FloatArray = ((dense - self.mean) / self.scale) @ self.dense + self.bias
        if self.hashed is not None:
            hashed = self.hashed
            value += np.array([float(hashed[list(row)].sum()) if row else 0.0 for row in rows])
        if self.trees is not None:
            value = (1.0 - self.blend) * value + self.blend * self.trees.logits(dense)
        return np.asarray(_sigmoid(value), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class LineModel:
    """Weights of the line scorer and the choices that use its probabilities.

    ``dense`` weighs the standardised numeric features (``mean`` and ``scale`` standardise
    them), ``hashed`` the word buckets. ``extra_seeds`` and ``extra_ratio`` say how many other
    candidate reports are listed after the best one, and how probable they must be relative
    to it: each costs precision when the best one is right. ``extent`` widens the best block;
    a listed candidate whose widened block lies within ``merge_gap`` lines of it (or of a
    block already joined) joins it (``None``: never). ``trees``, when present, score the
    numeric features by how they combine; a line's logit is then ``blend`` parts theirs and
    ``1 - blend`` parts the logistic one's.
    """

    dense: FloatArray
    hashed: FloatArray
    mean: FloatArray
    scale: FloatArray
    bias: float
    extra_seeds: int = 4
    extra_ratio: float = 0.0
    extent: ExtentModel | None = None
    merge_gap: int | None = None
    trees: TreeEnsemble | None = None
    blend: float = 0.0

    def logits(self, dense: FloatArray, rows: Sequence[Sequence[int]]) -> FloatArray:
        """Raw scores of candidate lines: ``dense`` is one row per line, ``rows`` its buckets."""
        if dense.shape[0] == 0:
            return np.zeros(0)
        value: FloatArray = ((dense - self.mean) / self.scale) @ self.dense + self.bias
        hashed = self.hashed
        value += np.array([float(hashed[list(row)].sum()) if row else 0.0 for row in rows])
        if self.trees is not None:
            value = (1.0 - self.blend) * value + self.blend * self.trees.logits(dense)
        return value

    def probabilities(self, dense: FloatArray, rows: Sequence[Sequence[int]]) -> FloatArray:
        """Probability that each candidate line belongs to the failure reason."""
        return np.asarray(_sigmoid(self.logits(dense, rows)), dtype=np.float64)

    def to_bytes(self) -> bytes:
        """The weights as a compressed ``.npz`` file."""
        arrays: dict[str, npt.NDArray[np.floating[Any]]] = {
            "dense": self.dense.astype(np.float32),
            "hashed": self.hashed.astype(np.float32),
            "mean": self.mean.astype(np.float32),
            "scale": self.scale.astype(np.float32),
            "meta": np.array(
                [
                    self.bias,
                    self.extra_seeds,
                    self.extra_ratio,
                    -1.0 if self.merge_gap is None else self.merge_gap,
                ],
                dtype=np.float64,
            ),
        }
        extent = self.extent
        if extent is not None:
            arrays["extent_dense"] = extent.dense.astype(np.float32)
            arrays["extent_mean"] = extent.mean.astype(np.float32)
            arrays["extent_scale"] = extent.scale.astype(np.float32)
            if extent.hashed is not None:
                arrays["extent_hashed"] = extent.hashed.astype(np.float32)
            arrays["extent_meta"] = np.array(
                [extent.bias, extent.threshold, extent.gap], dtype=np.float64
            )
        if self.trees is not None:
            arrays.update(self.trees.to_arrays("tree_", self.blend))
        if extent is not None and extent.trees is not None:
            arrays.update(extent.trees.to_arrays("extent_tree_", extent.blend))
        out = BytesIO()
        save: Any = np.savez_compressed
        save(out, **arrays)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LineModel:
        """Read weights written by ``to_bytes``."""
        with np.load(BytesIO(data)) as arrays:
            meta = arrays["meta"]
            extent: ExtentModel | None = None
            if "extent_meta" in arrays:
                extent_meta = arrays["extent_meta"]
                extent = ExtentModel(
                    dense=arrays["extent_dense"].astype(np.float64),
                    mean=arrays["extent_mean"].astype(np.float64),
                    scale=arrays["extent_scale"].astype(np.float64),
                    bias=float(extent_meta[0]),
                    threshold=float(extent_meta[1]),
                    gap=int(extent_meta[2]),
                    hashed=(
                        arrays["extent_hashed"].astype(np.float64)
                        if "extent_hashed" in arrays
                        else None
                    ),
                )
                extent_trees, extent_blend = TreeEnsemble.from_arrays(arrays, "extent_tree_")
                extent = dataclasses.replace(extent, trees=extent_trees, blend=extent_blend)
            trees, blend = TreeEnsemble.from_arrays(arrays, "tree_")
            return cls(
                dense=arrays["dense"].astype(np.float64),
                hashed=arrays["hashed"].astype(np.float64),
                mean=arrays["mean"].astype(np.float64),
                scale=arrays["scale"].astype(np.float64),
                bias=float(meta[0]),
                extra_seeds=int(meta[1]),
                extra_ratio=float(meta[2]),
                extent=extent,
                merge_gap=int(meta[3]) if len(meta) > 3 and meta[3] >= 0 else None,
                trees=trees,
                blend=blend,
            )


@cache
def builtin_model() -> LineModel:
    """The shipped weights, trained on all LogChunks logs; loaded once per process."""
    data = resources.files("vanguard.diagnose").joinpath(MODEL_FILE).read_bytes()
    return LineModel.from_bytes(data)


def _sigmoid(value: FloatArray) -> FloatArray:
    return 0.5 * (1.0 + np.tanh(0.5 * value))


def train_logistic(
    dense: FloatArray,
    indptr: IntArray,
    indices: IntArray,
    labels: FloatArray,
    *,
    weights: FloatArray | None = None,
    l2: float = 1e-3,
    l2_hashed: float = 1e-2,
    steps: int = 300,
    rate: float = 0.05,
    groups: IntArray | None = None,
    listwise: float = 0.0,
) -> LineModel:
    """Fit L2-regularised logistic regression by full-batch Adam, deterministically.

    ``dense`` has one row per candidate line; its hashed buckets are
    ``indices[indptr[i]:indptr[i + 1]]`` (CSR layout). ``weights`` weighs the rows, so that
    every log counts the same however many candidates it has. With ``groups`` (the first row
    of each log, ascending) and ``listwise > 0``, a softmax loss over each log's candidates is
    added with that weight: it rewards putting a gold line first, which is what hit@1 counts.
    """
    rows = dense.shape[0]
    mean = dense.mean(axis=0)
    scale = dense.std(axis=0)
    scale[scale < 1e-9] = 1.0
    x = (dense - mean) / scale
    row_of = np.repeat(np.arange(rows), np.diff(indptr))
    sample = weights if weights is not None else np.ones(rows)
    sample = sample / sample.sum()
    size = 1 << HASH_BITS
    params = np.zeros(x.shape[1] + size + 1)
    moment = np.zeros_like(params)
    second = np.zeros_like(params)
    width = x.shape[1]
    for step in range(1, steps + 1):
        w_dense = params[:width]
        w_hashed = params[width:-1]
        logit = x @ w_dense + params[-1]
        logit += np.bincount(row_of, weights=w_hashed[indices], minlength=rows)
        error = (_sigmoid(logit) - labels) * sample
        if groups is not None and listwise > 0.0:
            error += listwise * _softmax_error(logit, labels, groups)
        grad = np.empty_like(params)
        grad[:width] = x.T @ error + l2 * w_dense
        grad[width:-1] = np.bincount(indices, weights=error[row_of], minlength=size)
        grad[width:-1] += l2_hashed * w_hashed
        grad[-1] = error.sum()
        moment = 0.9 * moment + 0.1 * grad
        second = 0.999 * second + 0.001 * grad * grad
        corrected = moment / (1 - 0.9**step)
        spread = np.sqrt(second / (1 - 0.999**step)) + 1e-8
        params -= rate * corrected / spread
    return LineModel(
        dense=params[:width].copy(),
        hashed=params[width:-1].copy(),
        mean=mean,
        scale=scale,
        bias=float(params[-1]),
    )


def _softmax_error(logit: FloatArray, labels: FloatArray, groups: IntArray) -> FloatArray:
    """Gradient of the mean softmax cross-entropy per group, towards its gold rows."""
    sizes = np.diff(np.append(groups, logit.shape[0]))
    top = np.repeat(np.maximum.reduceat(logit, groups), sizes)
    exp = np.exp(logit - top)
    prob = exp / np.repeat(np.add.reduceat(exp, groups), sizes)
    gold = np.add.reduceat(labels, groups)
    target = labels / np.repeat(np.where(gold > 0, gold, 1.0), sizes)
    used = np.repeat((gold > 0).astype(np.float64), sizes)
    count = max(1.0, float((gold > 0).sum()))
    return np.asarray((prob - target) * used / count, dtype=np.float64)
