"""Secure-message write paths: start a thread, send a message, mark a thread read, add a
participant.

Who may do what comes from kapflow.policy (the `messaging` section); attachment checks from
kapflow.messaging.files; the crisis words from kapflow.messaging.safety. Notification e-mails
are queued after commit with ids only and never carry the message, its subject, the client or
the sender. Nothing here knows HTTP.
"""

import logging
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import Membership
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.core.errors import PermissionDenied
from kapflow.messaging import files, safety
from kapflow.messaging.models import (
    Attachment,
    Message,
    MessageReceipt,
    Thread,
    ThreadKind,
    ThreadParticipant,
)
from kapflow.messaging.tasks import message_notify
from kapflow.patients.models import Client

logger = logging.getLogger(__name__)


def _client_for_new_thread(actor: Membership, client_id: int | None) -> Client:
    """The client a new thread is about: for a client, their own record (any other id is
    not found); for staff, one they may message about."""
    if policy.is_client_actor(actor) and not policy.is_staff_actor(actor):
        qs = Client.objects.for_org(actor.organisation).filter(user_id=actor.user_id)
        if client_id is not None:
            qs = qs.filter(pk=client_id)
    elif client_id is None:
        raise ValidationError({"client_id": "Choose the client this conversation is about."})
    else:
        qs = policy.messageable_clients_queryset(actor).filter(pk=client_id)
    client = qs.prefetch_related("care_team").first()
    if client is None:
        raise audit_not_found(
            actor=actor, model=Client, object_id=client_id, message="Client not found."
        )
    return client


def _thread_for_update(actor: Membership, thread_id: int) -> Thread:
    # Sending and marking read lock the thread row, so a reader never marks read past a
    # message that is still being written (its created_at is earlier than the reader's now).
    thread = (
        policy.message_threads_queryset(actor)
        .select_for_update(of=("self",))
        .filter(pk=thread_id)
        .first()
    )
    if thread is None:
        raise audit_not_found(
            actor=actor, model=Thread, object_id=thread_id, message="Conversation not found."
        )
    return thread


def _store_attachments(
    message: Message, checked: Sequence[files.CheckedUpload], stored: list[Attachment]
) -> None:
    for upload in checked:
        attachment = Attachment(
            organisation_id=message.organisation_id,
            message=message,
            original_name=upload.original_name,
            content_type=upload.content_type,
            size=upload.size,
        )
        # Validate the row before the file is written, so a refusal leaves no file behind.
        attachment.full_clean(exclude=["file"])
        attachment.file.save("upload", upload.upload, save=False)
        stored.append(attachment)
        attachment.save()


def _post(*, actor: Membership, thread: Thread, body: str, attachments) -> Message:
    """Write one message into a locked, visible thread (shared by start and send)."""
    checked = files.check_uploads(attachments)
    body = (body or "").strip()
    if not body and not checked:
        raise ValidationError({"body": "Write a message or attach a file."})
    now = timezone.now()
    from_client = thread.kind == ThreadKind.CARE and thread.client.user_id == actor.user_id
    message = Message(
        organisation_id=thread.organisation_id,
        thread=thread,
        author_id=actor.user_id,
        body=body,
        created_at=now,
        # Only the client is shown the crisis notice: staff write "overdose" clinically.
        urgent_notice_shown=from_client and safety.mentions_crisis(body),
    )
    message.full_clean()
    message.save()
    stored: list[Attachment] = []
    try:
        _store_attachments(message, checked, stored)
        thread.last_message_at = now
        thread.save(update_fields=["last_message_at"])
        # The author has read their own message and everything before it.
        ThreadParticipant.objects.filter(thread=thread, membership=actor).update(last_read_at=now)
        audit_record(
            actor=actor,
            action="message.send",
            target=message,
            client_id=thread.client_id,
            changed_fields=["attachments"] if checked else None,
        )
    except BaseException:
        # The rows roll back with the transaction; the files written so far are removed too.
        # (An enclosing transaction that rolls back later can still leave an orphan file: it
        # has no row, so nothing can reach it.)
        for attachment in stored:
            attachment.file.delete(save=False)
        raise
    from kapflow.notifications.services import notify

    # Everyone else in the thread sees it in the app too (decision 0050).
    notify(
        recipients=Membership.objects.filter(
            pk__in=ThreadParticipant.objects.filter(thread=thread).values("membership_id")
        ),
        kind="message_received", route="messaging:thread", object_id=thread.pk,
        exclude_user_id=actor.user_id,
    )  # fmt: skip
    transaction.on_commit(lambda: message_notify.enqueue(message_id=message.pk))
    logger.info(
        "message.sent",
        extra={"message_id": message.pk, "thread_id": thread.pk, "attachments": len(checked)},
    )
    return message


