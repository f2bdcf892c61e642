"""Secure messages over JSON: list threads, start one, read one, reply, mark read.

Same selectors, services and policy as the pages. Attachments are sent from the pages only;
the API lists them with their download address (the same policy-checked page view). Billers,
companions and anyone outside a thread get "not found", as on the pages.
"""

from datetime import datetime
from typing import Literal

from ninja import Query, Router, Schema, Status
from pydantic import Field

from kapflow import policy
from kapflow.audit.services import audit_route_not_found
from kapflow.core.api import MAX_ID, ErrorsOut
from kapflow.core.errors import NotFound
from kapflow.messaging import selectors, services
from kapflow.messaging.models import BODY_MAX_CHARS, SUBJECT_MAX_CHARS, ThreadKind

router = Router(tags=["messaging"])

KindName = Literal[tuple(ThreadKind.values)]  # type: ignore[valid-type]


def messaging_actor(request):
    actor = getattr(request, "actor", None)
    if not policy.can_use_messaging(actor):
        raise audit_route_not_found(request)
    return actor


# ---- schemas ------------------------------------------------------------------------------


class ThreadParticipantOut(Schema):
    user_id: int
    name: str
    organisation: str
    last_read_at: datetime | None


class ThreadSummaryOut(Schema):
    id: int
    kind: KindName
    subject: str
    client_id: int
    client_name: str | None = Field(description="Null for the client themself.")
    created_at: datetime
    last_message_at: datetime
    unread: int
    participants: list[ThreadParticipantOut]


class ThreadPage(Schema):
    count: int
    page: int
    pages: int
    results: list[ThreadSummaryOut]


class AttachmentOut(Schema):
    id: int
    name: str
    content_type: str
    size: int
    url: str = Field(description="Download address (a signed-in page; checks access).")


class ReceiptOut(Schema):
    user_id: int
    name: str
    read_at: datetime


class MessageOut(Schema):
    id: int
    author_id: int
    author_name: str
    mine: bool
    body: str
    created_at: datetime
    urgent_notice_shown: bool
    urgent_notice: str | None = Field(
        description="Shown to the client when the message used crisis words: emergency "
        "numbers, no reply time."
    )
    attachments: list[AttachmentOut]
    read_by: list[ReceiptOut]


class ThreadOut(ThreadSummaryOut):
    messages: list[MessageOut]
    earlier_hidden: int


class ThreadIn(Schema):
    client_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Required for staff; a client writes about themself."
    )
    kind: KindName = ThreadKind.CARE
    subject: str = Field(min_length=1, max_length=SUBJECT_MAX_CHARS)
    body: str = Field(min_length=1, max_length=BODY_MAX_CHARS)


class MessageIn(Schema):
    body: str = Field(min_length=1, max_length=BODY_MAX_CHARS)


class ReadOut(Schema):
    thread_id: int
    last_read_at: datetime


class ListQuery(Schema):
    page: int = Field(1, ge=1, le=1_000_000)


# ---- shaping ------------------------------------------------------------------------------


def _summary(thread, actor) -> dict:
    client_side = thread.client.user_id == actor.user_id
    return {
        "id": thread.pk,
        "kind": thread.kind,
        "subject": thread.subject,
        "client_id": thread.client_id,
        "client_name": None if client_side else thread.client.display_name,
        "created_at": thread.created_at,
        "last_message_at": thread.last_message_at,
        "unread": thread.unread,
        "participants": [
            {
                "user_id": p.user_id,
                "name": str(p.user),
                "organisation": p.membership.organisation.name,
                "last_read_at": p.last_read_at,
            }
            for p in thread.participants.all()
        ],
    }


def _message(row) -> dict:
    from kapflow.messaging.safety import NOTICE

    m = row.message
    return {
        "id": m.pk,
        "author_id": m.author_id,
        "author_name": str(m.author),
        "mine": row.mine,
        "body": m.body,
        "created_at": m.created_at,
        "urgent_notice_shown": m.urgent_notice_shown,
        "urgent_notice": NOTICE if m.urgent_notice_shown else None,
        "attachments": [
            {
                "id": a.pk,
                "name": a.original_name,
                "content_type": a.content_type,
                "size": a.size,
                "url": a.get_absolute_url(),
            }
            for a in m.attachments.all()
        ],
        "read_by": [
            {"user_id": r.user_id, "name": str(r.user), "read_at": r.read_at} for r in row.read_by
        ],
    }


def _thread(actor, thread_id: int, *, audit_action: str = "message_thread.view") -> dict:
    detail = selectors.thread_detail(actor=actor, thread_id=thread_id, audit_action=audit_action)
    return {
        **_summary(detail.thread, actor),
        "messages": [_message(row) for row in detail.rows],
        "earlier_hidden": detail.earlier_hidden,
    }


# ---- endpoints ----------------------------------------------------------------------------


@router.get("", response={200: ThreadPage, 404: ErrorsOut, 422: ErrorsOut})
def list_threads(request, params: Query[ListQuery]):
    """The threads you take part in, unread first (25 a page)."""
    actor = messaging_actor(request)
    page = selectors.thread_list(actor=actor, page=params.page)
    return {
        "count": page.paginator.count,
        "page": page.number,
        "pages": page.paginator.num_pages,
        "results": [_summary(t, actor) for t in page.object_list],
    }


@router.post("", response={201: ThreadOut, 403: ErrorsOut, 404: ErrorsOut, 422: ErrorsOut})
def start_thread(request, payload: ThreadIn):
    """Start a conversation about a client with its first message."""
    actor = messaging_actor(request)
    thread = services.thread_start(
        actor=actor,
        client_id=payload.client_id,
        kind=payload.kind,
        subject=payload.subject,
        body=payload.body,
    )
    return Status(201, _thread(actor, thread.pk, audit_action=""))


@router.get("/{int:thread_id}", response={200: ThreadOut, 404: ErrorsOut})
def get_thread(request, thread_id: int):
    """A thread with its latest messages and read receipts. Does not mark it read."""
    actor = messaging_actor(request)
    if thread_id > MAX_ID:
        raise NotFound()
    return _thread(actor, thread_id)


@router.post(
    "/{int:thread_id}/messages", response={201: MessageOut, 404: ErrorsOut, 422: ErrorsOut}
)
def post_message(request, thread_id: int, payload: MessageIn):
    """Reply in a thread. The other participants get an e-mail without any content."""
    actor = messaging_actor(request)
    if thread_id > MAX_ID:
        raise NotFound()
    message = services.message_send(actor=actor, thread_id=thread_id, body=payload.body)
    return Status(201, _message(selectors.MessageRow(message=message, mine=True, read_by=[])))


@router.post("/{int:thread_id}/read", response={200: ReadOut, 404: ErrorsOut})
def mark_read(request, thread_id: int):
    """Mark every message in the thread read (writes read receipts)."""
    actor = messaging_actor(request)
    if thread_id > MAX_ID:
        raise NotFound()
    participant = services.thread_mark_read(actor=actor, thread_id=thread_id)
    return {"thread_id": thread_id, "last_read_at": participant.last_read_at}
