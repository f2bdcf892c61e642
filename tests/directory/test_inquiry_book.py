"""Booking a held consultation from the inquiry page: the scheduling service books the
held slot for the inquiry's course with the slot's clinicians (a joint intake: therapist and
partner prescriber), the inquiry becomes booked and both are audited; a clash or a missing
licence refuses with the scheduling service's reasons and changes nothing."""

import pytest
from django.core import mail
from django.test import TestCase

from kapflow.audit.models import AuditEvent
from kapflow.core.errors import DomainError, NotFound
from kapflow.directory import selectors, services
from kapflow.directory.models import Inquiry, InquiryStatus
from kapflow.patients.models import CareTeamMember, Client
from kapflow.scheduling.models import Appointment, AppointmentKind
from kapflow.scheduling.services import LicenceRefused, SchedulingConflict, appointment_book
from tests.conftest import sign_in
from tests.directory.factories import hours, publish

pytestmark = pytest.mark.django_db

PERSON = {
    "first_name": "Robin", "last_name": "Example", "email": "robin@example.test", "phone": "",
    "date_of_birth": "1980-05-01", "client_state": "OR", "message": "",
}  # fmt: skip


@pytest.fixture
def card(world, frozen):
    hours(world.therapist)
    hours(world.prescriber)
    return publish(world)[1]


def confirmed(card, *, joint=True) -> Inquiry:
    slots = selectors.slots_for(card)
    slot = (slots.joint if joint else slots.own)[0]
    mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.inquiry_submit(
            clinician_slug=card.slug, data=dict(PERSON), address="203.0.113.5",
            slot_starts_at=slot.starts_at, joint=joint,
        )  # fmt: skip
    link = next(w for w in mail.outbox[-1].body.split() if "/consultation/" in w)
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.inquiry_confirm(token=link.rstrip("/").rsplit("/", 1)[-1])


def test_joint_intake_is_booked_with_both_clinicians(card, world):
    inquiry = confirmed(card)
    done, booking = services.inquiry_book(actor=world.admin, inquiry_id=inquiry.pk)
    assert done.status == InquiryStatus.BOOKED and done.hold_expires_at is None
    appt = booking.first
    assert appt.kind == AppointmentKind.CONSULTATION and appt.telehealth
    assert (appt.starts_at, appt.ends_at) == (inquiry.slot_starts_at, inquiry.slot_ends_at)
    people = {(p.role, p.membership_id or p.client_id) for p in appt.participants.all()}
    client_id = inquiry.course.client_id
    assert ("therapist", world.therapist.pk) in people
    assert ("prescriber", world.prescriber.pk) in people
    assert any(who == client_id for _, who in people)
    assert (
        appt.course_id == inquiry.course_id
        or appt.participants.filter(course_id=inquiry.course_id).exists()
    )
    assert CareTeamMember.objects.filter(
        client_id=client_id, membership=world.prescriber, ended_at__isnull=True
    ).exists()
    actions = set(AuditEvent.objects.filter(client_id=client_id).values_list("action", flat=True))
    assert {"appointment.book", "directory.inquiry_booked", "care_team.add"} <= actions
    # Booked once: a second press is refused, nothing doubled.
    with pytest.raises(DomainError):
        services.inquiry_book(actor=world.admin, inquiry_id=inquiry.pk)
    assert Appointment.objects.filter(kind=AppointmentKind.CONSULTATION).count() == 1


def test_own_slot_books_the_therapist_alone(card, world):
    inquiry = confirmed(card, joint=False)
    _done, booking = services.inquiry_book(actor=world.therapist, inquiry_id=inquiry.pk)
    staff = {p.membership_id for p in booking.first.participants.all() if p.membership_id}
    assert staff == {world.therapist.pk}


def test_clash_refuses_with_the_reason_and_changes_nothing(card, world):
    inquiry = confirmed(card)
    appointment_book(
        actor=world.admin, kind=AppointmentKind.THERAPY, starts_at=inquiry.slot_starts_at,
        client_ids=[world.client.pk], therapist_id=world.therapist.pk, telehealth=True,
        confirm=True,
    )  # fmt: skip
    with pytest.raises(SchedulingConflict) as caught:
        services.inquiry_book(actor=world.admin, inquiry_id=inquiry.pk)
    assert world.therapist.user.full_name in caught.value.message
    inquiry.refresh_from_db()
    assert inquiry.status == InquiryStatus.CONFIRMED
    assert not CareTeamMember.objects.filter(
        client_id=inquiry.course.client_id, membership=world.prescriber
    ).exists()
    assert not Appointment.objects.filter(kind=AppointmentKind.CONSULTATION).exists()


def test_licence_is_checked_where_the_client_is(card, world):
    inquiry = confirmed(card)
    Client.objects.filter(pk=inquiry.course.client_id).update(state="WA")
    with pytest.raises(LicenceRefused):
        services.inquiry_book(actor=world.admin, inquiry_id=inquiry.pk)
    assert Inquiry.objects.get(pk=inquiry.pk).status == InquiryStatus.CONFIRMED


def test_only_the_practice_books(card, world):
    inquiry = confirmed(card)
    for outsider in (world.biller, world.other_admin, world.client_member):
        with pytest.raises(NotFound):
            services.inquiry_book(actor=outsider, inquiry_id=inquiry.pk)


def test_the_inquiry_page_books_and_shows_a_clash(client, card, world):
    inquiry = confirmed(card)
    url = f"/directory/inquiries/{inquiry.pk}/"
    sign_in(client, world.admin.user)
    page = client.get(url)
    assert page.status_code == 200 and b"Book the consultation" in page.content
    appointment_book(
        actor=world.admin, kind=AppointmentKind.THERAPY, starts_at=inquiry.slot_starts_at,
        client_ids=[world.client.pk], therapist_id=world.therapist.pk, telehealth=True,
        confirm=True,
    )  # fmt: skip
    refused = client.post(url, {"op": "book", "room": ""})
    assert refused.status_code == 200
    assert world.therapist.user.full_name.encode() in refused.content
    assert Inquiry.objects.get(pk=inquiry.pk).status == InquiryStatus.CONFIRMED
    Appointment.objects.filter(kind=AppointmentKind.THERAPY).update(status="cancelled")
    from kapflow.scheduling.models import AppointmentParticipant

    AppointmentParticipant.objects.update(live=False)
    booked = client.post(url, {"op": "book", "room": ""})
    assert booked.status_code == 302
    assert Inquiry.objects.get(pk=inquiry.pk).status == InquiryStatus.BOOKED
    after = client.get(url)
    assert b"Book the consultation" not in after.content


def test_a_confirmed_request_waits_on_the_admins_caseload(client, card, world):
    """Issue 16's demo line: the confirmed request's course, at stage inquiry, is on the
    admin's caseload (/courses/), the open list and the inquiry stage's own filter."""
    from django.urls import reverse

    inquiry = confirmed(card)
    assert inquiry.course.stage == "inquiry"
    link = reverse("courses:detail", args=[inquiry.course_id]).encode()
    sign_in(client, world.admin.user)
    for url in ("/courses/", "/courses/?stage=inquiry", "/courses/?status=open"):
        page = client.get(url)
        assert page.status_code == 200 and link in page.content, url
