"""Course pages: who sees what, fixed query counts, filters, and refusals shown in full."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.accounts.models import Role
from tests.accounts.factories import member
from tests.conftest import sign_in
from tests.courses.factories import event, make_course
from tests.patients.factories import ClientFactory, on_team

ROLES = ["admin", "therapist", "therapist2", "biller", "prescriber", "client_member",
         "companion", "other_admin", "other_therapist"]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/courses/", [200, 200, 200, 404, 200, 404, 404, 200, 200]),
        ("/courses/{id}/", [200, 200, 404, 404, 200, 404, 404, 404, 404]),
        ("/courses/{id}/dosing/", [200, 200, 404, 404, 200, 404, 404, 404, 404]),
        ("/prescribing/", [404, 404, 404, 404, 200, 404, 404, 404, 404]),
        ("/api/v1/courses/{id}", [200, 200, 404, 404, 200, 404, 404, 404, 404]),
        ("/api/v1/courses/{id}/gates", [200, 200, 404, 404, 200, 404, 404, 404, 404]),
    ],
)
@pytest.mark.parametrize("role", ROLES)
def test_course_page_permissions(client, world, url, expected, role):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    sign_in(client, getattr(world, role).user)
    response = client.get(url.format(id=course.pk))
    assert response.status_code == dict(zip(ROLES, expected, strict=True))[role]


@pytest.mark.parametrize(
    ("role", "action", "expected"),
    [("therapist", "start_intake", 302), ("therapist2", "start_intake", 404),
     ("prescriber", "start_intake", 403), ("biller", "start_intake", 404),
     ("other_admin", "start_intake", 404)],
)  # fmt: skip
def test_transition_post_permissions(client, world, role, action, expected):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber)
    sign_in(client, getattr(world, role).user)
    response = client.post(f"/courses/{course.pk}/transition/", {"action": action})
    assert response.status_code == expected


def _fill(world, n):
    for _ in range(n):
        c = ClientFactory(organisation=world.practice)
        on_team(c, world.therapist)
        on_team(c, world.prescriber, role="prescriber")
        course = make_course(c, world.therapist, prescriber=world.prescriber, stage="active")
        event(course, world.therapist, "dosing")
        event(course, world.therapist, "risk_screen", positive=False)


def _fill_in_bulk(world, n):
    """`n` more active courses on both clinicians' caseloads, with a dosing and a screen each,
    written in a few INSERTs and their facts stored in one refresh (as _fill's, without the
    signatures and prescriptions the page does not read): minutes fewer than _fill."""
    from django.utils import timezone

    from kapflow.courses.models import Course, CourseEvent
    from kapflow.courses.services import course_facts_refresh
    from kapflow.patients.models import CareTeamMember, Client

    now = timezone.now()
    clients = Client.objects.bulk_create(ClientFactory.build_batch(n, organisation=world.practice))
    CareTeamMember.objects.bulk_create(
        CareTeamMember(organisation=world.practice, client=c, membership=m, role=role,
                       added_by=m.user)
        for c in clients
        for m, role in ((world.therapist, "therapist"), (world.prescriber, "prescriber"))
    )  # fmt: skip
    courses = Course.objects.bulk_create(
        Course(organisation=world.practice, client=c, therapist=world.therapist,
               prescriber=world.prescriber, stage="active", delivery="in_person",
               pathway="higher_dose", eligibility="eligible", clearance_valid_days=180,
               clearance_on=now.date() - timedelta(days=1))
        for c in clients
    )  # fmt: skip
    CourseEvent.objects.bulk_create(
        CourseEvent(organisation=world.practice, course=course, kind=kind, positive=positive,
                    occurred_at=now, actor=world.therapist.user,
                    actor_membership=world.therapist)
        for course in courses
        for kind, positive in (("dosing", None), ("risk_screen", False))
    )  # fmt: skip
    course_facts_refresh(organisation_id=world.practice.pk)


@pytest.mark.parametrize("role", ["admin", "therapist", "prescriber"])
def test_dashboard_queries_are_the_same_for_10_and_1000_courses(client, world, role):
    sign_in(client, getattr(world, role).user)
    _fill(world, 10)
    client.get("/courses/")
    with CaptureQueriesContext(connection) as small:
        assert client.get("/courses/").status_code == 200
    _fill_in_bulk(world, 990)
    # Filling may take a while: the idle clock moves on this request, as it would have on any
    # (it is written at most once a minute, decision 0042), so it is not counted below.
    client.get("/courses/")
    with CaptureQueriesContext(connection) as large:
        response = client.get("/courses/")
    assert response.status_code == 200
    assert len(small.captured_queries) == len(large.captured_queries)
    assert "1000 courses" in response.content.decode()


def test_dashboard_filters_by_stage_and_htmx_returns_rows_only(client, world):
    make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    make_course(world.unreferred, world.therapist, stage="intake")
    sign_in(client, world.therapist.user)
    page = client.get("/courses/", {"stage": "intake"}).content.decode()
    assert "1 course" in page and world.unreferred.legal_last_name in page
    assert world.client.legal_last_name not in page
    partial = client.get("/courses/", {"stage": "active"}, HTTP_HX_REQUEST="true",
                         HTTP_HX_TARGET="course-results").content.decode()  # fmt: skip
    assert "<html" not in partial and world.client.legal_last_name in partial


def test_dashboard_shows_blockers_and_overdue_items(client, world):
    from datetime import timedelta

    from django.utils import timezone

    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    event(course, world.therapist, "dosing", at=timezone.now() - timedelta(hours=80))
    sign_in(client, world.therapist.user)
    page = client.get("/courses/").content.decode()
    assert 'data-code="screen.missing"' in page
    assert "Overdue:</strong> Integration session" in page


def test_refused_step_lists_every_reason_with_409(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="preparation", consent=False)  # fmt: skip
    sign_in(client, world.therapist.user)
    response = client.post(f"/courses/{course.pk}/transition/", {"action": "activate"})
    assert response.status_code == 409
    text = response.content.decode()
    for code in ("consent.missing", "preparation.none", "prescription.missing"):
        assert f'data-code="{code}"' in text


def test_admin_without_clinical_role_cannot_decide(client, world):
    admin_only = member(world.practice, Role.PRACTICE_ADMIN)
    course = make_course(world.client, world.therapist)
    sign_in(client, admin_only.user)
    response = client.post(f"/courses/{course.pk}/transition/", {"action": "start_intake"})
    assert response.status_code == 403


def test_positive_screen_shows_a_banner_and_timeline_uses_words(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    event(course, world.therapist, "transition", from_stage="preparation", to_stage="active")
    event(course, world.therapist, "risk_screen", positive=True)
    sign_in(client, world.therapist.user)
    page = client.get(f"/courses/{course.pk}/").content.decode()
    assert 'data-testid="risk-banner"' in page
    assert "Preparation → Active: dosing and integration" in page


def test_admin_changes_the_blood_pressure_threshold_and_the_gate_follows(client, world):
    from kapflow.audit.models import AuditEvent
    from kapflow.clinical.course import DoseDay
    from kapflow.core.errors import GateBlocked
    from kapflow.courses import services

    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    event(course, world.therapist, "risk_screen", positive=False)
    day = DoseDay(bp_systolic=150, bp_diastolic=85, alcohol_free_24h=True, driver_confirmed=True)
    sign_in(client, world.admin.user)
    bad = client.post("/courses/settings/", {"bp_systolic_max": "20"})
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
    response = client.post(
        "/courses/settings/",
        {"bp_systolic_max": 140, "bp_diastolic_max": 90, "screen_valid_days": 7,
         "integration_hours": 72, "followup_grace_days": 14, "followup_interval_days": 90,
         "dose_interval_hours": 24},
    )  # fmt: skip
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="gate_settings.update").get().changed_fields == [
        "bp_diastolic_max", "bp_systolic_max",
    ]  # fmt: skip
    with pytest.raises(GateBlocked) as exc:
        services.dosing_start(actor=world.therapist, course_id=course.pk, day=day)
    assert [r.code for r in exc.value.reasons] == ["vitals.bp_high"]
    sign_in(client, world.therapist.user)
    assert client.get("/courses/settings/").status_code == 404
