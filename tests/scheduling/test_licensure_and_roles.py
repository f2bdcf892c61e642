# ruff: noqa: E501  (call sites kept one argument list per line)
"""Decision 0031 at booking: a clinician must hold a current licence where the appointment
takes place (the client's state for telehealth, the room's or the practice's in person);
a partner's prescriber books and changes only their own medical appointments; an
integration session later than the window after its dosing warns, or is refused when the
practice says so. Each on the service, the API and the page."""

import datetime
import json
from datetime import UTC

import pytest

from kapflow.accounts import services as account_services
from kapflow.accounts.models import ClinicianLicence, Role
from kapflow.audit.models import AuditEvent
from kapflow.core.errors import DomainError, PermissionDenied
from kapflow.scheduling import services
from kapflow.scheduling.models import Appointment, SchedulingSettings
from tests.accounts.factories import member
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.patients.factories import on_team
from tests.scheduling.factories import at, book, room

URL = "/api/v1/schedule"


@pytest.fixture(autouse=True)
def _clock(time_machine):
    # Bookings below are in March 2027: "now" is a month before.
    time_machine.move_to(datetime.datetime(2027, 2, 1, 17, tzinfo=UTC))


@pytest.fixture
def californian(world):
    """The world's client, living in California; the therapist is licensed in Oregon and
    Washington only."""
    world.client.state = "CA"
    world.client.save()
    ClinicianLicence.objects.create(
        user=world.therapist.user, licence_type="LMFT", state="WA", number="W-1"
    )
    return world.client


def _licence(membership, state, expires_on=None):
    return ClinicianLicence.objects.create(
        user=membership.user, licence_type="LMFT", state=state, number=f"{state}-9",
        expires_on=expires_on,
    )  # fmt: skip


def _token(membership) -> dict:
    _, raw = account_services.api_token_create(actor=membership, name="tests", mfa_verified=True)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _post(client, path, body, headers):
    return client.post(URL + path, data=json.dumps(body), content_type="application/json",
                       **headers)  # fmt: skip


# ---- licensure: the service ------------------------------------------------------------------


def test_telehealth_refused_where_the_therapist_holds_no_licence(world, californian):
    with pytest.raises(services.LicenceRefused) as refused:
        book(world.therapist, californian, telehealth=True)
    [(field, reason)] = refused.value.found
    assert field == "therapist" and reason.code == "licence.state_mismatch"
    assert world.therapist.user.full_name in reason.message
    assert "California" in reason.message and "telehealth" in reason.message
    assert not Appointment.objects.exists()


def test_telehealth_booked_once_licensed_in_the_clients_state(world, californian):
    _licence(world.therapist, "CA")
    assert book(world.therapist, californian, telehealth=True).first.telehealth


def test_licence_is_read_on_the_appointments_date(world, californian):
    # Current today, expired by the appointment's date: refused, saying it expired.
    _licence(world.therapist, "CA", expires_on=datetime.date(2027, 2, 28))
    with pytest.raises(services.LicenceRefused) as refused:
        book(world.therapist, californian, telehealth=True, starts_at=at(2027, 3, 1, 10))
    assert refused.value.reasons[0].code == "licence.expired"
    # A licence expiring on the appointment's own date still covers it.
    assert book(world.therapist, californian, telehealth=True, starts_at=at(2027, 2, 28, 10))


def test_in_person_reads_the_rooms_state_else_the_practices(world, californian):
    # The Oregon office: the therapist is licensed in Oregon, wherever the client lives.
    cedar = room(world.practice)
    assert book(world.therapist, californian, room_id=cedar.pk).first.room == cedar
    idaho = room(world.practice, name="Boise")
    idaho.state = "ID"
    idaho.save()
    with pytest.raises(services.LicenceRefused) as refused:
        book(world.therapist, californian, room_id=idaho.pk, starts_at=at(2027, 3, 2, 10))
    assert "Idaho" in refused.value.message and "room Boise" in refused.value.message


def test_the_prescriber_is_checked_too(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber)
    world.client.state = "WA"
    world.client.save()
    _licence(world.therapist, "WA")
    with pytest.raises(services.LicenceRefused) as refused:
        book(world.prescriber, None, kind="followup", course_ids=[course.pk], telehealth=True)
    fields = [f for f, _ in refused.value.found]
    assert fields == ["prescriber"]
    assert world.prescriber.user.full_name in refused.value.message


