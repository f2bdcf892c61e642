"""A small server-rendered SVG chart of scores over time.

Pure Python, no Django: the page embeds the string this module returns (the CSP forbids
scripts, so the chart is drawn on the server). It draws, bottom to top: the severity bands as
shaded stripes, the dosing sessions as vertical lines, the reference lines (baseline,
response and remission thresholds), then the scores as a line with a dot per score.

Accessibility: the <svg> has role="img" and is labelled by its <title> and <desc>; each dot
and marker carries a <title> for pointer users; dash patterns as well as colours tell the
lines apart; text uses `currentColor`, so it follows the page's light or dark theme. Pages
still put the numbers in a table under the chart (the chart is never the only copy).

Every piece of text is escaped here, so the result is safe to mark as safe in a template.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html import escape

from kapflow.clinical.instruments import Instrument

# Band fills from least to most severe (green to red), drawn at low opacity so that they work
# on light and dark backgrounds.
BAND_COLOURS = ("#2e7d32", "#9e9d24", "#f9a825", "#ef6c00", "#c62828")
BAND_OPACITY = 0.14
SCORE_COLOUR = "#1565c0"
MARKER_COLOUR = "#6a1b9a"
RULE_STYLES = {
    # kind: (colour, dash pattern)
    "baseline": ("#546e7a", "6 4"),
    "response": ("#2e7d32", "10 3 2 3"),
    "remission": ("#00838f", "2 3"),
}
MARKER_DASH = "3 3"
# Inline style (the CSP allows inline styles, not scripts): the page's background colour.
HALO = "paint-order: stroke; stroke: var(--pico-background-color, #fff)"


@dataclass(frozen=True)
class Band:
    """A severity band on whole points [low, high]; drawn from low - 0.5 to high + 0.5 (the
    half points between bands), clipped to the axis."""

    low: int
    high: int
    label: str
    severity: int


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float
    note: str = ""  # shown in the dot's tooltip, e.g. the band label


@dataclass(frozen=True)
class Rule:
    """A horizontal reference line. `kind` is "baseline", "response" or "remission"."""

    value: float
    label: str
    kind: str


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    y_min: float
    y_max: float
    points: Sequence[Point]
    bands: Sequence[Band] = ()
    markers: Sequence[datetime] = ()
    marker_label: str = "Dosing session"
    rules: Sequence[Rule] = ()
    y_label: str = "Score"
    width: int = 720
    height: int = 300
    margin: dict = field(
        default_factory=lambda: {"left": 44, "right": 150, "top": 12, "bottom": 62}
    )


class Scale:
    """Maps a domain [d0, d1] linearly onto a range [r0, r1] (r1 may be below r0, as on a
    y axis where larger values are drawn higher up)."""

    def __init__(self, domain: tuple[float, float], output: tuple[float, float]):
        d0, d1 = domain
        if d1 == d0:
            raise ValueError("a scale needs a domain of non-zero width")
        self.d0, self.d1 = d0, d1
        self.r0, self.r1 = output

    def __call__(self, value: float) -> float:
        return self.r0 + (value - self.d0) * (self.r1 - self.r0) / (self.d1 - self.d0)


def time_domain(moments: Sequence[datetime]) -> tuple[datetime, datetime]:
    """The time span to draw: first to last moment, padded by 3 % on each side (and to at
    least a day either side when all moments coincide) so that dots are not on the edge."""
    if not moments:
        raise ValueError("a chart needs at least one point")
    start, end = min(moments), max(moments)
    pad = max((end - start) * 0.03, timedelta(hours=1))
    if end == start:
        pad = timedelta(days=1)
    return start - pad, end + pad


def time_ticks(start: datetime, end: datetime, count: int = 5) -> list[datetime]:
    """`count` evenly spaced moments from start to end (both included)."""
    if count < 2:
        return [start]
    step = (end - start) / (count - 1)
    return [start + step * i for i in range(count)]


def spread(positions: Sequence[float], *, gap: float, low: float, high: float) -> list[float]:
    """Move label positions apart so that neighbours are at least `gap` apart and all stay
    within [low, high], keeping their order: used for the reference-line labels, which
    collide when the thresholds are close (a baseline of 8 puts response and remission at 4
    and 4). Returns positions in the input order."""
    order = sorted(range(len(positions)), key=lambda i: positions[i])
    placed: list[float] = []
    for i in order:
        y = max(positions[i], low)
        if placed and y - placed[-1] < gap:
            y = placed[-1] + gap
        placed.append(y)
    overflow = placed[-1] - high if placed else 0
    if overflow > 0:
        placed = [y - overflow for y in placed]
        for j in range(len(placed) - 2, -1, -1):
            placed[j] = min(placed[j], placed[j + 1] - gap)
    result = [0.0] * len(positions)
    for i, y in zip(order, placed, strict=True):
        result[i] = y
    return result


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _day(moment: datetime | date) -> str:
    return moment.strftime("%Y-%m-%d")


def _band_colour(severity: int, top_severity: int) -> str:
    if top_severity <= 0:
        return BAND_COLOURS[0]
    index = round(severity * (len(BAND_COLOURS) - 1) / top_severity)
    return BAND_COLOURS[min(max(index, 0), len(BAND_COLOURS) - 1)]


@dataclass(frozen=True)
class _Frame:
    """The plotting area of one chart and its two scales."""

    left: float
    top: float
    right: float
    bottom: float
    x_scale: Scale
    y_scale: Scale

    def x(self, moment: datetime) -> str:
        return _num(self.x_scale(moment.timestamp()))

    def y(self, value: float) -> str:
        return _num(self.y_scale(value))


def render(chart: Chart) -> str:
    """The chart as an <svg> element (a string): severity bands, axes, dosing markers,
    reference lines, the scores and the legend, drawn in that order."""
    if not chart.points:
        raise ValueError("a chart needs at least one point")
    m = chart.margin
    left, top = m["left"], m["top"]
    right = chart.width - m["right"]
    bottom = chart.height - m["bottom"]
    start, end = time_domain([p.at for p in chart.points] + list(chart.markers))
    frame = _Frame(
        left, top, right, bottom,
        x_scale=Scale((start.timestamp(), end.timestamp()), (left, right)),
        y_scale=Scale((chart.y_min, chart.y_max), (bottom, top)),
    )  # fmt: skip
    uid = escape(chart.id)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="outcome-chart" role="img" '
        f'viewBox="0 0 {chart.width} {chart.height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" aria-labelledby="{uid}-title {uid}-desc" '
        f'font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="{uid}-title">{escape(chart.title)}</title>',
        f'<desc id="{uid}-desc">{escape(chart.description)}</desc>',
        *_bands(chart, frame),
        *_axes(chart, frame, start, end),
        *_markers(chart, frame),
        *_rules(chart, frame),
        *_scores(chart, frame),
        _legend(chart, left, chart.height - 18),
        "</svg>",
    ]
    return "".join(out)


def _bands(chart: Chart, f: _Frame) -> list[str]:
    """The severity bands, each labelled where it is tall enough."""
    top_severity = max((b.severity for b in chart.bands), default=0)
    out = ['<g class="bands">']
    for band in chart.bands:
        lo = max(band.low - 0.5, chart.y_min)
        hi = min(band.high + 0.5, chart.y_max)
        if hi <= lo:
            continue
        y_top, y_bottom = f.y_scale(hi), f.y_scale(lo)
        out.append(
            f'<rect x="{f.left}" y="{_num(y_top)}" width="{f.right - f.left}" '
            f'height="{_num(y_bottom - y_top)}" fill="{_band_colour(band.severity, top_severity)}" '
            f'fill-opacity="{BAND_OPACITY}" data-band="{escape(band.label)}"/>'
        )
        if y_bottom - y_top >= 10:
            # A halo in the page's background colour keeps the label legible where a
            # reference line crosses it.
            out.append(
                f'<text x="{f.left + 4}" y="{_num(y_top + 10)}" fill="currentColor" '
                f'fill-opacity="0.6" font-size="9" stroke-width="3" stroke-linejoin="round" '
                f'style="{HALO}">{escape(band.label)}</text>'
            )
    out.append("</g>")
    return out


def _axes(chart: Chart, f: _Frame, start: datetime, end: datetime) -> list[str]:
    """Axes: y ticks at the band edges (whole points) and the ends; x ticks evenly in time."""
    left, top, bottom = f.left, f.top, f.bottom
    out = [
        '<g class="axes" stroke="currentColor" stroke-opacity="0.4">',
        f'<line x1="{left}" y1="{bottom}" x2="{f.right}" y2="{bottom}"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>',
        "</g>",
        '<g class="y-ticks" fill="currentColor" text-anchor="end">',
    ]
    for value in sorted({chart.y_min, chart.y_max, *(b.low for b in chart.bands)}):
        if chart.y_min <= value <= chart.y_max:
            out.append(
                f'<text x="{left - 6}" y="{_num(f.y_scale(value) + 4)}">{_num(value)}</text>'
            )
    out.append("</g>")
    out.append('<g class="x-ticks" fill="currentColor" text-anchor="middle">')
    for moment in time_ticks(start, end):
        out.append(f'<text x="{f.x(moment)}" y="{bottom + 16}">{_day(moment)}</text>')
    out.append("</g>")
    out.append(
        f'<text x="{_num(left - 34)}" y="{_num((top + bottom) / 2)}" fill="currentColor" '
        f'text-anchor="middle" transform="rotate(-90 {_num(left - 34)} '
        f'{_num((top + bottom) / 2)})">{escape(chart.y_label)}</text>'
    )
    return out


def _markers(chart: Chart, f: _Frame) -> list[str]:
    """The dosing sessions, as dashed vertical lines."""
    out = [
        f'<g class="markers" stroke="{MARKER_COLOUR}" stroke-width="1.5" '
        f'stroke-dasharray="{MARKER_DASH}">'
    ]
    for moment in chart.markers:
        out.append(
            f'<line x1="{f.x(moment)}" y1="{f.top}" x2="{f.x(moment)}" y2="{f.bottom}">'
            f"<title>{escape(chart.marker_label)} {_day(moment)}</title></line>"
        )
    out.append("</g>")
    return out


def _rules(chart: Chart, f: _Frame) -> list[str]:
    """Reference lines, with labels in the right margin moved apart where they would collide."""
    rules = [r for r in chart.rules if chart.y_min <= r.value <= chart.y_max]
    label_y = spread([f.y_scale(r.value) + 4 for r in rules], gap=12, low=f.top + 8, high=f.bottom)
    out = ['<g class="rules">']
    for rule, text_y in zip(rules, label_y, strict=True):
        colour, dash = RULE_STYLES.get(rule.kind, RULE_STYLES["baseline"])
        out.append(
            f'<line x1="{f.left}" y1="{f.y(rule.value)}" x2="{f.right}" y2="{f.y(rule.value)}" '
            f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="{dash}" '
            f'data-rule="{escape(rule.kind)}"/>'
        )
        out.append(
            f'<text x="{f.right + 6}" y="{_num(text_y)}" fill="currentColor">'
            f"{escape(rule.label)}</text>"
        )
    out.append("</g>")
    return out


def _scores(chart: Chart, f: _Frame) -> list[str]:
    """The scores in time order: a line through them, and a point with its tooltip each."""
    ordered = sorted(chart.points, key=lambda p: p.at)
    out = []
    if len(ordered) > 1:
        path = " ".join(f"{f.x(p.at)},{f.y(p.value)}" for p in ordered)
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{SCORE_COLOUR}" stroke-width="2"/>'
        )
    out.append(f'<g class="points" fill="{SCORE_COLOUR}">')
    for p in ordered:
        note = f", {p.note}" if p.note else ""
        out.append(
            f'<circle cx="{f.x(p.at)}" cy="{f.y(p.value)}" r="4">'
            f"<title>{_day(p.at)}: {_num(p.value)}{escape(note)}</title></circle>"
        )
    out.append("</g>")
    return out


def _legend(chart: Chart, left: float, baseline_y: float) -> str:
    entries = [("score", "Score")]
    if chart.markers:
        entries.append(("marker", chart.marker_label))
    kinds = {r.kind for r in chart.rules}
    names = {"baseline": "Baseline", "response": "Response threshold",
             "remission": "Remission threshold"}  # fmt: skip
    entries += [
        (kind, names[kind]) for kind in ("baseline", "response", "remission") if kind in kinds
    ]
    out = ['<g class="legend" fill="currentColor">']
    cursor = left
    for kind, text in entries:
        if kind == "score":
            swatch = (
                f'<line x1="{_num(cursor)}" y1="{_num(baseline_y - 4)}" x2="{_num(cursor + 18)}" '
                f'y2="{_num(baseline_y - 4)}" stroke="{SCORE_COLOUR}" stroke-width="2"/>'
                f'<circle cx="{_num(cursor + 9)}" cy="{_num(baseline_y - 4)}" r="3" '
                f'fill="{SCORE_COLOUR}"/>'
            )
        elif kind == "marker":
            swatch = (
                f'<line x1="{_num(cursor + 9)}" y1="{_num(baseline_y - 11)}" '
                f'x2="{_num(cursor + 9)}" y2="{_num(baseline_y + 3)}" stroke="{MARKER_COLOUR}" '
                f'stroke-width="1.5" stroke-dasharray="{MARKER_DASH}"/>'
            )
        else:
            colour, dash = RULE_STYLES[kind]
            swatch = (
                f'<line x1="{_num(cursor)}" y1="{_num(baseline_y - 4)}" x2="{_num(cursor + 18)}" '
                f'y2="{_num(baseline_y - 4)}" stroke="{colour}" stroke-width="1.5" '
                f'stroke-dasharray="{dash}"/>'
            )
        out.append(swatch)
        out.append(f'<text x="{_num(cursor + 22)}" y="{_num(baseline_y)}">{escape(text)}</text>')
        cursor += 22 + 6.2 * len(text) + 14
    out.append("</g>")
    return "".join(out)


def instrument_bands(instrument: Instrument) -> list[Band]:
    """The instrument's severity bands in chart form."""
    return [Band(b.low, b.high, b.label, b.severity) for b in instrument.bands]


