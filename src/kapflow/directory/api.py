"""The directory over JSON: the public search and profiles (no sign-in; published profiles
only, as on the pages) and the practice's inquiries (admins and clinicians; anyone else
404). Same selectors and services as the pages. The pre-screen has no endpoint: its answers
are health information and stay off URLs and logs; the page posts them and keeps nothing.
"""

from datetime import date, datetime
from typing import Literal

from django.core.exceptions import ValidationError
from ninja import Query, Router, Schema
from pydantic import Field

from kapflow.clinical.geography import US_STATES
from kapflow.core.api import ERRORS, ErrorsOut, staff_actor
from kapflow.directory import selectors, services
from kapflow.directory.models import Condition, InquiryStatus, Insurance, Modality

router = Router(tags=["directory"])

StateCode = Literal[tuple(US_STATES)]  # type: ignore[valid-type]
ModalityName = Literal[tuple(Modality.values)]  # type: ignore[valid-type]
ConditionName = Literal[tuple(Condition.values)]  # type: ignore[valid-type]
InsuranceName = Literal[tuple(Insurance.values)]  # type: ignore[valid-type]
StatusName = Literal[tuple(InquiryStatus.values)]  # type: ignore[valid-type]


class SearchIn(Schema):
    mode: Literal["near", "city", "online"] = "near"
    zip_code: str = Field("", max_length=10)
    radius: int = Field(25, ge=1, le=250, description="Miles, for `near`.")
    city: str = Field("", max_length=100)
    state: StateCode | Literal[""] = ""
    q: str = Field("", max_length=200, description="Words in names and bios.")
    modality: ModalityName | Literal[""] = ""
    condition: ConditionName | Literal[""] = ""
    insurance: InsuranceName | Literal[""] = ""
    price_max: int | None = Field(None, ge=0, le=100_000)
    accepting: bool = False
    sort: Literal["", "distance", "relevance", "name"] = ""
    page: int = Field(1, ge=1, le=1000)


class CardOut(Schema):
    slug: str
    name: str
    credentials: str
    practice: str
    practice_slug: str
    city: str
    state: str
    online_only: bool
    distance_miles: float | None
    licensed_states: list[str]
    modalities: list[str]
    conditions: list[str]
    insurance: list[str]
    price_min: int | None
    price_max: int | None
    accepting_new: bool
    telehealth: bool


class SearchOut(Schema):
    count: int
    count_exact: bool
    page: int
    has_next: bool
    results: list[CardOut]


class SlotOut(Schema):
    starts_at: datetime
    ends_at: datetime


class ProfileOut(CardOut):
    bio: str
    languages: list[str]
    certificates: list[str]
    partner_prescriber: str
    slots: list[SlotOut]
    joint_slots: list[SlotOut]


def _card(c) -> dict:
    return {
        "slug": c.slug,
        "name": c.display_name,
        "credentials": c.credentials,
        "practice": c.practice.display_name,
        "practice_slug": c.practice.slug,
        "city": "" if c.practice.online_only else c.practice.city,
        "state": c.practice.state,
        "online_only": c.practice.online_only,
        "distance_miles": round(c.distance, 1)
        if getattr(c, "distance", None) is not None
        else None,
        "licensed_states": c.licensed_states,
        "modalities": c.modality_list(),
        "conditions": c.condition_list(),
        "insurance": c.insurance_list(),
        "price_min": c.price_min,
        "price_max": c.price_max,
        "accepting_new": c.accepting_new,
        "telehealth": c.telehealth,
    }


@router.get("/search", auth=None, response={200: SearchOut, 422: ErrorsOut})
def search(request, filters: Query[SearchIn]):
    """Published clinicians near a ZIP code, in a city, or licensed today in a state for
    telehealth; filtered, paged (10), sorted. A field the search cannot use is 422 naming it."""
    params = selectors.SearchParams(**filters.dict())
    result = selectors.search(params)
    if result.errors:
        raise ValidationError(result.errors)
    page = result.page
    return {
        "count": page.paginator.count,
        "count_exact": page.paginator.count_exact,
        "page": page.number,
        "has_next": page.has_next(),
        "results": [_card(c) for c in result.rows],
    }


@router.get("/clinician", auth=None, response={200: ProfileOut, 404: ErrorsOut, 422: ErrorsOut})
def clinician(request, slug: str = Query(..., max_length=80, pattern=r"^[-a-zA-Z0-9_]+$")):
    """A published clinician's profile with the next open consultation slots and the joint
    slots with their partner prescriber."""
    found = selectors.clinician_public(slug=slug)
    slots = selectors.slots_for(found)
    return {
        **_card(found),
        "bio": found.bio,
        "languages": found.language_list(),
        "certificates": [f"{c.name} ({c.issuer})" for c in found.certificates],
        "partner_prescriber": found.partner_prescriber.user.full_name
        if found.partner_prescriber_id
        else "",
        "slots": [{"starts_at": s.starts_at, "ends_at": s.ends_at} for s in slots.own],
        "joint_slots": [{"starts_at": s.starts_at, "ends_at": s.ends_at} for s in slots.joint],
    }


class InquiryOut(Schema):
    id: int
    status: StatusName
    clinician: str
    joint: bool
    first_name: str
    last_name: str
    email: str
    phone: str
    date_of_birth: date
    client_state: str
    message: str
    prescreen: dict
    source: str
    slot_starts_at: datetime | None
    created_at: datetime
    confirmed_at: datetime | None
    course_id: int | None
    close_reason: str


def _inquiry(i) -> dict:
    return {
        "id": i.pk,
        "status": i.status,
        "clinician": i.clinician.display_name,
        "joint": bool(i.prescriber_id),
        "first_name": i.first_name,
        "last_name": i.last_name,
        "email": i.email,
        "phone": i.phone,
        "date_of_birth": i.date_of_birth,
        "client_state": i.client_state,
        "message": i.message,
        "prescreen": i.prescreen,
        "source": i.source,
        "slot_starts_at": i.slot_starts_at,
        "created_at": i.created_at,
        "confirmed_at": i.confirmed_at,
        "course_id": i.course_id,
        "close_reason": i.close_reason,
    }


@router.get("/inquiries", response={200: list[InquiryOut], **ERRORS})
def inquiries(request, status: StatusName | Literal[""] = ""):
    """The practice's consultation requests, newest first (admins and clinicians)."""
    actor = staff_actor(request)
    return [_inquiry(i) for i in selectors.inquiry_list(actor=actor, status=status)]


@router.get("/inquiries/{int:inquiry_id}", response={200: InquiryOut, **ERRORS})
def inquiry(request, inquiry_id: int):
    actor = staff_actor(request)
    return _inquiry(selectors.inquiry_get_for_actor(actor=actor, inquiry_id=inquiry_id))


class InquiryActionIn(Schema):
    action: Literal["contacted", "booked", "converted", "closed"]
    reason: str = Field("", max_length=200, description="Required to close.")


@router.post("/inquiries/{int:inquiry_id}/actions", response={200: InquiryOut, **ERRORS})
def inquiry_action(request, payload: InquiryActionIn, inquiry_id: int):
    """Work an inquiry: contacted, consultation booked, became a client, or closed."""
    actor = staff_actor(request)
    done = services.inquiry_update(
        actor=actor, inquiry_id=inquiry_id, action=payload.action, reason=payload.reason
    )
    return _inquiry(selectors.inquiry_get_for_actor(actor=actor, inquiry_id=done.pk))
