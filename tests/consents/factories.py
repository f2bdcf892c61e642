"""Consent factories: published documents and a client's signatures, as the services would
have written them (no request metadata)."""

import datetime

from django.utils import timezone

from kapflow.accounts.models import Role
from kapflow.consents.models import (
    ConsentDocument,
    ConsentSignature,
    ConsentWithdrawal,
    body_sha256,
)
from kapflow.core import clock

BODY = (
    "Consent to ketamine-assisted psychotherapy (test text).\n\n"
    "Ketamine is used off label; esketamine is the FDA-approved alternative. Effects include "
    "dissociation, nausea, dizziness and a rise in blood pressure. You may withdraw at any time."
)


def _publisher(organisation):
    """The organisation's admin, else any of its staff (tests often have no admin)."""
    from kapflow.accounts.models import Membership

    members = Membership.objects.filter(organisation=organisation).select_related("user")
    chosen = (
        members.filter(roles__role=Role.PRACTICE_ADMIN).first()
        or members.exclude(roles__role__in=[Role.CLIENT, Role.COMPANION]).first()
    )
    if chosen is not None:
        return chosen.user
    from tests.accounts.factories import member

    return member(organisation, Role.PRACTICE_ADMIN).user


def publish(organisation, kind="kap", *, by=None, published_at=None, body=None, **fields):
    """The next version of `kind` for `organisation`."""
    latest = (
        ConsentDocument.objects.filter(organisation=organisation, kind=kind)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    version = (latest or 0) + 1
    return ConsentDocument.objects.create(
        organisation=organisation, kind=kind, version=version,
        title=fields.pop("title", f"{kind} consent, version {version}"),
        body=body or f"{BODY}\n\nVersion {version}.", published_by=by or _publisher(organisation),
        published_at=published_at or timezone.now() - datetime.timedelta(days=30), **fields,
    )  # fmt: skip


def current(organisation, kind="kap"):
    """The organisation's current document of `kind`, published (version 1) if there is none."""
    document = (
        ConsentDocument.objects.filter(
            organisation=organisation, kind=kind, published_at__lte=timezone.now()
        )
        .order_by("-version")
        .first()
    )
    return document or publish(organisation, kind)


def sign(client, kind="kap", *, document=None, at=None, typed_name=None, **fields):
    """The client's signature of `document` (default: the current document of `kind`)."""
    document = document or current(client.organisation, kind)
    at = at or timezone.now()
    earlier = ConsentSignature.objects.filter(client=client, document=document).count()
    return ConsentSignature.objects.create(
        organisation=client.organisation, document=document, client=client,
        sequence=earlier + 1, signed_by=client.user,
        typed_name=typed_name or f"{client.legal_first_name} {client.legal_last_name}",
        signed_on=clock.clinical_date(client.organisation, at), signed_at=at,
        content_sha256=body_sha256(document.body), **fields,
    )  # fmt: skip


def withdraw(signature, by=None, *, at=None, reason="The client asked to stop."):
    """A withdrawal of `signature`: by the client's own user, or on behalf by `by` (a user)."""
    user = by or signature.client.user
    return ConsentWithdrawal.objects.create(
        organisation=signature.organisation, signature=signature,
        withdrawn_at=at or timezone.now(), withdrawn_by=user,
        on_behalf=by is not None, reason=reason,
    )  # fmt: skip


def consent_for(client, *, delivery="in_person", state=True, at=None):
    """What a course past consent needs: the current KAP consent signed (and, at home, the
    telehealth consent). `state`: True (signed), False (nothing), "withdrawn" (signed, then
    withdrawn) or "outdated" (signed, then a new version published)."""
    if state is False:
        return None
    at = at or timezone.now() - datetime.timedelta(minutes=5)
    signature = _standing(client, "kap") or sign(client, "kap", at=at)
    if delivery == "at_home" and not _standing(client, "telehealth"):
        sign(client, "telehealth", at=at)
    if state == "withdrawn":
        withdraw(signature, by=None if client.user else _publisher(client.organisation))
    elif state == "outdated":
        publish(
            client.organisation, "kap", published_at=timezone.now() - datetime.timedelta(minutes=1)
        )
    return signature


def _standing(client, kind):
    """The client's signature, not withdrawn, of the current document of `kind`, if any."""
    return ConsentSignature.objects.filter(
        client=client, document=current(client.organisation, kind), withdrawal__isnull=True
    ).first()
