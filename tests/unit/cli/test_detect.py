"""``vanguard detect``: the CSV contract, bad input held with warnings, clear errors, streaming."""

from __future__ import annotations

import csv
import io
import math
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.unit.cli.entry import run
from vanguard.cli import detect as detect_module
from vanguard.cli.detect import read_series
from vanguard.detect.default import score_batch
from vanguard.detect.registry import DETECTORS, score_series
from vanguard.detect.watch import ANOMALY_ALERT_SCORE
from vanguard.errors import InputError

NAB = Path("/work/shared/datasets/nab")
"""The shared NAB corpus (see its README); tests read it in place and never copy it here."""


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def stamps(n: int) -> list[str]:
    return [
        f"2024-01-{1 + i // 288:02d} {(i % 288) // 12:02d}:{(i % 12) * 5:02d}:00" for i in range(n)
    ]


def read_output(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_scores_every_row_causally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    values = 20 + rng.normal(0, 1, 1200)
    values[1000] = 80.0
    lines = ["timestamp,value"] + [
        f"{s},{v:.4f}" for s, v in zip(stamps(1200), values, strict=True)
    ]
    src = write(tmp_path / "in.csv", lines)
    out = tmp_path / "out.csv"
    assert run(monkeypatch, "detect", str(src), "--output", str(out)) == 0
    rows = read_output(out)
    assert len(rows) == 1200
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score"]
    scores = np.array([float(r["anomaly_score"]) for r in rows])
    assert ((scores >= 0) & (scores <= 1)).all()
    assert scores[1000] == scores.max() == 1.0
    short = write(tmp_path / "short.csv", lines[:900])
    out_short = tmp_path / "short_out.csv"
    assert run(monkeypatch, "detect", str(short), "--output", str(out_short)) == 0
    prefix = [float(r["anomaly_score"]) for r in read_output(out_short)]
    assert prefix == scores[:899].tolist()


def test_bad_rows_are_held_with_warnings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ts = stamps(400)
    lines = ["timestamp,value"] + [f"{s},{10 + (i % 5)}" for i, s in enumerate(ts)]
    lines[101] = f"{ts[100]},abc"
    lines[201] = f"{ts[199]},12"
    lines[301] = f"{ts[250]},13"
    lines[351] = "yesterday,14"
    lines[361] = f"{ts[360]},nan"
    src = write(tmp_path / "in.csv", lines)
    out = tmp_path / "out.csv"
    assert run(monkeypatch, "detect", str(src), "--output", str(out)) == 0
    rows = read_output(out)
    assert len(rows) == 400
    assert rows[100]["value"] == "abc"
    for held in (100, 200, 300, 350, 360):
        assert rows[held]["anomaly_score"] == "0.000000"
    err = capsys.readouterr().err
    for reason in (
        "non-numeric value",
        "duplicate timestamp",
        "timestamp before the previous row",
        "unreadable timestamp",
    ):
        assert reason in err
    series = read_series(src)
    assert sum(math.isnan(v) for v in series.values) == 5
    assert series.held["non-numeric value"] == [102, 362]


def test_held_rows_do_not_change_other_scores(tmp_path: Path) -> None:
    ts = stamps(500)
    clean = ["timestamp,value"] + [f"{s},{(i * 7) % 13}" for i, s in enumerate(ts)]
    dirty = [*clean[:250], f"{ts[248]},999", *clean[250:]]
    a = read_series(write(tmp_path / "a.csv", clean))
    b = read_series(write(tmp_path / "b.csv", dirty))
    sa = score_batch(np.array(a.values), times=np.array(a.times))[0]
    sb = score_batch(np.array(b.values), times=np.array(b.times))[0]
    assert np.allclose(np.delete(sb, 249), sa)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("\n\n", "empty file"),
        ("timestamp,value\n", "a header but no rows"),
        ("timestamp,value\n\n\n", "a header but no rows"),
        ("2024-01-01 00:00:00,1\n2024-01-01 00:05:00,2\n", "expected a header 'timestamp,value'"),
        (
            'timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,"2\n'
            "2024-01-01 00:02:00,3\n2024-01-01 00:03:00,4\n",
            "line 3: a quoted field runs across lines",
        ),
        ("timestamp,value\n2024-01-01 00:00:00," + "9" * 200_000 + "\n", "line 2: field larger"),
    ],
)
def test_empty_or_headerless_file_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(content)
    assert run(monkeypatch, "detect", str(src), "--output", str(tmp_path / "o.csv")) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_missing_file_and_unknown_detector_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = str(tmp_path / "o.csv")
    assert run(monkeypatch, "detect", str(tmp_path / "missing.csv"), "--output", out) == 2
    src = write(tmp_path / "in.csv", ["timestamp,value", "2024-01-01 00:00:00,1"])
    assert run(monkeypatch, "detect", str(src), "--output", out, "--detector", "nope") == 2
    assert run(monkeypatch, "detect", str(src), "--output", out, "--detector", "zscore") == 0


