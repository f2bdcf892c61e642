"""The public request: submit, confirm (into the pipeline), cancel, move, holds that lapse,
abuse defences, and nothing half-saved; the practice's side and its permissions."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import TestCase

from kapflow.core.errors import DomainError, NotFound
from kapflow.courses.models import Course
from kapflow.directory import selectors, services
from kapflow.directory.models import Inquiry, InquiryStatus
from kapflow.patients.models import Client
from tests.directory.factories import hours, publish

pytestmark = pytest.mark.django_db

PERSON = {
    "first_name": "Robin",
    "last_name": "Example",
    "email": "robin@example.test",
    "phone": "",
    "date_of_birth": "1980-05-01",
    "client_state": "OR",
    "message": "Hello",
}


@pytest.fixture
def card(world, frozen):
    hours(world.therapist)
    hours(world.prescriber)
    _practice, card = publish(world)
    return card


def _token_from(message) -> str:
    line = next(w for w in message.body.split() if "/consultation/" in w)
    return line.rstrip("/").rsplit("/", 1)[-1]


def submit(card, **kwargs):
    mail.outbox.clear()
    args = {"clinician_slug": card.slug, "data": dict(PERSON), "address": "203.0.113.5"}
    with TestCase.captureOnCommitCallbacks(execute=True):
        inquiry = services.inquiry_submit(**(args | kwargs))
    return inquiry, _token_from(mail.outbox[-1])


def test_slots_and_joint_slots(card, frozen):
    slots = selectors.slots_for(card)
    # Monday 08:00 Pacific + 24 h notice: Tuesday 09:00 Pacific (17:00 UTC) is first.
    assert slots.own[0].starts_at == frozen + timedelta(days=1, hours=1)
    assert slots.joint[0].starts_at == slots.own[0].starts_at


def test_request_holds_the_slot_and_confirm_enters_the_pipeline(card, world, frozen):
    slot = selectors.slots_for(card).joint[0]
    inquiry, token = submit(card, slot_starts_at=slot.starts_at, joint=True, prescreen={
        "fit": "discuss", "topics": ["x"], "finding_codes": ["interaction.maoi"]})  # fmt: skip
    assert inquiry.status == InquiryStatus.PENDING
    assert "robin" not in mail.outbox[-1].body.lower()
    # Held: neither clinician offers that time now.
    assert selectors.slots_for(card).joint[0].starts_at != slot.starts_at
    assert Course.objects.for_org(world.practice).count() == 0  # nothing before confirming

    mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        confirmed = services.inquiry_confirm(token=token)
    assert confirmed.status == InquiryStatus.CONFIRMED
    course = Course.objects.get(pk=confirmed.course_id)
    assert course.stage == "inquiry"
    assert course.therapist_id == world.therapist.pk
    assert course.prescriber_id == world.prescriber.pk
    assert course.client.legal_last_name == "Example"
    event = course.events.get()
    assert event.data["prescreen"]["fit"] == "discuss"
    subjects = {m.subject: m for m in mail.outbox}
    notice = subjects["A new consultation request is waiting"]
    assert "Example" not in notice.body and "robin" not in notice.body.lower()
    assert world.admin.user.email in notice.to
    mine = next(m for m in mail.outbox if m.to == ["robin@example.test"])
    assert mine.attachments[0][0] == "consultation.ics"
    assert b"BEGIN:VEVENT" in mine.attachments[0][1].encode() if isinstance(
        mine.attachments[0][1], str) else b"BEGIN:VEVENT" in mine.attachments[0][1]  # fmt: skip


def test_second_request_for_a_held_slot_is_refused(card, frozen):
    slot = selectors.slots_for(card).own[0]
    submit(card, slot_starts_at=slot.starts_at)
    before = Inquiry.objects.count()
    with pytest.raises(services.SlotTaken):
        submit(card, slot_starts_at=slot.starts_at, data=PERSON | {"email": "b@example.test"})
    assert Inquiry.objects.count() == before


def test_unconfirmed_hold_lapses(card, frozen):
    slot = selectors.slots_for(card).own[0]
    inquiry, _token = submit(card, slot_starts_at=slot.starts_at)
    with time_machine.travel(frozen + services.PENDING_HOLD + timedelta(minutes=1), tick=False):
        assert services.inquiry_holds_expire() == 1
        assert Inquiry.objects.get(pk=inquiry.pk).status == InquiryStatus.EXPIRED
        assert selectors.slots_for(card).own[0].starts_at == slot.starts_at


def test_cancel_and_move_from_the_link(card, frozen):
    slots = selectors.slots_for(card).own
    inquiry, token = submit(card, slot_starts_at=slots[0].starts_at)
    moved = services.inquiry_move(token=token, slot_starts_at=slots[1].starts_at)
    assert moved.slot_starts_at == slots[1].starts_at
    with pytest.raises(services.SlotTaken):
        services.inquiry_move(token=token, slot_starts_at=slots[0].starts_at + timedelta(minutes=7))
    services.inquiry_cancel(token=token)
    assert Inquiry.objects.get(pk=inquiry.pk).status == InquiryStatus.CANCELLED
    with pytest.raises(NotFound):
        services.inquiry_cancel(token="not-a-token")


def test_honeypot_and_bad_input_save_nothing(card):
    with pytest.raises(ValidationError) as caught:
        submit(card, data=PERSON | {"website": "http://spam.example"})
    assert "website" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        submit(card, data=PERSON | {"email": "nope", "date_of_birth": "2015-01-01",
                                    "first_name": "x" * 101})  # fmt: skip
    assert {"email", "date_of_birth", "first_name"} <= set(caught.value.message_dict)
    with pytest.raises(ValidationError):
        submit(card, data=PERSON | {"message": "m" * 2001})
    assert (
        Inquiry.objects.count() == 0 and Client.objects.filter(email=PERSON["email"]).count() == 0
    )


def test_rate_limit_per_address(card):
    for n in range(services.RATE_LIMIT):
        submit(card, data=PERSON | {"email": f"p{n}@example.test"})
    with pytest.raises(services.RateLimited):
        submit(card, data=PERSON | {"email": "late@example.test"})
    assert Inquiry.objects.count() == services.RATE_LIMIT


def test_rate_limit_per_email(card):
    for n in range(services.RATE_LIMIT):
        submit(card, address=f"198.51.100.{n}")
    with pytest.raises(services.RateLimited):
        submit(card, address="198.51.100.99")


def test_unpublished_clinician_takes_no_request(card, world):
    services.clinician_profile_save(
        actor=world.admin, membership_id=world.therapist.pk, data={"published": False}
    )
    with pytest.raises(NotFound):
        submit(card)


def test_practice_works_the_inquiry(card, world):
    _inquiry, token = submit(card)
    inquiry = services.inquiry_confirm(token=token)
    with pytest.raises(ValidationError):
        services.inquiry_update(actor=world.admin, inquiry_id=inquiry.pk, action="closed")
    done = services.inquiry_update(actor=world.therapist, inquiry_id=inquiry.pk, action="contacted")
    assert done.status == InquiryStatus.CONTACTED
    for outsider in (world.biller, world.other_admin, world.client_member):
        with pytest.raises(NotFound):
            services.inquiry_update(actor=outsider, inquiry_id=inquiry.pk, action="booked")
        with pytest.raises(NotFound):
            selectors.inquiry_get_for_actor(actor=outsider, inquiry_id=inquiry.pk)


def test_only_the_practice_admin_publishes(world):
    for actor in (world.therapist, world.biller, world.prescriber):
        with pytest.raises(NotFound):
            services.practice_profile_save(actor=actor, data={"display_name": "X"})


def test_profile_errors_name_the_field(world):
    with pytest.raises(ValidationError) as caught:
        services.practice_profile_save(
            actor=world.admin, data={"display_name": "A", "state": "OR", "zip_code": "99999"}
        )
    assert "zip_code" in caught.value.message_dict
    publish(world)
    with pytest.raises(ValidationError) as caught:
        services.clinician_profile_save(
            actor=world.admin, membership_id=world.therapist.pk,
            data={"price_min": 300, "price_max": 100, "modalities": ["bogus"]},
        )  # fmt: skip
    assert {"price_max", "modalities"} <= set(caught.value.message_dict)


def test_funnel_counts_by_month_and_source(card, world):
    for n in range(2):
        _i, token = submit(card, data=PERSON | {"email": f"f{n}@example.test"})
        services.inquiry_confirm(token=token)
    _i, _unconfirmed = submit(card, data=PERSON | {"email": "u@example.test"})
    first = Inquiry.objects.filter(status=InquiryStatus.CONFIRMED).order_by("pk").first()
    services.inquiry_update(actor=world.admin, inquiry_id=first.pk, action="converted")
    rows = selectors.funnel(actor=world.admin)
    assert [(r.source, r.requests, r.consultations, r.clients, r.first_dosing) for r in rows] == [
        ("directory", 2, 1, 1, 0)
    ]
    with pytest.raises(NotFound):
        selectors.funnel(actor=world.therapist)


def test_a_confirmed_request_may_not_be_confirmed_into_two_courses(card):
    _i, token = submit(card)
    services.inquiry_confirm(token=token)
    services.inquiry_confirm(token=token)
    assert Course.objects.count() == 1
    services.inquiry_cancel(token=token)
    with pytest.raises(DomainError):
        services.inquiry_confirm(token=token)


def test_the_course_a_request_opens_has_its_stored_facts(card):
    """A new write path that creates a course stores its facts (decision 0042)."""
    from kapflow.courses import selectors as course_selectors
    from kapflow.courses.models import CourseFacts

    _i, token = submit(card)
    inquiry = services.inquiry_confirm(token=token)
    assert CourseFacts.objects.filter(course_id=inquiry.course_id).exists()
    assert course_selectors.course_facts_drift() == {}
