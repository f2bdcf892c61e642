"""The measurement schedule: baseline, before each dosing, a week after, then monthly."""

from datetime import UTC, datetime, timedelta

from kapflow.clinical.measurement import plan_occasions

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def keys(occasions):
    return [o.key for o in occasions]


def test_baseline_opens_at_once_when_no_dosing_yet():
    assert keys(plan_occasions(started_at=START, dosing_times=[], now=START)) == ["baseline"]


def test_after_a_dosing_the_next_pre_dose_opens_the_day_after_and_the_week_after_later():
    dosed = START + timedelta(days=3)
    now = dosed + timedelta(days=2)
    assert keys(plan_occasions(started_at=START, dosing_times=[dosed], now=now)) == [
        "baseline", "pre:2",
    ]  # fmt: skip
    later = dosed + timedelta(days=7)
    assert keys(plan_occasions(started_at=START, dosing_times=[dosed], now=later)) == [
        "baseline", "pre:2", "week:1",
    ]  # fmt: skip


def test_monthly_after_the_last_week_after():
    dosed = START + timedelta(days=3)
    now = dosed + timedelta(days=7 + 61)
    found = keys(plan_occasions(started_at=START, dosing_times=[dosed], now=now))
    assert found[-2:] == ["month:1", "month:2"]


def test_plan_started_after_dosing_began_has_no_baseline_or_old_occasions():
    dosed = START - timedelta(days=10)
    assert keys(plan_occasions(started_at=START, dosing_times=[dosed], now=START)) == []


def test_keys_are_stable_so_materialising_twice_asks_nothing_twice():
    dosings = [START + timedelta(days=d) for d in (3, 10)]
    now = START + timedelta(days=20)
    assert plan_occasions(started_at=START, dosing_times=dosings, now=now) == plan_occasions(
        started_at=START, dosing_times=list(reversed(dosings)), now=now
    )