def nab_corpus(root: Path) -> None:
    """A one-file corpus in NAB's layout: a level shift at rows 800-819, labelled 760-840."""
    import json

    (root / "data" / "c").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(1)
    values = 5 + rng.normal(0, 0.3, 1000)
    values[800:820] += 6
    ts = stamps(1000)
    write(
        root / "data" / "c" / "s.csv",
        ["timestamp,value"] + [f"{s},{v}" for s, v in zip(ts, values, strict=True)],
    )
    labels = {"c/s.csv": [[ts[760] + ".000000", ts[840] + ".000000"]]}
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels))


def test_bench_nab_prints_profiles_and_throughput(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nab_corpus(tmp_path)
    assert run(monkeypatch, "bench", "nab", "--data", str(tmp_path)) == 0
    out = capsys.readouterr().out
    for name in ("standard", "reward_low_FP_rate", "reward_low_FN_rate", "points/s"):
        assert name in out
    assert "1/1" in out
    assert "batch mode:" in out
    assert "2,000 series x 1,000 steps" in out
    assert run(monkeypatch, "bench", "nab", "--data", str(tmp_path), "--detector", "zscore") == 0
    assert "detector zscore" in capsys.readouterr().out
    assert run(monkeypatch, "bench", "nab", "--data", str(tmp_path), "--detector", "x") == 2


def test_bench_nab_scores_the_watchs_alert_level_and_asked_levels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Beside the optimised threshold, the profiles at the level the live watch alerts at:
    read from its constant, so the product's operating point is always the one shown."""
    nab_corpus(tmp_path)
    monkeypatch.setattr(detect_module, "ANOMALY_ALERT_SCORE", 0.77)
    assert run(monkeypatch, "bench", "nab", "--data", str(tmp_path), "--levels", "0.05,0.9") == 0
    out = capsys.readouterr().out
    assert "its default level is 0.77" in out
    rows = {
        cells[0]: cells[1:]
        for line in out.splitlines()
        if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 8
    }
    assert "┃ level " in out
    assert list(rows) == ["0.05", "0.77 (watch)", "0.9"]
    assert rows["0.77 (watch)"][3:6] == ["1/1", "0", "0.00"]
    assert rows["0.05"][4] != "0", "below the shift's score, noise is alerted on"
    for bad in ("0", "1.5", "x"):
        assert run(monkeypatch, "bench", "nab", "--data", str(tmp_path), "--levels", bad) == 2
        assert "not a level in (0, 1]" in capsys.readouterr().err


def test_the_bench_alerts_at_most_once_a_cooldown_as_the_watch_does() -> None:
    scores = np.array([0.6, 0.6, 0.2, 0.6, 0.9, 0.6])
    times = np.array([0.0, 60.0, 120.0, 899.0, 900.0, 1800.0])
    alerts = detect_module._watch_alerts(scores, times, 0.5, after=0)
    assert alerts.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 1.0]


def test_the_bench_alerts_from_a_series_anomaly_after_th_sample_as_the_watch_does() -> None:
    """Held rows (NaN) are no samples: the 3rd sample is row 3 when row 1 was held."""
    scores = np.array([0.9, 0.0, 0.9, 0.9, 0.0])
    times = np.array([0.0, 900.0, 1800.0, 2700.0, 3600.0])
    values = np.array([1.0, np.nan, 1.0, 1.0, 1.0])
    alerts = detect_module._watch_alerts(scores, times, 0.5, values, after=3)
    assert alerts.tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert detect_module._watch_alerts(scores, times, 0.5).tolist() == [0.0] * 5