def test_reschedule_checks_the_licence_on_the_new_date(world, californian):
    _licence(world.therapist, "CA", expires_on=datetime.date(2027, 3, 5))
    appt = book(world.therapist, californian, telehealth=True).first
    with pytest.raises(services.LicenceRefused):
        services.appointment_reschedule(
            actor=world.therapist, appointment_id=appt.pk, version=1, starts_at=at(2027, 3, 8, 10)
        )
    appt.refresh_from_db()
    assert appt.status == "scheduled" and Appointment.objects.count() == 1


# ---- partner prescribers: the service --------------------------------------------------------


@pytest.fixture
def course(world):
    return make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")


def test_partner_prescriber_books_and_moves_their_own_follow_up(world, course):
    followup = book(world.prescriber, None, kind="followup", course_ids=[course.pk]).first
    moved = services.appointment_reschedule(
        actor=world.prescriber, appointment_id=followup.pk, version=1, starts_at=at(2027, 3, 2, 9),
        confirm=True,
    )  # fmt: skip
    services.appointment_cancel(
        actor=world.prescriber, appointment_id=moved.first.pk, version=1, reason="Client ill."
    )
    assert Appointment.objects.get(pk=moved.first.pk).status == "cancelled"


def test_partner_prescriber_may_not_book_therapy(world, course):
    with pytest.raises(PermissionDenied):
        book(world.prescriber, None, kind="therapy", course_ids=[course.pk])
    assert not Appointment.objects.exists()


def test_partner_prescriber_may_not_move_or_cancel_a_therapy_session(world, course):
    therapy = book(world.therapist, world.client).first
    with pytest.raises(PermissionDenied):
        services.appointment_reschedule(
            actor=world.prescriber, appointment_id=therapy.pk, version=1,
            starts_at=at(2027, 3, 2, 10),
        )  # fmt: skip
    with pytest.raises(PermissionDenied):
        services.appointment_cancel(
            actor=world.prescriber, appointment_id=therapy.pk, version=1, reason="x"
        )
    therapy.refresh_from_db()
    assert therapy.status == "scheduled" and Appointment.objects.count() == 1


def test_partner_prescriber_may_not_change_a_follow_up_they_do_not_take_part_in(world, course):
    # A colleague's follow-up with the same client: seen, not theirs to change.
    colleague = member(world.partner, Role.PRESCRIBER, licences=[("NP", "OR")])
    on_team(world.client, colleague, role="prescriber", added_by=world.therapist.user)
    other = book(world.therapist, world.client, kind="followup", prescriber_id=colleague.pk).first
    with pytest.raises(PermissionDenied):
        services.appointment_cancel(
            actor=world.prescriber, appointment_id=other.pk, version=1, reason="x"
        )


def test_the_practices_own_clinicians_still_change_every_kind(world, course):
    followup = book(world.prescriber, None, kind="followup", course_ids=[course.pk]).first
    services.appointment_cancel(
        actor=world.therapist, appointment_id=followup.pk, version=1, reason="Moved to video."
    )
    assert Appointment.objects.get(pk=followup.pk).status == "cancelled"
    event = AuditEvent.objects.get(action="appointment.cancel")
    assert (event.actor_id, event.target_id) == (world.therapist.user_id, followup.pk)


# ---- the integration window: the service -----------------------------------------------------


def _dosing(world, course, starts_at=None):
    return book(
        world.therapist, None, kind="dosing", course_ids=[course.pk], telehealth=True,
        starts_at=starts_at or at(2027, 3, 1, 9),
    ).first  # fmt: skip


def test_integration_booked_16_days_after_its_dosing_warns(world, course):
    _dosing(world, course)
    with pytest.raises(services.ConfirmationRequired) as warned:
        book(world.therapist, None, kind="integration", course_ids=[course.pk],
             starts_at=at(2027, 3, 17, 9), confirm=False)  # fmt: skip
    [reason] = [r for r in warned.value.reasons if r.code == "integration.outside_window"]
    assert (
        "16 days after the dosing session" in reason.message and "within 72 hours" in reason.message
    )
    booked = book(world.therapist, None, kind="integration", course_ids=[course.pk],
                  starts_at=at(2027, 3, 17, 9))  # fmt: skip
    assert "integration.outside_window" in [r.code for r in booked.warnings]


