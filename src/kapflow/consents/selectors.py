"""Read paths for informed consent: the practice's documents, the client's own consents in
the portal, the signatures staff read (every such read audited), and the subqueries the
course gate annotates (kapflow.courses.selectors.with_facts).

Each function costs a fixed number of queries whatever the number of documents or
signatures. Nothing here writes, except the audit rows of staff reads.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from kapflow import policy
from kapflow.audit.services import audit_not_found, audit_record, audit_record_many
from kapflow.consents.models import ConsentDocument, ConsentKind, ConsentSignature
from kapflow.core.errors import NotFound
from kapflow.patients.models import Client

# ---- the course gate's subqueries -----------------------------------------------------------


def current_version(kind: str, *, organisation=None, now: datetime | None = None) -> Subquery:
    """The version number of the organisation's current document of `kind` (None if none is
    published), correlated on the outer row's `organisation`."""
    return Subquery(
        ConsentDocument.objects.filter(
            organisation=organisation if organisation is not None else OuterRef("organisation"),
            kind=kind,
            published_at__lte=now or timezone.now(),
        )
        .order_by("-version")
        .values("version")[:1]
    )


def latest_signature(kind: str, column: str, *, client=None) -> Subquery:
    """`column` of the client's most recent signature of any version of `kind` (a client only
    ever signs the current version, so the latest is also the highest version signed)."""
    return Subquery(
        ConsentSignature.objects.filter(
            client=client if client is not None else OuterRef("client"), document__kind=kind
        )
        .order_by("-signed_at", "-id")
        .values(column)[:1]
    )


def current_signed(kind: str, *, now: datetime | None = None) -> Exists:
    """Whether the outer row's client holds a signature, not withdrawn, of the current version
    of `kind` (the outer row carries `client` and `organisation`)."""
    return Exists(
        ConsentSignature.objects.filter(
            client=OuterRef("client"),
            document__kind=kind,
            document__version=current_version(
                kind, organisation=OuterRef(OuterRef("organisation")), now=now
            ),
            withdrawal__isnull=True,
        )
    )


def gate_annotations(*, now: datetime | None = None) -> dict:
    """What the course gate needs about consent, as annotations on a Course queryset: the
    current KAP consent version, the client's latest KAP signature (version, time,
    withdrawal), and whether the current telehealth consent is signed."""
    now = now or timezone.now()
    kap = ConsentKind.KAP.value
    return {
        "kap_current_version": current_version(kap, now=now),
        "kap_signed_version": latest_signature(kap, "document__version"),
        "kap_signed_at": latest_signature(kap, "signed_at"),
        "kap_withdrawn_at": latest_signature(kap, "withdrawal__withdrawn_at"),
        "telehealth_signed": current_signed(ConsentKind.TELEHEALTH.value, now=now),
    }


# ---- status per kind ------------------------------------------------------------------------


@dataclass(frozen=True)
class KindStatus:
    """One kind of document for one client: the current version and where the client is.

    state: "signed" (the current version, not withdrawn), "withdrawn" (the latest signature
    was withdrawn), "outdated" (signed an earlier version only), "missing" (never signed), or
    "unpublished" (the practice has no document of this kind)."""

    kind: str
    label: str
    current: ConsentDocument | None
    latest: ConsentSignature | None
    state: str

    @property
    def can_sign(self) -> bool:
        return self.current is not None and self.state != "signed"


def kind_statuses(
    *, documents: dict[str, ConsentDocument], signatures: list[ConsentSignature]
) -> list[KindStatus]:
    """Each kind's status from the current documents and the client's signatures (newest
    first, withdrawal loaded). No queries."""
    rows = []
    for kind in ConsentKind:
        current = documents.get(kind.value)
        latest = next((s for s in signatures if s.document.kind == kind.value), None)
        if current is None:
            state = "unpublished"
        elif latest is None:
            state = "missing"
        elif is_withdrawn(latest):
            state = "withdrawn"
        elif latest.document_id == current.pk:
            state = "signed"
        else:
            state = "outdated"
        rows.append(KindStatus(kind.value, kind.label, current, latest, state))
    return rows


def is_withdrawn(signature: ConsentSignature) -> bool:
    try:
        return signature.withdrawal is not None
    except ConsentSignature.withdrawal.RelatedObjectDoesNotExist:
        return False


def current_documents(*, organisation, now: datetime | None = None) -> dict[str, ConsentDocument]:
    """The organisation's current document of each kind, in one query (a practice has a few
    dozen versions at most)."""
    now = now or timezone.now()
    documents = {}
    for document in (
        ConsentDocument.objects.for_org(organisation)
        .filter(published_at__lte=now)
        .order_by("kind", "-version")
    ):
        documents.setdefault(document.kind, document)
    return documents


def _signatures(qs: QuerySet) -> QuerySet:
    return qs.select_related("document", "withdrawal__withdrawn_by", "signed_by").order_by(
        "-signed_at", "-id"
    )


# ---- staff: documents -----------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentKindRow:
    kind: str
    label: str
    current: ConsentDocument | None
    versions: list[ConsentDocument]  # newest first, each with `signed` (signatures, any state)


