"""The learned line scorer: shipped weights, hashing, training, and its effect on ``explain``."""

from __future__ import annotations

import dataclasses
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from vanguard.diagnose import cilog, linemodel
from vanguard.diagnose.cilog import EXTENT_FEATURES, FEATURES, explain, iter_log_lines
from vanguard.diagnose.linemodel import (
    HASH_BITS,
    ExtentModel,
    LineModel,
    builtin_model,
    hashed_tokens,
    train_logistic,
)
from vanguard.diagnose.trees import TreeOptions, fit_trees

FIXTURES = Path(__file__).parents[2] / "fixtures" / "cilogs"


def _zero_model(**hashed_weights: float) -> LineModel:
    """A model that ignores the rules and weighs only the named word buckets."""
    hashed = np.zeros(1 << HASH_BITS)
    for token, weight in hashed_weights.items():
        hashed[linemodel._bucket(token)] = weight
    width = len(FEATURES)
    return LineModel(
        dense=np.zeros(width), hashed=hashed, mean=np.zeros(width), scale=np.ones(width), bias=0.0
    )


def test_the_shipped_model_loads_with_the_expected_shape() -> None:
    model = builtin_model()
    assert model.dense.shape == (len(FEATURES),)
    assert model.hashed.shape == (1 << HASH_BITS,)
    assert model.mean.shape == model.scale.shape == (len(FEATURES),)
    assert np.all(model.scale > 0)
    assert np.count_nonzero(model.dense) > len(FEATURES) // 2
    assert np.count_nonzero(model.hashed) > 1000
    assert 0 <= model.extra_seeds <= 10
    assert model.extent is not None
    assert model.extent.dense.shape == (len(EXTENT_FEATURES),)
    assert np.count_nonzero(model.extent.dense) > len(EXTENT_FEATURES) // 2
    assert 0.0 < model.extent.threshold < 1.0
    assert builtin_model() is model


def test_weights_round_trip_through_bytes() -> None:
    model = dataclasses.replace(_zero_model(**{"w:boom": 1.5}), extra_seeds=2, extra_ratio=0.25)
    again = LineModel.from_bytes(model.to_bytes())
    assert np.allclose(again.hashed, model.hashed)
    assert (again.extra_seeds, again.extra_ratio) == (2, 0.25)
    assert again.extent is None
    assert again.merge_gap is None
    assert LineModel.from_bytes(dataclasses.replace(model, merge_gap=3).to_bytes()).merge_gap == 3
    width = len(EXTENT_FEATURES)
    extent = ExtentModel(np.arange(width) / width, np.zeros(width), np.ones(width), -1.0, 0.4, 3)
    again = LineModel.from_bytes(dataclasses.replace(model, extent=extent).to_bytes())
    assert again.extent is not None
    assert np.allclose(again.extent.dense, extent.dense)
    assert (again.extent.bias, again.extent.threshold, again.extent.gap) == (-1.0, 0.4, 3)


def test_the_extent_model_widens_the_best_block() -> None:
    lines = _travis_with_a_silent_reason()
    width = len(EXTENT_FEATURES)
    keep_all = ExtentModel(np.zeros(width), np.zeros(width), np.ones(width), 5.0, 0.5, 0)
    model = _zero_model(**{"w:rebuild": 4.0})
    narrow = {line.number for line in explain(lines, model=model).lines}
    wide = explain(lines, model=dataclasses.replace(model, extent=keep_all))
    assert wide.lines[0].number == 5
    assert {4, 5, 6} <= {line.number for line in wide.lines}
    assert narrow == {4, 5}


def test_hashed_tokens_are_stable_in_range_and_keep_neighbours_apart() -> None:
    line = "Error: 12 tests failed in Spec_42"
    tokens = hashed_tokens(line, "")
    assert tokens == hashed_tokens(line.replace("12", "99"), "")
    assert all(0 <= t < 1 << HASH_BITS for t in tokens)
    assert set(tokens) != set(hashed_tokens(line, "p"))


