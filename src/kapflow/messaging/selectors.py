"""Secure-message read paths: the inbox, one thread with its messages and receipts, an
attachment to download, and the clients a staff member may start a thread about.

Every selector starts from a policy queryset (kapflow.policy, `messaging` section) and writes
its audit rows; a thread the actor does not take part in is "not found". Page and API share
these functions, so they share one query plan.
"""

import datetime
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from kapflow import policy
from kapflow.accounts.models import Membership
from kapflow.audit.services import audit_not_found, audit_record, audit_record_many
from kapflow.core.errors import NotFound
from kapflow.messaging.models import (
    Attachment,
    Message,
    MessageReceipt,
    Thread,
    ThreadKind,
    ThreadParticipant,
)
from kapflow.patients.models import Client

PAGE_SIZE = 25
THREAD_MESSAGES_SHOWN = 200
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def with_unread(qs: QuerySet, *, actor: Membership) -> QuerySet:
    """Annotate `unread`: messages from others after the actor's last_read_at. Correlated
    subqueries, so a page of threads is one query whatever its size."""
    mine = ThreadParticipant.objects.filter(thread_id=OuterRef("pk"), membership=actor)
    unread = (
        Message.objects.filter(thread_id=OuterRef("pk"), created_at__gt=OuterRef("my_last_read"))
        .exclude(author_id=actor.user_id)
        .order_by()
        .values("thread_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return qs.annotate(
        my_last_read=Coalesce(
            Subquery(mine.values("last_read_at")[:1]),
            Value(_EPOCH, output_field=DateTimeField()),
        ),
        unread=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)),
    )


def _participants_prefetch() -> Prefetch:
    return Prefetch(
        "participants",
        queryset=ThreadParticipant.objects.select_related(
            "user", "membership__organisation"
        ).order_by("joined_at", "pk"),
    )


def thread_list(*, actor: Membership, page: int | str = 1) -> Page:
    """One page of the actor's threads, unread first, then the most recent. Fixed queries:
    count, rows (with unread counts and the client), participants; one insert of audit rows."""
    if not policy.can_use_messaging(actor):
        raise NotFound()
    qs = (
        with_unread(policy.message_threads_queryset(actor), actor=actor)
        .select_related("client")
        .prefetch_related(_participants_prefetch())
        .annotate(has_unread=Case(When(unread__gt=0, then=Value(1)), default=Value(0)))
        .order_by("-has_unread", "-last_message_at", "-pk")
    )
    result = Paginator(qs, PAGE_SIZE).get_page(page)
    audit_record_many(
        actor=actor,
        action="message_thread.list",
        targets=result.object_list,
        client_attr="client_id",
    )
    return result


def unread_total(*, actor: Membership) -> int:
    """Unread messages across the actor's threads (for a badge); not audited: no client."""
    if not policy.can_use_messaging(actor):
        return 0
    qs = with_unread(policy.message_threads_queryset(actor), actor=actor)
    return sum(qs.values_list("unread", flat=True))


@dataclass
class MessageRow:
    message: Message
    mine: bool
    read_by: list[MessageReceipt] = field(default_factory=list)


@dataclass
class ThreadDetail:
    thread: Thread
    participants: list[ThreadParticipant]
    rows: list[MessageRow]
    earlier_hidden: int


def thread_get_for_actor(
    *, actor: Membership, thread_id: int, audit_action: str = "message_thread.view"
) -> Thread:
    thread = (
        with_unread(policy.message_threads_queryset(actor), actor=actor)
        .select_related("client", "client__organisation")
        .prefetch_related(_participants_prefetch(), "client__care_team")
        .filter(pk=thread_id)
        .first()
    )
    if thread is None:
        raise audit_not_found(
            actor=actor, model=Thread, object_id=thread_id, message="Conversation not found."
        )
    if audit_action:
        audit_record(actor=actor, action=audit_action, target=thread, client_id=thread.client_id)
    return thread


