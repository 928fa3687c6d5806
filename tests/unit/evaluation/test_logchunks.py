"""LogChunks scoring: the metric definitions, label loading, unpacking, a tiny end-to-end run."""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from vanguard.cli.ci import bench_logchunks
from vanguard.diagnose.cilog import ModelChoice
from vanguard.diagnose.linemodel import LineModel, builtin_model
from vanguard.errors import InputError
from vanguard.evaluation import logchunks
from vanguard.evaluation.logchunks import (
    ALL_LOGS,
    LogChunksRecord,
    LogFeatures,
    TrainingOptions,
    ensure_unpacked,
    extract_features,
    fit_extent,
    fit_line_model,
    fold_models,
    load_labels,
    repository_fold,
    repository_half,
    run_logchunks,
    score_log,
    summarize,
    train_models,
)

LOG_A = b"$ make\r\ncc -c a.c\r\na.c:3:1: error: expected ';'\rmake: *** [a.o] Error 1\r\n"
LOG_B = b"$ npm test\n  1 failing\n  1) adds\n     AssertionError: 1 == 2\nThe command exited 1\n"


def make_dataset(root: Path) -> Path:
    """A two-log data set in the LogChunks layout: labels.jsonl and logs.tar.gz."""
    data = root / "data"
    data.mkdir()
    logs = {"logs/C/x@y/failed/1.log": LOG_A, "logs/JS/x@z/failed/2.log": LOG_B}
    with tarfile.open(data / "logs.tar.gz", "w:gz") as tar:
        for name, content in logs.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    records = [
        {
            "id": "C/x@y/failed/1",
            "log": "logs/C/x@y/failed/1.log",
            "repo": "x/y",
            "lines": [3],
            "other_occurrences": [],
            "log_line_count": 4,
        },
        {
            "id": "JS/x@z/failed/2",
            "log": "logs/JS/x@z/failed/2.log",
            "repo": "x/z",
            "lines": [3, 4],
            "other_occurrences": [],
            "log_line_count": 5,
        },
    ]
    text = "\n".join(json.dumps(record) for record in records) + "\n"
    (data / "labels.jsonl").write_text(text, encoding="utf-8")
    return data


def test_score_log_definitions() -> None:
    gold = frozenset({10, 11, 12, 13})
    score = score_log("x", [11, 50, 12], gold)
    assert score.precision == pytest.approx(2 / 3)
    assert score.recall == pytest.approx(2 / 4)
    assert score.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert score.hit1 is True
    assert score.hit5 is True


def test_the_report_alone_is_scored_apart_from_the_ranked_lines() -> None:
    gold = frozenset({10, 11, 12, 13})
    score = score_log("x", [11, 50, 60, 12, 13], gold, answer=[11, 12, 13])
    assert score.f1 == pytest.approx(2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4))
    assert score.answer_f1 == pytest.approx(2 * 1.0 * (3 / 4) / (1.0 + 3 / 4))
    assert score_log("x", [11], gold).answer_f1 == 0.0
    both = summarize([score, score_log("y", [1], gold, answer=[1])])
    assert both.answer_f1 == pytest.approx(score.answer_f1 / 2)


def test_hit_at_k_looks_only_at_the_first_k_lines() -> None:
    gold = frozenset({7})
    late = score_log("x", [1, 2, 3, 4, 5, 7], gold)
    assert late.hit1 is False
    assert late.hit5 is False
    assert late.recall == 1.0
    fifth = score_log("x", [1, 2, 3, 4, 7], gold)
    assert fifth.hit5 is True


def test_empty_answer_scores_zero() -> None:
    score = score_log("x", [], frozenset({1}))
    assert (score.precision, score.recall, score.f1, score.hit1) == (0.0, 0.0, 0.0, False)


def test_gold_includes_verbatim_copies() -> None:
    record = LogChunksRecord(
        id="a",
        log="a.log",
        repo="o/r",
        lines=(5, 6),
        other_occurrences=((9, 10),),
        log_line_count=20,
    )
    assert record.gold == frozenset({5, 6, 9, 10})


def test_summarize_averages_over_logs() -> None:
    scores = [
        score_log("a", [1], frozenset({1}), seconds=0.2, category="compile"),
        score_log("b", [2], frozenset({1}), seconds=0.4, category="compile"),
    ]
    summary = summarize(scores)
    assert summary.logs == 2
    assert summary.hit1 == pytest.approx(0.5)
    assert summary.f1 == pytest.approx(0.5)
    assert summary.mean_seconds == pytest.approx(0.3)
    assert summary.max_seconds == pytest.approx(0.4)
    assert summary.categories == {"compile": 2}


def test_summarize_refuses_nothing() -> None:
    with pytest.raises(InputError):
        summarize([])


def test_load_labels_reports_the_bad_line(tmp_path: Path) -> None:
    (tmp_path / "labels.jsonl").write_text('{"id": "a"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"labels.jsonl:1"):
        load_labels(tmp_path)


def test_missing_archive_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="archive not found"):
        ensure_unpacked(tmp_path, tmp_path / "cache")


def test_unpack_once_and_score_a_tiny_data_set(tmp_path: Path) -> None:
    data = make_dataset(tmp_path)
    cache = tmp_path / "cache"
    assert ensure_unpacked(data, cache) == cache
    assert (cache / "logs/C/x@y/failed/1.log").read_bytes() == LOG_A
    (data / "logs.tar.gz").unlink()
    assert ensure_unpacked(data, cache) == cache

    seen: list[str] = []
    scores = run_logchunks(data, cache, on_done=lambda score: seen.append(score.id))
    assert seen == ["C/x@y/failed/1", "JS/x@z/failed/2"]
    assert scores[0].hit1 is True
    assert scores[1].hit5 is True
    assert all(score.seconds >= 0.0 for score in scores)
    assert scores[0].answer_f1 > 0.0