def test_plot_draws_the_series_its_score_and_a_dot_per_flagged_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xml.etree.ElementTree as ET

    monkeypatch.setattr(detect_module, "CHUNK_ROWS", 7)
    rng = np.random.default_rng(2)
    values = 20 + rng.normal(0, 1, 1200)
    values[1000] = 80.0
    lines = ["timestamp,value"] + [
        f"{s},{v:.4f}" for s, v in zip(stamps(1200), values, strict=True)
    ]
    lines[500] = lines[500].split(",")[0] + ",n/a"
    src = write(tmp_path / "in.csv", lines)
    out, plot = tmp_path / "out.csv", tmp_path / "plot.svg"
    assert run(monkeypatch, "detect", str(src), "--output", str(out), "--plot", str(plot)) == 0
    scores = np.array([float(r["anomaly_score"]) for r in read_output(out)])
    root = ET.fromstring(plot.read_text())
    ns = {"s": "http://www.w3.org/2000/svg"}
    groups = root.findall("s:g[@class='panel']", ns)
    assert [g.attrib["data-label"].split(" ")[0] for g in groups] == ["value", "anomaly"]
    flagged = int((scores >= ANOMALY_ALERT_SCORE).sum())
    assert len(groups[0].findall("s:circle", ns)) == flagged >= 1
    assert "1 held" in plot.read_text()
    bad = tmp_path / "missing" / "dir" / "plot.svg"
    out.write_text("previous run\n")
    assert run(monkeypatch, "detect", str(src), "--output", str(out), "--plot", str(bad)) == 2
    assert out.read_text() == "previous run\n", "a plot that cannot be written leaves OUTPUT"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv", "plot.svg"]


def test_bench_nab_plots_one_svg_per_file_with_its_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import xml.etree.ElementTree as ET

    nab_corpus(tmp_path)
    plots = tmp_path / "plots"
    assert run(monkeypatch, "bench", "nab", "--data", str(tmp_path), "--plots", str(plots)) == 0
    assert "plots: 1 SVG files" in capsys.readouterr().out
    root = ET.fromstring((plots / "c__s.svg").read_text())
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert len(root.findall(".//s:rect[@class='span']", ns)) == 2
    assert root.findall(".//s:circle[@class='mark']", ns)


def test_epoch_seconds_and_milliseconds_are_timestamps(tmp_path: Path) -> None:
    seconds = write(tmp_path / "s.csv", ["timestamp,value", "1700000000,1", "1700000060,2"])
    millis = write(tmp_path / "ms.csv", ["timestamp,value", "1700000000000,1", "1700000060000,2"])
    assert read_series(seconds).times == [1700000000.0, 1700000060.0]
    assert read_series(millis).times == [1700000000.0, 1700000060.0]


def test_digits_alone_are_epoch_time_never_a_date(tmp_path: Path) -> None:
    """``fromisoformat`` reads ``19700101`` and ``1701051000000`` as 1970-01-01 and 1701-05-10."""
    seconds = ["timestamp,value", "10000101,1", "12345678,2", "19700101,3", "20240101,4"]
    series = read_series(write(tmp_path / "s.csv", seconds))
    assert series.times == [10000101.0, 12345678.0, 19700101.0, 20240101.0]
    millis = ["timestamp,value", "1701050940000,1", "1701051000000,2", "1701051060000,3"]
    series = read_series(write(tmp_path / "ms.csv", millis))
    assert series.times == [1701050940.0, 1701051000.0, 1701051060.0]
    assert series.held == {}
    dates = ["timestamp,value", "2024-01-01,1", "20240102T00,2", "2024-01-03T00:00:00Z,3"]
    assert read_series(write(tmp_path / "d.csv", dates)).times == [
        1704067200.0,
        1704153600.0,
        1704240000.0,
    ]


