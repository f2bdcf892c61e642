"""Who am I, the organisation's members, and the caller's own API tokens."""

from datetime import datetime
from typing import Literal

from ninja import Field, Router, Schema, Status

from kapflow.accounts import selectors, services
from kapflow.core.api import ERRORS, ErrorsOut, staff_actor
from kapflow.core.errors import PermissionDenied

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


@router.get("/members", response={200: list[MemberOut], 404: ErrorsOut})
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


# ---- API tokens (decision 0034) ----------------------------------------------------------------


class ApiTokenOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The first characters after `kf_`, to recognise it.")
    scope: Literal["read", "read_write"]
    mfa: Literal["verified", "demo_skipped", "unknown"] = Field(
        description="Whether the session that made it had passed MFA; outside demo mode only "
        "`verified` tokens work."
    )
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    status: Literal["active", "expired", "made_without_mfa"]


class ApiTokenCreatedOut(ApiTokenOut):
    token: str = Field(description="The token itself, shown this once; only its hash is kept.")


class ApiTokenIn(Schema):
    name: str = Field(max_length=100)
    scope: Literal["read", "read_write"] = "read"
    days: int = Field(90, ge=1, le=365, description="Lifetime in days, at most a year.")


def _token_out(token) -> dict:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "scope": token.scope,
        "mfa": token.mfa,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "status": services.api_token_refusal(token) or "active",
    }


@router.get("/tokens", response={200: list[ApiTokenOut], 404: ErrorsOut}, summary="My API tokens")
def token_list(request):
    actor = staff_actor(request)
    return [_token_out(t) for t in selectors.api_token_list(actor=actor)]


@router.post("/tokens", response={201: ApiTokenCreatedOut, **ERRORS}, summary="Make an API token")
def token_create(request, payload: ApiTokenIn):
    """Only from a signed-in browser session: a token cannot make another token, so a leaked
    token cannot outlive its own expiry."""
    actor = staff_actor(request)
    if getattr(request, "api_token", None) is not None:
        raise PermissionDenied(
            "Make tokens from a signed-in session, not with a token.", code="token.from_token"
        )
    token, raw = services.api_token_create(
        actor=actor,
        name=payload.name,
        scope=payload.scope,
        days=payload.days,
        mfa_verified=request.user.is_verified(),
    )
    return Status(201, {**_token_out(token), "token": raw})


@router.delete(
    "/tokens/{int:token_id}", response={200: ApiTokenOut, **ERRORS}, summary="Revoke an API token"
)
def token_revoke(request, token_id: int):
    actor = staff_actor(request)
    return _token_out(services.api_token_revoke(actor=actor, token_id=token_id))
