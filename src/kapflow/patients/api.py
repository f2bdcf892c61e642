"""Clients and care teams over JSON. Same selectors, services and policy as the pages.

Search terms go in a POST body (/clients/search), never in the URL, so names stay out of
access logs.
"""

from dataclasses import asdict
from datetime import date, datetime
from typing import Literal

from ninja import Query, Router, Schema, Status
from pydantic import Field

from kapflow.clinical.geography import US_STATES
from kapflow.core.api import ERRORS, ErrorsOut, staff_actor
from kapflow.patients import selectors, services

router = Router(tags=["clients"])

StateCode = Literal[tuple(US_STATES)]  # type: ignore[valid-type]
SortKey = Literal[tuple(selectors.SORTS)]  # type: ignore[valid-type]


class CareTeamMemberOut(Schema):
    id: int
    membership_id: int
    name: str
    organisation: str
    role: str
    is_primary: bool
    added_at: datetime
    licence_warning: str


class ClientOut(Schema):
    id: int
    organisation_id: int
    legal_first_name: str
    legal_last_name: str
    preferred_name: str
    pronouns: str
    date_of_birth: date
    email: str
    phone: str
    address_line1: str
    address_line2: str
    city: str
    state: str
    postal_code: str
    emergency_contact_name: str
    emergency_contact_relationship: str
    emergency_contact_phone: str
    care_team: list[CareTeamMemberOut]


class ClientSummaryOut(Schema):
    id: int
    legal_first_name: str
    legal_last_name: str
    preferred_name: str
    date_of_birth: date
    state: str


class ClientPage(Schema):
    count: int = Field(
        description="Matching clients, counted up to 1,000: when count_exact is false there "
        "are more than this."
    )
    count_exact: bool = Field(True, description="Whether count is the exact number.")
    page: int
    pages: int = Field(description="Pages of `count` clients; more follow when has_next.")
    has_next: bool = Field(False, description="Whether a next page has clients.")
    results: list[ClientSummaryOut]


class ClientIn(Schema):
    legal_first_name: str = Field(min_length=1, max_length=100)
    legal_last_name: str = Field(min_length=1, max_length=100)
    preferred_name: str = Field("", max_length=100)
    pronouns: str = Field("", max_length=40)
    date_of_birth: date
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=30)
    address_line1: str = Field("", max_length=200)
    address_line2: str = Field("", max_length=200)
    city: str = Field("", max_length=100)
    state: StateCode
    postal_code: str = Field("", max_length=10)
    emergency_contact_name: str = Field("", max_length=200)
    emergency_contact_relationship: str = Field("", max_length=100)
    emergency_contact_phone: str = Field("", max_length=30)


class ClientPatch(Schema):
    legal_first_name: str | None = Field(None, min_length=1, max_length=100)
    legal_last_name: str | None = Field(None, min_length=1, max_length=100)
    preferred_name: str | None = Field(None, max_length=100)
    pronouns: str | None = Field(None, max_length=40)
    date_of_birth: date | None = None
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=30)
    address_line1: str | None = Field(None, max_length=200)
    address_line2: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=100)
    state: StateCode | None = None
    postal_code: str | None = Field(None, max_length=10)
    emergency_contact_name: str | None = Field(None, max_length=200)
    emergency_contact_relationship: str | None = Field(None, max_length=100)
    emergency_contact_phone: str | None = Field(None, max_length=30)


class ClientListParams(Schema):
    state: StateCode | None = None
    sort: SortKey = "name"
    page: int = Field(1, ge=1, le=1_000_000)


class ClientSearchIn(ClientListParams):
    q: str = Field("", max_length=100)


class CareTeamIn(Schema):
    membership_id: int = Field(ge=1)
    role: Literal["therapist", "prescriber"]
    is_primary: bool = False
    acknowledge_warnings: bool = False


class CareTeamEndIn(Schema):
    reason: str = Field(min_length=1, max_length=500)


