"""kapflow.clinical.prescribing: Schedule III limits, the DEA check digit, dose ranges,
refills and daily adherence. One test per rule; no database."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapflow.clinical import prescribing as rx

TODAY = date(2026, 11, 25)
GOOD = rx.PrescriptionDraft(
    product="ketamine_sl_rdt", frequency=rx.Frequency.PER_SESSION, strength_mg=100,
    dose_mg=200, quantity=4, refills=1, written_on=TODAY, pathway="higher_dose", at_home=True,
)  # fmt: skip


def codes(draft, **changes):
    from dataclasses import replace

    return [r.code for r in rx.prescription_reasons(replace(draft, **changes), today=TODAY)]


def test_a_usual_prescription_has_no_reasons():
    assert codes(GOOD) == []


def test_more_than_five_refills_is_refused_and_hard():
    reasons = rx.prescription_reasons(
        rx.PrescriptionDraft(**{**GOOD.__dict__, "refills": 6}), today=TODAY
    )
    assert [r.code for r in reasons] == ["prescription.too_many_refills"]
    assert not reasons[0].overridable


def test_five_refills_is_allowed():
    assert codes(GOOD, refills=5) == []


def test_unknown_product_is_refused():
    assert codes(GOOD, product="ketamine_gummies") == ["prescription.product_unknown"]


def test_a_date_written_in_the_future_is_refused():
    assert codes(GOOD, written_on=TODAY + timedelta(days=1)) == ["prescription.future_date"]


def test_an_in_clinic_product_cannot_go_home():
    found = codes(GOOD, product="ketamine_inj_50", strength_mg=50, dose_mg=100)
    assert found == ["prescription.in_clinic_only"]


def test_an_in_clinic_product_is_fine_in_the_office():
    assert codes(GOOD, product="ketamine_inj_50", strength_mg=50, dose_mg=100, at_home=False) == []


def test_the_low_dose_pathway_is_prescribed_daily():
    assert codes(GOOD, pathway="low_dose") == ["prescription.frequency_pathway"]
    assert codes(GOOD, pathway="low_dose", frequency=rx.Frequency.DAILY, dose_mg=100) == []


def test_the_higher_dose_pathway_is_prescribed_per_session():
    found = codes(GOOD, frequency=rx.Frequency.DAILY, dose_mg=100)
    assert found == ["prescription.frequency_pathway"]


@pytest.mark.parametrize(("dose", "warned"), [(99, True), (100, False), (400, False), (401, True)])
def test_session_doses_outside_the_usual_range_warn(dose, warned):
    reasons = rx.prescription_reasons(
        rx.PrescriptionDraft(**{**GOOD.__dict__, "dose_mg": dose, "strength_mg": 50}), today=TODAY
    )
    assert [r.code for r in reasons] == (["prescription.dose_unusual"] if warned else [])
    assert all(r.overridable for r in reasons)


def test_a_dose_below_one_tablet_warns():
    found = codes(GOOD, strength_mg=100, dose_mg=50, pathway="low_dose",
                  frequency=rx.Frequency.DAILY)  # fmt: skip
    assert found == ["prescription.dose_below_strength"]


@pytest.mark.parametrize(
    ("written", "expires"),
    [
        (date(2026, 1, 15), date(2026, 7, 15)),
        (date(2026, 8, 31), date(2027, 2, 28)),
        (date(2027, 8, 31), date(2028, 2, 29)),
        (date(2026, 12, 1), date(2027, 6, 1)),
    ],
)
def test_fills_are_allowed_for_six_months_to_the_same_day(written, expires):
    assert rx.expires_on(written) == expires


@pytest.mark.parametrize(
    ("number", "valid"),
    [("AB1234563", True), ("ab1234563", True), ("AB1234564", False), ("A11234563", False),
     ("AB123456", False), ("", False), ("BW1234563", True)],
)  # fmt: skip
def test_the_dea_number_check_digit(number, valid):
    assert rx.dea_number_valid(number) is valid


def test_a_refill_is_due_at_the_threshold():
    assert rx.refill_due(1, threshold=1, fills_left=2)
    assert not rx.refill_due(2, threshold=1, fills_left=2)
    assert rx.refill_due(2, threshold=2, fills_left=0)


def test_adherence_counts_missed_days_but_not_today_before_it_is_logged():
    start = TODAY - timedelta(days=6)
    taken = {start + timedelta(days=i) for i in (0, 1, 3, 5)}
    result = rx.daily_adherence(taken, start=start, today=TODAY)
    assert (result.expected, result.taken) == (6, 4)
    assert result.missed == (start + timedelta(days=2), start + timedelta(days=4))
    assert rx.daily_adherence(taken | {TODAY}, start=start, today=TODAY).expected == 7


def test_adherence_before_the_first_fill_expects_nothing():
    result = rx.daily_adherence(set(), start=TODAY + timedelta(days=1), today=TODAY)
    assert (result.expected, result.rate) == (0, None)


@given(st.sets(st.integers(min_value=0, max_value=60)), st.integers(min_value=0, max_value=60))
def test_adherence_never_counts_more_than_expected(offsets, since):
    start = TODAY - timedelta(days=since)
    taken = {TODAY - timedelta(days=o) for o in offsets}
    result = rx.daily_adherence(taken, start=start, today=TODAY)
    assert 0 <= result.taken <= result.expected <= 28
    assert len(result.missed) == result.expected - result.taken


# ---- what the supply of doses waits for (issue 17) -----------------------------------------


def _supply(dispensed=0, used=0, fills=0, refills=0):
    return rx.Supply(dispensed=dispensed, used=used, fills=fills, refills=refills)


def test_no_active_prescription_means_writing_one():
    assert rx.supply_step([]) == (rx.SupplyStep.PRESCRIBE, None)


def test_a_prescription_not_filled_waits_for_its_fill_not_a_new_prescription():
    assert rx.supply_step([_supply()]) == (rx.SupplyStep.FILL, 0)


def test_a_dose_left_needs_nothing():
    assert rx.supply_step([_supply(dispensed=2, used=1, fills=1)]) == (rx.SupplyStep.NONE, None)


def test_every_dose_used_with_a_refill_allowed_means_the_next_fill():
    used_up = _supply(dispensed=2, used=2, fills=1, refills=1)
    assert rx.supply_step([used_up]) == (rx.SupplyStep.REFILL, 0)


def test_every_fill_used_means_a_new_prescription():
    spent = _supply(dispensed=2, used=2, fills=1, refills=0)
    assert rx.supply_step([spent]) == (rx.SupplyStep.PRESCRIBE, None)


def test_the_first_prescription_that_may_still_be_filled_is_the_one():
    spent = _supply(dispensed=2, used=2, fills=1, refills=0)
    assert rx.supply_step([spent, _supply()]) == (rx.SupplyStep.FILL, 1)
    assert rx.supply_step([spent, _supply(dispensed=1, fills=1)]) == (rx.SupplyStep.NONE, None)
