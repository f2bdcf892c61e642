"""Group sessions (seed 004): the practice's size limit, one client's gate never blocking
the others, and group integration sessions recorded on each attending client's course."""

import json

import pytest
from django.utils import timezone

from kapflow.core.errors import DomainError, GateBlocked, NotFound, PermissionDenied
from kapflow.courses.models import CourseEvent, DueItem
from kapflow.encounters import services
from kapflow.encounters.models import GroupAttendee, GroupSession
from tests.conftest import sign_in
from tests.courses.factories import event
from tests.encounters.factories import MIN, dosing_appointment, ready_course
from tests.patients.factories import ClientFactory, on_team


def _courses(world, n, **fields):
    out = []
    for _ in range(n):
        c = ClientFactory(organisation=world.practice)
        on_team(c, world.therapist)
        out.append(ready_course(c, world.therapist, world.prescriber, **fields))
    return out


def _dosed_before(course, therapist):
    event(course, therapist, "dosing", at=timezone.now() - 60 * 24 * MIN)


def test_integration_group_records_integration_per_attending_client(world):
    courses = _courses(world, 3)
    for c in courses:
        _dosed_before(c, world.therapist)
        services_refresh(c)
    appointment = dosing_appointment(courses[0], world.therapist, is_group=True)
    appointment.kind = "integration"
    appointment.save()
    group = services.group_create(
        actor=world.therapist, course_ids=[c.pk for c in courses], kind="integration",
        appointment_id=appointment.pk,
    )  # fmt: skip
    assert group.attendees.count() == 3 and not group.sessions.exists()
    services.group_integration_close(
        actor=world.therapist, group_id=group.pk,
        attended_course_ids=[courses[0].pk, courses[1].pk], note="Themes: grief, change.",
    )  # fmt: skip
    group.refresh_from_db()
    assert group.state == "closed"
    attended = dict(GroupAttendee.objects.values_list("course_id", "attended"))
    assert attended == {courses[0].pk: True, courses[1].pk: True, courses[2].pk: False}
    for c, expected in [(courses[0], 1), (courses[1], 1), (courses[2], 0)]:
        assert CourseEvent.objects.filter(course=c, kind="integration").count() == expected
    open_due = set(
        DueItem.objects.filter(resolved_at__isnull=True, code="integration.due").values_list(
            "course_id", flat=True
        )
    )
    assert courses[0].pk not in open_due and courses[2].pk in open_due
    appointment.refresh_from_db()
    assert appointment.status == "completed"
    with pytest.raises(DomainError) as exc:
        services.group_integration_close(
            actor=world.therapist, group_id=group.pk, attended_course_ids=[]
        )
    assert exc.value.code == "group.closed"


def services_refresh(course):
    from kapflow.courses.services import due_items_refresh

    due_items_refresh(course_id=course.pk)


def test_integration_close_lists_every_refusal_and_records_nothing(world):
    never_dosed, dosed_course = _courses(world, 2)
    _dosed_before(dosed_course, world.therapist)
    group = services.group_create(
        actor=world.therapist, course_ids=[never_dosed.pk, dosed_course.pk], kind="integration"
    )
    with pytest.raises(GateBlocked) as exc:
        services.group_integration_close(
            actor=world.therapist, group_id=group.pk,
            attended_course_ids=[never_dosed.pk, dosed_course.pk],
        )  # fmt: skip
    assert [r.code for r in exc.value.reasons] == ["dosing.none"]
    assert f"Course #{never_dosed.pk}" in exc.value.reasons[0].message
    assert not CourseEvent.objects.filter(kind="integration").exists()
    group.refresh_from_db()
    assert group.state == "open"
    assert not GroupAttendee.objects.filter(attended__isnull=False).exists()


def test_group_needs_a_therapist_and_respects_the_size_limit(world):
    from kapflow.scheduling.models import SchedulingSettings

    SchedulingSettings.objects.create(organisation=world.practice, group_size_max=2)
    courses = _courses(world, 3)
    with pytest.raises(PermissionDenied):
        services.group_create(actor=world.prescriber, course_ids=[courses[0].pk])
    with pytest.raises(NotFound):
        services.group_create(actor=world.biller, course_ids=[courses[0].pk])
    group = services.group_create(
        actor=world.therapist, course_ids=[c.pk for c in courses[:2]], kind="integration"
    )
    with pytest.raises(DomainError) as exc:
        services.group_add_client(actor=world.therapist, group_id=group.pk, course_id=courses[2].pk)
    assert exc.value.code == "group.full"
    assert GroupSession.objects.get(pk=group.pk).size_limit == 2


def test_group_clients_must_be_the_therapists(world):
    stranger = ClientFactory(organisation=world.practice)
    on_team(stranger, world.therapist2)
    course = ready_course(stranger, world.therapist2, world.prescriber)
    with pytest.raises(NotFound):
        services.group_create(actor=world.therapist, course_ids=[course.pk])
    assert not GroupSession.objects.exists()


def test_integration_group_pages_and_api(client, world):
    courses = _courses(world, 2)
    for c in courses:
        _dosed_before(c, world.therapist)
    sign_in(client, world.therapist.user)
    response = client.post(
        "/sessions/groups/new/", {"kind": "integration", "courses": [str(c.pk) for c in courses]}
    )
    assert response.status_code == 302, response.content[:500]
    group = GroupSession.objects.get()
    page = client.get(response.url)
    assert page.status_code == 200 and b"group-close-form" in page.content
    response = client.post(
        f"/sessions/groups/{group.pk}/close/", {"attended": [str(courses[0].pk)], "note": ""}
    )
    assert response.status_code == 302
    assert CourseEvent.objects.filter(course=courses[0], kind="integration").exists()
    from kapflow.accounts import services as account_services

    _, raw = account_services.api_token_create(actor=world.therapist, name="t", mfa_verified=True)
    got = client.get(f"/api/v1/sessions/groups/{group.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert got.status_code == 200
    assert [a["attended"] for a in got.json()["attendees"]].count(True) == 1
    again = client.post(
        f"/api/v1/sessions/groups/{group.pk}/close", data=json.dumps({"attended_course_ids": []}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}",
    )  # fmt: skip
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "group.closed"


def test_the_new_group_form_audits_every_client_it_lists(client, world):
    from kapflow.audit.models import AuditEvent

    courses = _courses(world, 2)
    sign_in(client, world.therapist.user)
    assert client.get("/sessions/groups/new/").status_code == 200
    listed = AuditEvent.objects.filter(action="group_session.candidates")
    assert set(listed.values_list("client_id", flat=True)) == {c.client_id for c in courses}
