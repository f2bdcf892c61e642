"""The deadline and denial grounds of 45 CFR 164.526, pure (kapflow.clinical.amendments)."""

import datetime as dt

from kapflow.amendments.models import DenialBasis
from kapflow.clinical import amendments as rules

RECEIVED = dt.date(2026, 3, 1)


def test_a_request_is_due_60_days_after_receipt():
    assert rules.due_date(RECEIVED, extended=False) == dt.date(2026, 4, 30)


def test_the_one_extension_adds_30_days():
    assert rules.due_date(RECEIVED, extended=True) == dt.date(2026, 5, 30)


def test_an_extension_is_allowed_up_to_the_60th_day():
    assert rules.extension_refusal(RECEIVED, extended=False, today=dt.date(2026, 4, 30)) is None


def test_an_extension_is_refused_after_the_60_days():
    refusal = rules.extension_refusal(RECEIVED, extended=False, today=dt.date(2026, 5, 1))
    assert refusal and "60 days" in refusal


def test_a_second_extension_is_refused():
    refusal = rules.extension_refusal(RECEIVED, extended=True, today=RECEIVED)
    assert refusal and "once" in refusal


def test_a_request_is_overdue_from_the_day_after_its_due_date():
    due = dt.date(2026, 4, 30)
    assert not rules.is_overdue(due, today=due)
    assert rules.is_overdue(due, today=due + dt.timedelta(days=1))
    assert rules.days_left(due, today=dt.date(2026, 4, 28)) == 2


def test_the_denial_grounds_are_the_four_of_164_526_a_2():
    assert [b.source for b in rules.DENIAL_BASES] == [
        f"45 CFR 164.526(a)(2)({n})" for n in ("i", "ii", "iii", "iv")
    ]
    assert set(DenialBasis.values) == set(rules.DENIAL_BASIS_BY_CODE)