def test_a_file_with_no_usable_row_is_an_error_not_an_empty_result(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", ["timestamp,value", "yesterday,1", "today,2", "now,x"])
    with pytest.raises(InputError, match=r"no usable row \(3 unreadable timestamp\)"):
        read_series(path)


def test_values_whose_square_overflows_are_held(tmp_path: Path) -> None:
    ts = stamps(3)
    path = write(tmp_path / "big.csv", ["timestamp,value", f"{ts[0]},1", f"{ts[1]},1.7e308"])
    series = read_series(path)
    assert series.held == {"value out of range": [3]}
    assert series.values[0] == 1.0


def test_python_only_number_spellings_are_not_numbers(tmp_path: Path) -> None:
    """float() takes '1_000' and other scripts' digits; a CSV value is plain ASCII."""
    ts = stamps(4)
    rows = [
        "timestamp,value",
        f"{ts[0]},1",
        f"{ts[1]},1_000",
        f"{ts[2]},\u0661\u0662",
        f"{ts[3]},2",
    ]
    series = read_series(write(tmp_path / "odd.csv", rows))
    assert series.held == {"non-numeric value": [3, 4]}
    assert [v for v in series.values if not math.isnan(v)] == [1.0, 2.0]


def held_rows_of_every_kind(n: int = 1400) -> list[str]:
    """``n`` rows with a spike near the end, held rows of every kind and blank lines."""
    ts = stamps(n)
    values = 20 + np.random.default_rng(3).normal(0, 1, n)
    values[n - 150] = 80.0
    rows = [f"{s},{v:.4f}" for s, v in zip(ts, values, strict=True)]
    for k, bad in enumerate(["abc", "nan", "inf", "1_0", "", "--1", "\u0663"]):
        rows[50 + 13 * k] = f"{ts[50 + 13 * k]},{bad}"
    rows[400] = f"{ts[400]},1e200"
    rows[500], rows[501] = "yesterday,20", ",20"
    rows[600] = f"{ts[599]},20"
    rows[700] = f"{ts[650]},20"
    rows[800] = f"{ts[801]},20"
    rows[900] = f"{ts[899].replace(' ', 'T')}Z,20"
    return ["timestamp,value", *rows[:300], "", "   ", *rows[300:]]


def scored_at_once(path: Path, detector: str) -> bytes:
    """The output expected of ``detect``: the whole file read, then scored as one series."""
    series = read_series(path)
    scores = score_series(detector, np.array(series.values), np.array(series.times))
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\n")
    out.writerow(["timestamp", "value", "anomaly_score"])
    for stamp, value, score in zip(series.timestamps, series.raw_values, scores, strict=True):
        out.writerow([stamp, value, f"{min(max(score, 0.0), 1.0):.6f}"])
    return text.getvalue().encode()


@pytest.mark.parametrize("detector", sorted(DETECTORS))
def test_chunks_of_seven_rows_give_the_bytes_and_warnings_of_one_pass(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    detector: str,
) -> None:
    src = write(tmp_path / "in.csv", held_rows_of_every_kind())
    outputs, warnings = [], []
    for rows in (7, 10**9):
        monkeypatch.setattr(detect_module, "CHUNK_ROWS", rows)
        out = tmp_path / f"out{rows}.csv"
        assert run(monkeypatch, "detect", str(src), "-o", str(out), "--detector", detector) == 0
        outputs.append(out.read_bytes())
        warnings.append(capsys.readouterr().err)
    assert outputs[0] == outputs[1] == scored_at_once(src, detector)
    assert warnings[0] == warnings[1]
    lines = warnings[0].splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "7 row(s) held (score 0, not learned): non-numeric value; line(s) 52, 65, 78, 91, 104, ...",
        "1 row(s) held (score 0, not learned): value out of range; line(s) 404",
        "2 row(s) held (score 0, not learned): unreadable timestamp; line(s) 504, 505",
        "3 row(s) held (score 0, not learned): duplicate timestamp; line(s) 604, 805, 904",
        "1 row(s) held (score 0, not learned): timestamp before the previous row; line(s) 704",
    ], "the lines an editor shows: the two blank lines after row 300 count"
    scores = [float(r["anomaly_score"]) for r in read_output(tmp_path / "out7.csv")]
    assert len(scores) == 1400
    assert scores[1250] == max(scores) > 0.9


