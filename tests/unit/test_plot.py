"""SVG plots: parseable, faithful to extremes after reduction, honest about gaps."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np

from vanguard.plot import LEFT, MAX_MARKS, PANEL_HEIGHT, TOP, WIDTH, Panel, series_svg

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def path_points(element: ET.Element) -> list[tuple[str, float, float]]:
    d = element.attrib["d"]
    return [(c, float(x), float(y)) for c, x, y in re.findall(r"([ML])([-\d.]+),([-\d.]+)", d)]


def series_path(root: ET.Element, panel: int = 0) -> ET.Element:
    group = root.findall("s:g[@class='panel']", NS)[panel]
    found = group.find("s:path[@class='series']", NS)
    assert found is not None
    return found


def test_a_long_series_is_reduced_per_pixel_and_keeps_a_lone_spike() -> None:
    n = 200_000
    times = 1.7e9 + 60.0 * np.arange(n)
    values = np.sin(np.arange(n) / 5000.0)
    values[123_457] = 25.0
    root = parse(series_svg(times, [Panel("v", values)], title="spike"))
    points = path_points(series_path(root))
    assert len(points) <= 2 * WIDTH
    assert points[0][0] == "M"
    assert all(c == "L" for c, _x, _y in points[1:])
    top_y = min(y for _c, _x, y in points)
    # the spike is the maximum, so it sits at the top of the padded range
    assert abs(top_y - (TOP + PANEL_HEIGHT * 0.05 / 1.1)) < 0.2


def test_a_wide_gap_breaks_the_line_and_nan_values_draw_nothing() -> None:
    times = np.r_[np.arange(100.0), np.arange(10_000.0, 10_100.0)]
    values = np.ones(200)
    values[50] = np.nan
    root = parse(series_svg(times, [Panel("v", values)], title="gap"))
    moves = [c for c, _x, _y in path_points(series_path(root))]
    assert moves.count("M") == 3
    daily = 1.7e9 + 86400.0 * np.arange(30)
    root = parse(series_svg(daily, [Panel("v", np.linspace(0.0, 1.0, 30))], title="sparse"))
    points = path_points(series_path(root))
    assert [c for c, _x, _y in points].count("M") == 1
    assert len(points) == 30
    assert "l0.5,0" not in series_path(root).attrib["d"]
    alone = np.linspace(0.0, 1.0, 30)
    alone[[9, 11]] = np.nan
    root = parse(series_svg(daily, [Panel("v", alone)], title="a lone day"))
    d = series_path(root).attrib["d"]
    assert d.count("M") == 3
    assert d.count("l0.5,0") == 1


def test_marks_levels_spans_and_escaped_labels() -> None:
    times = np.arange(1000.0) * 300.0
    values = np.linspace(0.0, 1.0, 1000)
    panels = [
        Panel('value <&> "quoted"', values, marks=(10, 500, 999, 5000)),
        Panel("score", values, level=0.9, low=0.0, high=1.0),
    ]
    root = parse(series_svg(times, panels, title="a & b", spans=[(100, 199)]))
    groups = root.findall("s:g[@class='panel']", NS)
    assert [g.attrib["data-label"] for g in groups] == ['value <&> "quoted"', "score"]
    assert len(groups[0].findall("s:circle[@class='mark']", NS)) == 3
    assert groups[1].find("s:line[@class='level']", NS) is not None
    plot_width = WIDTH - LEFT - 16
    for group in groups:
        span = group.find("s:rect[@class='span']", NS)
        assert span is not None
        assert float(span.attrib["x"]) == round(LEFT + 100 / 999 * plot_width, 1)
    level_y = float(groups[1].find("s:line[@class='level']", NS).attrib["y1"])  # type: ignore[union-attr]
    assert abs(level_y - (TOP + PANEL_HEIGHT + 28 + 0.1 * PANEL_HEIGHT)) < 0.1
    assert "a &amp; b" in series_svg(times, panels, title="a & b")


def test_too_many_marks_are_capped_and_counted() -> None:
    times = np.arange(5000.0)
    values = np.zeros(5000)
    svg = series_svg(times, [Panel("v", values, marks=tuple(range(5000)))], title="t")
    root = parse(svg)
    assert len(root.findall(".//s:circle", NS)) == MAX_MARKS
    assert f"{5000 - MAX_MARKS:,} more marks not drawn" in svg


def test_degenerate_inputs_draw_a_message_not_a_crash() -> None:
    flat = series_svg(np.arange(10.0), [Panel("v", np.full(10, 3.0))], title="flat")
    assert series_path(parse(flat)) is not None
    empty = series_svg(np.full(3, np.nan), [Panel("v", np.ones(3))], title="no times")
    assert "no data" in empty
    assert parse(empty) is not None
    blank = series_svg(np.arange(3.0), [Panel("v", np.full(3, np.nan))], title="no values")
    assert "no values" in blank
    assert parse(blank) is not None
