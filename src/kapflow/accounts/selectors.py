"""Read paths for people and organisations."""

from django.db.models import Prefetch, QuerySet

from kapflow import policy
from kapflow.accounts.models import (
    ApiToken,
    ClinicianLicence,
    Invitation,
    Membership,
    TrainingCertificate,
    User,
)
from kapflow.audit.services import audit_not_found
from kapflow.clinical.licensure import Licence
from kapflow.core import clock
from kapflow.core.errors import NotFound


def memberships_for_user(user: User) -> list[Membership]:
    """The user's active memberships with organisation and roles: two queries."""
    return list(
        Membership.objects.filter(user=user, is_active=True)
        .select_related("organisation", "user")
        .prefetch_related("roles")
        .order_by("organisation__name", "id")
    )


def member_list(*, actor) -> QuerySet[Membership]:
    if not policy.can_manage_members(actor):
        raise NotFound()
    return (
        Membership.objects.for_org(actor.organisation)
        .select_related("user")
        .prefetch_related(
            "roles",
            Prefetch("user__licences", queryset=ClinicianLicence.objects.order_by("state")),
        )
        .order_by("-is_active", "user__full_name", "user__email")
    )


def member_get(*, actor, membership_id: int) -> Membership:
    """A member's profile, for an admin of the same organisation or the member themself."""
    membership = (
        Membership.objects.select_related("user", "organisation")
        .prefetch_related(
            "roles",
            Prefetch("user__licences", queryset=ClinicianLicence.objects.order_by("state")),
            Prefetch(
                "user__certificates", queryset=TrainingCertificate.objects.order_by("-issued_on")
            ),
        )
        .filter(pk=membership_id)
        .first()
    )
    if membership is None or not policy.can_edit_credentials(actor, membership):
        raise audit_not_found(actor=actor, model=Membership, object_id=membership_id)
    return membership


def invitation_list(*, actor) -> QuerySet[Invitation]:
    if not policy.can_manage_members(actor):
        raise NotFound()
    return (
        Invitation.objects.for_org(actor.organisation)
        .select_related("invited_by")
        .order_by("-created_at")
    )


def invitation_get_by_token(*, token_hash: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("organisation").filter(token_hash=token_hash).first()
    )
    if invitation is None or invitation.status != "pending":
        raise NotFound("This invitation link is not valid any more. Ask for a new one.")
    return invitation


def api_token_list(*, actor) -> QuerySet[ApiToken]:
    """The actor's own unrevoked tokens, newest first (expired ones too, marked so)."""
    return ApiToken.objects.filter(membership=actor, revoked_at__isnull=True).order_by(
        "-created_at", "-id"
    )


def licences_of(user_id: int) -> list[Licence]:
    return [
        Licence(lic.licence_type, lic.state, lic.number, lic.expires_on)
        for lic in ClinicianLicence.objects.filter(user_id=user_id)
    ]


def licences_as_rules(licences) -> list[Licence]:
    return [Licence(lic.licence_type, lic.state, lic.number, lic.expires_on) for lic in licences]


def today():
    return clock.viewer_today()
