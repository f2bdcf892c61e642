"""Client write paths: create, update, care-team changes.

Permissions come from kapflow.policy, the licensure rule from kapflow.clinical.licensure.
Each function is one transaction with its audit row; nothing here knows HTTP.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import Membership, Role
from kapflow.accounts.selectors import licences_of
from kapflow.audit.services import audit_record
from kapflow.clinical.licensure import LicenceFinding, licence_findings
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.patients.models import CareTeamMember, CareTeamRole, Client
from kapflow.patients.selectors import client_get_for_update

CLIENT_FIELDS = (
    "legal_first_name",
    "legal_last_name",
    "preferred_name",
    "pronouns",
    "date_of_birth",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "emergency_contact_name",
    "emergency_contact_relationship",
    "emergency_contact_phone",
)


@transaction.atomic
def client_create(*, actor: Membership, data: dict) -> Client:
    """Create a client in the actor's practice. A therapist who creates a client joins the
    care team as primary therapist, so they keep seeing the record."""
    if not policy.can_create_client(actor):
        raise NotFound()
    unknown = set(data) - set(CLIENT_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "Unknown field."))
    client = Client(organisation=actor.organisation, **data)
    client.full_clean()
    client.save()
    audit_record(
        actor=actor,
        action="client.create",
        target=client,
        client_id=client.pk,
        changed_fields=list(data),
    )
    if actor.has_role(Role.THERAPIST):
        _care_team_insert(actor=actor, client=client, membership=actor, role="therapist")
    return client


@transaction.atomic
def client_update(*, actor: Membership, client_id: int, data: dict) -> Client:
    client = client_get_for_update(actor=actor, client_id=client_id)
    client = Client.objects.prefetch_related("care_team").get(pk=client.pk)
    if not policy.can_edit_client(actor, client):
        # The actor can see this client (else NotFound above) but may not change it.
        raise PermissionDenied("You may view this client but not change their details.")
    unknown = set(data) - set(CLIENT_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "Unknown field."))
    changed = [f for f, v in data.items() if getattr(client, f) != v]
    for field, value in data.items():
        setattr(client, field, value)
    client.full_clean()
    if changed:
        client.updated_at = timezone.now()
        client.save()
    audit_record(
        actor=actor,
        action="client.update",
        target=client,
        client_id=client.pk,
        changed_fields=changed,
    )
    return client


def care_team_licence_findings(*, membership: Membership, client: Client) -> list[LicenceFinding]:
    return licence_findings(
        licences_of(membership.user_id), state=client.state, today=timezone.localdate()
    )


def _care_team_insert(*, actor, client, membership, role, is_primary=True) -> CareTeamMember:
    findings = care_team_licence_findings(membership=membership, client=client)
    member = CareTeamMember(
        organisation=client.organisation,
        client=client,
        membership=membership,
        role=role,
        is_primary=is_primary,
        added_by=actor.user,
        licence_warning=" ".join(f.message for f in findings)[:300],
    )
    member.full_clean()
    member.save()
    audit_record(actor=actor, action="care_team.add", target=member, client_id=client.pk)
    return member


@transaction.atomic
def care_team_add(
    *,
    actor: Membership,
    client_id: int,
    membership_id: int,
    role: str,
    is_primary: bool = False,
    acknowledge_warnings: bool = False,
) -> tuple[CareTeamMember, list[LicenceFinding]]:
    """Add a clinician to the client's care team.

    Licensure problems are warnings, not blocks (the licensed person decides): the first call
    returns DomainError `care_team.licence_warning` listing them; calling again with
    acknowledge_warnings=True records the assignment and keeps the warning text on the row.
    """
    client = client_get_for_update(actor=actor, client_id=client_id)
    client = Client.objects.prefetch_related("care_team").get(pk=client.pk)
    if not policy.can_manage_care_team(actor, client):
        raise PermissionDenied("You may view this client but not change their care team.")
    if role not in CareTeamRole.values:
        raise ValidationError({"role": "Choose therapist or prescriber."})
    membership = (
        policy.assignable_clinicians_queryset(actor, client)
        .select_related("user", "organisation")
        .prefetch_related("roles")
        .filter(pk=membership_id)
        .first()
    )
    if membership is None:
        raise ValidationError({"membership": "Choose a clinician from the list."})
    if not membership.has_role(role):
        raise ValidationError({"role": f"This person does not hold the {role} role."})
    if CareTeamMember.objects.filter(
        client=client, membership=membership, role=role, ended_at__isnull=True
    ).exists():
        raise ValidationError({"membership": "This clinician is already on the care team."})
    findings = care_team_licence_findings(membership=membership, client=client)
    if findings and not acknowledge_warnings:
        raise DomainError(
            "Licensure: " + " ".join(f.message for f in findings),
            code="care_team.licence_warning",
            field="membership",
        )
    if is_primary:
        CareTeamMember.objects.filter(
            client=client, role=role, ended_at__isnull=True, is_primary=True
        ).update(is_primary=False)
    member = _care_team_insert(
        actor=actor, client=client, membership=membership, role=role, is_primary=is_primary
    )
    return member, findings


@transaction.atomic
def care_team_remove(*, actor: Membership, client_id: int, member_id: int, reason: str) -> None:
    client = client_get_for_update(actor=actor, client_id=client_id)
    client = Client.objects.prefetch_related("care_team").get(pk=client.pk)
    if not policy.can_manage_care_team(actor, client):
        raise PermissionDenied("You may view this client but not change their care team.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why this clinician leaves the care team."})
    member = (
        CareTeamMember.objects.select_for_update()
        .filter(pk=member_id, client=client, ended_at__isnull=True)
        .first()
    )
    if member is None:
        raise NotFound()
    member.ended_at = timezone.now()
    member.ended_reason = reason.strip()[:500]
    member.save(update_fields=["ended_at", "ended_reason"])
    audit_record(actor=actor, action="care_team.remove", target=member, client_id=client.pk)