@transaction.atomic
def thread_start(
    *,
    actor: Membership,
    kind: str,
    subject: str,
    body: str,
    client_id: int | None = None,
    attachments=(),
) -> Thread:
    """Start a conversation about a client with its first message. The participants are
    fixed now: the clinicians on the client's care team, the client (care threads) and the
    person starting it."""
    client = _client_for_new_thread(actor, client_id)
    if kind not in ThreadKind.values:
        raise ValidationError({"kind": "Choose who the conversation is with."})
    if not policy.can_start_thread(actor, client, kind):
        raise PermissionDenied("You cannot start this kind of conversation about this client.")
    now = timezone.now()
    thread = Thread(
        organisation_id=client.organisation_id,
        client=client,
        kind=kind,
        subject=(subject or "").strip(),
        created_by_id=actor.user_id,
        created_at=now,
        last_message_at=now,
    )
    thread.full_clean()
    members = {
        m.user_id: m for m in policy.thread_candidates_queryset(thread, include_admins=False)
    }
    members[actor.user_id] = actor  # the membership they act with, if they hold two
    if kind == ThreadKind.CARE and not any(m.user_id == client.user_id for m in members.values()):
        raise ValidationError(
            {"client_id": "This client has no portal sign-in yet, so cannot receive messages."}
        )
    if kind == ThreadKind.PARTNER and all(
        m.organisation_id == client.organisation_id for m in members.values()
    ):
        raise ValidationError({"kind": "No partner prescriber is on this client's care team."})
    thread.save()
    participants = [
        ThreadParticipant(
            organisation_id=client.organisation_id,
            thread=thread,
            user_id=user_id,
            membership=membership,
            joined_at=now,
            added_by_id=actor.user_id,
        )
        for user_id, membership in sorted(members.items())
    ]
    for participant in participants:
        # Keyed by user above, so the unique constraint holds without a query per row.
        participant.full_clean(validate_constraints=False)
    ThreadParticipant.objects.bulk_create(participants)
    audit_record(actor=actor, action="message_thread.create", target=thread, client_id=client.pk)
    _post(actor=actor, thread=thread, body=body, attachments=attachments)
    return thread


@transaction.atomic
def message_send(*, actor: Membership, thread_id: int, body: str, attachments=()) -> Message:
    """Reply in a thread the actor takes part in."""
    thread = _thread_for_update(actor, thread_id)
    return _post(actor=actor, thread=thread, body=body, attachments=attachments)


@transaction.atomic
def thread_mark_read(*, actor: Membership, thread_id: int) -> ThreadParticipant:
    """The actor has read the thread: a receipt for each message from others not yet read,
    and last_read_at moves to now. Audited only when something new was read."""
    thread = _thread_for_update(actor, thread_id)
    me = ThreadParticipant.objects.get(thread=thread, membership=actor)
    now = timezone.now()
    unread = Message.objects.filter(thread=thread).exclude(author_id=actor.user_id)
    if me.last_read_at is not None:
        unread = unread.filter(created_at__gt=me.last_read_at)
    ids = list(unread.values_list("pk", flat=True))
    if ids:
        MessageReceipt.objects.bulk_create(
            [
                MessageReceipt(
                    organisation_id=thread.organisation_id,
                    message_id=pk,
                    user_id=actor.user_id,
                    read_at=now,
                )
                for pk in ids
            ],
            ignore_conflicts=True,
        )
        audit_record(
            actor=actor, action="message_thread.read", target=thread, client_id=thread.client_id
        )
    me.last_read_at = now
    me.save(update_fields=["last_read_at"])
    return me


@transaction.atomic
def thread_participant_add(
    *, actor: Membership, thread_id: int, membership_id: int
) -> ThreadParticipant:
    """Add someone who may take part (e.g. a clinician who joined the care team later)."""
    thread = _thread_for_update(actor, thread_id)
    thread = (
        Thread.objects.select_related("client")
        .prefetch_related("client__care_team")
        .get(pk=thread.pk)
    )
    if not policy.can_manage_thread_participants(actor, thread):
        raise PermissionDenied("Only the practice adds people to a conversation.")
    membership = policy.thread_candidates_queryset(thread).filter(pk=membership_id).first()
    if membership is None:
        raise ValidationError({"membership_id": "Choose someone who may take part."})
    if ThreadParticipant.objects.filter(thread=thread, user_id=membership.user_id).exists():
        raise ValidationError({"membership_id": "This person already takes part."})
    participant = ThreadParticipant(
        organisation_id=thread.organisation_id,
        thread=thread,
        user_id=membership.user_id,
        membership=membership,
        added_by_id=actor.user_id,
    )
    participant.full_clean()
    participant.save()
    audit_record(
        actor=actor,
        action="message_thread.participant_add",
        target=participant,
        client_id=thread.client_id,
    )
    return participant
