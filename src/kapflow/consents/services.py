"""Consent write paths: publish a document version, sign, withdraw.

Each runs in one transaction: it locks what can race (the organisation's documents of a kind
when publishing, the client row when signing or withdrawing), checks who may act, validates
every field, inserts, puts the event on the client's open course timeline and writes the
audit row. Nothing is ever updated or deleted: a new version is a new document, a withdrawal
is a new row. Request metadata comes from
kapflow.core.context, as for the audit trail.
"""

import base64
import binascii
import logging
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import Membership, Organisation
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.consents.models import (
    DRAWN_SIGNATURE_MAX_CHARS,
    DRAWN_SIGNATURE_PREFIX,
    ConsentDocument,
    ConsentKind,
    ConsentSignature,
    ConsentWithdrawal,
)
from kapflow.consents.selectors import current_documents
from kapflow.core import clock
from kapflow.core.context import current_request_meta
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.courses.services import consent_event_record, course_facts_refresh
from kapflow.patients.models import Client

logger = logging.getLogger(__name__)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_BODY_CHARS = 100_000
MAX_REASON_CHARS = 2000


# ---- publish --------------------------------------------------------------------------------


@transaction.atomic
def document_publish(
    *,
    actor: Membership,
    kind: str,
    title: str,
    body: str,
    change_summary: str = "",
    now: datetime | None = None,
) -> ConsentDocument:
    """Publish the next version of a kind of consent document (practice admins). From now on
    it is the current version: every client must sign it before the gate lets them dose."""
    if not policy.can_read_consent_documents(actor):
        raise NotFound()
    if not policy.can_publish_consent(actor):
        raise PermissionDenied("Only the practice's admins publish consent documents.")
    now = now or timezone.now()
    errors = {}
    if kind not in ConsentKind.values:
        errors["kind"] = "Choose the kind of document."
    title, body, change_summary = (
        (title or "").strip(),
        (body or "").strip(),
        (change_summary or "").strip(),
    )
    if not title:
        errors["title"] = "Give the document a title."
    if not body:
        errors["body"] = "Write the text the client reads and signs."
    elif len(body) > MAX_BODY_CHARS:
        errors["body"] = f"The text may be at most {MAX_BODY_CHARS:,} characters."
    if errors:
        raise ValidationError(errors)
    # Lock the organisation row: two admins publishing the same kind at once would otherwise
    # both read the same highest version (the unique constraint would refuse the second).
    Organisation.objects.select_for_update().filter(pk=actor.organisation_id).first()
    latest = (
        ConsentDocument.objects.for_org(actor.organisation)
        .filter(kind=kind)
        .aggregate(v=Max("version"))["v"]
    )
    document = ConsentDocument(
        organisation=actor.organisation, kind=kind, version=(latest or 0) + 1, title=title,
        body=body, change_summary=change_summary, published_at=now, published_by=actor.user,
    )  # fmt: skip
    document.full_clean()
    document.save()
    # Every course of the practice now reads the new current version (a stored fact).
    course_facts_refresh(organisation_id=document.organisation_id)
    audit_record(actor=actor, action="consent_document.publish", target=document)
    logger.info("consent.document_published", extra={"document_id": document.pk})
    return document


# ---- sign -----------------------------------------------------------------------------------


def _normalise(name: str) -> str:
    return " ".join((name or "").split()).casefold()


def name_matches(client: Client, typed: str) -> bool:
    """The typed name is the client's legal first and last name, or their preferred name and
    last name, ignoring case and extra spaces."""
    typed = _normalise(typed)
    names = {f"{client.legal_first_name} {client.legal_last_name}"}
    if client.preferred_name:
        names.add(f"{client.preferred_name} {client.legal_last_name}")
    return bool(typed) and typed in {_normalise(n) for n in names}


