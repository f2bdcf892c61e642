"""Self-scheduling in the portal: a client books, moves and cancels their own preparation,
integration and follow-up sessions through the scheduling service, with the staff
booking's clashes, licensure and integration window, within the practice's rules."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.scheduling import selectors, services
from kapflow.scheduling.models import AppointmentStatus, SchedulingSettings
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.directory.factories import hours

pytestmark = pytest.mark.django_db


@pytest.fixture
def course(world, frozen):
    hours(world.therapist)
    hours(world.prescriber)
    return make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")


def tue(frozen, hour):
    """Tuesday at `hour`:00 Pacific (frozen is Monday 08:00 Pacific = 16:00 UTC)."""
    return frozen + timedelta(days=1, hours=hour - 8)


def test_client_books_a_preparation_session(world, course, frozen):
    appt = services.appointment_self_book(
        actor=world.client_member, kind="preparation", starts_at=tue(frozen, 10)
    )
    assert appt.telehealth and appt.course_id == course.pk
    assert {p.membership_id for p in appt.participants.all() if p.membership_id} == {
        world.therapist.pk
    }


def test_dosing_stays_staff_booked(world, course, frozen):
    with pytest.raises(PermissionDenied):
        services.appointment_self_book(
            actor=world.client_member, kind="dosing", starts_at=tue(frozen, 10)
        )


def test_the_practice_narrows_the_kinds(world, course, frozen):
    SchedulingSettings.objects.create(organisation=world.practice, self_book_kinds=["preparation"])
    with pytest.raises(PermissionDenied):
        services.appointment_self_book(
            actor=world.client_member, kind="followup", starts_at=tue(frozen, 10)
        )


def test_notice_is_the_practices(world, course, frozen):
    with pytest.raises(ValidationError) as caught:
        services.appointment_self_book(
            actor=world.client_member, kind="preparation", starts_at=frozen + timedelta(hours=3)
        )
    assert "starts_at" in caught.value.message_dict


def test_clash_refused_with_the_staff_reason(world, course, frozen):
    services.appointment_book(
        actor=world.therapist, kind="therapy", starts_at=tue(frozen, 10),
        client_ids=[world.unreferred.pk], telehealth=True,
    )  # fmt: skip
    with pytest.raises(services.SchedulingConflict) as caught:
        services.appointment_self_book(
            actor=world.client_member, kind="preparation", starts_at=tue(frozen, 10)
        )
    assert caught.value.reasons[0].code.startswith("clash")


def test_outside_hours_refused(world, course, frozen):
    with pytest.raises(services.SchedulingConflict) as caught:
        services.appointment_self_book(
            actor=world.client_member, kind="preparation", starts_at=tue(frozen, 19)
        )
    assert caught.value.reasons[0].code == "availability.outside_hours"


def test_licensure_applies(world, course, frozen):
    world.client.state = "WA"
    world.client.save()
    with pytest.raises(services.LicenceRefused):
        services.appointment_self_book(
            actor=world.client_member, kind="preparation", starts_at=tue(frozen, 10)
        )


def test_integration_only_inside_the_window_after_dosing(world, course, frozen):
    with pytest.raises(DomainError):  # no dosing yet
        services.appointment_self_book(
            actor=world.client_member, kind="integration", starts_at=tue(frozen, 10)
        )
    services.appointment_book(
        actor=world.therapist, kind="dosing", starts_at=tue(frozen, 9), course_ids=[course.pk],
        telehealth=True, confirm=True,
    )  # fmt: skip
    late = tue(frozen, 9) + timedelta(days=4)  # Saturday: 96 hours later
    with pytest.raises(DomainError):
        services.appointment_self_book(
            actor=world.client_member, kind="integration", starts_at=late + timedelta(days=2)
        )
    ok = services.appointment_self_book(
        actor=world.client_member, kind="integration", starts_at=tue(frozen, 9) + timedelta(days=1)
    )
    assert ok.kind == "integration"
    options = selectors.self_book_options(actor=world.client_member)
    assert all(
        s.starts_at <= tue(frozen, 9) + timedelta(hours=72) for s in options["integration"][1]
    )


def test_move_and_cancel_within_the_practices_window(world, course, frozen):
    appt = services.appointment_self_book(
        actor=world.client_member, kind="preparation", starts_at=tue(frozen, 10)
    )
    moved = services.appointment_self_move(
        actor=world.client_member, appointment_id=appt.pk, starts_at=tue(frozen, 13)
    )
    appt.refresh_from_db()
    assert appt.status == AppointmentStatus.RESCHEDULED and moved.rescheduled_from_id == appt.pk
    services.appointment_self_cancel(actor=world.client_member, appointment_id=moved.pk)
    moved.refresh_from_db()
    assert moved.status == AppointmentStatus.CANCELLED
    soon = services.appointment_book(
        actor=world.therapist, kind="preparation", course_ids=[course.pk], telehealth=True,
        starts_at=frozen + timedelta(hours=2), confirm=True,
    ).first  # fmt: skip
    with pytest.raises(DomainError) as caught:
        services.appointment_self_cancel(actor=world.client_member, appointment_id=soon.pk)
    assert caught.value.code == "scheduling.cancel_window"


def test_only_the_client_themselves(world, course, frozen):
    for outsider in (world.therapist, world.companion, world.admin):
        with pytest.raises((PermissionDenied, NotFound)):
            services.appointment_self_book(
                actor=outsider, kind="preparation", starts_at=tue(frozen, 10)
            )
    other = services.appointment_book(
        actor=world.therapist, kind="therapy", starts_at=tue(frozen, 14),
        client_ids=[world.unreferred.pk], telehealth=True,
    ).first  # fmt: skip
    with pytest.raises(NotFound):
        services.appointment_self_cancel(actor=world.client_member, appointment_id=other.pk)


def test_portal_page(client, world, course, frozen):
    sign_in(client, world.client_member.user)
    page = client.get("/schedule/mine/book/")
    assert page.status_code == 200 and b"Preparation session" in page.content
    posted = client.post(
        "/schedule/mine/book/",
        {"action": "book", "kind": "preparation", "starts_at": tue(frozen, 10).isoformat()},
    )
    assert posted.status_code == 302
    page = client.get("/schedule/mine/book/")
    assert b"Move to" in page.content and b"Cancel" in page.content
    client.logout()
    sign_in(client, world.therapist.user)
    assert client.get("/schedule/mine/book/").status_code == 404
