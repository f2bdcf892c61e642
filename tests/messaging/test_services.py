"""Secure-message services and selectors: who takes part, who sees what (not found for
everyone else), attachments, read receipts, notification e-mails and audit rows."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import Role
from kapflow.audit.models import AuditEvent
from kapflow.core.errors import NotFound, PermissionDenied
from kapflow.messaging import selectors, services
from kapflow.messaging.models import (
    Attachment,
    Message,
    MessageReceipt,
    Thread,
    ThreadKind,
    ThreadParticipant,
)
from kapflow.patients.models import CareTeamMember
from tests.accounts.factories import member
from tests.messaging.factories import (
    EXE,
    JPEG,
    PDF,
    PNG,
    TEXT,
    care_thread,
    partner_thread,
    upload,
)
from tests.patients.factories import ClientFactory, on_team


def _counts():
    return (
        Thread.objects.count(),
        ThreadParticipant.objects.count(),
        Message.objects.count(),
        Attachment.objects.count(),
        AuditEvent.objects.filter(action__startswith="message").count(),
    )


def _stored_files(media_root) -> list:
    return [p for p in media_root.rglob("*") if p.is_file()] if media_root.exists() else []


def _participant_users(thread) -> set[int]:
    return set(thread.participants.values_list("user_id", flat=True))


@pytest.fixture
def second_client(world):
    """Another client of the same practice, with their own portal sign-in."""
    membership = member(world.practice, Role.CLIENT)
    client = ClientFactory(organisation=world.practice, user=membership.user)
    on_team(client, world.therapist)
    return membership, client


# ---- who takes part -----------------------------------------------------------------------


def test_care_thread_participants_are_the_client_and_the_care_team(world):
    thread = care_thread(world)
    assert thread.kind == ThreadKind.CARE
    assert thread.organisation_id == world.practice.pk
    assert _participant_users(thread) == {
        world.client_member.user_id,
        world.therapist.user_id,
        world.prescriber.user_id,
    }
    # The client's participant row is their client membership; the prescriber's is the
    # partner membership on the care team.
    rows = {p.user_id: p.membership_id for p in thread.participants.all()}
    assert rows[world.prescriber.user_id] == world.prescriber.pk


def test_admin_who_starts_a_care_thread_takes_part(world):
    thread = care_thread(world, world.admin)
    assert world.admin.user_id in _participant_users(thread)
    assert world.client_member.user_id in _participant_users(thread)


def test_partner_thread_leaves_the_client_out(world):
    thread = partner_thread(world)
    assert _participant_users(thread) == {world.therapist.user_id, world.prescriber.user_id}
    assert not policy.message_threads_queryset(world.client_member).exists()
    with pytest.raises(NotFound):
        selectors.thread_detail(actor=world.client_member, thread_id=thread.pk)


def test_prescriber_can_start_the_partner_thread_too(world):
    thread = partner_thread(world, world.prescriber)
    assert _participant_users(thread) == {world.therapist.user_id, world.prescriber.user_id}


def test_client_is_kept_out_of_a_partner_thread_even_with_a_participant_row(world):
    thread = partner_thread(world)
    ThreadParticipant.objects.create(
        organisation=world.practice, thread=thread, user=world.client_member.user,
        membership=world.client_member, added_by=world.therapist.user,
    )  # fmt: skip
    with pytest.raises(NotFound):
        selectors.thread_detail(actor=world.client_member, thread_id=thread.pk)


ROLES_WITHOUT_ACCESS = [
    "admin",  # not a participant of a thread they did not start
    "therapist2",
    "biller",
    "companion",
    "other_admin",
    "other_therapist",
]


@pytest.mark.parametrize("role", ROLES_WITHOUT_ACCESS)
def test_messages_are_visible_only_to_thread_participants(world, role):
    thread = care_thread(world)
    message = thread.messages.get()
    actor = getattr(world, role)
    assert not policy.message_threads_queryset(actor).exists()
    with pytest.raises(NotFound):
        selectors.thread_detail(actor=actor, thread_id=thread.pk)
    with pytest.raises(NotFound):
        services.message_send(actor=actor, thread_id=thread.pk, body="Hello")
    with pytest.raises(NotFound):
        services.thread_mark_read(actor=actor, thread_id=thread.pk)
    assert Message.objects.filter(thread=thread).get() == message


@pytest.mark.parametrize("role", ["client_member", "therapist", "prescriber"])
def test_participants_see_the_thread(world, role):
    thread = care_thread(world)
    detail = selectors.thread_detail(actor=getattr(world, role), thread_id=thread.pk)
    assert [row.message.body for row in detail.rows] == ["Hello team"]


def test_another_client_of_the_same_practice_sees_nothing(world, second_client):
    other_member, _ = second_client
    thread = care_thread(world)
    assert not policy.message_threads_queryset(other_member).exists()
    with pytest.raises(NotFound):
        selectors.thread_detail(actor=other_member, thread_id=thread.pk)
    # Nor can they start a thread about world.client, or read their own list with it in it.
    with pytest.raises(NotFound):
        services.thread_start(
            actor=other_member, client_id=world.client.pk, kind="care", subject="Hi", body="Hi"
        )
    page = selectors.thread_list(actor=other_member)
    assert list(page.object_list) == []


def test_another_clients_own_thread_stays_theirs(world, second_client):
    other_member, other_client = second_client
    theirs = services.thread_start(
        actor=other_member, kind="care", subject="My question", body="Hello"
    )
    assert theirs.client_id == other_client.pk
    assert world.client_member.user_id not in _participant_users(theirs)
    with pytest.raises(NotFound):
        selectors.thread_detail(actor=world.client_member, thread_id=theirs.pk)


@pytest.mark.parametrize("role", ["biller", "companion", "therapist2", "other_admin"])
def test_starting_a_thread_about_a_client_out_of_reach_is_not_found(world, role):
    before = _counts()
    with pytest.raises(NotFound):
        services.thread_start(
            actor=getattr(world, role), client_id=world.client.pk, kind="care",
            subject="Hello", body="Hello",
        )  # fmt: skip
    assert _counts() == before


def test_admin_may_not_start_a_partner_thread(world):
    with pytest.raises(PermissionDenied):
        partner_thread(world, world.admin)


def test_client_may_not_start_a_partner_thread(world):
    with pytest.raises(PermissionDenied):
        services.thread_start(
            actor=world.client_member, kind=ThreadKind.PARTNER, subject="Hi", body="Hi"
        )


def test_partner_thread_needs_a_partner_prescriber_on_the_team(world):
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        services.thread_start(
            actor=world.therapist, client_id=world.unreferred.pk, kind="partner",
            subject="Hi", body="Hi",
        )  # fmt: skip
    assert "kind" in exc.value.message_dict
    assert _counts() == before


def test_care_thread_needs_the_clients_portal_sign_in(world):
    with pytest.raises(ValidationError) as exc:
        services.thread_start(
            actor=world.therapist, client_id=world.unreferred.pk, kind="care",
            subject="Hi", body="Hi",
        )  # fmt: skip
    assert "client_id" in exc.value.message_dict


def test_unknown_kind_is_refused(world):
    with pytest.raises(ValidationError) as exc:
        services.thread_start(
            actor=world.therapist, client_id=world.client.pk, kind="group", subject="Hi", body="Hi"
        )
    assert "kind" in exc.value.message_dict


def test_clinician_removed_from_the_team_loses_access(world):
    thread = care_thread(world)
    CareTeamMember.objects.filter(client=world.client, membership=world.therapist).update(
        ended_at=timezone.now(), ended_reason="Transferred"
    )
    with pytest.raises(NotFound):
        selectors.thread_detail(actor=world.therapist, thread_id=thread.pk)


# ---- messages -----------------------------------------------------------------------------


def test_reply_updates_the_thread_and_marks_the_author_read(world):
    thread = care_thread(world)
    message = services.message_send(actor=world.therapist, thread_id=thread.pk, body=" Noted. ")
    assert message.body == "Noted."
    thread.refresh_from_db()
    assert thread.last_message_at == message.created_at
    me = ThreadParticipant.objects.get(thread=thread, user=world.therapist.user)
    assert me.last_read_at == message.created_at


@pytest.mark.parametrize(
    ("body", "field"),
    [("", "body"), ("   ", "body"), ("x" * 10_001, "body"), ("null \x00 byte", "body")],
)
def test_bad_bodies_are_refused_and_nothing_is_saved(world, body, field):
    thread = care_thread(world)
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        services.message_send(actor=world.therapist, thread_id=thread.pk, body=body)
    assert field in exc.value.message_dict
    assert _counts() == before


def test_a_body_of_exactly_ten_thousand_characters_is_accepted(world):
    thread = care_thread(world)
    message = services.message_send(actor=world.therapist, thread_id=thread.pk, body="x" * 10_000)
    assert len(message.body) == 10_000


def test_urgent_notice_is_set_when_the_client_uses_crisis_words(world):
    thread = care_thread(world, body="I keep thinking I want to end my life")
    assert thread.messages.get().urgent_notice_shown is True
    calm = services.message_send(actor=world.client_member, thread_id=thread.pk, body="Thanks")
    assert calm.urgent_notice_shown is False


def test_staff_writing_clinical_words_get_no_crisis_notice(world):
    thread = care_thread(world)
    message = services.message_send(
        actor=world.therapist, thread_id=thread.pk, body="Overdose risk is low at this dose."
    )
    assert message.urgent_notice_shown is False


# ---- attachments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("labs.pdf", PDF, "application/pdf"),
        ("photo.PNG", PNG, "image/png"),
        ("scan.jpeg", JPEG, "image/jpeg"),
        ("scan.jpg", JPEG, "image/jpeg"),
        ("notes.txt", TEXT, "text/plain"),
    ],
)
def test_allowed_attachments_are_stored_privately_under_a_random_name(
    world, media_root, name, data, content_type
):
    thread = care_thread(world, attachments=[upload(name, data, "application/octet-stream")])
    attachment = Attachment.objects.get(message__thread=thread)
    assert attachment.content_type == content_type  # sniffed, not the browser's claim
    assert attachment.original_name == name
    assert attachment.size == len(data)
    assert attachment.file.name.startswith("private/messages/")
    assert name.split(".")[0] not in attachment.file.name
    assert (media_root / attachment.file.name).read_bytes() == data


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("report.pdf", PNG),  # a PNG pretending to be a PDF
        ("report.pdf", EXE),  # a program pretending to be a PDF
        ("photo.png", JPEG),
        ("notes.txt", EXE),
        ("notes.txt", b"\x00\x01\x02binary"),
        ("setup.exe", EXE),
        ("page.html", b"<html><script>alert(1)</script></html>"),
        ("noextension", PDF),
        ("empty.pdf", b""),
    ],
)
def test_spoofed_or_unsupported_attachments_are_refused(world, media_root, name, data):
    thread = care_thread(world)
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        services.message_send(
            actor=world.client_member, thread_id=thread.pk, body="See attached",
            attachments=[upload(name, data, "application/pdf")],
        )  # fmt: skip
    assert "attachments" in exc.value.message_dict
    # The error names the attachment by position, never by its (possibly identifying) name.
    assert name not in " ".join(exc.value.messages)
    assert _counts() == before
    assert _stored_files(media_root) == []


def test_attachments_over_five_megabytes_are_refused(world, media_root):
    thread = care_thread(world)
    big = PDF + b"0" * (5 * 1024 * 1024)
    with pytest.raises(ValidationError, match="larger than 5 MB"):
        services.message_send(
            actor=world.therapist, thread_id=thread.pk, body="x",
            attachments=[upload("big.pdf", big)],
        )  # fmt: skip
    assert _stored_files(media_root) == []


def test_exactly_five_megabytes_is_accepted(world):
    thread = care_thread(world)
    data = PDF + b"0" * (5 * 1024 * 1024 - len(PDF))
    message = services.message_send(
        actor=world.therapist, thread_id=thread.pk, body="",
        attachments=[upload("big.pdf", data)],
    )  # fmt: skip
    assert message.attachments.get().size == 5 * 1024 * 1024


def test_at_most_three_attachments(world, media_root):
    thread = care_thread(world)
    before = _counts()
    with pytest.raises(ValidationError, match="at most 3"):
        services.message_send(
            actor=world.therapist, thread_id=thread.pk, body="x",
            attachments=[upload(f"f{i}.pdf", PDF) for i in range(4)],
        )  # fmt: skip
    assert _counts() == before
    message = services.message_send(
        actor=world.therapist, thread_id=thread.pk, body="",
        attachments=[upload(f"f{i}.pdf", PDF) for i in range(3)],
    )  # fmt: skip
    assert message.attachments.count() == 3


def test_one_bad_file_among_good_ones_stores_nothing(world, media_root):
    thread = care_thread(world)
    before = _counts()
    with pytest.raises(ValidationError, match="Attachment 2"):
        services.message_send(
            actor=world.therapist, thread_id=thread.pk, body="x",
            attachments=[upload("a.pdf", PDF), upload("b.pdf", PNG), upload("c.png", PNG)],
        )  # fmt: skip
    assert _counts() == before
    assert _stored_files(media_root) == []


def test_folder_parts_and_control_characters_are_dropped_from_names(world):
    thread = care_thread(world, attachments=[upload("..\\..//etc/pass\x07wd.txt", TEXT)])
    assert Attachment.objects.get(message__thread=thread).original_name == "passwd.txt"


def test_attachment_download_is_for_participants_only(world):
    thread = care_thread(world, attachments=[upload("labs.pdf", PDF)])
    attachment = Attachment.objects.get(message__thread=thread)
    got = selectors.attachment_get_for_actor(actor=world.therapist, attachment_id=attachment.pk)
    assert got == attachment
    for role in ROLES_WITHOUT_ACCESS:
        with pytest.raises(NotFound):
            selectors.attachment_get_for_actor(
                actor=getattr(world, role), attachment_id=attachment.pk
            )


# ---- read receipts and unread counts ------------------------------------------------------


def test_opening_a_thread_writes_read_receipts(world):
    thread = care_thread(world)
    first = thread.messages.get()
    assert not MessageReceipt.objects.exists()

    services.thread_mark_read(actor=world.therapist, thread_id=thread.pk)
    receipt = MessageReceipt.objects.get()
    assert (receipt.message_id, receipt.user_id) == (first.pk, world.therapist.user_id)

    # The client sees who read their message, and when.
    detail = selectors.thread_detail(actor=world.client_member, thread_id=thread.pk)
    assert [(r.user_id, r.read_at) for r in detail.rows[0].read_by] == [
        (world.therapist.user_id, receipt.read_at)
    ]
    # Reading again writes nothing new; the author never gets a receipt for their own message.
    services.thread_mark_read(actor=world.therapist, thread_id=thread.pk)
    services.thread_mark_read(actor=world.client_member, thread_id=thread.pk)
    assert MessageReceipt.objects.count() == 1


def test_read_receipts_keep_the_first_read_time(world):
    thread = care_thread(world)
    services.thread_mark_read(actor=world.therapist, thread_id=thread.pk)
    first_read = MessageReceipt.objects.get().read_at
    services.message_send(actor=world.client_member, thread_id=thread.pk, body="One more")
    services.thread_mark_read(actor=world.therapist, thread_id=thread.pk)
    receipts = MessageReceipt.objects.order_by("message_id")
    assert receipts[0].read_at == first_read
    assert receipts[1].read_at > first_read


def test_unread_counts_follow_last_read(world):
    thread = care_thread(world)
    services.message_send(actor=world.client_member, thread_id=thread.pk, body="Second")

    def unread(actor):
        return {t.pk: t.unread for t in selectors.thread_list(actor=actor).object_list}

    assert unread(world.therapist) == {thread.pk: 2}
    assert unread(world.client_member) == {thread.pk: 0}
    services.thread_mark_read(actor=world.therapist, thread_id=thread.pk)
    assert unread(world.therapist) == {thread.pk: 0}
    services.message_send(actor=world.prescriber, thread_id=thread.pk, body="From me")
    assert unread(world.therapist) == {thread.pk: 1}
    assert unread(world.client_member) == {thread.pk: 1}
    assert selectors.unread_total(actor=world.client_member) == 1


def test_inbox_lists_unread_threads_first(world):
    read = care_thread(world, subject="Read one")
    unread = care_thread(world, subject="Unread one")
    services.thread_mark_read(actor=world.therapist, thread_id=unread.pk)
    # The older thread gets a newer message, but the therapist has read the other: the
    # unread one comes first even though it is older.
    services.message_send(actor=world.prescriber, thread_id=read.pk, body="New")
    services.thread_mark_read(actor=world.therapist, thread_id=read.pk)
    services.message_send(actor=world.client_member, thread_id=unread.pk, body="New")
    ids = [t.pk for t in selectors.thread_list(actor=world.therapist).object_list]
    assert ids == [unread.pk, read.pk]


# ---- notification e-mails -----------------------------------------------------------------


def test_notification_email_carries_no_content(world, django_capture_on_commit_callbacks):
    subject = "Results from my bloodwork"
    body = "My ketamine dose made me dizzy after session 3"
    with django_capture_on_commit_callbacks(execute=True):
        care_thread(world, subject=subject, body=body)
    recipients = sorted(e for m in mail.outbox for e in m.to)
    assert recipients == sorted([world.therapist.user.email, world.prescriber.user.email])
    forbidden = [
        subject, body, "ketamine", "dizzy",
        world.client.legal_first_name, world.client.legal_last_name,
        world.client.display_name, world.client_member.user.full_name,
        world.client_member.user.email, world.practice.name,
    ]  # fmt: skip
    for email in mail.outbox:
        assert email.subject == "You have a new secure message in kapflow"
        text = email.subject + email.body
        for word in forbidden:
            assert word not in text, word
        assert "/messages/" in email.body
        assert "988" in email.body


def test_one_email_until_the_thread_is_read(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        thread = care_thread(world)
    therapist_email = world.therapist.user.email

    def sent_to_therapist():
        return sum(therapist_email in m.to for m in mail.outbox)

    assert sent_to_therapist() == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.message_send(actor=world.client_member, thread_id=thread.pk, body="Again")
    assert sent_to_therapist() == 1
    services.thread_mark_read(actor=world.therapist, thread_id=thread.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.message_send(actor=world.client_member, thread_id=thread.pk, body="And again")
    assert sent_to_therapist() == 2


def test_no_email_to_someone_who_left_the_care_team(world, django_capture_on_commit_callbacks):
    thread = care_thread(world)
    services.thread_mark_read(actor=world.therapist, thread_id=thread.pk)
    CareTeamMember.objects.filter(client=world.client, membership=world.therapist).update(
        ended_at=timezone.now(), ended_reason="Transferred"
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.message_send(actor=world.client_member, thread_id=thread.pk, body="Hello")
    assert world.therapist.user.email not in [e for m in mail.outbox for e in m.to]


def test_a_refused_message_sends_no_email(world, django_capture_on_commit_callbacks):
    thread = care_thread(world)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        services.message_send(actor=world.therapist, thread_id=thread.pk, body="")
    assert mail.outbox == []


# ---- participants added later -------------------------------------------------------------


def test_practice_adds_a_new_care_team_member(world):
    thread = care_thread(world)
    on_team(world.client, world.therapist2)
    participant = services.thread_participant_add(
        actor=world.therapist, thread_id=thread.pk, membership_id=world.therapist2.pk
    )
    assert participant.user_id == world.therapist2.user_id
    assert selectors.thread_detail(actor=world.therapist2, thread_id=thread.pk)
    assert AuditEvent.objects.filter(
        action="message_thread.participant_add", client_id=world.client.pk
    ).exists()


def test_only_care_team_members_can_be_added(world):
    thread = care_thread(world)
    for outsider in [world.therapist2, world.biller, world.companion, world.other_therapist]:
        with pytest.raises(ValidationError):
            services.thread_participant_add(
                actor=world.therapist, thread_id=thread.pk, membership_id=outsider.pk
            )
    with pytest.raises(ValidationError, match="already"):
        services.thread_participant_add(
            actor=world.therapist, thread_id=thread.pk, membership_id=world.prescriber.pk
        )


@pytest.mark.parametrize("role", ["client_member", "prescriber"])
def test_participants_who_are_not_the_practice_cannot_add_people(world, role):
    thread = care_thread(world)
    on_team(world.client, world.therapist2)
    with pytest.raises(PermissionDenied):
        services.thread_participant_add(
            actor=getattr(world, role), thread_id=thread.pk, membership_id=world.therapist2.pk
        )


# ---- audit --------------------------------------------------------------------------------


def test_reads_and_writes_are_audited_with_the_client(world):
    thread = care_thread(world, attachments=[upload("labs.pdf", PDF)])
    selectors.thread_list(actor=world.therapist)
    selectors.thread_detail(actor=world.therapist, thread_id=thread.pk)
    services.thread_mark_read(actor=world.therapist, thread_id=thread.pk)
    attachment = Attachment.objects.get()
    selectors.attachment_get_for_actor(actor=world.therapist, attachment_id=attachment.pk)
    services.message_send(actor=world.therapist, thread_id=thread.pk, body="Reply")

    rows = AuditEvent.objects.filter(action__startswith="message").order_by("pk")
    assert [(r.action, r.actor_id) for r in rows] == [
        ("message_thread.create", world.client_member.user_id),
        ("message.send", world.client_member.user_id),
        ("message_thread.list", world.therapist.user_id),
        ("message_thread.view", world.therapist.user_id),
        ("message_thread.read", world.therapist.user_id),
        ("message_attachment.download", world.therapist.user_id),
        ("message.send", world.therapist.user_id),
    ]
    assert {r.client_id for r in rows} == {world.client.pk}
    assert rows[1].changed_fields == ["attachments"]
    # A partner prescriber's reads are recorded under the partner organisation.
    selectors.thread_detail(actor=world.prescriber, thread_id=thread.pk)
    last = AuditEvent.objects.latest("pk")
    assert (last.organisation_id, last.client_id) == (world.partner.pk, world.client.pk)
