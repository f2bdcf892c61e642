"""The deadline scan: raises due/overdue items once, resolves them, e-mails without PHI."""

from datetime import timedelta

from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from kapflow.courses.models import DueItem
from kapflow.courses.services import deadline_scan
from tests.courses.factories import event, make_course


def _overdue_integration(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    event(course, world.therapist, "dosing", at=timezone.now() - timedelta(hours=80))
    return course


def test_scan_raises_overdue_integration_once_and_notifies_the_therapist(world):
    course = _overdue_integration(world)
    first = deadline_scan(organisation_id=world.practice.pk)
    assert first.raised == 2 and first.notified == 1
    items = {i.code: i for i in DueItem.objects.filter(course=course)}
    assert (items["integration.due"].overdue, items["integration.due"].resolved_at) == (True, None)
    # The week-after check-in (7 days after the dosing) is raised at once, not yet overdue.
    assert items["integration.checkin"].overdue is False
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body + mail.outbox[0].subject
    assert mail.outbox[0].to == [world.therapist.user.email]
    assert "2 new due or overdue items" in body and "/courses/" in body
    assert world.client.legal_last_name not in body and world.client.legal_first_name not in body

    again = deadline_scan(organisation_id=world.practice.pk)
    assert again.raised == 0 and DueItem.objects.count() == 2 and len(mail.outbox) == 1


def test_scan_resolves_items_that_are_no_longer_due(world):
    course = _overdue_integration(world)
    deadline_scan(organisation_id=world.practice.pk)
    event(course, world.therapist, "integration")
    result = deadline_scan(organisation_id=world.practice.pk)
    assert result.resolved == 1
    assert DueItem.objects.get(course=course, code="integration.due").resolved_at is not None
    # One integration contact since the dosing: the week-after check-in is still wanted.
    assert DueItem.objects.get(course=course, code="integration.checkin").resolved_at is None
    event(course, world.therapist, "integration")
    assert deadline_scan(organisation_id=world.practice.pk).resolved == 1
    assert not DueItem.objects.filter(course=course, resolved_at__isnull=True).exists()


def test_scan_ignores_other_organisations_and_far_deadlines(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    event(course, world.therapist, "dosing", at=timezone.now() - timedelta(hours=1))
    clearance_soon = make_course(world.other_client, world.other_therapist, stage="active")
    assert deadline_scan(organisation_id=world.other.pk).raised == 0
    # The integration session (in 71 h) and the check-in are raised as soon as the dosing
    # is recorded; other deadlines only within a day.
    raised = deadline_scan(organisation_id=world.practice.pk).raised
    assert raised == 2
    assert set(DueItem.objects.filter(course=course).values_list("code", flat=True)) == {
        "integration.due",
        "integration.checkin",
    }
    assert not DueItem.objects.filter(course=clearance_soon).exists()


def test_followup_overdue_notifies_the_prescriber_too(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    long_ago = timezone.now() - timedelta(days=30)
    event(course, world.therapist, "dosing", at=long_ago)
    event(course, world.therapist, "dosing", at=long_ago + timedelta(days=1))
    event(course, world.therapist, "integration", at=long_ago + timedelta(days=2))
    deadline_scan(organisation_id=world.practice.pk)
    assert DueItem.objects.filter(course=course, code="followup.due", overdue=True).exists()
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [world.therapist.user.email, world.prescriber.user.email]
    )


def test_management_command_enqueues_a_scan_per_practice(world):
    _overdue_integration(world)
    call_command("scan_deadlines")
    assert DueItem.objects.count() == 2  # the integration session and the check-in