def test_a_nab_file_scores_the_same_in_chunks_of_seven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real series with a repeated timestamp (line 1306), scored by the default detector."""
    src = NAB / "data" / "realAdExchange" / "exchange-2_cpm_results.csv"
    if not src.is_file():
        pytest.skip(f"{src} is absent: the shared NAB corpus is not on this machine")
    monkeypatch.setattr(detect_module, "CHUNK_ROWS", 7)
    out = tmp_path / "out.csv"
    assert run(monkeypatch, "detect", str(src), "-o", str(out)) == 0
    assert out.read_bytes() == scored_at_once(src, "default")
    assert "1 row(s) held (score 0, not learned): duplicate timestamp; line(s) 1306" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("last", "message"),
    [
        ("2024-01-09 00:00:00," + "9" * 200_000, "line 502: field larger"),
        ('2024-01-09 00:00:00,"1\n2024-01-09 00:05:00,2', "line 502: a quoted field runs"),
    ],
)
def test_an_error_late_in_the_file_leaves_output_as_it_was(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    last: str,
    message: str,
) -> None:
    monkeypatch.setattr(detect_module, "CHUNK_ROWS", 7)
    lines = ["timestamp,value"] + [f"{s},{i % 5}" for i, s in enumerate(stamps(500))] + [last]
    src = write(tmp_path / "in.csv", lines)
    out = tmp_path / "out.csv"
    assert run(monkeypatch, "detect", str(src), "-o", str(out)) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
    out.write_text("previous run\n")
    assert run(monkeypatch, "detect", str(src), "-o", str(out)) == 2
    assert out.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_a_long_file_of_held_rows_only_is_an_error_without_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(detect_module, "CHUNK_ROWS", 7)
    src = write(tmp_path / "in.csv", ["timestamp,value"] + [f"day {i},1" for i in range(50)])
    assert run(monkeypatch, "detect", str(src), "-o", str(tmp_path / "o.csv")) == 2
    assert "no usable row (50 unreadable timestamp)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_output_through_a_symlink_or_into_a_pipe_is_written_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write(tmp_path / "in.csv", ["timestamp,value"] + [f"{s},1" for s in stamps(20)])
    plain = tmp_path / "plain.csv"
    assert run(monkeypatch, "detect", str(src), "-o", str(plain)) == 0
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "target.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert run(monkeypatch, "detect", str(src), "-o", str(link)) == 0
    assert link.is_symlink()
    assert target.read_bytes() == plain.read_bytes()
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["target.csv"]
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()))
    reader.start()
    assert run(monkeypatch, "detect", str(src), "-o", str(pipe)) == 0
    reader.join(timeout=10)
    assert received == [plain.read_bytes()]
    assert not pipe.is_file()


def test_a_big_input_shows_a_bar_of_bytes_read_on_a_terminal_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(detect_module, "CHUNK_ROWS", 100)
    src = write(tmp_path / "in.csv", ["timestamp,value"] + [f"{s},1" for s in stamps(400)])
    out = tmp_path / "out.csv"
    monkeypatch.setattr(detect_module, "PROGRESS_MIN_BYTES", 1)
    assert run(monkeypatch, "detect", str(src), "-o", str(out), "--detector", "zscore") == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    before = out.read_bytes()
    assert run(monkeypatch, "detect", str(src), "-o", str(out), "--detector", "zscore") == 0
    bar = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", capsys.readouterr().err)
    size = f"{src.stat().st_size / 1000:.1f}"
    assert re.search(rf"detect \S+ 100% {size}/{size} kB", bar)
    assert out.read_bytes() == before
    monkeypatch.setattr(detect_module, "PROGRESS_MIN_BYTES", src.stat().st_size + 1)
    assert run(monkeypatch, "detect", str(src), "-o", str(out), "--detector", "zscore") == 0
    assert capsys.readouterr().err == ""


def test_output_lines_end_in_lf_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The csv module's default CRLF showed as ``^M`` in ``detect IN -o /dev/stdout | tail``."""
    src = write(tmp_path / "in.csv", ["timestamp,value"] + [f"{s},1" for s in stamps(20)])
    out = tmp_path / "out.csv"
    assert run(monkeypatch, "detect", str(src), "-o", str(out), "--detector", "zscore") == 0
    assert b"\r" not in out.read_bytes()
    assert out.read_bytes().count(b"\n") == 21


def oldest_first_with_a_spike(n: int = 2000) -> list[str]:
    """``n`` one-minute rows of a slow sine with a spike at row 1500, oldest first."""
    return [
        f"{1_700_000_000 + 60 * i},{50 + 10 * math.sin(i / 50) + (500 if i == 1500 else 0):.4f}"
        for i in range(n)
    ]


