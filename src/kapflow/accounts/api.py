"""Who am I, and the organisation's members."""

from ninja import Router, Schema

from kapflow.accounts import selectors
from kapflow.core.api import staff_actor

router = Router(tags=["accounts"])


class MembershipOut(Schema):
    id: int
    organisation_id: int
    organisation: str
    organisation_kind: str
    roles: list[str]


class MeOut(Schema):
    id: int
    email: str
    full_name: str
    acting_as: MembershipOut | None
    memberships: list[MembershipOut]


def _membership_out(m) -> dict:
    return {
        "id": m.pk,
        "organisation_id": m.organisation_id,
        "organisation": m.organisation.name,
        "organisation_kind": m.organisation.kind,
        "roles": sorted(m.role_set),
    }


@router.get("/me", response=MeOut)
def me(request):
    memberships = getattr(request, "memberships", None) or selectors.memberships_for_user(
        request.user
    )
    actor = request.actor
    return {
        "id": request.user.pk,
        "email": request.user.email,
        "full_name": request.user.full_name,
        "acting_as": _membership_out(actor) if actor else None,
        "memberships": [_membership_out(m) for m in memberships],
    }


class MemberOut(Schema):
    id: int
    user_id: int
    email: str
    full_name: str
    roles: list[str]
    is_active: bool
    licences: list[dict]


@router.get("/members", response=list[MemberOut])
def members(request):
    actor = staff_actor(request)
    return [
        {
            "id": m.pk,
            "user_id": m.user_id,
            "email": m.user.email,
            "full_name": m.user.full_name,
            "roles": sorted(m.role_set),
            "is_active": m.is_active,
            "licences": [
                {
                    "type": lic.licence_type,
                    "state": lic.state,
                    "number": lic.number,
                    "expires_on": lic.expires_on.isoformat() if lic.expires_on else None,
                }
                for lic in m.user.licences.all()
            ],
        }
        for m in selectors.member_list(actor=actor)
    ]
