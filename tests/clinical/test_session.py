"""The dosing session's pure rules: in-session thresholds at their edges, the recheck
schedule, each discharge criterion and the billing split. No database."""

from datetime import UTC, datetime, timedelta

import pytest

from kapflow.clinical.session import (
    DischargeFacts,
    Reading,
    SessionPolicy,
    TimedReading,
    billing_split,
    discharge_reasons,
    session_minutes,
    vitals_due,
    vitals_flags,
)

DOSE = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _codes(flags):
    return [f.code for f in flags]


# ---- thresholds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reading", "codes"),
    [
        (Reading(bp_systolic=179, bp_diastolic=99), []),
        (Reading(bp_systolic=180, bp_diastolic=99), ["vitals.systolic_high"]),
        (Reading(bp_systolic=179, bp_diastolic=100), ["vitals.diastolic_high"]),
        (
            Reading(bp_systolic=181, bp_diastolic=101),
            ["vitals.systolic_high", "vitals.diastolic_high"],
        ),
        (Reading(heart_rate=110), []),
        (Reading(heart_rate=111), ["vitals.heart_rate_high"]),
        (Reading(heart_rate=50), []),
        (Reading(heart_rate=49), ["vitals.heart_rate_low"]),
        (Reading(spo2=92), []),
        (Reading(spo2=91), ["vitals.spo2_low"]),
        (Reading(), []),
    ],
)
def test_vitals_flags_fire_at_their_edges(reading, codes):
    assert _codes(vitals_flags(reading)) == codes


def test_vitals_flag_names_the_rule_that_fired():
    (flag,) = vitals_flags(Reading(bp_systolic=190, bp_diastolic=80))
    assert flag.rule == "systolic >= 180 mmHg"
    assert "190" in flag.message


def test_vitals_flags_follow_the_practice_policy():
    policy = SessionPolicy(bp_systolic_flag=160, heart_rate_high=100, spo2_low=94)
    flags = vitals_flags(Reading(bp_systolic=160, heart_rate=101, spo2=93), policy)
    assert _codes(flags) == ["vitals.systolic_high", "vitals.heart_rate_high", "vitals.spo2_low"]
    assert [f.rule for f in flags] == [
        "systolic >= 160 mmHg",
        "heart rate > 100 bpm",
        "SpO2 < 94 %",
    ]


# ---- rechecks -----------------------------------------------------------------------------


def test_nothing_is_due_before_the_dose():
    schedule = vitals_due(None, [], DOSE)
    assert schedule.rechecks == [] and schedule.next_due is None and not schedule.overdue


def test_rechecks_due_at_40_and_120_minutes_after_the_dose():
    schedule = vitals_due(DOSE, [], DOSE + 10 * MIN)
    assert [r.due_at for r in schedule.rechecks] == [DOSE + 40 * MIN, DOSE + 120 * MIN]
    assert schedule.next_due.minutes_after_dose == 40 and not schedule.overdue


def test_recheck_overdue_only_after_its_time():
    assert not vitals_due(DOSE, [], DOSE + 40 * MIN).overdue
    assert vitals_due(DOSE, [], DOSE + 41 * MIN).rechecks[0].overdue


def test_reading_a_little_early_counts_for_the_recheck():
    schedule = vitals_due(DOSE, [DOSE + 35 * MIN], DOSE + 50 * MIN)
    assert schedule.rechecks[0].done_at == DOSE + 35 * MIN
    assert schedule.next_due.minutes_after_dose == 120


def test_reading_too_early_does_not_count():
    schedule = vitals_due(DOSE, [DOSE + 34 * MIN], DOSE + 50 * MIN)
    assert schedule.rechecks[0].done_at is None and schedule.rechecks[0].overdue


def test_pre_dose_reading_never_counts():
    schedule = vitals_due(DOSE, [DOSE - 5 * MIN], DOSE + 50 * MIN)
    assert schedule.rechecks[0].done_at is None


def test_recheck_minutes_are_configurable():
    schedule = vitals_due(DOSE, [], DOSE, SessionPolicy(recheck_minutes=(60, 15, 60)))
    assert [r.minutes_after_dose for r in schedule.rechecks] == [15, 60]


