"""Bounds on the dates a person or an API caller types about a client's care (issue 12,
decision 0027).

One rule for every such field: a date lies on or after the start of what it is about (the
client's birth, and the record, course, referral or prescription it belongs to) and no later
than today, or, for the few dates that are legitimately ahead (a scheduled evaluation, an
assessment's due date, a licence's expiry), no later than a fixed horizon after today.
Callers choose the lower bound for each field, pass `today` (the practice's clinical date)
and turn a problem into a field error. Nothing here reads a clock or imports Django.

Messages name no date: a birth date or a date of service is PHI, and the message may be
logged or shown to someone else.
"""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from kapflow.clinical.reasons import Reason

# No record kapflow holds is about anything before 1900: the floor for every date, so a field
# with no other lower bound (a licence's issue date) still refuses year 1.
FLOOR = date(1900, 1, 1)

# How far ahead a planned date may lie, in years. Two years covers a licence renewal cycle,
# an assessment's due date and an evaluation's booking; anything later is a typing slip
# (9999-12-31).
HORIZON_YEARS = 2


class DateKind(StrEnum):
    """What a date records, which decides its upper bound."""

    HAPPENED = "happened"  # a session, a signature, a dose, a fill: no later than today
    PLANNED = "planned"  # a due date, a scheduled evaluation, an expiry: up to the horizon
    BIRTH = "birth"  # a date of birth: from FLOOR to today


@dataclass(frozen=True)
class Start:
    """A lower bound and the words that name it ("the course opened")."""

    on: date
    what: str


def date_problem(
    value: date,
    *,
    kind: DateKind,
    today: date,
    born: date | None = None,
    starts: tuple[Start, ...] = (),
    horizon_years: int = HORIZON_YEARS,
) -> Reason | None:
    """The first bound `value` breaks, or None.

    Lower bounds, in order: FLOOR, the client's birth (`born`), then each of `starts` (the
    record, course, referral or prescription the date belongs to). Upper bound: `today` for
    HAPPENED and BIRTH, the same day `horizon_years` after today for PLANNED. Units: calendar
    days in the practice's zone; every bound is inclusive."""
    if value < FLOOR:
        return Reason("date.too_early", f"Enter a date from {FLOOR.year} on.")
    if born is not None and kind is not DateKind.BIRTH and value < born:
        return Reason("date.before_birth", "This date is before the client's date of birth.")
    for start in starts:
        if value < start.on:
            return Reason("date.before_start", f"This date is before {start.what}.")
    if kind is DateKind.PLANNED:
        if value > years_after(today, horizon_years):
            ahead = "1 year" if horizon_years == 1 else f"{horizon_years} years"
            return Reason("date.too_far", f"Choose a date at most {ahead} ahead.")
        return None
    if value > today:
        if kind is DateKind.BIRTH:
            return Reason("date.future", "A date of birth cannot be in the future.")
        return Reason("date.future", "This date cannot be in the future.")
    return None


def years_after(day: date, years: int) -> date:
    """The same calendar day `years` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
