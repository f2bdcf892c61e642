"""outcomes.charts: scaling, bands, dosing markers, reference lines, accessibility and
escaping. The SVG is parsed as XML and its geometry checked against hand-worked numbers."""

import datetime
import xml.etree.ElementTree as ET

import pytest

from kapflow.clinical import instruments
from kapflow.outcomes import charts

NS = {"s": "http://www.w3.org/2000/svg"}
T0 = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)


def _day(n: float) -> datetime.datetime:
    return T0 + datetime.timedelta(days=n)


def _chart(**overrides) -> charts.Chart:
    values = {
        "id": "c1",
        "title": "PHQ-9 scores over time",
        "description": "Three scores.",
        "y_min": 0,
        "y_max": 27,
        "points": [charts.Point(_day(0), 18, "moderately severe"), charts.Point(_day(50), 9),
                   charts.Point(_day(100), 4, "minimal")],
        "bands": charts.instrument_bands(instruments.PHQ9),
    }  # fmt: skip
    values.update(overrides)
    return charts.Chart(**values)


def _svg(chart) -> ET.Element:
    return ET.fromstring(charts.render(chart))


# Plot area of the default chart: x from 44 to 720 - 150 = 570, y from 12 (top) to
# 300 - 62 = 238 (bottom); 27 points over 226 px.
LEFT, RIGHT, TOP, BOTTOM = 44, 570, 12, 238


def _y(value: float) -> float:
    return BOTTOM - value * (BOTTOM - TOP) / 27


def test_scale_maps_ends_and_middle_and_can_run_downwards():
    s = charts.Scale((0, 27), (238, 12))
    assert (s(0), s(27), s(13.5)) == (238, 12, 125)
    with pytest.raises(ValueError):
        charts.Scale((5, 5), (0, 1))


def test_time_domain_pads_three_percent_or_a_day_for_one_moment():
    start, end = charts.time_domain([_day(0), _day(100)])
    assert (start, end) == (_day(-3), _day(103))
    assert charts.time_domain([_day(0)]) == (_day(-1), _day(1))
    with pytest.raises(ValueError):
        charts.time_domain([])


def test_time_ticks_are_even_and_include_both_ends():
    assert charts.time_ticks(_day(0), _day(8), count=5) == [_day(d) for d in (0, 2, 4, 6, 8)]


def test_svg_is_an_accessible_image_labelled_by_its_title_and_description():
    svg = _svg(_chart())
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "c1-title c1-desc"
    assert svg.find("s:title", NS).text == "PHQ-9 scores over time"
    assert svg.find("s:title", NS).get("id") == "c1-title"
    assert svg.find("s:desc", NS).text == "Three scores."
    assert svg.get("viewBox") == "0 0 720 300"


def test_each_band_is_shaded_between_half_points_clipped_to_the_axis():
    rects = _svg(_chart()).findall(".//s:g[@class='bands']/s:rect", NS)
    assert [r.get("data-band") for r in rects] == [
        "minimal", "mild", "moderate", "moderately severe", "severe"
    ]  # fmt: skip
    edges = [(0, 4.5), (4.5, 9.5), (9.5, 14.5), (14.5, 19.5), (19.5, 27)]
    for rect, (lo, hi) in zip(rects, edges, strict=True):
        assert float(rect.get("y")) == pytest.approx(_y(hi), abs=0.06)
        assert float(rect.get("height")) == pytest.approx(_y(lo) - _y(hi), abs=0.11)
        assert (float(rect.get("x")), float(rect.get("width"))) == (LEFT, RIGHT - LEFT)
    # Least severe green, most severe red.
    assert rects[0].get("fill") == charts.BAND_COLOURS[0]
    assert rects[-1].get("fill") == charts.BAND_COLOURS[-1]


def test_two_band_instrument_uses_both_ends_of_the_palette():
    rects = _svg(_chart(y_max=80, bands=charts.instrument_bands(instruments.PCL5))).findall(
        ".//s:rect", NS
    )
    assert [r.get("fill") for r in rects] == [charts.BAND_COLOURS[0], charts.BAND_COLOURS[-1]]


def test_points_are_scaled_in_time_and_score():
    circles = _svg(_chart()).findall(".//s:g[@class='points']/s:circle", NS)
    # Domain runs from day -3 to day 103 (106 days) over 526 px.
    xs = [float(c.get("cx")) for c in circles]
    assert xs == pytest.approx([LEFT + 3 * 526 / 106, LEFT + 53 * 526 / 106,
                                LEFT + 103 * 526 / 106], abs=0.06)  # fmt: skip
    assert [float(c.get("cy")) for c in circles] == pytest.approx([_y(18), _y(9), _y(4)], abs=0.06)
    assert circles[0].find("s:title", NS).text == "2025-03-01: 18, moderately severe"
    assert circles[1].find("s:title", NS).text == "2025-04-20: 9"


def test_points_are_drawn_in_time_order_with_a_connecting_line():
    chart = _chart(points=[charts.Point(_day(10), 5), charts.Point(_day(0), 20)])
    svg = _svg(chart)
    line = svg.find(".//s:polyline", NS).get("points").split()
    assert float(line[0].split(",")[1]) == pytest.approx(_y(20), abs=0.06)


def test_a_single_point_is_centred_without_a_line():
    svg = _svg(_chart(points=[charts.Point(_day(0), 10)]))
    assert svg.find(".//s:polyline", NS) is None
    (circle,) = svg.findall(".//s:g[@class='points']/s:circle", NS)
    assert float(circle.get("cx")) == pytest.approx((LEFT + RIGHT) / 2, abs=0.06)