def test_training_learns_which_bucket_marks_the_answer() -> None:
    rows = 200
    rng = np.random.default_rng(0)
    labels = (np.arange(rows) % 4 == 0).astype(np.float64)
    indices = np.where(labels > 0, 7, 11).astype(np.int64)
    dense = rng.normal(size=(rows, 3))
    indptr = np.arange(rows + 1, dtype=np.int64)
    model = train_logistic(dense, indptr, indices, labels, steps=200)
    assert model.hashed[7] > 0.5 > model.hashed[11] + 1.0
    probability = model.probabilities(dense[:2], [[7], [11]])
    assert probability[0] > 0.8 > 0.2 > probability[1]


def _travis_with_a_silent_reason() -> list[str]:
    return [
        "$ make setup",
        "ok",
        "$ make check",
        "warning: missing file docs/index.html",
        "Please rebuild the bundle and commit the changes",
        "Makefile:12: recipe for target 'check' failed",
        'The command "make check" exited with 1.',
    ]


def test_a_learned_ranking_can_differ_from_the_rules() -> None:
    lines = _travis_with_a_silent_reason()
    rules = explain(lines, model=None)
    learned = explain(lines, model=_zero_model(**{"w:rebuild": 4.0}))
    assert rules.lines[0].number == 4
    assert learned.lines[0].number == 5


def test_explain_uses_the_shipped_model_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _travis_with_a_silent_reason()
    monkeypatch.setattr(cilog, "builtin_model", lambda: _zero_model(**{"w:rebuild": 4.0}))
    assert explain(lines).lines[0].number == 5
    assert explain(lines, model=None).lines[0].number == 4


def test_candidates_have_one_feature_row_and_bucket_list_each() -> None:
    ctx = cilog.context_of(_travis_with_a_silent_reason())
    assert ctx is not None
    table = cilog.candidate_table(ctx)
    assert table.dense.shape == (len(table.numbers), len(FEATURES))
    assert len(table.hashed) == len(table.numbers)
    assert {4, 5} <= set(table.numbers)
    assert cilog.context_of([]) is None


OTHER_DIALECTS = [
    "github_actions_pytest.log",
    "github_actions_tabbed_tsc.log",
    "gitlab_git_fetch.log",
    "jenkins_maven.log",
]
"""Fixtures from CI systems other than Travis, which trained the model."""


def _fixture_lines(name: str) -> list[str]:
    return list(iter_log_lines([(FIXTURES / name).read_bytes()]))


@pytest.mark.parametrize("name", OTHER_DIALECTS)
def test_on_dialects_it_never_saw_the_model_keeps_to_the_rules_report(name: str) -> None:
    """LogChunks is Travis only: elsewhere the first line must still be in the rules' report."""
    lines = _fixture_lines(name)
    rules = explain(lines, model=None)
    learned = explain(lines)
    assert learned.lines[0].number in {line.number for line in rules.lines}
    assert learned.category == rules.category


def _grow_downwards(lines: int) -> ExtentModel:
    """An extent model that keeps the ``lines`` lines below a seed and none above it."""
    weights = np.zeros(len(EXTENT_FEATURES))
    weights[0] = -20.0
    weights[1] = -3.0
    bias = 3.0 * np.log2(1.5 + lines)
    width = len(weights)
    return ExtentModel(weights, np.zeros(width), np.ones(width), bias, 0.5, 0)


@pytest.mark.parametrize(
    ("alpha", "beta", "joined"),
    [(4.0, 3.0, {7, 8}), (3.0, 4.0, {3, 4})],
    ids=["joined-below", "joined-above"],
)
def test_a_candidate_next_to_the_best_block_joins_it_and_a_far_one_does_not(
    alpha: float, beta: float, joined: set[int]
) -> None:
    lines = [
        "$ make check",
        "error: alpha failed to build",
        "  in module alpha",
        "",
        "",
        "error: beta failed to link",
        "  in module beta",
        "",
        *(f"compiling unit {i}" for i in range(12)),
        "error: gamma lost",
        'The command "make check" exited with 1.',
    ]
    weighted = _zero_model(**{"w:alpha": alpha, "w:beta": beta, "w:gamma": 2.5})
    model = dataclasses.replace(weighted, extra_seeds=4, extent=_grow_downwards(2))
    apart = explain(lines, model=model)
    merged = explain(lines, model=dataclasses.replace(model, merge_gap=1))
    numbers = [line.number for line in merged.lines]
    assert numbers[: len(apart.lines)] == [line.number for line in apart.lines]
    assert joined <= set(numbers[len(apart.lines) :])
    assert max(line.score for line in merged.lines[len(apart.lines) :]) < min(
        line.score for line in merged.lines[: len(apart.lines)]
    )
    assert 22 not in numbers
    assert (merged.category, merged.fingerprint) == (apart.category, apart.fingerprint)