def document_list(*, actor, now: datetime | None = None) -> list[DocumentKindRow]:
    """Every kind with its current version and every version published, for the practice's
    staff. One query."""
    if not policy.can_read_consent_documents(actor):
        raise NotFound()
    now = now or timezone.now()
    versions = list(
        ConsentDocument.objects.for_org(actor.organisation)
        .select_related("published_by")
        .annotate(signed=Count("signatures"))
        .order_by("kind", "-version")
    )
    rows = []
    for kind in ConsentKind:
        mine = [d for d in versions if d.kind == kind.value]
        current = next((d for d in mine if d.published_at <= now), None)
        rows.append(DocumentKindRow(kind.value, kind.label, current, mine))
    return rows


def document_get(*, actor, document_id: int) -> ConsentDocument:
    document = (
        ConsentDocument.objects.for_org(actor.organisation)
        .select_related("published_by")
        .filter(pk=document_id)
        .first()
        if policy.can_read_consent_documents(actor)
        else None
    )
    if document is None:
        raise audit_not_found(
            actor=actor, model=ConsentDocument, object_id=document_id,
            message="Document not found.",
        )  # fmt: skip
    return document


# ---- staff: a client's signatures -----------------------------------------------------------


@dataclass(frozen=True)
class ClientConsents:
    client: Client
    statuses: list[KindStatus]
    signatures: list[ConsentSignature]  # newest first


def client_consents(*, actor, client, now: datetime | None = None) -> ClientConsents:
    """The consent summary staff see on the course and consent pages, for a client the caller
    has already resolved through a selector that checks access. Every signature shown is an
    audited read ("consent.view"). Three queries (documents, signatures, audit rows)."""
    signatures = list(_signatures(policy.consent_signatures_queryset(actor).filter(client=client)))
    audit_record_many(
        actor=actor, action="consent.view", targets=signatures, client_attr="client_id"
    )
    documents = current_documents(organisation=client.organisation_id, now=now)
    return ClientConsents(
        client=client,
        statuses=kind_statuses(documents=documents, signatures=signatures),
        signatures=signatures,
    )


def client_consents_get(*, actor, client_id: int) -> ClientConsents:
    """A client's consents by id: 404 unless the actor may read the client's signatures."""
    client = (
        policy.clients_queryset(actor)
        .select_related("organisation")
        .prefetch_related("care_team")
        .filter(pk=client_id)
        .first()
        if policy.can_see_clinical(actor)
        else None
    )
    if client is None:
        raise audit_not_found(
            actor=actor, model=Client, object_id=client_id, message="Client not found."
        )
    return client_consents(actor=actor, client=client)


def signature_get_for_actor(
    *, actor, signature_id: int, audit_action: str = "consent.view"
) -> ConsentSignature:
    """One signature with its document's text, for staff who may read it; audited (an empty
    `audit_action` skips it when the caller has just written and audited)."""
    signature = (
        _signatures(policy.consent_signatures_queryset(actor))
        .select_related("client__organisation")
        .filter(pk=signature_id)
        .first()
    )
    if signature is None:
        raise _signature_not_found(actor, signature_id)
    if audit_action:
        audit_record(
            actor=actor, action=audit_action, target=signature, client_id=signature.client_id
        )
    return signature


# ---- the client's own consents (portal) -----------------------------------------------------


def _signature_not_found(actor, signature_id):
    return audit_not_found(
        actor=actor, model=ConsentSignature, object_id=signature_id, message="Signature not found."
    )


def own_client(*, actor, probed=None) -> Client:
    """The signed-in client's own record in the organisation they act for, or 404. Anyone
    else asking for a record by id (`probed`: model and id) is recorded as a denied access."""
    if not policy.is_client_actor(actor):
        if probed is not None:
            raise audit_not_found(actor=actor, model=probed[0], object_id=probed[1])
        raise NotFound()
    client = (
        Client.objects.for_org(actor.organisation)
        .select_related("organisation")
        .filter(user_id=actor.user_id)
        .first()
    )
    if client is None:
        raise NotFound()
    return client


def own_consents(*, actor, now: datetime | None = None) -> ClientConsents:
    """The client's documents to sign and the documents they signed. Three queries."""
    client = own_client(actor=actor)
    signatures = list(
        _signatures(ConsentSignature.objects.for_org(client.organisation_id)).filter(client=client)
    )
    documents = current_documents(organisation=client.organisation_id, now=now)
    return ClientConsents(
        client=client,
        statuses=kind_statuses(documents=documents, signatures=signatures),
        signatures=signatures,
    )


def own_document(*, actor, document_id: int) -> tuple[Client, ConsentDocument]:
    """A document of the client's own practice (any version; signing checks it is current)."""
    client = own_client(actor=actor, probed=(ConsentDocument, document_id))
    document = (
        ConsentDocument.objects.for_org(client.organisation_id).filter(pk=document_id).first()
    )
    if document is None:
        raise audit_not_found(
            actor=actor, model=ConsentDocument, object_id=document_id,
            message="Document not found.",
        )  # fmt: skip
    return client, document


def own_signature(*, actor, signature_id: int) -> ConsentSignature:
    """One of the client's own signatures, with the exact text signed."""
    client = own_client(actor=actor, probed=(ConsentSignature, signature_id))
    signature = (
        _signatures(ConsentSignature.objects.for_org(client.organisation_id))
        .filter(client=client, pk=signature_id)
        .first()
    )
    if signature is None:
        raise _signature_not_found(actor, signature_id)
    return signature
