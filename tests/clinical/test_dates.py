"""kapflow.clinical.dates: the bounds on a date typed about a client's care (no database)."""

from datetime import date, timedelta

import pytest

from kapflow.clinical.dates import FLOOR, DateKind, Start, date_problem, years_after

TODAY = date(2026, 6, 15)
BORN = date(1985, 6, 1)
OPENED = Start(date(2026, 1, 10), "the course opened")
DAY = timedelta(days=1)


def code(value, kind=DateKind.HAPPENED, **kwargs):
    found = date_problem(value, kind=kind, today=TODAY, **{"born": BORN, **kwargs})
    return found.code if found else None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(1, 1, 1), "date.too_early"),
        (FLOOR - DAY, "date.too_early"),
        (BORN - DAY, "date.before_birth"),
        (OPENED.on - DAY, "date.before_start"),
        (OPENED.on, None),
        (TODAY, None),
        (TODAY + DAY, "date.future"),
        (date(9999, 12, 31), "date.future"),
    ],
)  # fmt: skip
def test_a_date_that_happened_lies_between_its_start_and_today(value, expected):
    assert code(value, starts=(OPENED,)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(1, 1, 1), "date.too_early"),
        (OPENED.on - DAY, "date.before_start"),
        (OPENED.on, None),
        (TODAY, None),
        (TODAY + DAY, None),
        (date(2028, 6, 15), None),
        (date(2028, 6, 16), "date.too_far"),
        (date(9999, 12, 31), "date.too_far"),
    ],
)  # fmt: skip
def test_a_planned_date_lies_between_its_start_and_two_years_ahead(value, expected):
    assert code(value, DateKind.PLANNED, starts=(OPENED,)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(1, 1, 1), "date.too_early"),
        (FLOOR - DAY, "date.too_early"),
        (FLOOR, None),
        (TODAY, None),
        (TODAY + DAY, "date.future"),
        (date(9999, 12, 31), "date.future"),
    ],
)  # fmt: skip
def test_a_date_of_birth_lies_between_1900_and_today(value, expected):
    assert code(value, DateKind.BIRTH, born=None) == expected


def test_every_start_bounds_in_turn_and_the_message_names_it():
    decision = Start(date(2026, 3, 1), "the eligibility decision")
    found = date_problem(
        date(2026, 2, 1), kind=DateKind.HAPPENED, today=TODAY, starts=(OPENED, decision)
    )
    assert found.code == "date.before_start"
    assert found.message == "This date is before the eligibility decision."


def test_messages_name_no_date():
    found = [
        date_problem(v, kind=k, today=TODAY, born=BORN, starts=(OPENED,))
        for v, k in [
            (BORN - DAY, DateKind.HAPPENED), (OPENED.on - DAY, DateKind.HAPPENED),
            (TODAY + DAY, DateKind.HAPPENED), (date(9999, 1, 1), DateKind.PLANNED),
        ]
    ]  # fmt: skip
    for problem in found:
        assert not any(ch.isdigit() for ch in problem.message.replace("2 years", ""))


def test_a_horizon_can_be_set_in_years():
    assert code(date(2031, 6, 15), DateKind.PLANNED, horizon_years=5) is None
    assert code(date(2031, 6, 16), DateKind.PLANNED, horizon_years=5) == "date.too_far"
    assert years_after(date(2028, 2, 29), 1) == date(2029, 2, 28)