def test_companion_visual_check_every_15_minutes_at_home():
    schedule = vitals_due(DOSE, [], DOSE + 10 * MIN, at_home=True)
    assert schedule.companion_check_due_at == DOSE + 15 * MIN and not schedule.overdue
    later = vitals_due(
        DOSE, [], DOSE + 31 * MIN, at_home=True, companion_checks_at=[DOSE + 15 * MIN]
    )
    assert later.companion_check_due_at == DOSE + 30 * MIN and later.companion_check_overdue


def test_no_companion_check_in_person():
    assert vitals_due(DOSE, [], DOSE + 90 * MIN).companion_check_due_at is None


# ---- discharge ----------------------------------------------------------------------------

LATER = DOSE + 130 * MIN


def _ready(**changes):
    values = {
        "at_home": False, "dose_at": DOSE, "alert_oriented": True, "walks_steadily": True,
        "escort_present": True, "readings": [(DOSE + 40 * MIN, False), (DOSE + 120 * MIN, False)],
    }  # fmt: skip
    values.update(changes)
    return DischargeFacts(**values)


def _reason_codes(facts, now=LATER, policy=None):
    return [r.code for r in discharge_reasons(facts, now=now, policy=policy)]


def test_discharge_ready_when_every_criterion_is_met():
    assert _reason_codes(_ready()) == []


def test_discharge_lists_every_unmet_criterion_and_none_is_overridable():
    facts = DischargeFacts(at_home=False, dose_at=DOSE)
    reasons = discharge_reasons(facts, now=DOSE + 10 * MIN)
    assert [r.code for r in reasons] == [
        "discharge.not_alert", "discharge.not_walking", "discharge.no_driver",
        "discharge.vitals_missing", "discharge.observation_short",
    ]  # fmt: skip
    assert not any(r.overridable for r in reasons)


def test_discharge_needs_alert_and_oriented():
    assert _reason_codes(_ready(alert_oriented=False)) == ["discharge.not_alert"]


def test_discharge_needs_steady_walking():
    assert _reason_codes(_ready(walks_steadily=False)) == ["discharge.not_walking"]


def test_discharge_in_person_needs_a_driver():
    assert _reason_codes(_ready(escort_present=False)) == ["discharge.no_driver"]


def test_discharge_at_home_needs_the_companion():
    assert _reason_codes(_ready(at_home=True, escort_present=False)) == ["discharge.no_companion"]


def test_discharge_needs_a_dose():
    assert "discharge.no_dose" in _reason_codes(_ready(dose_at=None))


def test_discharge_needs_vitals_after_the_dose():
    facts = _ready(readings=[(DOSE - 10 * MIN, False)])
    assert _reason_codes(facts) == ["discharge.vitals_missing"]


def test_discharge_refused_while_latest_vitals_flagged():
    facts = _ready(readings=[(DOSE + 40 * MIN, False), (DOSE + 120 * MIN, True)])
    assert _reason_codes(facts) == ["discharge.vitals_flagged"]


def test_discharge_allowed_once_an_unflagged_reading_follows_the_flagged_one():
    facts = _ready(readings=[(DOSE + 40 * MIN, True), (DOSE + 60 * MIN, False)])
    assert _reason_codes(facts) == []


def test_discharge_refused_when_the_unflagged_reading_is_not_after_the_flagged_one():
    same = DOSE + 60 * MIN
    facts = _ready(readings=[(same, False), (same, True)])
    assert _reason_codes(facts) == ["discharge.vitals_flagged"]


# ---- each parameter flagged needs its own later in-range reading (review defect 2) ---------


def _at(minutes, **values):
    return TimedReading.of(DOSE + minutes * MIN, Reading(**values))


FULL_OK = {"bp_systolic": 120, "bp_diastolic": 80, "heart_rate": 72, "spo2": 98}


def _vitals_reason(readings):
    reasons = [
        r for r in discharge_reasons(_ready(readings=readings), now=LATER)
        if r.code == "discharge.vitals_flagged"
    ]  # fmt: skip
    return reasons[0].message if reasons else None


