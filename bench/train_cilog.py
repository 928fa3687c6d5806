"""Train the line model of ``vanguard ci explain`` on LogChunks and write the shipped weights.

Reads the unpacked logs (``~/.cache/vanguard/logchunks`` or ``--cache``), computes the
candidate-line features of every log, and trains a seed model (which line explains the
failure) and an extent model (which lines around it join the answer) per fold of
repositories (``repository_fold``) and on all logs. It scores the approach honestly: each
log is explained by the models of its own fold, which never saw its repository; those
out-of-fold figures are printed. The all-logs models are written to
``src/vanguard/diagnose/cilog_model.npz`` (weights only, no log text). Deterministic: the
same logs give the same file. Takes about 6.5 minutes on 2 cores (three passes over the
logs, and the trees of each model).

    .venv/bin/python bench/train_cilog.py [--data ../shared/datasets/logchunks] [--folds 5]
    .venv/bin/python bench/train_cilog.py --no-evaluate     # only write the model
    .venv/bin/python bench/train_cilog.py --extent-words 0.1 --output /tmp/x.npz
                                    # the extent model also weighs words (an option, not shipped)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from vanguard.cli.ci import DEFAULT_DATA
from vanguard.diagnose import linemodel
from vanguard.evaluation.logchunks import (
    ALL_LOGS,
    TrainingOptions,
    default_cache,
    ensure_unpacked,
    extract_features,
    load_labels,
    repository_fold,
    repository_half,
    run_logchunks,
    summarize,
    train_models,
)

OUTPUT = Path(__file__).parents[1] / "src" / "vanguard" / "diagnose" / linemodel.MODEL_FILE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--evaluate", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--extent-words",
        type=float,
        default=None,
        metavar="L2",
        help="let the extent model weigh hashed words too, with this L2 on their weights",
    )
    args = parser.parse_args()
    options = (
        TrainingOptions(extent_words=True, extent_l2_hashed=args.extent_words)
        if args.extent_words is not None
        else None
    )
    root = ensure_unpacked(args.data, args.cache or default_cache())
    records = load_labels(args.data)
    began = time.perf_counter()
    features = extract_features(root, records)
    print(f"features of {len(features)} logs in {time.perf_counter() - began:.0f} s")
    models = train_models(root, records, features, args.folds, options, everything=True)
    print(f"seed and extent models trained in {time.perf_counter() - began:.0f} s")
    if args.evaluate:
        scores = run_logchunks(
            args.data,
            root,
            records=records,
            model=lambda record: models[repository_fold(record.repo, args.folds)],
        )
        by_id = {score.id: score for score in scores}
        print(f"out-of-fold ({args.folds} folds by repository; no log scored by a model that saw")
        print("its repository):")
        for name, chosen in (
            ("all", scores),
            ("half 0", [by_id[r.id] for r in records if repository_half(r.repo) == 0]),
            ("half 1", [by_id[r.id] for r in records if repository_half(r.repo) == 1]),
        ):
            m = summarize(chosen)
            print(
                f"  {name:7s} {m.logs} logs  precision {m.precision:.3f}  recall {m.recall:.3f}  "
                f"F1 {m.f1:.3f}  hit@1 {m.hit1:.3f}  hit@5 {m.hit5:.3f}  "
                f"s/log {m.mean_seconds:.3f} (max {m.max_seconds:.2f})  "
                f"answer alone F1 {m.answer_f1:.3f}"
            )
    args.output.write_bytes(models[ALL_LOGS].to_bytes())
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
