"""Enforce kapflow.clinical.dates in the services: read "today" and each lower bound as the
practice's clinical date (decision 0027), ask the rule, and raise the field error.

Each use case's service calls `check_date` (or `check_instant` for a date and time) before it
writes anything, so a refused date leaves nothing half-saved. The rule decides; this module
only converts and raises.
"""

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from kapflow.clinical.dates import HORIZON_YEARS, DateKind, Start, date_problem
from kapflow.core import clock

__all__ = ["DateKind", "Start", "check_date", "check_instant", "start_of"]


def start_of(organisation, at: datetime, what: str) -> Start:
    """A lower bound: the practice's day of instant `at` (a record's creation, a course's
    opening, a referral's sending), named by `what`."""
    return Start(clock.clinical_date(organisation, at), what)


def check_date(
    field: str,
    value: date | None,
    *,
    organisation,
    kind: DateKind,
    born: date | None = None,
    starts: tuple[Start, ...] = (),
    now: datetime | None = None,
    horizon_years: int = HORIZON_YEARS,
) -> None:
    """A ValidationError naming `field` unless `value` is within its bounds (None passes:
    whether a date is required is the caller's rule)."""
    if value is None:
        return
    today = clock.clinical_date(organisation, now)
    problem = date_problem(
        value, kind=kind, today=today, born=born, starts=starts, horizon_years=horizon_years
    )
    if problem is not None:
        raise ValidationError({field: [ValidationError(problem.message, code=problem.code)]})


def check_instant(
    field: str,
    value: datetime | None,
    *,
    organisation,
    kind: DateKind,
    born: date | None = None,
    starts: tuple[Start, ...] = (),
    now: datetime | None = None,
    horizon_years: int = HORIZON_YEARS,
) -> datetime | None:
    """As `check_date`, for a date and time: its day is read in the practice's zone. Returns
    the value made aware (a naive value is read in the active zone)."""
    if value is None:
        return None
    try:
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        day = clock.clinical_date(organisation, value)
    except (OverflowError, ValueError):
        # At the ends of the calendar a zone's offset pushes the instant past year 1 or 9999.
        raise ValidationError({field: ["Enter a real date and time."]}) from None
    check_date(
        field, day, organisation=organisation, kind=kind, born=born, starts=starts, now=now,
        horizon_years=horizon_years,
    )  # fmt: skip
    return value