def test_integration_within_the_window_does_not_warn(world, course):
    _dosing(world, course)
    booked = book(world.therapist, None, kind="integration", course_ids=[course.pk],
                  starts_at=at(2027, 3, 3, 9), confirm=False)  # fmt: skip
    assert booked.warnings == []


def test_integration_rescheduled_16_days_after_its_dosing_warns(world, course):
    dosing = _dosing(world, course)
    integration = book(world.therapist, None, kind="integration", course_ids=[course.pk],
                       starts_at=at(2027, 3, 2, 9)).first  # fmt: skip
    assert integration.kind == "integration" and dosing.kind == "dosing"
    with pytest.raises(services.ConfirmationRequired) as warned:
        services.appointment_reschedule(
            actor=world.therapist, appointment_id=integration.pk, version=1,
            starts_at=at(2027, 3, 17, 9),
        )  # fmt: skip
    assert "integration.outside_window" in [r.code for r in warned.value.reasons]


def test_the_practice_can_refuse_a_late_integration(world, course):
    SchedulingSettings.objects.create(organisation=world.practice, integration_late_refused=True)
    _dosing(world, course)
    integration = book(world.therapist, None, kind="integration", course_ids=[course.pk],
                       starts_at=at(2027, 3, 2, 9)).first  # fmt: skip
    before = Appointment.objects.count()
    with pytest.raises(DomainError) as refused:
        services.appointment_reschedule(
            actor=world.therapist, appointment_id=integration.pk, version=1,
            starts_at=at(2027, 3, 17, 9), confirm=True,
        )  # fmt: skip
    assert refused.value.code == "integration.outside_window" and refused.value.field == "starts_at"
    with pytest.raises(DomainError):
        book(world.therapist, None, kind="integration", course_ids=[course.pk],
             starts_at=at(2027, 3, 20, 9))  # fmt: skip
    assert Appointment.objects.count() == before


def test_the_integration_setting_is_saved(world):
    saved = services.scheduling_settings_update(
        actor=world.admin, group_size_max=6, reminder_offsets=[1440], reminder_sms=False,
        integration_late_refused=True,
    )  # fmt: skip
    assert saved.integration_late_refused is True


# ---- the API ---------------------------------------------------------------------------------

BODY = {"kind": "therapy", "starts_at": "2027-03-01T10:00:00-08:00", "telehealth": True}


def test_api_refuses_unlicensed_telehealth_with_409_naming_clinician_and_state(
    client, world, californian
):
    got = _post(
        client, "/appointments", BODY | {"client_ids": [californian.pk]}, _token(world.therapist)
    )
    assert got.status_code == 409, got.content
    [error] = got.json()["errors"]
    assert error["field"] == "therapist" and error["code"] == "licence.state_mismatch"
    assert world.therapist.user.full_name in error["message"] and "California" in error["message"]
    assert not Appointment.objects.exists()


def test_api_partner_prescriber_therapy_403_follow_up_201(client, world, course):
    h = _token(world.prescriber)
    therapy = _post(client, "/appointments", BODY | {"course_ids": [course.pk]}, h)
    assert therapy.status_code == 403 and therapy.json()["errors"][0]["code"] == "permission_denied"
    theirs = book(world.therapist, world.client).first
    moved = _post(
        client,
        f"/appointments/{theirs.pk}/reschedule",
        {"version": 1, "starts_at": "2027-03-02T10:00:00-08:00"},
        h,
    )
    assert moved.status_code == 403
    cancelled = _post(client, f"/appointments/{theirs.pk}/cancel", {"version": 1, "reason": "x"}, h)
    assert cancelled.status_code == 403
    own = _post(
        client,
        "/appointments",
        BODY
        | {"kind": "followup", "course_ids": [course.pk], "starts_at": "2027-03-03T10:00:00-08:00"},
        h,
    )
    assert own.status_code == 201, own.content


