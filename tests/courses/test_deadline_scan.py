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
    assert first.raised == 1 and first.notified == 1
    item = DueItem.objects.get(course=course)
    assert (item.code, item.overdue, item.resolved_at) == ("integration.due", True, None)
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body + mail.outbox[0].subject
    assert mail.outbox[0].to == [world.therapist.user.email]
    assert "1 new due or overdue item" in body and "/courses/" in body
    assert world.client.legal_last_name not in body and world.client.legal_first_name not in body

    again = deadline_scan(organisation_id=world.practice.pk)
    assert again.raised == 0 and DueItem.objects.count() == 1 and len(mail.outbox) == 1


def test_scan_resolves_items_that_are_no_longer_due(world):
    course = _overdue_integration(world)
    deadline_scan(organisation_id=world.practice.pk)
    event(course, world.therapist, "integration")
    result = deadline_scan(organisation_id=world.practice.pk)
    assert result.resolved == 1
    assert DueItem.objects.get(course=course).resolved_at is not None


def test_scan_ignores_other_organisations_and_far_deadlines(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    event(course, world.therapist, "dosing", at=timezone.now() - timedelta(hours=1))
    assert deadline_scan(organisation_id=world.other.pk).raised == 0
    assert deadline_scan(organisation_id=world.practice.pk).raised == 0  # due in 71 h


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
    assert DueItem.objects.count() == 1