@pytest.mark.parametrize(("gamma", "whole"), [(3.9, True), (0.5, False)], ids=["close", "weak"])
def test_a_far_candidate_nearly_as_likely_as_the_best_lists_its_whole_block(
    gamma: float, whole: bool
) -> None:
    lines = [
        "$ make check",
        "alpha: build failed",
        "  in module alpha",
        "",
        *(f"compiling unit {i}" for i in range(20)),
        "gamma: link failed",
        "  in module gamma",
        "  see gamma.log",
        'The command "make check" exited with 1.',
    ]
    weighted = _zero_model(**{"w:alpha": 4.0, "w:gamma": gamma})
    model = dataclasses.replace(weighted, extra_seeds=4, extent=_grow_downwards(2), merge_gap=1)
    explained = explain(lines, model=model)
    numbers = [line.number for line in explained.lines]
    assert numbers[:2] == [2, 25]
    assert ({26, 27} <= set(numbers)) is whole
    assert explained.answer == (2, 3, 4)
    if whole:
        assert numbers[-2:] == [26, 27], "the further block is listed last"
        assert explained.lines[-1].score < min(line.score for line in explained.lines[:-2])
    alone = explain(lines, model=dataclasses.replace(model, extra_seeds=0))
    assert (explained.category, explained.fingerprint) == (alone.category, alone.fingerprint)


def test_lines_the_widening_skipped_inside_the_report_fill_it_ranked_last() -> None:
    lines = [
        "$ make check",
        "error: alpha failed to build",
        "  in module alpha",
        "",
        "$ cat alpha.log",
        "alpha: undefined symbol foo",
        *([""] * 6),
        "  unrelated note",
        'The command "make check" exited with 1.',
    ]
    skip_commands = _grow_downwards(5)
    skip_commands.dense[EXTENT_FEATURES.index("command")] = -50.0
    model = _zero_model(**{"w:alpha": 4.0})
    widened = dataclasses.replace(model, extent=dataclasses.replace(skip_commands, gap=1))
    explained = explain(lines, model=widened)
    assert list(explained.answer) == [2, 3, 4, 5, 6, 7]
    assert explained.lines[-1].number == 5
    assert explained.lines[-1].score < min(line.score for line in explained.lines[:-1])
    assert explained.category == explain(lines, model=model).category


@pytest.mark.parametrize("name", [*OTHER_DIALECTS, "travis_mocha.log"])
def test_joining_only_adds_lines_and_keeps_category_and_fingerprint(name: str) -> None:
    lines = _fixture_lines(name)
    shipped = builtin_model()
    apart = explain(lines, model=dataclasses.replace(shipped, merge_gap=None))
    merged = explain(lines, model=shipped)
    assert shipped.merge_gap is not None
    before = [line.number for line in apart.lines]
    after = [line.number for line in merged.lines]
    assert [n for n in after if n in set(before)] == before, "only adds lines, order kept"
    assert after[:2] == before[:2], "the best line and the next candidate stay first"
    assert (merged.category, merged.fingerprint) == (apart.category, apart.fingerprint)


def test_weights_written_before_the_merge_gap_existed_never_join() -> None:
    old = _zero_model(**{"w:boom": 1.0})
    arrays = dict(np.load(BytesIO(old.to_bytes())))
    arrays["meta"] = arrays["meta"][:3]
    out = BytesIO()
    np.savez_compressed(out, **arrays)
    assert LineModel.from_bytes(out.getvalue()).merge_gap is None


