# ruff: noqa: E501  (call sites kept one argument list per line)
"""Scheduling services: booking, clashes refused with every reason, warnings confirmed,
series, groups, dosing gate warnings and the integration session, reschedule with
optimistic concurrency, cancel with a reason, marking, availability, rooms and feeds."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError

from kapflow.accounts.models import Role
from kapflow.audit.models import AuditEvent
from kapflow.clinical.scheduling import Recurrence
from kapflow.core.errors import DomainError, NotFound
from kapflow.scheduling import services
from kapflow.scheduling.models import (
    Appointment,
    AppointmentParticipant,
    AppointmentSeries,
    AvailabilityRule,
    CalendarFeed,
    SchedulingSettings,
)
from tests.accounts.factories import member
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory, on_team
from tests.scheduling.factories import at, book, room


def _counts():
    return (Appointment.objects.count(), AppointmentParticipant.objects.count(),
            AppointmentSeries.objects.count())  # fmt: skip


def test_book_a_therapy_session_with_the_default_length(world):
    booking = book(world.therapist, world.client, confirm=False)
    appt = booking.first
    assert appt.duration_minutes == 60
    assert appt.time_zone == "America/Los_Angeles"
    assert appt.starts_at.astimezone(UTC) == datetime(2027, 3, 1, 18, tzinfo=UTC)
    roles = sorted(appt.participants.values_list("role", flat=True))
    assert roles == ["client", "therapist"]
    assert AuditEvent.objects.filter(action="appointment.book", client_id=world.client.pk).exists()


def test_clashes_are_refused_with_every_reason_and_no_other_client_named(world):
    cedar = room(world.practice)
    book(world.therapist, world.client, room_id=cedar.pk)
    other = ClientFactory(organisation=world.practice)
    on_team(other, world.therapist)
    before = _counts()
    with pytest.raises(services.SchedulingConflict) as caught:
        book(world.therapist, other, room_id=cedar.pk, starts_at=at(2027, 3, 1, 10, 30))
    codes = [r.code for r in caught.value.reasons]
    assert codes == ["clash.person", "clash.room"]
    text = caught.value.message
    assert world.client.legal_last_name not in text and "Therapy" not in text
    assert "10:00 to 11:00 PST" in text
    assert _counts() == before


def test_touching_appointments_do_not_clash(world):
    book(world.therapist, world.client)
    book(world.therapist, world.unreferred, starts_at=at(2027, 3, 1, 11))
    assert Appointment.objects.count() == 2


def test_cancelled_appointments_free_the_slot(world):
    appt = book(world.therapist, world.client).first
    services.appointment_cancel(
        actor=world.therapist, appointment_id=appt.pk, version=1, reason="Ill."
    )
    book(world.therapist, world.unreferred)
    assert Appointment.objects.filter(status="scheduled").count() == 1


def test_the_client_cannot_be_double_booked(world):
    on_team(world.client, world.therapist2)
    book(world.therapist, world.client)
    with pytest.raises(services.SchedulingConflict) as caught:
        book(world.admin, world.client, therapist_id=world.therapist2.pk,
             starts_at=at(2027, 3, 1, 10, 30))  # fmt: skip
    assert caught.value.reasons[0].message.startswith(f"Client #{world.client.pk} already")


def test_outside_hours_warns_and_books_only_when_confirmed(world):
    services.availability_rule_add(
        actor=world.therapist, membership_id=world.therapist.pk, weekday=0,
        start_time=time(9), end_time=time(17),
    )  # fmt: skip
    with pytest.raises(services.ConfirmationRequired) as caught:
        book(world.therapist, world.client, starts_at=at(2027, 3, 1, 18), confirm=False)
    assert [r.code for r in caught.value.reasons] == ["availability.outside_hours"]
    assert not Appointment.objects.exists()
    booking = book(world.therapist, world.client, starts_at=at(2027, 3, 1, 18), confirm=True)
    assert [r.code for r in booking.warnings] == ["availability.outside_hours"]


def test_time_off_warns(world):
    services.availability_exception_add(
        actor=world.admin, membership_id=world.therapist.pk, starts_at=at(2027, 3, 1),
        ends_at=at(2027, 3, 2), reason="Conference",
    )  # fmt: skip
    with pytest.raises(services.ConfirmationRequired) as caught:
        book(world.therapist, world.client, confirm=False)
    assert caught.value.reasons[0].code == "availability.time_off"


def test_weekly_series_keeps_local_time_across_dst(world):
    booking = book(world.therapist, world.client, starts_at=at(2027, 3, 1, 10),
                   recurrence=Recurrence(count=4))  # fmt: skip
    assert len(booking.appointments) == 4
    hours = {a.starts_at.astimezone(at(2027, 1, 1).tzinfo).hour for a in booking.appointments}
    assert hours == {10}  # 14 March 2027 is the US change
    assert AppointmentSeries.objects.get().rrule == "FREQ=WEEKLY;INTERVAL=1;COUNT=4"


def test_series_with_one_clash_books_nothing(world):
    book(world.therapist, world.unreferred, starts_at=at(2027, 3, 15, 10))
    before = _counts()
    with pytest.raises(services.SchedulingConflict) as caught:
        book(world.therapist, world.client, recurrence=Recurrence(count=4))
    assert [r.code for r in caught.value.reasons] == ["clash.person"]  # the therapist, 15 March
    assert _counts() == before


def test_group_session_each_client_with_their_course(world):
    courses = []
    for _ in range(3):
        c = ClientFactory(organisation=world.practice)
        on_team(c, world.therapist)
        courses.append(make_course(c, world.therapist, stage="active"))
    booking = book(world.therapist, None, kind="integration", course_ids=[c.pk for c in courses])
    appt = booking.first
    assert appt.is_group and appt.course_id is None
    rows = appt.participants.filter(role="client")
    assert {(r.client_id, r.course_id) for r in rows} == {(c.client_id, c.pk) for c in courses}


def test_group_size_is_capped_per_practice(world):
    SchedulingSettings.objects.create(organisation=world.practice, group_size_max=2)
    clients = [ClientFactory(organisation=world.practice) for _ in range(3)]
    for c in clients:
        on_team(c, world.therapist)
    with pytest.raises(ValidationError) as caught:
        book(world.therapist, None, kind="integration", client_ids=[c.pk for c in clients])
    assert "at most 2" in str(caught.value.message_dict["client"])
    assert not Appointment.objects.exists()


def test_only_dosing_and_integration_hold_groups(world):
    with pytest.raises(ValidationError) as caught:
        book(
            world.therapist, None, kind="therapy", client_ids=[world.client.pk, world.unreferred.pk]
        )
    assert "client" in caught.value.message_dict


def test_dosing_booking_warns_with_every_gate_reason(world):
    course = make_course(world.client, world.therapist, stage="intake")
    with pytest.raises(services.ConfirmationRequired) as caught:
        book(world.therapist, None, kind="dosing", course_ids=[course.pk], confirm=False)
    codes = [r.code for r in caught.value.reasons]
    assert "stage.not_active" in codes and "prescription.missing" in codes
    assert caught.value.reasons[0].overridable is False  # hard reasons first
    booking = book(world.therapist, None, kind="dosing", course_ids=[course.pk])
    assert booking.first.duration_minutes == 180
    assert {r.code for r in booking.warnings} >= {"stage.not_active"}


def test_dosing_books_the_integration_session_within_the_window(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    booking = book(world.therapist, None, kind="dosing", course_ids=[course.pk],
                   integration_starts_at=at(2027, 3, 2, 10))  # fmt: skip
    dosing, integration = booking.appointments
    assert integration.kind == "integration" and integration.follows_id == dosing.pk
    assert integration.duration_minutes == 60


@pytest.mark.parametrize("when", [(2027, 3, 1, 12), (2027, 3, 4, 10, 1)])
def test_integration_outside_the_window_is_refused(world, when):
    course = make_course(world.client, world.therapist, stage="active")
    with pytest.raises(ValidationError) as caught:
        book(world.therapist, None, kind="dosing", course_ids=[course.pk],
             integration_starts_at=at(*when))  # fmt: skip
    assert "integration_starts_at" in caught.value.message_dict
    assert not Appointment.objects.exists()


def test_at_home_dosing_adds_the_companion_and_needs_telehealth(world):
    course = make_course(world.client, world.therapist, stage="active", delivery="at_home")
    appt = book(world.therapist, None, kind="dosing", course_ids=[course.pk]).first
    assert appt.participants.filter(role="companion").count() == 1
    cedar = room(world.practice)
    with pytest.raises(ValidationError):
        book(world.therapist, None, kind="dosing", course_ids=[course.pk], room_id=cedar.pk,
             starts_at=at(2027, 3, 8, 10))  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "party"}, "kind"),
        ({"minutes": 5}, "minutes"),
        ({"telehealth": False}, "room"),
        ({"starts_at": datetime(2020, 1, 1, tzinfo=UTC)}, "starts_at"),
        ({"starts_at": datetime(2027, 3, 1, 10)}, "starts_at"),
        ({"telehealth_url": "http://x.example"}, "telehealth_url"),
        ({"recurrence": Recurrence(interval=3, count=2)}, "repeat_interval"),
        ({"therapist_id": 10**9}, "therapist"),
    ],
)
def test_invalid_bookings_name_the_field(world, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        book(world.therapist, world.client, **kwargs)
    assert field in caught.value.message_dict
    assert not Appointment.objects.exists()


def test_other_practices_and_billers_get_not_found(world):
    with pytest.raises(NotFound):
        book(world.other_therapist, world.client)
    with pytest.raises(NotFound):
        book(world.biller, world.client)
    with pytest.raises(NotFound):
        book(world.therapist2, world.client)  # not on the client's care team


def test_reschedule_keeps_history_and_rechecks_clashes(world):
    appt = book(world.therapist, world.client).first
    book(world.therapist, world.unreferred, starts_at=at(2027, 3, 2, 10))
    with pytest.raises(services.SchedulingConflict):
        services.appointment_reschedule(actor=world.therapist, appointment_id=appt.pk, version=1,
                                        starts_at=at(2027, 3, 2, 10, 30))  # fmt: skip
    moved = services.appointment_reschedule(
        actor=world.therapist, appointment_id=appt.pk, version=1, starts_at=at(2027, 3, 3, 10),
        reason="Client asked",
    ).first  # fmt: skip
    appt.refresh_from_db()
    assert appt.status == "rescheduled" and appt.version == 2
    assert moved.rescheduled_from_id == appt.pk and moved.starts_at == at(2027, 3, 3, 10)
    assert not appt.participants.filter(live=True).exists()
    assert moved.participants.count() == 2


def test_reschedule_with_a_stale_version_is_refused(world):
    appt = book(world.therapist, world.client).first
    services.appointment_reschedule(actor=world.therapist, appointment_id=appt.pk, version=1,
                                    starts_at=at(2027, 3, 3, 10))  # fmt: skip
    with pytest.raises(DomainError) as caught:
        services.appointment_cancel(actor=world.therapist, appointment_id=appt.pk, version=1,
                                    reason="x")  # fmt: skip
    assert caught.value.code == "scheduling.stale"


def test_moving_a_dosing_session_carries_its_integration(world):
    course = make_course(world.client, world.therapist, stage="active")
    dosing, integration = book(world.therapist, None, kind="dosing", course_ids=[course.pk],
                               integration_starts_at=at(2027, 3, 2, 10)).appointments  # fmt: skip
    with pytest.raises(services.ConfirmationRequired) as caught:
        services.appointment_reschedule(actor=world.therapist, appointment_id=dosing.pk,
                                        version=1, starts_at=at(2027, 3, 8, 10))  # fmt: skip
    assert "integration.outside_window" in [r.code for r in caught.value.reasons]
    moved = services.appointment_reschedule(
        actor=world.therapist, appointment_id=dosing.pk, version=1,
        starts_at=at(2027, 3, 1, 14), confirm=True,
    ).first  # fmt: skip
    integration.refresh_from_db()
    assert integration.follows_id == moved.pk


def test_cancel_needs_a_reason(world):
    appt = book(world.therapist, world.client).first
    with pytest.raises(ValidationError) as caught:
        services.appointment_cancel(
            actor=world.therapist, appointment_id=appt.pk, version=1, reason=" "
        )
    assert "reason" in caught.value.message_dict
    appt.refresh_from_db()
    assert appt.status == "scheduled"
    done = services.appointment_cancel(actor=world.admin, appointment_id=appt.pk, version=1,
                                       reason="Weather")  # fmt: skip
    assert (done.status, done.status_reason, done.version) == ("cancelled", "Weather", 2)
    with pytest.raises(DomainError):
        services.appointment_cancel(
            actor=world.admin, appointment_id=appt.pk, version=2, reason="x"
        )


def test_mark_completed_or_no_show_only_after_the_start(world):
    appt = book(world.therapist, world.client).first
    with pytest.raises(ValidationError):
        services.appointment_mark(actor=world.therapist, appointment_id=appt.pk, version=1,
                                  status="completed")  # fmt: skip
    later = at(2027, 3, 1, 10, 30)
    done = services.appointment_mark(actor=world.therapist, appointment_id=appt.pk, version=1,
                                     status="no_show", reason="No reply to two calls.",
                                     now=later)  # fmt: skip
    assert done.status == "no_show"
    assert not done.participants.filter(live=True).exists()


def test_availability_is_the_clinicians_own_or_an_admins(world):
    kwargs = {"weekday": 1, "start_time": time(9), "end_time": time(12)}
    services.availability_rule_add(actor=world.admin, membership_id=world.therapist.pk, **kwargs)
    with pytest.raises(NotFound):
        services.availability_rule_add(
            actor=world.therapist2, membership_id=world.therapist.pk, **kwargs
        )
    with pytest.raises(NotFound):
        services.availability_rule_add(
            actor=world.other_admin, membership_id=world.therapist.pk, **kwargs
        )
    with pytest.raises(ValidationError) as caught:
        services.availability_rule_add(actor=world.therapist, membership_id=world.therapist.pk,
                                       weekday=1, start_time=time(12), end_time=time(9))  # fmt: skip
    assert "end_time" in caught.value.message_dict
    assert AvailabilityRule.objects.get().time_zone == "America/Los_Angeles"


def test_rooms_are_managed_by_admins(world):
    made = services.room_create(actor=world.admin, name="Birch")
    with pytest.raises(ValidationError):
        services.room_create(actor=world.admin, name="birch")
    with pytest.raises(NotFound):
        services.room_create(actor=world.therapist, name="Oak")
    services.room_update(
        actor=world.admin, room_id=made.pk, name="Birch", capacity=2, is_active=False
    )
    with pytest.raises(ValidationError):
        book(world.therapist, world.client, room_id=made.pk)  # inactive


def test_calendar_feed_create_replaces_and_revoke(world):
    first, raw1 = services.calendar_feed_create(actor=world.therapist)
    _second, raw2 = services.calendar_feed_create(actor=world.therapist)
    assert raw1 != raw2 and raw1 not in first.token_hash
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert services.calendar_feed_revoke(actor=world.therapist) == 1
    assert not CalendarFeed.objects.filter(revoked_at__isnull=True).exists()
    with pytest.raises(NotFound):
        services.calendar_feed_create(actor=world.companion)


def test_a_partner_prescriber_books_a_medical_evaluation(world):
    course = make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage="referred"
    )
    appt = book(world.prescriber, None, kind="medical_evaluation", course_ids=[course.pk]).first
    assert appt.organisation_id == world.practice.pk
    roles = set(appt.participants.values_list("role", flat=True))
    assert roles == {"client", "therapist", "prescriber"}


def test_a_prescriber_of_an_unrelated_partner_cannot_be_named(world):
    from tests.accounts.factories import PartnerFactory

    stranger = member(PartnerFactory(), Role.PRESCRIBER)
    with pytest.raises(ValidationError) as caught:
        book(world.therapist, world.client, prescriber_id=stranger.pk)
    assert "prescriber" in caught.value.message_dict


def test_settings_update(world):
    s = services.scheduling_settings_update(actor=world.admin, group_size_max=4,
                                            reminder_offsets=[60, 1440], reminder_sms=True)  # fmt: skip
    assert (s.group_size_max, s.reminder_offsets) == (4, [1440, 60])
    with pytest.raises(ValidationError):
        services.scheduling_settings_update(actor=world.admin, group_size_max=4,
                                            reminder_offsets=[-1], reminder_sms=False)  # fmt: skip
    assert services.reminder_offsets(SchedulingSettings(organisation=world.other)) == [120, 1440]
    _ = timedelta


def test_an_integration_clash_books_neither_session(world):
    course = make_course(world.client, world.therapist, stage="active")
    book(world.therapist, world.unreferred, starts_at=at(2027, 3, 2, 10))
    before = _counts()
    with pytest.raises(services.SchedulingConflict):
        book(world.therapist, None, kind="dosing", course_ids=[course.pk],
             integration_starts_at=at(2027, 3, 2, 10, 30))  # fmt: skip
    assert _counts() == before


def test_group_dosing_checks_each_clients_gate(world):
    ready = make_course(world.client, world.therapist, stage="active")
    other = ClientFactory(organisation=world.practice)
    on_team(other, world.therapist)
    early = make_course(other, world.therapist, stage="intake")
    with pytest.raises(services.ConfirmationRequired) as caught:
        book(world.therapist, None, kind="dosing", course_ids=[ready.pk, early.pk], confirm=False)
    flagged = [r.message for r in caught.value.reasons if r.code == "stage.not_active"]
    assert flagged and all(m.startswith(f"Client #{other.pk}:") for m in flagged)


def test_cancel_this_and_the_following_of_a_series(world):
    first, second, third = book(
        world.therapist, world.client, recurrence=Recurrence(count=3)
    ).appointments
    services.appointment_cancel(actor=world.therapist, appointment_id=second.pk, version=1,
                                reason="Moving away", following=True)  # fmt: skip
    statuses = dict(Appointment.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "scheduled", second.pk: "cancelled", third.pk: "cancelled"}
    assert AuditEvent.objects.filter(action="appointment.cancel").count() == 2