@pytest.mark.parametrize(
    ("flagged", "other", "recheck", "words"),
    [
        ({"bp_systolic": 200, "bp_diastolic": 115}, {"spo2": 98}, {"bp_systolic": 130,
         "bp_diastolic": 85}, "Blood pressure"),
        ({"heart_rate": 130}, {"bp_systolic": 120, "bp_diastolic": 80}, {"heart_rate": 80},
         "Heart rate"),
        ({"heart_rate": 40}, {"spo2": 97}, {"heart_rate": 60}, "Heart rate"),
        ({"spo2": 85}, {"heart_rate": 80}, {"spo2": 96}, "SpO2"),
    ],
)  # fmt: skip
def test_a_flagged_parameter_is_cleared_only_by_its_own_later_in_range_reading(
    flagged, other, recheck, words
):
    # A later reading of other parameters only does not clear the flag.
    readings = [_at(40, **flagged), _at(60, **other)]
    message = _vitals_reason(readings)
    assert message is not None and message.startswith(words)
    # A later in-range reading of the same parameter does.
    assert _vitals_reason([*readings, _at(90, **recheck)]) is None


def test_discharge_names_every_parameter_still_unresolved():
    readings = [
        _at(40, bp_systolic=200, bp_diastolic=115, heart_rate=130, spo2=85),
        _at(60, heart_rate=80),
    ]
    message = _vitals_reason(readings)
    assert message.startswith("Blood pressure and SpO2 were outside the thresholds")
    assert "heart rate" not in message.lower()


def test_a_same_time_reading_of_the_parameter_does_not_clear_it():
    assert _vitals_reason([_at(40, spo2=85), _at(40, spo2=97)]) is not None


def test_a_full_in_range_reading_after_the_flag_clears_every_parameter():
    readings = [_at(40, bp_systolic=200, bp_diastolic=115, heart_rate=130), _at(60, **FULL_OK)]
    assert _vitals_reason(readings) is None


def test_discharge_observation_time_edge():
    assert _reason_codes(_ready(), now=DOSE + 120 * MIN) == []
    assert _reason_codes(_ready(), now=DOSE + 119 * MIN) == ["discharge.observation_short"]


def test_discharge_observation_time_is_configurable_per_delivery():
    policy = SessionPolicy(observation_minutes_in_person=150, observation_minutes_at_home=90)
    assert _reason_codes(_ready(), policy=policy) == ["discharge.observation_short"]
    at_home = _ready(at_home=True)
    assert _reason_codes(at_home, now=DOSE + 121 * MIN, policy=policy) == []


# ---- billing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "first", "rest", "units"),
    [
        (0, 0, 0, 0),
        (45, 45, 0, 0),
        (60, 60, 0, 0),
        (90, 60, 30, 0),
        (91, 60, 31, 1),
        (150, 60, 90, 1),
        (151, 60, 91, 2),
        (180, 60, 120, 2),
        (-5, 0, 0, 0),
    ],
)
def test_billing_split_first_hour_and_the_rest(minutes, first, rest, units):
    split = billing_split(minutes)
    assert (split.first_hour_minutes, split.additional_minutes, split.additional_hour_units) == (
        first, rest, units,
    )  # fmt: skip


def test_session_minutes_are_whole_and_never_negative():
    assert session_minutes(DOSE, DOSE + timedelta(minutes=150, seconds=59)) == 150
    assert session_minutes(DOSE, DOSE - MIN) == 0


# ---- time present in a session room (billing, decision 0049) ---------------------------------


def test_present_minutes_counts_overlaps_once_and_only_inside_the_session():
    from datetime import UTC, datetime, timedelta

    from kapflow.clinical.session import present_minutes

    t0 = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)

    def m(n):
        return t0 + timedelta(minutes=n)

    # Joined 10 minutes before the start (not counted), dropped at 40, back 55-100, a second
    # device 90-120 overlapping (counted once), and a visit after the end (not counted).
    visits = [(m(-10), m(40)), (m(55), m(100)), (m(90), m(120)), (m(200), m(210))]
    assert present_minutes(visits, m(0), m(150)) == 40 + 65
    assert present_minutes([], m(0), m(150)) == 0
    assert present_minutes([(m(0), m(150))], m(0), m(150)) == 150
    assert present_minutes([(m(10), m(20)), (m(20), m(30))], m(0), m(150)) == 20
    assert present_minutes([(m(0), m(0) + timedelta(seconds=119))], m(0), m(150)) == 1