def test_a_newest_first_export_is_scored_and_written_oldest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Grafana, Datadog and SQL exports often run newest first: every row but the first was
    held as before the previous one, the spike scored 0, and the exit code was 0."""
    rows = oldest_first_with_a_spike()
    oldest = write(tmp_path / "oldest.csv", ["timestamp,value", *rows])
    newest = write(tmp_path / "newest.csv", ["timestamp,value", *reversed(rows)])
    assert run(monkeypatch, "detect", str(oldest), "-o", str(tmp_path / "a.csv")) == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(detect_module, "CHUNK_ROWS", 7)
    assert run(monkeypatch, "detect", str(newest), "-o", str(tmp_path / "b.csv")) == 0
    assert capsys.readouterr().err.split(": ", 1)[1] == (
        "the rows run newest first: read from the last row up, so they are scored and "
        "written oldest first\n"
    )
    assert (tmp_path / "b.csv").read_bytes() == (tmp_path / "a.csv").read_bytes()
    scores = [float(r["anomaly_score"]) for r in read_output(tmp_path / "b.csv")]
    assert scores[1500] == max(scores) > 0.9
    assert read_series(newest).times == read_series(oldest).times


def test_a_newest_first_file_holds_its_bad_rows_by_the_lines_they_are_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = list(reversed(oldest_first_with_a_spike(300)))
    rows[100] = rows[101]
    rows[200] = rows[200].split(",")[0] + ",n/a"
    src = write(tmp_path / "in.csv", ["timestamp,value", *rows])
    assert run(monkeypatch, "detect", str(src), "-o", str(tmp_path / "o.csv")) == 0
    said = [line.split(": ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    assert said[1:] == [
        "1 row(s) held (score 0, not learned): non-numeric value; line(s) 202",
        "1 row(s) held (score 0, not learned): duplicate timestamp; line(s) 102",
    ]


def test_two_rows_swapped_at_the_start_do_not_make_a_file_newest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = oldest_first_with_a_spike(300)
    rows[0], rows[1] = rows[1], rows[0]
    src = write(tmp_path / "in.csv", ["timestamp,value", *rows])
    assert run(monkeypatch, "detect", str(src), "-o", str(tmp_path / "o.csv")) == 0
    assert capsys.readouterr().err.split(": ", 1)[1] == (
        "1 row(s) held (score 0, not learned): timestamp before the previous row; line(s) 3\n"
    )


def test_rows_mostly_out_of_time_order_are_an_error_without_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that rises once and then runs backwards would score two rows of 300."""
    rows = list(reversed(oldest_first_with_a_spike(300)))
    rows.insert(0, rows.pop(1))
    src = write(tmp_path / "in.csv", ["timestamp,value", *rows])
    assert run(monkeypatch, "detect", str(src), "-o", str(tmp_path / "o.csv")) == 2
    assert capsys.readouterr().err == (
        f"error: {src}: 298 of 300 rows have a timestamp before the previous row: the rows "
        "are not in time order; sort them oldest first\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_one_row_stamped_years_ahead_does_not_blind_the_rest_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped year held every row after it until time caught up: 799 of 2,000 rows
    scored 0 and never learnt, a spike among them, with exit 0 and no word of the cause."""
    rows = oldest_first_with_a_spike()
    typo = 1200
    rows[typo] = f"{1_700_000_000 + 60 * typo + 36 * 365 * 86400},{rows[typo].split(',')[1]}"
    src = write(tmp_path / "in.csv", ["timestamp,value", *rows])
    out = tmp_path / "o.csv"
    assert run(monkeypatch, "detect", str(src), "-o", str(out)) == 0
    scores = [float(r["anomaly_score"]) for r in read_output(out)]
    assert len(scores) == 2000
    assert scores[1500] == max(scores) > 0.9, "the spike after the bad row is scored"
    err = capsys.readouterr().err
    assert (
        "1 row(s) held (score 0, not learned): timestamp before the previous row; line(s) 1203"
        in err
    )
    assert (
        f"1 row(s) stamped far before the row before them: line 1202 ({rows[typo].split(',')[0]}) "
        "looks stamped ahead, so the series goes on from line(s) 1204" in err
    )
    held = read_series(src)
    assert [i for i, v in enumerate(held.values) if math.isnan(v)] == [typo + 1]
    assert held.restarts == [typo + 4]


def test_a_lone_row_far_back_is_late_and_held_the_series_goes_on() -> None:
    """One row can't say whether it or the one before is wrong: a lone row far back is held
    and the rows after it are scored as before; the series goes on from a second row
    only, and bench nab holds exactly the rows detect holds."""
    order = detect_module.TimeOrder()
    t = [0.0, 60.0, 120.0, -3600.0, 180.0, 240.0, 10**9, 300.0, 360.0, 420.0]
    placed = [order.place(x) for x in t]
    assert placed == ["after"] * 3 + [detect_module.BEFORE_PREVIOUS] + ["after"] * 3 + [
        detect_module.BEFORE_PREVIOUS,
        "restart",
        "after",
    ]
    values = np.arange(len(t), dtype=float)
    kept = detect_module._held_like_detect(values, np.array(t))
    assert np.isnan(kept).tolist() == [p == detect_module.BEFORE_PREVIOUS for p in placed]


def test_rows_that_keep_going_back_in_time_are_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An export in pages of five rows, each page oldest first but the pages newest first,
    goes back in time every fifth row: going on from each would score it as a series."""
    rows = oldest_first_with_a_spike(400)
    pages = [rows[i : i + 5] for i in range(0, len(rows), 5)]
    src = write(
        tmp_path / "in.csv", ["timestamp,value", *(r for page in pages[::-1] for r in page)]
    )
    assert run(monkeypatch, "detect", str(src), "-o", str(tmp_path / "o.csv")) == 2
    assert capsys.readouterr().err == (
        f"error: {src}: 79 of 400 rows are stamped far before the row before them (lines 8, "
        "13, 18, 23, 28, ...): the rows are not in time order; sort them oldest first\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_newest_first_export_that_repeats_its_latest_stamp_is_read_newest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the first two stamps decided, so a repeated latest sample made the file
    \"not in time order\" (exit 2)."""
    rows = oldest_first_with_a_spike()
    newest = write(tmp_path / "n.csv", ["timestamp,value", rows[-1], *reversed(rows)])
    assert run(monkeypatch, "detect", str(newest), "-o", str(tmp_path / "o.csv")) == 0
    err = capsys.readouterr().err
    assert "the rows run newest first" in err
    assert "1 row(s) held (score 0, not learned): duplicate timestamp" in err


def test_a_row_of_empty_cells_is_held_not_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A spreadsheet's empty row ``,`` vanished: the output had a row fewer than the input
    and nothing said so, so rows paired by position were off by one after it."""
    rows = oldest_first_with_a_spike(50)
    src = write(tmp_path / "in.csv", ["timestamp,value", *rows[:20], ",", " , ", *rows[20:], ""])
    out = tmp_path / "o.csv"
    assert run(monkeypatch, "detect", str(src), "-o", str(out)) == 0
    assert len(read_output(out)) == 52
    assert capsys.readouterr().err.split(": ", 1)[1] == (
        "2 row(s) held (score 0, not learned): unreadable timestamp; line(s) 22, 23\n"
    )


def test_gaps_in_time_are_counted_in_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 3-day hole in a one-minute series passed without a word; the live watch starts
    its trend afresh after a step over 20 usual ones."""
    start = 1_700_000_000
    rows = [f"{start + 60 * i},{50 + i % 7}" for i in range(500)]
    rows += [f"{start + 499 * 60 + 3 * 86400 + 60 * i},{50 + i % 7}" for i in range(500)]
    rows += [f"{start + 1000 * 60 + 3 * 86400 + 60 * 30 * i},50" for i in range(1, 4)]
    src = write(tmp_path / "in.csv", ["timestamp,value", *rows])
    monkeypatch.setattr(detect_module, "CHUNK_ROWS", 7)
    assert run(monkeypatch, "detect", str(src), "-o", str(tmp_path / "o.csv")) == 0
    assert capsys.readouterr().err.split(": ", 1)[1] == (
        "2 gap(s) in time over 20 times the usual step, the longest 3.0 days before line 502 "
        "(scored as if the rows met); line(s) 502, 1002\n"
    )
    jitter = [f"{start + 60 * i + (i * 37) % 50},{50 + i % 7}" for i in range(500)]
    src = write(tmp_path / "jitter.csv", ["timestamp,value", *jitter])
    assert run(monkeypatch, "detect", str(src), "-o", str(tmp_path / "o.csv")) == 0
    assert capsys.readouterr().err == ""
