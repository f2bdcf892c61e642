"""Read paths for people and organisations."""

from django.db.models import Aggregate, CharField, Exists, OuterRef, Prefetch, QuerySet, Subquery

from kapflow import policy
from kapflow.accounts.models import (
    ApiToken,
    ClinicianLicence,
    Invitation,
    Membership,
    MembershipRole,
    TrainingCertificate,
    User,
)
from kapflow.audit.services import audit_not_found
from kapflow.clinical.licensure import Licence
from kapflow.core import clock
from kapflow.core.errors import NotFound
from kapflow.core.querytemplate import QueryTemplate


class _RoleList(Aggregate):
    """The role names of one membership joined by commas (role names hold no comma)."""

    function = "STRING_AGG"
    template = "%(function)s(%(expressions)s, ',')"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="GROUP_CONCAT", **extra_context)


def _roles_and_grants(membership_ref: str) -> dict:
    """Annotations that load an actor in the query that finds it: its roles, and whether it
    holds an emergency grant not yet closed (EmergencyAccessMiddleware and the banner read
    the grants only then). See prime_actor."""
    from kapflow.patients.models import EmergencyAccess

    return {
        "actor_roles": Subquery(
            MembershipRole.objects.filter(membership=OuterRef(membership_ref))
            .order_by()
            .values("membership")
            .annotate(names=_RoleList("role"))
            .values("names")[:1],
            output_field=CharField(),
        ),
        "actor_holds_grant": Exists(
            EmergencyAccess.objects.filter(
                membership=OuterRef(membership_ref), ended_at__isnull=True
            )
        ),
    }


def prime_actor(membership: Membership, roles: str | None, holds_grant: bool) -> Membership:
    """Fill what role_set and the emergency-access check would otherwise query for."""
    membership._role_set = frozenset(name for name in (roles or "").split(",") if name)
    membership.holds_emergency_grant = bool(holds_grant)
    return membership


def memberships_for_user(user: User) -> list[Membership]:
    """The user's active memberships with organisation, user and roles: one query."""
    rows = (
        Membership.objects.filter(user=user, is_active=True)
        .select_related("organisation", "user")
        .annotate(**_roles_and_grants("pk"))
        .order_by("organisation__name", "id")
    )
    return [prime_actor(m, m.actor_roles, m.actor_holds_grant) for m in rows]


# Every bearer-token request runs this: compiled once, bound per call (decision 0055).
_API_TOKEN_ACTOR = QueryTemplate(
    lambda *, token_hash: (
        ApiToken.objects.filter(token_hash=token_hash, revoked_at__isnull=True)
        .select_related("membership__organisation", "membership__user")
        .annotate(**_roles_and_grants("membership_id"))
        .order_by("pk")[:1]
    )
)


def api_token_actor(*, token_hash: str) -> ApiToken | None:
    """The unrevoked token with that hash and its membership as an actor (organisation, user,
    roles, whether it holds an emergency grant): one query. Expiry and MFA are the caller's
    check (accounts.services.api_token_refusal)."""
    token = _API_TOKEN_ACTOR.first(token_hash=token_hash)
    if token is not None:
        prime_actor(token.membership, token.actor_roles, token.actor_holds_grant)
    return token


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
