"""Where an appointment sits on the calendar grid: pure Python, no Django, no clock.

The grid has one column per local day and one row per `STEP` minutes of wall-clock time in
one zone (the viewer's, decision 0022). An instant is placed at its wall-clock time, so
"10:00" sits on the 10:00 row on every day, including the days clocks change:

- An appointment crossing midnight is cut into one piece per day it touches; a piece that
  runs on past midnight ends at the bottom of its day (`continues_after`), and the next
  day's piece starts at 00:00 (`continues_before`).
- On the spring-forward day the skipped hour (02:00-03:00 in the US) has rows like every
  other day, but they name no time that happened: `skipped_spans` lists them so the page
  shades them, and an appointment from 01:30 to 03:30 wall time (one real hour) is drawn
  from the 01:30 row to the 03:30 row, across the shading, as its label reads.
- On the fall-back day the repeated hour has one set of rows. A piece whose wall-clock end
  is not after its wall-clock start (01:30 first time to 01:15 second time) is drawn for
  as long as it lasts from its start row, so it never vanishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kapflow.clinical.scheduling import is_nonexistent, to_aware

STEP = 15  # minutes per grid row
DAY_MINUTES = 24 * 60


def day_bounds(day: date, zone_name: str) -> tuple[datetime, datetime]:
    """The local day's first instant and the next day's, in UTC (23 or 25 hours apart on
    the days clocks change)."""
    start = to_aware(datetime.combine(day, time.min), zone_name).astimezone(UTC)
    end = to_aware(datetime.combine(day + timedelta(days=1), time.min), zone_name).astimezone(UTC)
    return start, end


def _wall_minutes(moment: datetime, zone_name: str) -> int:
    local = moment.astimezone(ZoneInfo(zone_name))
    return local.hour * 60 + local.minute


@dataclass(frozen=True)
class Piece:
    """The part of [starts_at, ends_at) that falls on one local day, in wall-clock minutes
    from that day's midnight (`end_minute` at most 1440)."""

    day: date
    start_minute: int
    end_minute: int
    continues_before: bool
    continues_after: bool

    @property
    def first_row(self) -> int:
        return self.start_minute // STEP

    @property
    def last_row(self) -> int:
        """One past the last row it covers (at least one row)."""
        return max(-(-self.end_minute // STEP), self.first_row + 1)


def day_piece(starts_at: datetime, ends_at: datetime, day: date, zone_name: str) -> Piece | None:
    """The piece of the interval on `day` in `zone_name`, or None when it does not touch
    the day (half-open: an appointment ending at midnight has no piece on the next day)."""
    day_start, day_end = day_bounds(day, zone_name)
    start, end = max(starts_at, day_start), min(ends_at, day_end)
    if start >= end:
        return None
    start_minute = 0 if start == day_start else _wall_minutes(start, zone_name)
    end_minute = DAY_MINUTES if end == day_end else _wall_minutes(end, zone_name)
    if end_minute <= start_minute:
        # The fall-back hour: the wall clock went back inside the piece.
        elapsed = int((end - start).total_seconds() // 60)
        end_minute = min(start_minute + elapsed, DAY_MINUTES)
    return Piece(day, start_minute, end_minute, starts_at < day_start, ends_at > day_end)


def pieces(starts_at: datetime, ends_at: datetime, days: list[date], zone_name: str) -> list:
    """Every piece of the interval on the given days, in day order."""
    found = (day_piece(starts_at, ends_at, d, zone_name) for d in days)
    return [p for p in found if p is not None]


def skipped_spans(day: date, zone_name: str) -> list[tuple[int, int]]:
    """Wall-clock minutes of `day` that did not happen (the spring-forward gap), as
    (start, end) minute pairs; empty on every other day."""
    spans: list[tuple[int, int]] = []
    for minute in range(0, DAY_MINUTES, STEP):
        local = datetime.combine(day, time(minute // 60, minute % 60))
        if is_nonexistent(local, zone_name):
            if spans and spans[-1][1] == minute:
                spans[-1] = (spans[-1][0], minute + STEP)
            else:
                spans.append((minute, minute + STEP))
    return spans


def lanes(spans: list[tuple[int, int]]) -> tuple[list[int], int]:
    """Side-by-side lanes for overlapping (start, end) spans of one day, in input order:
    each span gets the first lane free at its start. Returns (lane per span, lanes used)."""
    ends: list[int] = []
    out = [0] * len(spans)
    for index in sorted(range(len(spans)), key=lambda i: (spans[i][0], -spans[i][1])):
        start, end = spans[index]
        for lane, lane_end in enumerate(ends):
            if lane_end <= start:
                ends[lane] = end
                out[index] = lane
                break
        else:
            ends.append(end)
            out[index] = len(ends) - 1
    return out, max(len(ends), 1)


def hour_range(minutes: list[tuple[int, int]], *, first: int = 8, last: int = 18) -> tuple:
    """(first hour, hour after the last) the grid shows: the working day by default,
    widened to hold every piece given (wall-clock minute pairs)."""
    for start, end in minutes:
        first = min(first, start // 60)
        last = max(last, -(-end // 60))
    return first, min(last, 24)