def test_api_late_integration_warns_then_books_with_the_warning(client, world, course):
    _dosing(world, course)
    h = _token(world.therapist)
    body = {"kind": "integration", "starts_at": "2027-03-17T09:00:00-08:00", "telehealth": True,
            "course_ids": [course.pk]}  # fmt: skip
    warned = _post(client, "/appointments", body, h)
    assert warned.status_code == 409
    assert "integration.outside_window" in [e["code"] for e in warned.json()["errors"]]
    booked = _post(client, "/appointments", body | {"confirm": True}, h)
    assert booked.status_code == 201
    assert "integration.outside_window" in [w["code"] for w in booked.json()["warnings"]]


# ---- the pages -------------------------------------------------------------------------------


def test_book_page_shows_the_licence_refusal_by_the_therapist(client, world, californian):
    sign_in(client, world.therapist.user)
    data = {"kind": "therapy", "clients": [californian.pk], "starts_at": "2027-03-01T10:00",
            "telehealth": "on", "confirm": "on"}  # fmt: skip
    got = client.post("/schedule/book/", data)
    assert got.status_code == 422
    body = got.content.decode()
    error = body.split('id="id_therapist_error"')[1].split("</ul>")[0]
    assert "California" in error and world.therapist.user.full_name in error
    assert not Appointment.objects.exists()


def test_partner_prescriber_pages_hide_and_refuse_therapy_changes(client, world, course):
    therapy = book(world.therapist, world.client).first
    followup = book(world.prescriber, None, kind="followup", course_ids=[course.pk],
                    starts_at=at(2027, 3, 3, 9)).first  # fmt: skip
    sign_in(client, world.prescriber.user)
    detail = client.get(f"/schedule/{therapy.pk}/").content.decode()
    assert "Reschedule" not in detail and f"/schedule/{therapy.pk}/cancel/" not in detail
    assert client.get(f"/schedule/{therapy.pk}/reschedule/").status_code == 403
    assert (
        client.post(f"/schedule/{therapy.pk}/cancel/", {"reason": "x", "version": 1}).status_code
        == 403
    )
    assert Appointment.objects.get(pk=therapy.pk).status == "scheduled"
    own = client.get(f"/schedule/{followup.pk}/").content.decode()
    assert f"/schedule/{followup.pk}/reschedule/" in own
    book_page = client.get(f"/schedule/book/?course={course.pk}").content.decode()
    assert 'value="followup"' in book_page and 'value="therapy"' not in book_page
    course_page = client.get(f"/courses/{course.pk}/").content.decode()
    assert "Book a dosing session" not in course_page and "Book a medical follow-up" in course_page
    refused = client.post("/schedule/book/", {"kind": "therapy", "clients": [world.client.pk],
                                              "starts_at": "2027-03-04T10:00", "telehealth": "on"})  # fmt: skip
    assert refused.status_code in (403, 422) and Appointment.objects.count() == 2


def test_reschedule_page_warns_then_refuses_a_late_integration(client, world, course):
    _dosing(world, course)
    integration = book(world.therapist, None, kind="integration", course_ids=[course.pk],
                       starts_at=at(2027, 3, 2, 9)).first  # fmt: skip
    sign_in(client, world.therapist.user)
    url = f"/schedule/{integration.pk}/reschedule/"
    warned = client.post(url, {"starts_at": "2027-03-17T09:00", "version": 1})
    assert warned.status_code == 200 and "integration.outside_window" in warned.content.decode()
    SchedulingSettings.objects.create(organisation=world.practice, integration_late_refused=True)
    refused = client.post(url, {"starts_at": "2027-03-17T09:00", "version": 1, "confirm": "on"})
    assert refused.status_code == 422
    error = refused.content.decode().split('id="id_starts_at_error"')[1].split("</ul>")[0]
    assert "within 72 hours" in error
    assert Appointment.objects.get(pk=integration.pk).status == "scheduled"


def test_settings_page_turns_the_refusal_on(client, world):
    sign_in(client, world.admin.user)
    got = client.post("/schedule/rooms/", {"action": "settings", "group_size_max": 6,
                                           "reminder_offsets": "1440", "integration_late_refused": "on"})  # fmt: skip
    assert got.status_code == 302
    assert SchedulingSettings.objects.get(organisation=world.practice).integration_late_refused
