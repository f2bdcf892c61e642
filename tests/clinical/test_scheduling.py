"""Pure scheduling rules: clashes, recurrence across DST, working hours, integration window."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from kapflow.clinical import scheduling as rules

NY = "America/New_York"
LA = "America/Los_Angeles"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone_name, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone_name))


# ---- overlaps and clashes -------------------------------------------------------------------


def test_touching_intervals_do_not_overlap():
    assert not rules.overlaps(
        utc(2026, 3, 2, 10), utc(2026, 3, 2, 11), utc(2026, 3, 2, 11), utc(2026, 3, 2, 12)
    )
    assert not rules.overlaps(
        utc(2026, 3, 2, 11), utc(2026, 3, 2, 12), utc(2026, 3, 2, 10), utc(2026, 3, 2, 11)
    )


@pytest.mark.parametrize(
    ("b_start", "b_end"),
    [
        ((10, 30), (11, 30)),  # overlaps the end
        ((9, 30), (10, 1)),  # overlaps the start by a minute
        ((10, 15), (10, 45)),  # inside
        ((9, 0), (12, 0)),  # around
        ((10, 0), (11, 0)),  # the same
    ],
)
def test_overlapping_intervals_clash(b_start, b_end):
    b = rules.Busy("Dr A", utc(2026, 3, 2, *b_start), utc(2026, 3, 2, *b_end))
    found = rules.clash_reasons(utc(2026, 3, 2, 10), utc(2026, 3, 2, 11), [b], zone_name=NY)
    assert [r.code for r in found] == ["clash.person"]


def test_clash_reasons_list_every_clash_in_time_order_in_the_zone():
    busy = [
        rules.Busy("Room Cedar", utc(2026, 3, 2, 16), utc(2026, 3, 2, 17), kind="room"),
        rules.Busy("Dr A", utc(2026, 3, 2, 15), utc(2026, 3, 2, 16)),
        rules.Busy("Dr B", utc(2026, 3, 2, 17), utc(2026, 3, 2, 18)),  # touches: no clash
    ]
    found = rules.clash_reasons(utc(2026, 3, 2, 15, 30), utc(2026, 3, 2, 17), busy, zone_name=NY)
    assert [r.code for r in found] == ["clash.person", "clash.room"]
    assert found[0].message == "Dr A already has an appointment Mon 2 Mar 2026, 10:00 to 11:00 EST."
    assert found[1].message == "Room Cedar is already booked Mon 2 Mar 2026, 11:00 to 12:00 EST."
    assert all(not r.overridable for r in found)


def test_no_clash_with_nothing_booked():
    assert rules.clash_reasons(utc(2026, 3, 2, 10), utc(2026, 3, 2, 11), [], zone_name=NY) == []


# ---- local time at the DST edges ------------------------------------------------------------


def test_spring_forward_gap_moves_forward_by_the_gap():
    # 8 March 2026, 02:30 does not exist in New York: clocks go from 02:00 EST to 03:00 EDT.
    moment = rules.to_aware(datetime(2026, 3, 8, 2, 30), NY)
    assert (moment.hour, moment.minute, moment.tzname()) == (3, 30, "EDT")
    assert moment.astimezone(UTC) == utc(2026, 3, 8, 7, 30)
    assert rules.is_nonexistent(datetime(2026, 3, 8, 2, 30), NY)
    assert not rules.is_nonexistent(datetime(2026, 3, 8, 3, 30), NY)


def test_fall_back_picks_the_first_occurrence():
    # 1 November 2026, 01:30 happens twice in New York: first EDT, then EST.
    moment = rules.to_aware(datetime(2026, 11, 1, 1, 30), NY)
    assert moment.tzname() == "EDT"
    assert moment.astimezone(UTC) == utc(2026, 11, 1, 5, 30)
    assert rules.is_ambiguous(datetime(2026, 11, 1, 1, 30), NY)
    assert not rules.is_ambiguous(datetime(2026, 11, 1, 3, 0), NY)


# ---- recurrence -----------------------------------------------------------------------------


def test_weekly_series_stays_at_ten_local_across_spring_forward():
    starts = rules.expand(datetime(2026, 3, 2, 10), NY, rules.Recurrence(count=3))
    assert starts == [utc(2026, 3, 2, 15), utc(2026, 3, 9, 14), utc(2026, 3, 16, 14)]
    assert {s.astimezone(ZoneInfo(NY)).hour for s in starts} == {10}


def test_weekly_series_stays_at_ten_local_across_fall_back():
    starts = rules.expand(datetime(2026, 10, 26, 10), NY, rules.Recurrence(count=2))
    assert starts == [utc(2026, 10, 26, 14), utc(2026, 11, 2, 15)]


def test_series_in_the_gap_moves_forward_only_on_the_gap_day():
    starts = rules.expand(datetime(2026, 3, 1, 2, 30), NY, rules.Recurrence(count=3))
    hours = [s.astimezone(ZoneInfo(NY)).strftime("%m-%d %H:%M") for s in starts]
    assert hours == ["03-01 02:30", "03-08 03:30", "03-15 02:30"]


def test_series_on_the_ambiguous_hour_takes_the_first():
    starts = rules.expand(datetime(2026, 10, 25, 1, 30), NY, rules.Recurrence(count=2))
    assert starts[1] == utc(2026, 11, 1, 5, 30)


def test_biweekly_until_is_inclusive_in_local_dates():
    rec = rules.Recurrence(interval=2, until=date(2026, 4, 13))
    starts = rules.expand(datetime(2026, 3, 2, 18), LA, rec)
    assert [s.astimezone(ZoneInfo(LA)).date() for s in starts] == [
        date(2026, 3, 2), date(2026, 3, 16), date(2026, 3, 30), date(2026, 4, 13)
    ]  # fmt: skip


def test_series_on_listed_weekdays():
    rec = rules.Recurrence(count=4, weekdays=(0, 3))
    starts = rules.expand(datetime(2026, 3, 2, 9), NY, rec)
    assert [s.astimezone(ZoneInfo(NY)).weekday() for s in starts] == [0, 3, 0, 3]


def test_series_is_capped():
    starts = rules.expand(datetime(2026, 1, 5, 9), NY, rules.Recurrence(until=date(2030, 1, 1)))
    assert len(starts) == rules.MAX_OCCURRENCES


def test_an_aware_first_start_is_read_in_the_zone():
    starts = rules.expand(local(NY, 2026, 3, 2, 10), NY, rules.Recurrence(count=2))
    assert starts[1] == utc(2026, 3, 9, 14)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FREQ=WEEKLY;COUNT=6", rules.Recurrence(count=6)),
        (
            "RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=20260601",
            rules.Recurrence(interval=2, until=date(2026, 6, 1)),
        ),
        ("freq=weekly;byday=mo,th;count=4", rules.Recurrence(count=4, weekdays=(0, 3))),
    ],
)
def test_parse_rrule(text, expected):
    assert rules.parse_rrule(text) == expected
    assert rules.parse_rrule(expected.as_rrule()) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "FREQ=DAILY;COUNT=3",
        "FREQ=WEEKLY;BYHOUR=3",
        "FREQ=WEEKLY;COUNT=x",
        "FREQ=WEEKLY;BYDAY=XX",
        "nonsense",
    ],
)
def test_parse_rrule_refuses_what_it_cannot_book(text):
    with pytest.raises(ValueError):
        rules.parse_rrule(text)


def test_recurrence_problems_name_the_field():
    assert rules.recurrence_problems(rules.Recurrence(count=6)) == {}
    assert set(rules.recurrence_problems(rules.Recurrence(interval=3, count=6))) == {"interval"}
    assert set(rules.recurrence_problems(rules.Recurrence())) == {"count"}
    assert set(rules.recurrence_problems(rules.Recurrence(count=1))) == {"count"}
    assert set(rules.recurrence_problems(rules.Recurrence(count=200))) == {"count"}


# ---- working hours --------------------------------------------------------------------------

MONDAY_9_TO_5 = rules.WeeklyHours(0, time(9), time(17), NY)


def _warn(start, end, hours=(MONDAY_9_TO_5,), exceptions=()):
    return rules.availability_reasons(
        start, end, who="Dr A", hours=hours, exceptions=exceptions, zone_name=NY
    )


def test_inside_weekly_hours_no_warning():
    assert _warn(local(NY, 2026, 3, 2, 9), local(NY, 2026, 3, 2, 17)) == []


def test_weekly_hours_are_local_across_dst():
    # The Monday after spring-forward: 9-17 EDT, i.e. 13-21 UTC.
    assert _warn(utc(2026, 3, 9, 13), utc(2026, 3, 9, 14)) == []
    assert [r.code for r in _warn(utc(2026, 3, 9, 12), utc(2026, 3, 9, 13))] == [
        "availability.outside_hours"
    ]


def test_outside_weekly_hours_warns_in_plain_words():
    found = _warn(local(NY, 2026, 3, 2, 16), local(NY, 2026, 3, 2, 18))
    assert [(r.code, r.overridable) for r in found] == [("availability.outside_hours", True)]
    assert found[0].message == "Dr A does not usually work Mon 2 Mar 2026, 16:00 to 18:00 EST."
    assert _warn(local(NY, 2026, 3, 3, 10), local(NY, 2026, 3, 3, 11))  # a Tuesday


def test_extra_hours_extend_the_week():
    extra = rules.Exception_(local(NY, 2026, 3, 2, 17), local(NY, 2026, 3, 2, 19), available=True)
    assert _warn(local(NY, 2026, 3, 2, 16), local(NY, 2026, 3, 2, 18), exceptions=[extra]) == []


def test_time_off_warns_even_inside_hours():
    off = rules.Exception_(local(NY, 2026, 3, 2, 0), local(NY, 2026, 3, 3, 0))
    found = _warn(local(NY, 2026, 3, 2, 10), local(NY, 2026, 3, 2, 11), exceptions=[off])
    assert [r.code for r in found] == ["availability.time_off"]
    assert found[0].message.startswith("Dr A is away Mon 2 Mar 2026, 00:00")


def test_no_weekly_hours_means_no_hours_warning():
    assert _warn(local(NY, 2026, 3, 2, 3), local(NY, 2026, 3, 2, 4), hours=()) == []


def test_hours_valid_range_is_respected():
    later = rules.WeeklyHours(0, time(9), time(17), NY, valid_from=date(2026, 4, 1))
    assert _warn(local(NY, 2026, 3, 2, 10), local(NY, 2026, 3, 2, 11), hours=[later])
    assert _warn(local(NY, 2026, 4, 6, 10), local(NY, 2026, 4, 6, 11), hours=[later]) == []


def test_hours_in_another_zone_than_the_display():
    pacific = rules.WeeklyHours(0, time(9), time(17), LA)
    # 09:00 Pacific is 12:00 Eastern.
    assert _warn(local(NY, 2026, 3, 2, 12), local(NY, 2026, 3, 2, 13), hours=[pacific]) == []
    assert _warn(local(NY, 2026, 3, 2, 10), local(NY, 2026, 3, 2, 11), hours=[pacific])


# ---- lengths and the integration window -----------------------------------------------------


def test_default_lengths_match_the_models():
    from kapflow.scheduling.models import DEFAULT_MINUTES

    assert {str(k): v for k, v in DEFAULT_MINUTES.items()} == rules.DEFAULT_MINUTES
    assert rules.default_minutes("dosing") == 180
    assert rules.default_minutes("unknown") == 60


def test_integration_window():
    start, end = utc(2026, 3, 2, 15), utc(2026, 3, 2, 18)
    assert rules.integration_problems(start, end, utc(2026, 3, 3, 15), hours=72) == []
    assert rules.integration_problems(start, end, utc(2026, 3, 5, 15), hours=72) == []
    assert rules.integration_problems(start, end, utc(2026, 3, 2, 17), hours=72)
    assert rules.integration_problems(start, end, utc(2026, 3, 5, 15, 1), hours=72)


def test_default_integration_start_is_next_day_same_local_time_across_dst():
    start = local(NY, 2026, 3, 7, 10)
    following = rules.default_integration_start(start, NY)
    assert following.astimezone(ZoneInfo(NY)).replace(tzinfo=None) == datetime(2026, 3, 8, 10)
    assert following - start == timedelta(hours=23)


# ---- the integration window as a booking rule, and licensure where the visit is -----------


def test_integration_late_reason_names_the_delay_and_the_rule():
    dosing = local(LA, 2027, 3, 1, 9)
    assert rules.integration_late_reason(dosing, dosing + timedelta(hours=72), hours=72,
                                         zone_name=LA) is None  # fmt: skip
    reason = rules.integration_late_reason(
        dosing, local(LA, 2027, 3, 17, 9), hours=72, zone_name=LA
    )
    assert reason.code == "integration.outside_window" and reason.overridable
    assert "16 days after" in reason.message and "within 72 hours" in reason.message
    late = rules.integration_late_reason(
        dosing, dosing + timedelta(hours=80), hours=72, zone_name=LA
    )
    assert "80 hours after" in late.message


def _clinician(*states, expires_on=None):
    from kapflow.clinical.licensure import Licence

    licences = tuple(Licence("LMFT", s, "1", expires_on) for s in states)
    return rules.ClinicianLicences("Dana Reyes", "therapist", licences)


def test_licence_reasons_refuse_a_state_without_a_licence():
    [(field, reason)] = rules.licence_reasons(
        [_clinician("OR", "WA")], state="CA", where="the client is", on=date(2027, 3, 1)
    )
    assert field == "therapist" and reason.code == "licence.state_mismatch"
    assert not reason.overridable
    assert reason.message.startswith("Dana Reyes holds no current licence in California")


def test_licence_reasons_read_the_licence_on_the_appointments_date():
    clinician = _clinician("CA", expires_on=date(2027, 3, 1))
    assert rules.licence_reasons([clinician], state="CA", where="x", on=date(2027, 3, 1)) == []
    [(_, reason)] = rules.licence_reasons([clinician], state="CA", where="x", on=date(2027, 3, 2))
    assert reason.code == "licence.expired"


def test_licence_reasons_refuse_an_unknown_state():
    [(_, reason)] = rules.licence_reasons(
        [_clinician("OR")], state="", where="x", on=date(2027, 3, 1)
    )
    assert reason.code == "licence.state_unknown"
