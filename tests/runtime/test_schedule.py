"""The scheduler's periods and the JobRun claim: each job once per period, however many
schedulers tick."""

from datetime import UTC, datetime, timedelta

import pytest
from django_tasks_db.models import DBTaskResult

from kapflow.runtime import schedule
from kapflow.runtime.models import JobRun
from kapflow.runtime.schedule import ScheduledJob, jobs, tick

pytestmark = pytest.mark.django_db
T = datetime(2026, 12, 7, 10, 7, 30, tzinfo=UTC)


def test_periods_start_on_their_boundaries():
    every_15 = ScheduledJob("a", timedelta(minutes=15), list)
    assert every_15.period_start(T) == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert every_15.period_start(T + timedelta(minutes=8)) == datetime(
        2026, 12, 7, 10, 15, tzinfo=UTC
    )
    nightly = ScheduledJob("b", timedelta(days=1), list, offset=timedelta(hours=10))
    assert nightly.period_start(T) == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    # Before 10:00 UTC it is still yesterday's run.
    assert nightly.period_start(T - timedelta(hours=1)) == datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def test_the_registry_holds_the_periodic_jobs():
    names = {job.name for job in jobs()}
    assert {"deadlines", "reminders", "audit_verify", "runtime_purge"} <= names
    by_name = {job.name: job for job in jobs()}
    assert by_name["reminders"].every == timedelta(minutes=5)
    assert by_name["deadlines"].every == timedelta(minutes=15)
    assert by_name["audit_verify"].every == timedelta(days=1)


def test_each_job_is_enqueued_once_per_period(world, db_tasks):
    first = tick(now=T, claimed_by="s1")
    assert set(first) == {job.name for job in jobs()}
    # A second scheduler in the same period finds every job claimed.
    assert tick(now=T + timedelta(seconds=30), claimed_by="s2") == []
    assert JobRun.objects.count() == len(first)
    deadlines = JobRun.objects.get(job="deadlines")
    # One deadline scan and one measurement scan per practice (the world has two).
    assert len(deadlines.task_ids) == 4
    assert DBTaskResult.objects.filter(id__in=deadlines.task_ids).count() == 4
    assert deadlines.claimed_by == "s1"

    # Five minutes on: only the five-minute jobs are due again (reminders, and the release
    # of unconfirmed consultation holds).
    every_five = {job.name for job in jobs() if job.every == timedelta(minutes=5)}
    assert every_five == {"reminders", "directory_holds"}
    assert sorted(tick(now=T + timedelta(minutes=5), claimed_by="s2")) == sorted(every_five)


def test_a_claim_made_elsewhere_wins(db_tasks):
    job = next(job for job in jobs() if job.name == "reminders")
    JobRun.objects.create(job="reminders", period_start=job.period_start(T), claimed_by="other")
    assert "reminders" not in tick(now=T, claimed_by="me")
    assert not DBTaskResult.objects.filter(task_path__endswith="reminders_send_task").exists()


def test_a_job_that_cannot_enqueue_is_not_claimed(db_tasks, monkeypatch, caplog):
    def broken():
        raise ConnectionError("queue down")

    monkeypatch.setitem(
        schedule._REGISTRY,
        "broken",
        ScheduledJob("broken", timedelta(minutes=5), broken),
    )
    assert "broken" not in tick(now=T, claimed_by="me", only={"broken"})
    assert not JobRun.objects.filter(job="broken").exists()
    assert "schedule.enqueue_failed" in caplog.text


def test_jobs_run_in_the_request_under_the_immediate_backend(world):
    """Tests and the one-process demo: the same tick runs the tasks at once."""
    assert "audit_verify" in tick(now=T, claimed_by="s", only={"audit_verify"})
    from kapflow.audit.models import AuditCheck

    assert AuditCheck.objects.count() == 1