def test_trees_round_trip_through_bytes_and_take_their_share_of_the_logit() -> None:
    rng = np.random.default_rng(3)
    width = len(FEATURES)
    dense = rng.random((400, width))
    labels = (dense[:, 0] > dense[:, 1]).astype(np.float64)
    trees = fit_trees(dense, labels, np.ones(400), TreeOptions(rounds=20, leaves=6))
    linear = _zero_model(**{"w:boom": 2.0})
    model = dataclasses.replace(linear, trees=trees, blend=0.25)
    rows = [(linemodel._bucket("w:boom"),)] * 5 + [()] * 5
    probe = dense[:10]
    expected = 0.75 * linear.logits(probe, rows) + 0.25 * trees.logits(probe)
    assert np.allclose(model.logits(probe, rows), expected)
    again = LineModel.from_bytes(model.to_bytes())
    assert again.blend == 0.25
    assert np.allclose(again.logits(probe, rows), expected, atol=1e-5)
    assert LineModel.from_bytes(linear.to_bytes()).trees is None


def test_extent_trees_round_trip_and_take_their_share() -> None:
    rng = np.random.default_rng(4)
    width = len(EXTENT_FEATURES)
    dense = rng.random((300, width))
    labels = (dense[:, 2] > 0.5).astype(np.float64)
    trees = fit_trees(dense, labels, np.ones(300), TreeOptions(rounds=10))
    plain = ExtentModel(np.arange(width) / width, np.zeros(width), np.ones(width), -1.0, 0.4, 3)
    extent = dataclasses.replace(plain, trees=trees, blend=0.5)
    probe = dense[:8]
    logit = 0.5 * (probe @ plain.dense - 1.0) + 0.5 * trees.logits(probe)
    assert np.allclose(extent.probabilities(probe, []), 1 / (1 + np.exp(-logit)))
    model = dataclasses.replace(_zero_model(), extent=extent)
    again = LineModel.from_bytes(model.to_bytes()).extent
    assert again is not None
    assert again.trees is not None
    assert again.blend == 0.5
    assert np.allclose(again.probabilities(probe, []), extent.probabilities(probe, []), atol=1e-6)
    plain_again = LineModel.from_bytes(dataclasses.replace(model, extent=plain).to_bytes())
    assert plain_again.extent is not None
    assert plain_again.extent.trees is None


def test_the_shipped_model_carries_trees_over_the_rule_features() -> None:
    model = builtin_model()
    assert model.trees is not None
    assert 0.0 < model.blend < 1.0
    assert set(model.trees.feature[model.trees.feature >= 0]) <= set(range(len(FEATURES)))
    assert len(set(model.trees.feature[model.trees.feature >= 0])) > len(FEATURES) // 3


def test_extent_words_round_trip_and_decide_which_lines_join() -> None:
    """An extent model with word weights keeps a line for its words; without them it ignores
    them (the words are an option of training, off in the shipped model)."""
    lines = _travis_with_a_silent_reason()
    width = len(EXTENT_FEATURES)
    hashed = np.zeros(1 << HASH_BITS)
    hashed[linemodel._bucket("xw:recipe")] = 40.0
    keep_none = ExtentModel(np.zeros(width), np.zeros(width), np.ones(width), -20.0, 0.5, 1)
    by_words = dataclasses.replace(keep_none, hashed=hashed)
    model = _zero_model(**{"w:rebuild": 4.0})
    plain = explain(lines, model=dataclasses.replace(model, extent=keep_none))
    worded = explain(lines, model=dataclasses.replace(model, extent=by_words))
    assert plain.lines[0].number == worded.lines[0].number == 5
    assert 6 not in plain.answer
    assert 6 in worded.answer
    again = LineModel.from_bytes(dataclasses.replace(model, extent=by_words).to_bytes()).extent
    assert again is not None
    assert again.hashed is not None
    assert np.allclose(again.hashed, hashed)
    assert LineModel.from_bytes(dataclasses.replace(model, extent=keep_none).to_bytes()).extent
    assert builtin_model().extent is not None
    assert builtin_model().extent.hashed is None  # type: ignore[union-attr]