def outcome_chart(
    *,
    id: str,
    instrument: Instrument,
    scores: Sequence[tuple[datetime, int, str]],
    dosings: Sequence[datetime] = (),
    baseline: int | None = None,
    baseline_note: str = "",
    response_threshold: float | None = None,
) -> Chart:
    """The chart of one instrument's scores (at, total, band label), oldest first: the
    instrument's bands, the dosing sessions, the baseline and, where the instrument defines
    them, the response threshold (from the baseline) and the remission threshold."""
    rules = []
    if baseline is not None:
        rules.append(Rule(baseline, f"Baseline {_num(baseline)}", "baseline"))
    if response_threshold is not None:
        word = "≤" if instrument.higher_is_worse else "≥"
        rules.append(Rule(response_threshold, f"Response {word} {_num(response_threshold)}",
                          "response"))  # fmt: skip
    if instrument.remission_max is not None:
        rules.append(Rule(instrument.remission_max, f"Remission ≤ {instrument.remission_max}",
                          "remission"))  # fmt: skip
    first, last = scores[0], scores[-1]
    parts = [
        f"{instrument.short_name} totals ({instrument.min_total} to {instrument.max_total}, "
        f"{'higher is worse' if instrument.higher_is_worse else 'higher is better'}): "
        f"{len(scores)} score{'s' if len(scores) != 1 else ''} from {_day(first[0])} to "
        f"{_day(last[0])}, latest {last[1]} ({last[2]})."
    ]
    if baseline is not None:
        parts.append(f"Baseline {baseline}{f' ({baseline_note})' if baseline_note else ''}.")
    if dosings:
        parts.append(
            f"{len(dosings)} dosing session{'s' if len(dosings) != 1 else ''} marked, "
            f"the first on {_day(min(dosings))}."
        )
    return Chart(
        id=id,
        title=f"{instrument.short_name} scores over time",
        description=" ".join(parts),
        y_min=instrument.min_total,
        y_max=instrument.max_total,
        points=[Point(at, total, band) for at, total, band in scores],
        bands=instrument_bands(instrument),
        markers=list(dosings),
        rules=rules,
        y_label=instrument.short_name,
    )
