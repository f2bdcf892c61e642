"""Informed consent over JSON: the practice's documents (staff read, admins publish), the
signed-in client's own consents (list, sign, withdraw), and a client's signatures for staff
(every read audited; clinicians on the care team withdraw on the client's behalf).

Same selectors and services as the pages. A client's own endpoints answer 404 to anyone
else, staff included, and staff endpoints answer 404 to clients.
"""

from datetime import date, datetime
from typing import Literal

from ninja import Router, Schema, Status
from pydantic import Field

from kapflow import policy
from kapflow.audit.services import audit_route_not_found
from kapflow.consents import selectors, services
from kapflow.consents.models import ConsentKind
from kapflow.core.api import ERRORS, ErrorsOut, staff_actor

router = Router(tags=["consents"])

KindName = Literal[tuple(ConsentKind.values)]  # type: ignore[valid-type]
StateName = Literal["signed", "outdated", "withdrawn", "missing", "unpublished"]


# ---- schemas --------------------------------------------------------------------------------


class DocumentOut(Schema):
    id: int
    kind: KindName
    kind_label: str
    version: int
    title: str
    change_summary: str
    published_at: datetime
    content_sha256: str


class DocumentDetailOut(DocumentOut):
    body: str


class DocumentVersionOut(DocumentOut):
    signatures: int = Field(description="Signatures of this version (withdrawn ones included).")


class DocumentKindOut(Schema):
    kind: KindName
    kind_label: str
    current: DocumentOut | None
    versions: list[DocumentVersionOut] = Field(description="Newest first.")


class PublishIn(Schema):
    kind: KindName
    title: str = Field(max_length=200)
    body: str = Field(max_length=100_000)
    change_summary: str = Field("", max_length=2000)


class WithdrawalOut(Schema):
    withdrawn_at: datetime
    on_behalf: bool = Field(description="Recorded by a clinician on the client's behalf.")
    withdrawn_by_name: str
    reason: str


class SignatureOut(Schema):
    id: int
    document: DocumentOut
    typed_name: str
    signed_on: date
    signed_at: datetime
    has_drawn_signature: bool
    content_sha256: str
    withdrawal: WithdrawalOut | None


class SignatureDetailOut(SignatureOut):
    client_id: int
    drawn_signature: str
    ip_address: str | None
    user_agent: str
    request_id: str
    document_body: str


class KindStatusOut(Schema):
    kind: KindName
    kind_label: str
    state: StateName
    current: DocumentOut | None
    latest_signature_id: int | None


class ConsentsOut(Schema):
    client_id: int
    statuses: list[KindStatusOut]
    signatures: list[SignatureOut] = Field(description="Newest first.")


class ConsentSignIn(Schema):
    document_id: int = Field(ge=1, description="The current version of the document.")
    typed_name: str = Field(max_length=200, description="The client's full name.")
    signed_on: date = Field(description="Today's date.")
    understood: bool = Field(description="The client has read and understood the document.")
    drawn_signature: str = Field(
        "", max_length=210_000, description="Optional: a PNG image as a base64 data URL."
    )


class WithdrawIn(Schema):
    reason: str = Field(
        "", max_length=2000, description="Optional for the client; required on their behalf."
    )


# ---- shaping --------------------------------------------------------------------------------


def _document(d) -> dict:
    return {
        "id": d.pk,
        "kind": d.kind,
        "kind_label": d.get_kind_display(),
        "version": d.version,
        "title": d.title,
        "change_summary": d.change_summary,
        "published_at": d.published_at,
        "content_sha256": d.content_sha256,
    }


def _withdrawal(signature) -> dict | None:
    if not selectors.is_withdrawn(signature):
        return None
    w = signature.withdrawal
    return {
        "withdrawn_at": w.withdrawn_at,
        "on_behalf": w.on_behalf,
        "withdrawn_by_name": str(w.withdrawn_by) if w.on_behalf else "the client",
        "reason": w.reason,
    }


def _signature(s) -> dict:
    return {
        "id": s.pk,
        "document": _document(s.document),
        "typed_name": s.typed_name,
        "signed_on": s.signed_on,
        "signed_at": s.signed_at,
        "has_drawn_signature": bool(s.drawn_signature),
        "content_sha256": s.content_sha256,
        "withdrawal": _withdrawal(s),
    }


def _consents(c: selectors.ClientConsents) -> dict:
    return {
        "client_id": c.client.pk,
        "statuses": [
            {
                "kind": s.kind,
                "kind_label": s.label,
                "state": s.state,
                "current": _document(s.current) if s.current else None,
                "latest_signature_id": s.latest.pk if s.latest else None,
            }
            for s in c.statuses
        ],
        "signatures": [_signature(s) for s in c.signatures],
    }


def _client_actor(request):
    actor = getattr(request, "actor", None)
    if not policy.is_client_actor(actor):
        raise audit_route_not_found(request)
    return actor


# ---- staff: documents -----------------------------------------------------------------------


