"""clinical.directory: distance, the box, open slots and joint slots, worked by hand."""

from datetime import UTC, datetime, time, timedelta

import pytest

from kapflow.clinical import directory as rules
from kapflow.clinical import scheduling as sched


def test_distance_one_degree_of_latitude_is_69_miles():
    # 2 * pi * 3958.8 / 360 = 69.09 miles per degree along a meridian.
    assert rules.distance_miles(45.0, -122.0, 46.0, -122.0) == pytest.approx(69.09, abs=0.01)


def test_distance_one_degree_of_longitude_at_60_north_is_half():
    # At 60 degrees latitude a degree of longitude is cos(60) = 0.5 of 69.09 miles (great
    # circle slightly shorter than the parallel: 34.54 along the parallel, 34.53 direct).
    assert rules.distance_miles(60.0, 10.0, 60.0, 11.0) == pytest.approx(34.53, abs=0.02)


def test_distance_portland_to_seattle():
    # Zip centroids 97214 (45.5142, -122.6364) and 98101 (47.6114, -122.3305): hand
    # haversine gives 145.5 miles.
    assert rules.distance_miles(45.5142, -122.6364, 47.6114, -122.3305) == pytest.approx(
        145.5, abs=0.5
    )


def test_bounding_box_widens_with_latitude():
    box = rules.bounding_box(60.0, 10.0, 69.09)
    assert box.max_lat - 60.0 == pytest.approx(1.0)
    assert box.max_lon - 10.0 == pytest.approx(2.0, abs=0.001)


MON = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # a Monday
HOURS = [sched.WeeklyHours(d, time(9), time(12), "UTC") for d in range(5)]


def test_open_slots_start_after_notice_on_the_half_hour():
    now = MON + timedelta(hours=8, minutes=10)  # Mon 08:10
    slots = rules.open_slots(hours=HOURS, exceptions=[], busy=[], now=now, limit=3)
    # 24 h notice: Tue 08:10 → first half hour inside hours is Tue 09:00.
    assert [s.starts_at for s in slots] == [
        MON + timedelta(days=1, hours=9),
        MON + timedelta(days=1, hours=9, minutes=30),
        MON + timedelta(days=1, hours=10),
    ]


def test_open_slots_skip_busy_and_time_off():
    now = MON
    busy = [(MON + timedelta(days=1, hours=9), MON + timedelta(days=1, hours=10))]
    off = [sched.Exception_(MON + timedelta(days=1, hours=10), MON + timedelta(days=1, hours=11))]
    slots = rules.open_slots(hours=HOURS, exceptions=off, busy=busy, now=now, limit=2)
    assert [s.starts_at for s in slots] == [
        MON + timedelta(days=1, hours=11),
        MON + timedelta(days=1, hours=11, minutes=30),
    ]


def test_no_weekly_hours_means_no_public_slot():
    assert rules.open_slots(hours=[], exceptions=[], busy=[], now=MON) == []


def test_joint_slots_are_the_times_both_are_free():
    now = MON
    therapist = rules.open_slots(hours=HOURS, exceptions=[], busy=[], now=now, limit=50)
    prescriber_hours = [sched.WeeklyHours(1, time(11), time(13), "UTC")]
    prescriber = rules.open_slots(hours=prescriber_hours, exceptions=[], busy=[], now=now, limit=50)
    joint = rules.joint_slots(therapist, prescriber)
    # Tuesday 11:00-12:00 overlaps: 11:00 and 11:30.
    assert [s.starts_at for s in joint][:2] == [
        MON + timedelta(days=1, hours=11),
        MON + timedelta(days=1, hours=11, minutes=30),
    ]