def test_repository_half_is_stable_and_splits_by_repository() -> None:
    repos = [f"owner{i}/repo{i}" for i in range(200)]
    halves = [repository_half(repo) for repo in repos]
    assert set(halves) == {0, 1}
    assert 60 < sum(halves) < 140
    assert halves == [repository_half(repo) for repo in repos]


def _features(repo: str, number: int) -> LogFeatures:
    return LogFeatures(
        id=f"{repo}/{number}",
        repo=repo,
        numbers=(1, 2),
        dense=np.zeros((2, 3)),
        hashed=((1,), (2,)),
        labels=np.array([1.0, 0.0]),
    )


def test_out_of_fold_training_never_sees_the_repository_it_scores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logs = [_features(f"owner{i}/repo{i}", n) for i in range(40) for n in range(3)]
    trained_on: list[set[str]] = []

    def record(chosen: list[LogFeatures], _options: object = None) -> LineModel:
        trained_on.append({log.repo for log in chosen})
        return builtin_model()

    monkeypatch.setattr(logchunks, "fit_line_model", record)
    models = fold_models(logs, 5)
    assert sorted(models) == [0, 1, 2, 3, 4]
    every = {log.repo for log in logs}
    for fold, repos in enumerate(trained_on):
        scored = {repo for repo in every if repository_fold(repo, 5) == fold}
        assert scored
        assert not scored & repos
        assert scored | repos == every


def test_repository_fold_is_stable_and_in_range() -> None:
    repos = [f"owner{i}/repo{i}" for i in range(200)]
    folds = [repository_fold(repo, 5) for repo in repos]
    assert set(folds) == {0, 1, 2, 3, 4}
    assert folds == [repository_fold(repo, 5) for repo in repos]


def test_a_model_chosen_per_log_is_used(tmp_path: Path) -> None:
    data = make_dataset(tmp_path)
    cache = tmp_path / "cache"
    asked: list[str] = []

    def choose(record: LogChunksRecord) -> ModelChoice:
        asked.append(record.repo)
        return None

    scores = run_logchunks(data, cache, model=choose)
    assert asked == ["x/y", "x/z"]
    assert scores[0].hit1 is True
    features = extract_features(cache, load_labels(data))
    assert [f.id for f in features] == ["C/x@y/failed/1", "JS/x@z/failed/2"]
    assert features[0].labels.sum() >= 1.0


def test_extent_models_learn_only_from_logs_outside_their_fold(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    records = [
        LogChunksRecord(
            id=str(i), log=f"{i}.log", repo=f"owner{i}/repo{i}", lines=(1,), log_line_count=3
        )
        for i in range(30)
    ]
    logs = [_features(record.repo, 0) for record in records]
    made: list[LineModel] = []

    def fit(_chosen: list[LogFeatures], _options: object = None) -> LineModel:
        made.append(dataclasses.replace(builtin_model(), bias=float(len(made))))
        return made[-1]

    used: list[tuple[str, float]] = []

    def first_block(ctx: Path, model: LineModel) -> tuple[int, list[int], float]:
        used.append((ctx.name, model.bias))
        return 1, [1], 0.5

    monkeypatch.setattr(logchunks, "fit_line_model", fit)
    monkeypatch.setattr(logchunks, "_context_of_file", lambda path: path)
    monkeypatch.setattr(logchunks, "first_block", first_block)
    monkeypatch.setattr(
        logchunks, "extent_table", lambda *_args: ([1, 2], np.array([[0.0, 1.0], [1.0, 0.0]]))
    )
    models = train_models(tmp_path, records, logs, 5, everything=True)
    assert sorted(models) == [ALL_LOGS, 0, 1, 2, 3, 4]
    assert all(model.extent is not None for model in models.values())
    key_of = {model.bias: key for key, model in models.items()}
    repo_of = {record.log: record.repo for record in records}
    assert len(used) == 30 * 5
    for name, bias in used:
        key = key_of[bias]
        assert key == ALL_LOGS or key != repository_fold(repo_of[name], 5)


def test_training_on_no_logs_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no logs to train"):
        fit_line_model([])


def test_the_bench_command_can_rank_by_the_rules_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_dataset(tmp_path)
    bench_logchunks(data=data, cache=tmp_path / "cache", check=False, rules=True)
    out = capsys.readouterr().out
    assert "2 logs, rules only" in out


def test_extent_words_are_learned_only_when_asked_for() -> None:
    rng = np.random.default_rng(3)
    examples = []
    for _log in range(40):
        labels = (rng.random(12) < 0.4).astype(np.float64)
        words = [[7] if label else [11] for label in labels]
        examples.append((rng.normal(size=(12, 4)), labels, words))
    plain = fit_extent(examples)
    assert plain.hashed is None
    worded = fit_extent(examples, TrainingOptions(extent_words=True, extent_steps=300))
    assert worded.hashed is not None
    assert worded.hashed[7] > 0.5 > worded.hashed[11] + 1.0
    probe = np.zeros((2, 4))
    inside = worded.probabilities(probe, [[7], [11]])
    assert inside[0] > 0.7 > 0.3 > inside[1]