@router.get(
    "/documents", response={200: list[DocumentKindOut], 404: ErrorsOut}, summary="List documents"
)
def document_list(request):
    """Every kind of consent document with its current version and every version published,
    for the practice's staff."""
    actor = staff_actor(request)
    return [
        {
            "kind": row.kind,
            "kind_label": row.label,
            "current": _document(row.current) if row.current else None,
            "versions": [_document(d) | {"signatures": d.signed} for d in row.versions],
        }
        for row in selectors.document_list(actor=actor)
    ]


@router.get(
    "/documents/{int:document_id}",
    response={200: DocumentDetailOut, 404: ErrorsOut},
    summary="Get a document",
)
def document_get(request, document_id: int):
    actor = staff_actor(request)
    document = selectors.document_get(actor=actor, document_id=document_id)
    return _document(document) | {"body": document.body}


@router.post(
    "/documents", response={201: DocumentDetailOut, **ERRORS}, summary="Publish a new version"
)
def document_publish(request, payload: PublishIn):
    """Publish the next version of a kind (practice admins; 403 for other staff). It is
    current at once: every client must sign it before dosing continues."""
    actor = staff_actor(request)
    document = services.document_publish(actor=actor, **payload.dict())
    return Status(201, _document(document) | {"body": document.body})


# ---- the client's own consents --------------------------------------------------------------


@router.get("/mine", response={200: ConsentsOut, 404: ErrorsOut}, summary="My consents")
def mine(request):
    """The signed-in client's documents to sign and their signatures. Anyone else: 404."""
    return _consents(selectors.own_consents(actor=_client_actor(request)))


@router.get(
    "/mine/documents/{int:document_id}",
    response={200: DocumentDetailOut, 404: ErrorsOut},
    summary="Read a document of my practice",
)
def mine_document(request, document_id: int):
    _client, document = selectors.own_document(
        actor=_client_actor(request), document_id=document_id
    )
    return _document(document) | {"body": document.body}


@router.post("/mine/signatures", response={201: SignatureOut, **ERRORS}, summary="Sign")
def mine_sign(request, payload: ConsentSignIn):
    """Sign the current version of a document: 422 naming each field at fault (the typed
    name must be the client's name, the date today's), 409 `consent.not_current` for an
    earlier version, `consent.already_signed` when it is signed already."""
    actor = _client_actor(request)
    signature = services.consent_sign(actor=actor, **payload.dict())
    return Status(201, _signature(selectors.own_signature(actor=actor, signature_id=signature.pk)))


@router.post(
    "/mine/signatures/{int:signature_id}/withdrawal",
    response={201: SignatureOut, **ERRORS},
    summary="Withdraw my consent",
)
def mine_withdraw(request, signature_id: int, payload: WithdrawIn):
    """Withdraw the consent given by one of my signatures (the latest of its kind). Dosing
    stops until the client signs the current version again."""
    actor = _client_actor(request)
    selectors.own_signature(actor=actor, signature_id=signature_id)
    services.consent_withdraw(actor=actor, signature_id=signature_id, reason=payload.reason)
    return Status(201, _signature(selectors.own_signature(actor=actor, signature_id=signature_id)))


# ---- staff: a client's signatures -----------------------------------------------------------


@router.get(
    "/clients/{int:client_id}",
    response={200: ConsentsOut, 404: ErrorsOut},
    summary="A client's consents",
)
def client_consents(request, client_id: int):
    """Each kind's status and every signature of a client the actor sees (admins and the
    care team; not billers). Every signature listed is an audited read."""
    actor = staff_actor(request)
    return _consents(selectors.client_consents_get(actor=actor, client_id=client_id))


@router.get(
    "/signatures/{int:signature_id}",
    response={200: SignatureDetailOut, 404: ErrorsOut},
    summary="Get a signature",
)
def signature_get(request, signature_id: int):
    """One signature with the request metadata, the drawn signature and the exact text
    signed. Audited."""
    actor = staff_actor(request)
    s = selectors.signature_get_for_actor(actor=actor, signature_id=signature_id)
    return _signature(s) | {
        "client_id": s.client_id,
        "drawn_signature": s.drawn_signature,
        "ip_address": s.ip_address,
        "user_agent": s.user_agent,
        "request_id": s.request_id,
        "document_body": s.document.body,
    }


@router.post(
    "/signatures/{int:signature_id}/withdrawal",
    response={201: SignatureOut, **ERRORS},
    summary="Withdraw consent on the client's behalf",
)
def signature_withdraw(request, signature_id: int, payload: WithdrawIn):
    """A clinician on the client's care team records that the client withdraws consent, with
    a reason (422 without one; 403 for other staff who see the client)."""
    actor = staff_actor(request)
    services.consent_withdraw(actor=actor, signature_id=signature_id, reason=payload.reason)
    return Status(
        201,
        _signature(
            selectors.signature_get_for_actor(
                actor=actor, signature_id=signature_id, audit_action=""
            )
        ),
    )
