"""The integration facts read from the timeline, and due items raised when a session ends."""

from datetime import timedelta

from django.utils import timezone

from kapflow.clinical.course import dosing_reasons
from kapflow.courses.models import Course, DueItem
from kapflow.courses.selectors import course_facts, with_facts
from kapflow.courses.services import due_items_refresh
from tests.courses.factories import event, make_course


def _facts(course):
    return course_facts(with_facts(Course.objects.filter(pk=course.pk)).get())


def test_previous_dosing_and_integrations_since_last_dosing_come_from_events(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    now = timezone.now()
    event(course, world.therapist, "dosing", at=now - timedelta(days=10))
    event(course, world.therapist, "integration", at=now - timedelta(days=9))
    event(course, world.therapist, "dosing", at=now - timedelta(days=4))
    facts = _facts(course)
    assert facts.previous_dosing_at == now - timedelta(days=10)
    assert facts.last_dosing_at == now - timedelta(days=4)
    assert facts.integrations_since_last_dosing == 0
    event(course, world.therapist, "integration", at=now - timedelta(days=3))
    event(course, world.therapist, "integration", at=now - timedelta(days=1))
    assert _facts(course).integrations_since_last_dosing == 2


def test_two_missed_cycles_put_integration_overdue_on_the_gate(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    now = timezone.now()
    event(course, world.therapist, "dosing", at=now - timedelta(days=10))
    event(course, world.therapist, "dosing", at=now - timedelta(days=4))
    assert "integration.overdue" in {r.code for r in dosing_reasons(_facts(course), now=now)}
    event(course, world.therapist, "integration", at=now - timedelta(hours=1))
    assert "integration.overdue" not in {r.code for r in dosing_reasons(_facts(course), now=now)}


def test_due_items_refresh_raises_the_integration_items_of_one_course_at_once(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    other = make_course(world.other_client, world.other_therapist, stage="active")
    now = timezone.now()
    event(course, world.therapist, "dosing", at=now - timedelta(hours=3))
    event(other, world.other_therapist, "dosing", at=now - timedelta(hours=3))
    assert due_items_refresh(course_id=course.pk, now=now) == 2
    items = DueItem.objects.filter(course=course, resolved_at__isnull=True)
    assert {(i.code, i.due_at) for i in items} == {
        ("integration.due", now - timedelta(hours=3) + timedelta(hours=72)),
        ("integration.checkin", now - timedelta(hours=3) + timedelta(days=7)),
    }
    assert not DueItem.objects.filter(course=other).exists()
    assert due_items_refresh(course_id=course.pk, now=now) == 0  # idempotent
    event(course, world.therapist, "integration", at=now - timedelta(hours=1))
    due_items_refresh(course_id=course.pk, now=now)
    open_codes = set(
        DueItem.objects.filter(course=course, resolved_at__isnull=True).values_list(
            "code", flat=True
        )
    )
    assert open_codes == {"integration.checkin"}