def _member_out(m) -> dict:
    return {
        "id": m.pk,
        "membership_id": m.membership_id,
        "name": str(m.membership.user),
        "organisation": m.membership.organisation.name,
        "role": m.role,
        "is_primary": m.is_primary,
        "added_at": m.added_at,
        "licence_warning": m.licence_warning,
    }


def _client_out(client) -> dict:
    data = {f: getattr(client, f) for f in services.CLIENT_FIELDS}
    data.update(
        id=client.pk,
        organisation_id=client.organisation_id,
        care_team=[_member_out(m) for m in client.care_team.all()],
    )
    return data


def _page(actor, params: dict) -> dict:
    page = selectors.client_list(
        actor=actor,
        query=selectors.ClientListQuery(
            search=params.get("q", ""),
            state=params.get("state") or "",
            sort=params["sort"],
            page=params["page"],
        ),
    )
    return {
        "count": page.paginator.count,
        "count_exact": page.paginator.count_exact,
        "page": page.number,
        "pages": page.paginator.num_pages,
        "has_next": page.has_next(),
        "results": list(page.object_list),
    }


@router.get("", response={200: ClientPage, 404: ErrorsOut, 422: ErrorsOut})
def client_list(request, params: Query[ClientListParams]):
    return _page(staff_actor(request), params.dict())


@router.post("/search", response={200: ClientPage, **ERRORS})
def client_search(request, payload: ClientSearchIn):
    return _page(staff_actor(request), payload.dict())


@router.post("", response={201: ClientOut, **ERRORS})
def client_create(request, payload: ClientIn):
    actor = staff_actor(request)
    client = services.client_create(actor=actor, data=payload.dict())
    client = selectors.client_get_for_actor(actor=actor, client_id=client.pk, audit_action="")
    return Status(201, _client_out(client))


@router.get("/{int:client_id}", response={200: ClientOut, 404: ErrorsOut})
def client_get(request, client_id: int):
    actor = staff_actor(request)
    client = selectors.client_detail(actor=actor, client_id=client_id)
    data = {f: getattr(client, f) for f in services.CLIENT_FIELDS}
    data.update(
        id=client.pk,
        organisation_id=client.organisation_id,
        care_team=[asdict(m) for m in client.team],
    )
    return data


@router.patch("/{int:client_id}", response={200: ClientOut, **ERRORS})
def client_patch(request, client_id: int, payload: ClientPatch):
    actor = staff_actor(request)
    data = payload.dict(exclude_unset=True)
    nulls = [k for k, v in data.items() if v is None]
    if nulls:
        from django.core.exceptions import ValidationError

        raise ValidationError(dict.fromkeys(nulls, "This field cannot be null."))
    services.client_update(actor=actor, client_id=client_id, data=data)
    client = selectors.client_get_for_actor(actor=actor, client_id=client_id, audit_action="")
    return _client_out(client)


@router.get("/{int:client_id}/care-team", response={200: list[CareTeamMemberOut], 404: ErrorsOut})
def care_team_list(request, client_id: int):
    actor = staff_actor(request)
    client = selectors.client_get_for_actor(
        actor=actor, client_id=client_id, audit_action="care_team.view"
    )
    return [_member_out(m) for m in client.care_team.all()]


@router.post("/{int:client_id}/care-team", response={201: CareTeamMemberOut, **ERRORS})
def care_team_add(request, client_id: int, payload: CareTeamIn):
    actor = staff_actor(request)
    member, _ = services.care_team_add(actor=actor, client_id=client_id, **payload.dict())
    client = selectors.client_get_for_actor(actor=actor, client_id=client_id, audit_action="")
    member = next(m for m in client.care_team.all() if m.pk == member.pk)
    return Status(201, _member_out(member))


@router.post("/{int:client_id}/care-team/{int:member_id}/end", response={204: None, **ERRORS})
def care_team_end(request, client_id: int, member_id: int, payload: CareTeamEndIn):
    actor = staff_actor(request)
    services.care_team_remove(
        actor=actor, client_id=client_id, member_id=member_id, reason=payload.reason
    )
    return Status(204, None)