def drawn_signature_errors(value: str) -> str | None:
    """Why a drawn signature is refused, or None: a PNG image as a base64 data URL under
    the size limit."""
    if not value:
        return None
    if len(value) > DRAWN_SIGNATURE_MAX_CHARS:
        return "The drawn signature is too large; clear it and draw it again."
    if not value.startswith(DRAWN_SIGNATURE_PREFIX):
        return "The drawn signature must be a PNG image."
    try:
        raw = base64.b64decode(value[len(DRAWN_SIGNATURE_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return "The drawn signature could not be read; clear it and draw it again."
    if not raw.startswith(PNG_MAGIC):
        return "The drawn signature must be a PNG image."
    return None


def _own_client_for_update(actor: Membership, probed=None) -> Client:
    if not policy.is_client_actor(actor):
        if probed is not None:
            raise audit_not_found(actor=actor, model=probed[0], object_id=probed[1])
        raise NotFound()
    client = (
        Client.objects.for_org(actor.organisation)
        .select_for_update()
        .filter(user_id=actor.user_id)
        .first()
    )
    if client is None:
        raise NotFound()
    return client


def _signature_not_found(actor, signature_id):
    return audit_not_found(
        actor=actor, model=ConsentSignature, object_id=signature_id, message="Signature not found."
    )


def _active_signatures(client: Client, document: ConsentDocument):
    return ConsentSignature.objects.filter(
        client=client, document=document, withdrawal__isnull=True
    )


@transaction.atomic
def consent_sign(
    *,
    actor: Membership,
    document_id: int,
    typed_name: str,
    signed_on: date | None,
    understood: bool,
    drawn_signature: str = "",
    now: datetime | None = None,
) -> ConsentSignature:
    """The signed-in client signs the current version of a document for their own record.

    The client row is locked, so a double submit signs once (the second is refused as
    already signed)."""
    now = now or timezone.now()
    client = _own_client_for_update(actor, probed=(ConsentDocument, document_id))
    document = (
        ConsentDocument.objects.for_org(client.organisation_id).filter(pk=document_id).first()
    )
    if document is None:
        raise audit_not_found(
            actor=actor, model=ConsentDocument, object_id=document_id,
            message="Document not found.",
        )  # fmt: skip
    current = current_documents(organisation=client.organisation_id, now=now).get(document.kind)
    if current is None or current.pk != document.pk:
        raise DomainError(
            "This is not the current version of the document; open the current one to sign.",
            code="consent.not_current",
        )
    errors = {}
    if not understood:
        errors["understood"] = "Confirm that you have read and understood the document."
    typed_name = " ".join((typed_name or "").split())
    if not typed_name:
        errors["typed_name"] = "Type your full name to sign."
    elif not name_matches(client, typed_name):
        errors["typed_name"] = (
            "Type your name as it is on your record: your legal first and last name, or your "
            "preferred name and last name."
        )
    if signed_on is None:
        errors["signed_on"] = "Enter today's date."
    elif signed_on != clock.clinical_date(client.organisation, now):
        errors["signed_on"] = "The date must be today's date."
    drawn_signature = (drawn_signature or "").strip()
    drawn_error = drawn_signature_errors(drawn_signature)
    if drawn_error:
        errors["drawn_signature"] = drawn_error
    if errors:
        raise ValidationError(errors)
    if _active_signatures(client, document).exists():
        raise DomainError("You have already signed this version.", code="consent.already_signed")
    earlier = ConsentSignature.objects.filter(client=client, document=document).count()
    meta = current_request_meta()
    signature = ConsentSignature(
        organisation_id=client.organisation_id, document=document, client=client,
        sequence=earlier + 1, signed_by=actor.user, typed_name=typed_name, signed_on=signed_on,
        drawn_signature=drawn_signature, signed_at=now, ip_address=meta.ip_address,
        user_agent=meta.user_agent[:200], request_id=meta.request_id[:64],
        content_sha256=document.content_sha256,
    )  # fmt: skip
    signature.full_clean()
    signature.save()
    consent_event_record(
        actor=actor, client_id=client.pk, kind="consent_signed", occurred_at=now,
        data={"signature_id": signature.pk, "document_kind": document.kind,
              "document_label": document.get_kind_display(), "version": document.version},
    )  # fmt: skip
    course_facts_refresh(client_id=client.pk)
    audit_record(actor=actor, action="consent.sign", target=signature, client_id=client.pk)
    _notify_team(client.pk, "consent_signed", "consents:signature", signature.pk, actor)
    logger.info("consent.signed", extra={"signature_id": signature.pk})
    return signature


def _notify_team(client_id: int, kind: str, route: str, object_id: int, actor) -> None:
    """Tell the client's care team in the app (decision 0050); e-mail is unchanged."""
    from kapflow.notifications.services import notify
    from kapflow.patients.selectors import care_team_memberships

    notify(
        recipients=care_team_memberships(client_id=client_id), kind=kind, route=route,
        object_id=object_id, exclude_user_id=actor.user_id,
    )  # fmt: skip


# ---- withdraw -------------------------------------------------------------------------------


@transaction.atomic
def consent_withdraw(
    *,
    actor: Membership,
    signature_id: int,
    reason: str = "",
    now: datetime | None = None,
) -> ConsentWithdrawal:
    """Withdraw the consent given by a signature: the client themselves (the reason is
    optional), or a clinician on the client's care team on their behalf (a reason is
    required). Dosing stops until the client signs the current version again."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if policy.is_client_actor(actor) and not policy.is_staff_actor(actor):
        client = _own_client_for_update(actor)
        on_behalf = False
    else:
        visible = policy.consent_signatures_queryset(actor).filter(pk=signature_id)
        client_id = visible.values_list("client_id", flat=True).first()
        if client_id is None:
            raise _signature_not_found(actor, signature_id)
        client = (
            Client.objects.select_for_update().filter(pk=client_id).prefetch_related("care_team")
        ).get()
        if not policy.can_withdraw_consent_for(actor, client):
            raise PermissionDenied(
                "Only a clinician on the client's care team may withdraw consent for them."
            )
        on_behalf = True
        if not reason:
            raise ValidationError(
                {"reason": "Write why, and how the client told you they withdraw consent."}
            )
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationError({"reason": f"At most {MAX_REASON_CHARS} characters."})
    signature = (
        ConsentSignature.objects.select_related("document")
        .filter(pk=signature_id, client=client)
        .first()
    )
    if signature is None:
        raise _signature_not_found(actor, signature_id)
    if ConsentWithdrawal.objects.filter(signature=signature).exists():
        raise DomainError("This consent is already withdrawn.", code="consent.already_withdrawn")
    latest = (
        ConsentSignature.objects.filter(client=client, document__kind=signature.document.kind)
        .order_by("-signed_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    if latest != signature.pk:
        # The gate reads the latest signature of a kind: withdrawing an earlier one would
        # change nothing, so say which one stands.
        raise DomainError(
            "A later signature of this document replaces this one; withdraw that one.",
            code="consent.superseded",
        )
    meta = current_request_meta()
    withdrawal = ConsentWithdrawal(
        organisation_id=signature.organisation_id, signature=signature, withdrawn_at=now,
        withdrawn_by=actor.user, on_behalf=on_behalf, reason=reason,
        ip_address=meta.ip_address, user_agent=meta.user_agent[:200],
        request_id=meta.request_id[:64],
    )  # fmt: skip
    withdrawal.full_clean()
    withdrawal.save()
    consent_event_record(
        actor=actor, client_id=client.pk, kind="consent_withdrawn", occurred_at=now,
        reason=reason,
        data={"signature_id": signature.pk, "document_kind": signature.document.kind,
              "document_label": signature.document.get_kind_display(),
              "version": signature.document.version, "on_behalf": on_behalf},
    )  # fmt: skip
    course_facts_refresh(client_id=client.pk)
    audit_record(actor=actor, action="consent.withdraw", target=withdrawal, client_id=client.pk)
    logger.info("consent.withdrawn", extra={"withdrawal_id": withdrawal.pk})
    return withdrawal