def test_no_points_is_refused():
    with pytest.raises(ValueError):
        charts.render(_chart(points=[]))


def test_dosing_sessions_are_vertical_lines_across_the_plot():
    svg = _svg(_chart(markers=[_day(50), _day(70)]))
    lines = svg.findall(".//s:g[@class='markers']/s:line", NS)
    assert len(lines) == 2
    assert lines[0].get("x1") == lines[0].get("x2")
    assert float(lines[0].get("x1")) == pytest.approx(LEFT + 53 * 526 / 106, abs=0.06)
    assert (float(lines[0].get("y1")), float(lines[0].get("y2"))) == (TOP, BOTTOM)
    assert lines[1].find("s:title", NS).text == "Dosing session 2025-05-10"


def test_dosing_sessions_outside_the_scores_widen_the_time_axis():
    svg = _svg(_chart(markers=[_day(-100)]))
    (line,) = svg.findall(".//s:g[@class='markers']/s:line", NS)
    # Domain now day -100 to 100, padded by 6 days: the marker sits 6 of 212 days in.
    assert float(line.get("x1")) == pytest.approx(LEFT + 6 * 526 / 212, abs=0.06)


def test_reference_lines_are_horizontal_dashed_and_labelled():
    rules = [charts.Rule(18, "Baseline 18", "baseline"), charts.Rule(9, "Response ≤ 9",
             "response"), charts.Rule(4, "Remission ≤ 4", "remission")]  # fmt: skip
    svg = _svg(_chart(rules=rules))
    lines = svg.findall(".//s:g[@class='rules']/s:line", NS)
    assert [line.get("data-rule") for line in lines] == ["baseline", "response", "remission"]
    for line, value in zip(lines, (18, 9, 4), strict=True):
        assert line.get("y1") == line.get("y2")
        assert float(line.get("y1")) == pytest.approx(_y(value), abs=0.06)
        assert line.get("stroke-dasharray")
    assert len({line.get("stroke-dasharray") for line in lines}) == 3
    texts = [t.text for t in svg.findall(".//s:g[@class='rules']/s:text", NS)]
    assert texts == ["Baseline 18", "Response ≤ 9", "Remission ≤ 4"]
    legend = [t.text for t in svg.findall(".//s:g[@class='legend']/s:text", NS)]
    assert legend == ["Score", "Baseline", "Response threshold", "Remission threshold"]


def test_colliding_reference_labels_are_moved_apart():
    rules = [charts.Rule(4, "Response ≤ 4", "response"), charts.Rule(4, "Remission ≤ 4",
             "remission")]  # fmt: skip
    texts = _svg(_chart(rules=rules)).findall(".//s:g[@class='rules']/s:text", NS)
    ys = [float(t.get("y")) for t in texts]
    assert abs(ys[0] - ys[1]) >= 12


def test_spread_keeps_order_gap_and_bounds():
    assert charts.spread([50, 52, 200], gap=12, low=10, high=238) == [50, 62, 200]
    assert charts.spread([236, 237], gap=12, low=10, high=238) == [226, 238]
    assert charts.spread([5], gap=12, low=10, high=238) == [10]
    assert charts.spread([], gap=12, low=0, high=1) == []


def test_legend_lists_dosing_only_when_marked():
    legend = [t.text for t in _svg(_chart(markers=[_day(3)])).findall(
        ".//s:g[@class='legend']/s:text", NS)]  # fmt: skip
    assert legend == ["Score", "Dosing session"]


def test_y_ticks_at_band_starts_and_the_ends():
    ticks = [t.text for t in _svg(_chart()).findall(".//s:g[@class='y-ticks']/s:text", NS)]
    assert ticks == ["0", "5", "10", "15", "20", "27"]


def test_text_is_escaped():
    raw = charts.render(_chart(title='<script>alert("x")</script>', id='a"b',
                               points=[charts.Point(_day(0), 3, "<b>")]))  # fmt: skip
    assert "<script>" not in raw and "<b>" not in raw
    svg = ET.fromstring(raw)
    assert svg.find("s:title", NS).text == '<script>alert("x")</script>'


def test_outcome_chart_draws_the_instrument_rules_and_describes_them():
    scores = [(_day(0), 18, "moderately severe"), (_day(30), 8, "mild")]
    chart = charts.outcome_chart(
        id="chart-phq9", instrument=instruments.PHQ9, scores=scores, dosings=[_day(10)],
        baseline=18, baseline_note="the first score", response_threshold=9.0,
    )  # fmt: skip
    assert [(r.kind, r.value) for r in chart.rules] == [
        ("baseline", 18), ("response", 9.0), ("remission", 4)
    ]  # fmt: skip
    assert (chart.y_min, chart.y_max) == (0, 27)
    assert chart.description == (
        "PHQ-9 totals (0 to 27, higher is worse): 2 scores from 2025-03-01 to 2025-03-31, "
        "latest 8 (mild). Baseline 18 (the first score). 1 dosing session marked, the first "
        "on 2025-03-11."
    )
    svg = _svg(chart)
    assert len(svg.findall(".//s:g[@class='markers']/s:line", NS)) == 1


def test_outcome_chart_without_rules_for_an_instrument_that_defines_none():
    chart = charts.outcome_chart(
        id="c", instrument=instruments.PCL5, scores=[(_day(0), 40, "probable PTSD")], baseline=40
    )
    assert [r.kind for r in chart.rules] == ["baseline"]