def thread_detail(
    *, actor: Membership, thread_id: int, audit_action: str = "message_thread.view"
) -> ThreadDetail:
    """The thread, its participants and its latest messages (oldest first) with who read each
    one and when. Fixed queries whatever the number of messages."""
    thread = thread_get_for_actor(actor=actor, thread_id=thread_id, audit_action=audit_action)
    messages_qs = (
        Message.objects.filter(thread=thread)
        .select_related("author")
        .prefetch_related(
            Prefetch("attachments", queryset=Attachment.objects.order_by("pk")),
            Prefetch(
                "receipts",
                queryset=MessageReceipt.objects.select_related("user").order_by("read_at"),
            ),
        )
        .order_by("-created_at", "-pk")
    )
    latest = list(messages_qs[: THREAD_MESSAGES_SHOWN + 1])
    earlier_hidden = 0
    if len(latest) > THREAD_MESSAGES_SHOWN:
        latest = latest[:THREAD_MESSAGES_SHOWN]
        earlier_hidden = Message.objects.filter(thread=thread).count() - THREAD_MESSAGES_SHOWN
    rows = [
        MessageRow(
            message=m,
            mine=m.author_id == actor.user_id,
            read_by=[r for r in m.receipts.all() if r.user_id not in (actor.user_id, m.author_id)],
        )
        for m in reversed(latest)
    ]
    return ThreadDetail(
        thread=thread,
        participants=list(thread.participants.all()),
        rows=rows,
        earlier_hidden=earlier_hidden,
    )


def attachment_get_for_actor(*, actor: Membership, attachment_id: int) -> Attachment:
    attachment = (
        Attachment.objects.filter(
            pk=attachment_id,
            message__thread__in=policy.message_threads_queryset(actor).values("pk"),
        )
        .select_related("message__thread")
        .first()
    )
    if attachment is None:
        raise audit_not_found(
            actor=actor, model=Attachment, object_id=attachment_id, message="Attachment not found."
        )
    audit_record(
        actor=actor,
        action="message_attachment.download",
        target=attachment,
        client_id=attachment.message.thread.client_id,
    )
    return attachment


def own_client_record(*, actor: Membership) -> Client:
    """The signed-in client's record, the subject of every thread they start."""
    client = (
        Client.objects.for_org(actor.organisation).filter(user_id=actor.user_id).first()
        if policy.is_client_actor(actor)
        else None
    )
    if client is None:
        raise NotFound()
    return client


def messageable_clients(*, actor: Membership, client_id: int | None = None) -> list[Client]:
    """Clients a staff member may start a thread about, by name (only `client_id` when given
    and allowed, else all of them); each one shown is audited as a client list row, like the
    client list page."""
    qs = policy.messageable_clients_queryset(actor)
    if client_id is not None and qs.filter(pk=client_id).exists():
        qs = qs.filter(pk=client_id)
    clients = list(qs.order_by("legal_last_name", "legal_first_name", "pk"))
    audit_record_many(actor=actor, action="client.list", targets=clients)
    return clients


def thread_kinds_for(actor: Membership) -> list[tuple[str, str]]:
    """The kinds of thread the actor may start: clinicians may also write to the partner
    prescriber (or the practice, from the partner's side)."""
    from kapflow.accounts.models import CLINICIAN_ROLES

    kinds = [(ThreadKind.CARE.value, ThreadKind.CARE.label)]
    if actor.has_role(*CLINICIAN_ROLES):
        kinds.append((ThreadKind.PARTNER.value, ThreadKind.PARTNER.label))
    return kinds


def add_candidates(*, actor: Membership, thread: Thread) -> list[Membership]:
    """People who may be added to the thread (empty unless the actor may add people)."""
    if not policy.can_manage_thread_participants(actor, thread):
        return []
    taking_part = [p.user_id for p in thread.participants.all()]
    return list(
        policy.thread_candidates_queryset(thread)
        .exclude(user_id__in=taking_part)
        .select_related("user", "organisation")
        .order_by("user__full_name", "pk")
    )
