"""Edges the mutation run of issue 20 found unguarded: each case here fails if the rule it
names is changed in the way written beside it (computed by hand, not by the rule itself)."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from kapflow.clinical import prescribing as rx
from kapflow.clinical.course import DoseDay, deadlines, dosing_reasons
from kapflow.clinical.eligibility import MedicationEntry, eligibility_screen
from kapflow.clinical.measurement import plan_occasions
from tests.clinical.test_course import CONDITIONS, GOOD_DAY, NOW, READY
from tests.clinical.test_eligibility import CLEAN

# ---- a prescription's six months (21 CFR 1306.22) ---------------------------------------


@pytest.mark.parametrize(
    ("written", "expires"),
    [
        # One case per month written: a July prescription runs into January of the next year
        # (month 12 of the arithmetic; `// 12` changed to `// 13` kept the same year).
        (date(2026, 1, 10), date(2026, 7, 10)),
        (date(2026, 2, 10), date(2026, 8, 10)),
        (date(2026, 3, 31), date(2026, 9, 30)),
        (date(2026, 4, 10), date(2026, 10, 10)),
        (date(2026, 5, 31), date(2026, 11, 30)),
        (date(2026, 6, 10), date(2026, 12, 10)),
        (date(2026, 7, 10), date(2027, 1, 10)),
        (date(2026, 8, 29), date(2027, 2, 28)),
        (date(2026, 9, 10), date(2027, 3, 10)),
        (date(2026, 10, 31), date(2027, 4, 30)),
        (date(2026, 11, 10), date(2027, 5, 10)),
        (date(2026, 12, 31), date(2027, 6, 30)),
    ],
)
def test_a_prescription_expires_six_months_after_it_was_written(written, expires):
    assert rx.expires_on(written) == expires
    assert rx.expires_on(written) > written


# ---- the DEA number's check digit ---------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        # 9+7+5 = 21; 2 x (8+6+4) = 36; 57 ends in 7.
        ("AB9876547", True),
        ("AB9876543", False),
        # 2+6+1 = 9; 2 x (4+8+3) = 30; 39 ends in 9.
        ("XA2468139", True),
        ("XA2468131", False),
        # 5+5+0 = 10; 2 x (5+0+0) = 10; 20 ends in 0.
        ("FM5550000", True),
        # 0+0+0 = 0; 2 x (9+9+9) = 54: ends in 4, not 0 (a check that adds the digits
        # once, or subtracts them, says otherwise).
        ("FM0909094", True),
        ("FM0909090", False),
        # 7+0+3 = 10; 2 x (1+2+4) = 14; 24 ends in 4.
        ("BS7102344", True),
        ("BS7102346", False),
    ],
)
def test_the_dea_check_digit_weighs_the_even_digits_twice(number, valid):
    assert rx.dea_number_valid(number) is valid


# ---- the clearance renewal reminder -------------------------------------------------------


def _renewal(facts):
    return [d for d in deadlines(facts, now=NOW) if d.code == "clearance.renewal"]


def test_clearance_renewal_shows_within_fourteen_days_and_is_overdue_once_past():
    # NOW is 2026-11-25 15:00 UTC; the clearance lasts until clearance_on + valid days.
    thirteen = replace(READY, clearance_on=date(2026, 6, 1), clearance_valid_days=190)
    (item,) = _renewal(thirteen)  # expires 2026-12-08 00:00, 12 d 9 h away
    assert item.due_at == datetime(2026, 12, 8, tzinfo=UTC)
    assert not item.overdue
    far = replace(READY, clearance_on=date(2026, 6, 1), clearance_valid_days=200)
    assert _renewal(far) == []  # 2026-12-18: 22 days away
    past = replace(READY, clearance_on=date(2026, 6, 1), clearance_valid_days=170)
    (late,) = _renewal(past)  # 2026-11-18
    assert late.overdue


# ---- a medicine identified by its RxNorm code ---------------------------------------------


def test_a_medicine_picked_by_rxnorm_code_is_known_whatever_its_typed_name():
    # 8123 is phenelzine (an MAOI). The typed name matches nothing in the catalogue, so only
    # the code can identify it; ignoring the code loses the interaction.
    entry = MedicationEntry("the green capsule from Dr Lee", rxcui="8123")
    found = eligibility_screen(replace(CLEAN, medications=(entry,)))
    assert [f.code for f in found] == ["interaction.maoi"]
    assert eligibility_screen(replace(CLEAN, medications=(replace(entry, rxcui=""),))) != found


# ---- the measurement schedule: before a dose, never after -----------------------------------


def test_each_occasion_opens_at_its_own_time_after_the_dose():
    start = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    dosed = start + timedelta(days=3)
    found = plan_occasions(started_at=start, dosing_times=[dosed], now=dosed + timedelta(days=45))
    opens = {o.key: o.opens_at for o in found}
    assert opens["baseline"] == start
    # The next pre-dose questionnaire opens the day after this dose, long before the next.
    assert opens["pre:2"] == dosed + timedelta(days=1)
    assert opens["week:1"] == dosed + timedelta(days=7)
    assert opens["month:1"] == dosed + timedelta(days=7 + 30)
    assert [o.key for o in found] == ["baseline", "pre:2", "week:1", "month:1"]


# ---- hard or soft, pinned per reason -------------------------------------------------------

# Written by hand from decision 0029's table: who may clear each reason by default.
SOFT = {
    "clearance.expired",  # the prescriber
    "preparation.none",  # the treating clinician
    "companion.unconfirmed",  # the treating clinician
    "vitals.bp_missing",  # the prescriber
    "vitals.bp_high",  # the prescriber
    "driver.unconfirmed",  # the treating clinician
}
DAY_FAILURES = {
    "vitals.bp_missing": {"bp_systolic": None, "bp_diastolic": None},
    "vitals.bp_high": {"bp_systolic": 182, "bp_diastolic": 101},
    "alcohol.not_attested": {"alcohol_free_24h": False},
    "driver.unconfirmed": {"driver_confirmed": False},
}


@pytest.mark.parametrize("code", sorted(CONDITIONS))
def test_each_advance_reason_is_hard_or_soft_as_the_table_says(code):
    facts = replace(READY, **CONDITIONS[code])
    (reason,) = [r for r in dosing_reasons(facts, now=NOW) if r.code == code]
    assert reason.overridable is (code in SOFT)


@pytest.mark.parametrize("code", sorted(DAY_FAILURES))
def test_each_dose_day_reason_is_hard_or_soft_as_the_table_says(code):
    day = replace(GOOD_DAY, **DAY_FAILURES[code])
    (reason,) = [r for r in dosing_reasons(READY, now=NOW, day=day) if r.code == code]
    assert reason.overridable is (code in SOFT)


def test_on_dosing_day_the_advance_reasons_stay_beside_the_days_own():
    facts = replace(READY, consent_signed=False, preparation_done=0)
    day = DoseDay(
        bp_systolic=182, bp_diastolic=101, alcohol_free_24h=False, driver_confirmed=True,
        companion_present=True,
    )  # fmt: skip
    found = sorted(r.code for r in dosing_reasons(facts, now=NOW, day=day))
    assert found == [
        "alcohol.not_attested", "consent.missing", "preparation.none", "vitals.bp_high",
    ]  # fmt: skip
