"""Directory read paths: the public search, the public profiles, their open consultation
slots, and the practice's inquiries and funnel.

Public selectors take no actor and return only what is visible (`ClinicianProfile.visible`:
the clinician and the practice published). Distances use ZIP centroids from the `zipcodes`
package (its data ships inside the wheel: no network at run time). A search is a fixed
number of queries whatever the page holds: the page, the bounded count, and one for the
clinicians' licences.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    Value,
    When,
)
from django.db.models.functions import TruncMonth
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import ClinicianLicence, TrainingCertificate
from kapflow.audit.services import audit_not_found
from kapflow.clinical import directory as rules
from kapflow.clinical import scheduling as sched
from kapflow.clinical.geography import US_STATES, state_time_zone
from kapflow.core import clock
from kapflow.core.errors import NotFound
from kapflow.core.paging import bounded_page
from kapflow.core.timezones import zone
from kapflow.directory.models import (
    LIVE_HOLD_STATUSES,
    ClinicianProfile,
    Inquiry,
    InquiryStatus,
    PracticeProfile,
)

PER_PAGE = 10

# ---- places ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    zip_code: str
    city: str
    state: str
    latitude: float
    longitude: float


@functools.lru_cache(maxsize=4096)
def zip_place(zip_code: str) -> Place | None:
    """The centroid of a 5-digit US ZIP code, from the `zipcodes` package's shipped data; None
    for a code it does not know (or not five digits)."""
    import zipcodes

    code = (zip_code or "").strip()
    if not re.fullmatch(r"\d{5}", code):
        return None
    try:
        found = zipcodes.matching(code)
    except (TypeError, ValueError):
        return None
    for row in found:
        try:
            return Place(code, row["city"], row["state"], float(row["lat"]), float(row["long"]))
        except (KeyError, TypeError, ValueError):
            continue
    return None


def city_key(city: str, state: str) -> str:
    """ "Portland", "OR" → "portland|or": the key a city search matches."""
    return f"{normalise(city)}|{(state or '').strip().lower()}"


def normalise(text: str) -> str:
    """Lower case, accents removed, punctuation to spaces, single spaces."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def terms(query: str) -> list[str]:
    """The words of a free-text query a search matches (at most 6, each 2+ characters)."""
    return [w for w in dict.fromkeys(normalise(query).split()) if len(w) >= 2][:6]


def today_in_state(state: str, now: datetime | None = None) -> date:
    """The date in a state's default zone: "currently licensed" is read on the searcher's day."""
    return timezone.localdate(now or clock.now(), zone(state_time_zone(state)))


def current_licence_q(*, state: str, today: date) -> Exists:
    """The SQL form of clinical.licensure.current_licence_in_state (a licence in `state` that
    expires today or later, or has no recorded expiry), for filtering thousands of profiles in
    one query; tests/directory/test_licensure.py proves both agree on every case."""
    return Exists(
        ClinicianLicence.objects.filter(
            user_id=OuterRef("membership__user_id"), state=state
        ).filter(Q(expires_on__isnull=True) | Q(expires_on__gte=today))
    )


# ---- the search ------------------------------------------------------------------------------


@dataclass
class SearchParams:
    mode: str = "near"  # near (ZIP + radius) | city | online (licensed in my state)
    zip_code: str = ""
    radius: int = rules.DEFAULT_RADIUS
    city: str = ""
    state: str = ""
    q: str = ""
    modality: str = ""
    condition: str = ""
    insurance: str = ""
    price_max: int | None = None
    accepting: bool = False
    sort: str = ""  # distance | relevance | name
    page: int = 1


@dataclass
class SearchResult:
    page: object
    rows: list = field(default_factory=list)
    place: Place | None = None
    errors: dict = field(default_factory=dict)


def _visible():
    return ClinicianProfile.objects.filter(visible=True)


def search(params: SearchParams, *, now: datetime | None = None) -> SearchResult:
    """Published clinicians matching `params`, paged (PER_PAGE) and sorted. Errors name the
    field ("zip_code": "We do not know that ZIP code."), and an empty result is returned."""
    now = now or clock.now()
    qs = _visible().select_related("practice", "membership")
    errors: dict[str, str] = {}
    place = None
    dist = None
    if params.mode == "near":
        place = zip_place(params.zip_code)
        if place is None:
            errors["zip_code"] = "Enter a 5-digit US ZIP code we know, for example 97214."
        else:
            radius = min(max(int(params.radius or rules.DEFAULT_RADIUS), 1), rules.MAX_RADIUS)
            box = rules.bounding_box(place.latitude, place.longitude, radius)
            cos_lat = math.cos(math.radians(place.latitude))
            # Equirectangular distance in degrees of latitude: within a few hundred miles it
            # is within 0.5% of the great-circle distance the card shows.
            dist = (F("latitude") - Value(place.latitude)) * (
                F("latitude") - Value(place.latitude)
            ) + (F("longitude") - Value(place.longitude)) * (
                F("longitude") - Value(place.longitude)
            ) * Value(cos_lat * cos_lat)
            limit = (radius / rules.MILES_PER_DEGREE_LATITUDE) ** 2
            qs = (
                qs.filter(
                    in_person=True,
                    practice__online_only=False,
                    latitude__gte=box.min_lat,
                    latitude__lte=box.max_lat,
                    longitude__gte=box.min_lon,
                    longitude__lte=box.max_lon,
                )
                .annotate(dist2=dist)
                .filter(dist2__lte=limit)
            )
    elif params.mode == "city":
        state = (params.state or "").upper()
        if not params.city.strip():
            errors["city"] = "Enter a city."
        if state not in US_STATES:
            errors["state"] = "Choose a state."
        if not errors:
            qs = qs.filter(
                in_person=True, practice__online_only=False, city_key=city_key(params.city, state)
            )
    elif params.mode == "online":
        state = (params.state or "").upper()
        if state not in US_STATES:
            errors["state"] = "Choose the state you live in."
        else:
            # A clinician appears only where they hold a current licence today.
            qs = qs.filter(telehealth=True).filter(
                current_licence_q(state=state, today=today_in_state(state, now))
            )
    else:
        errors["mode"] = "Choose near a ZIP code, a city, or online in your state."
    if errors:
        return SearchResult(
            page=bounded_page(qs.none(), number=1, per_page=PER_PAGE), errors=errors
        )

    for key, value in (
        ("modalities", params.modality),
        ("conditions", params.condition),
        ("insurance", params.insurance),
    ):
        if value:
            qs = qs.filter(**{f"{key}__contains": f"|{normalise(value).replace(' ', '_')}|"})
    if params.price_max is not None:
        qs = qs.filter(price_min__lte=params.price_max)
    if params.accepting:
        qs = qs.filter(accepting_new=True)
    words = terms(params.q)
    for word in words:
        qs = qs.filter(search_text__contains=word)
    if words:
        qs = qs.annotate(
            relevance=sum(
                (
                    Case(
                        When(search_name__contains=w, then=Value(3)),
                        default=Value(1),
                        output_field=IntegerField(),
                    )
                    for w in words
                ),
                Value(0),
            )
        )
    sort = params.sort or ("relevance" if words else "distance" if dist is not None else "name")
    if sort == "relevance" and words:
        order = ["-relevance", *(["dist2"] if dist is not None else []), "display_name", "id"]
    elif sort == "distance" and dist is not None:
        order = ["dist2", "display_name", "id"]
    else:
        order = ["display_name", "id"]
    qs = qs.order_by(*order)
    page = bounded_page(qs, number=params.page, per_page=PER_PAGE)
    rows = list(page.object_list)
    _attach_licensed_states(rows, now=now)
    for row in rows:
        row.distance = (
            rules.distance_miles(place.latitude, place.longitude, row.latitude, row.longitude)
            if place is not None and row.latitude is not None
            else None
        )
    return SearchResult(page=page, rows=rows, place=place)


def _attach_licensed_states(rows: list, *, now: datetime) -> None:
    """Each row's `licensed_states`: where it holds a current licence on that state's date,
    by clinical.licensure.current_licence_in_state (one query for the whole page)."""
    from kapflow.clinical.licensure import Licence, current_licence_in_state

    by_user: dict[int, list[Licence]] = {}
    user_ids = {row.membership.user_id for row in rows}
    if user_ids:
        for lic in ClinicianLicence.objects.filter(user_id__in=user_ids).order_by("state", "pk"):
            by_user.setdefault(lic.user_id, []).append(
                Licence(lic.licence_type, lic.state, lic.number, lic.expires_on)
            )
    for row in rows:
        licences = by_user.get(row.membership.user_id, [])
        row.licensed_states = sorted(
            {
                lic.state
                for lic in licences
                if current_licence_in_state(
                    licences, state=lic.state, today=today_in_state(lic.state, now)
                )
            }
        )


# ---- public profiles -------------------------------------------------------------------------


def practice_public(*, slug: str, now: datetime | None = None) -> PracticeProfile:
    """A published practice with its visible clinicians (NotFound otherwise)."""
    practice = (
        PracticeProfile.objects.filter(slug=slug, published=True)
        .select_related("organisation", "partner")
        .prefetch_related(
            Prefetch(
                "clinicians",
                queryset=_visible().select_related("membership").order_by("display_name", "id"),
                to_attr="shown_clinicians",
            )
        )
        .first()
    )
    if practice is None:
        raise NotFound("No published practice at this address.")
    _attach_licensed_states(practice.shown_clinicians, now=now or clock.now())
    return practice


def clinician_public(*, slug: str, now: datetime | None = None) -> ClinicianProfile:
    """A visible clinician with their practice, current licensed states, KAP training
    certificates (recorded in accounts, current ones only) and partner prescriber."""
    now = now or clock.now()
    clinician = (
        _visible()
        .filter(slug=slug)
        .select_related(
            "practice",
            "practice__partner",
            "practice__organisation",
            "membership",
            "membership__user",
            "partner_prescriber__user",
            "partner_prescriber__organisation",
        )
        .first()
    )
    if clinician is None:
        raise NotFound("No published clinician at this address.")
    _attach_licensed_states([clinician], now=now)
    today = today_in_state(clinician.state, now)
    clinician.certificates = list(
        TrainingCertificate.objects.filter(user_id=clinician.membership.user_id)
        .filter(Q(expires_on__isnull=True) | Q(expires_on__gte=today))
        .order_by("-issued_on", "pk")
    )
    return clinician


# ---- consultation slots ----------------------------------------------------------------------

SLOT_DAYS = 14
SLOT_NOTICE = timedelta(hours=24)


def hours_and_busy(membership_ids: list[int], *, start: datetime, end: datetime) -> dict:
    """Per membership: weekly hours, exceptions and busy spans (live appointments and live
    holds of directory inquiries) between start and end. Three queries for any number."""
    from kapflow.scheduling.models import (
        LIVE_STATUSES,
        AppointmentParticipant,
        AvailabilityException,
        AvailabilityRule,
    )

    out = {m: {"hours": [], "exceptions": [], "busy": []} for m in membership_ids}
    for r in AvailabilityRule.objects.filter(membership_id__in=membership_ids):
        out[r.membership_id]["hours"].append(
            sched.WeeklyHours(
                r.weekday, r.start_time, r.end_time, r.time_zone, r.valid_from, r.valid_until
            )
        )
    for e in AvailabilityException.objects.filter(
        membership_id__in=membership_ids, ends_at__gt=start, starts_at__lt=end
    ):
        out[e.membership_id]["exceptions"].append(
            sched.Exception_(e.starts_at, e.ends_at, e.available)
        )
    for p in AppointmentParticipant.objects.filter(
        membership_id__in=membership_ids,
        live=True,
        ends_at__gt=start,
        starts_at__lt=end,
        appointment__status__in=LIVE_STATUSES,
    ).values("membership_id", "starts_at", "ends_at"):
        out[p["membership_id"]]["busy"].append((p["starts_at"], p["ends_at"]))
    holds = Inquiry.objects.filter(
        status__in=LIVE_HOLD_STATUSES, slot_starts_at__lt=end, slot_ends_at__gt=start
    ).filter(Q(clinician__membership_id__in=membership_ids) | Q(prescriber_id__in=membership_ids))
    for h in holds.values(
        "clinician__membership_id", "prescriber_id", "slot_starts_at", "slot_ends_at"
    ):
        for m in (h["clinician__membership_id"], h["prescriber_id"]):
            if m in out:
                out[m]["busy"].append((h["slot_starts_at"], h["slot_ends_at"]))
    return out


@dataclass
class Slots:
    own: list
    joint: list


def slots_for(clinician: ClinicianProfile, *, now: datetime | None = None, limit: int = 6) -> Slots:
    """The clinician's next open consultation slots and, with a partner prescriber, the
    slots both are free for a joint intake (clinical.directory.open_slots/joint_slots)."""
    now = now or clock.now()
    end = now + timedelta(days=SLOT_DAYS)
    ids = [clinician.membership_id]
    if clinician.partner_prescriber_id:
        ids.append(clinician.partner_prescriber_id)
    data = hours_and_busy(ids, start=now, end=end)
    minutes = clinician.consult_minutes

    def free(m: int, n: int) -> list:
        return rules.open_slots(
            **data[m], now=now, minutes=minutes, notice=SLOT_NOTICE, days=SLOT_DAYS, limit=n
        )

    own = free(clinician.membership_id, limit)
    joint = []
    if clinician.partner_prescriber_id:
        joint = rules.joint_slots(
            free(clinician.membership_id, 500), free(clinician.partner_prescriber_id, 500), limit
        )
    return Slots(own, joint)


def slot_is_open(
    clinician: ClinicianProfile,
    *,
    starts_at: datetime,
    joint: bool,
    now: datetime,
    exclude_inquiry_id: int | None = None,
) -> bool:
    """Is this start still an open slot (for the clinician, and the prescriber if joint)?"""
    end = now + timedelta(days=SLOT_DAYS)
    ids = [clinician.membership_id]
    if joint and clinician.partner_prescriber_id:
        ids.append(clinician.partner_prescriber_id)
    data = hours_and_busy(ids, start=now, end=end)
    if exclude_inquiry_id is not None:
        held = (
            Inquiry.objects.filter(pk=exclude_inquiry_id)
            .values_list("slot_starts_at", "slot_ends_at")
            .first()
        )
        if held:
            for m in ids:
                if held in data[m]["busy"]:
                    data[m]["busy"].remove(held)
    for m in ids:
        found = rules.open_slots(
            **data[m], now=now, minutes=clinician.consult_minutes, notice=SLOT_NOTICE,
            days=SLOT_DAYS, limit=1000,
        )  # fmt: skip
        if not any(s.starts_at == starts_at for s in found):
            return False
    return True


# ---- the practice's side ---------------------------------------------------------------------


def inquiry_list(*, actor, status: str = "") -> list[Inquiry]:
    """The practice's inquiries, newest first (staff who work inquiries; else NotFound)."""
    if not policy.can_work_inquiries(actor):
        raise NotFound()
    qs = Inquiry.objects.for_org(actor.organisation).select_related("clinician")
    if status:
        qs = qs.filter(status=status)
    else:
        qs = qs.exclude(status__in=[InquiryStatus.PENDING, InquiryStatus.EXPIRED])
    return list(qs.order_by("-created_at", "-pk")[:200])


def inquiry_get_for_actor(*, actor, inquiry_id: int) -> Inquiry:
    if not policy.can_work_inquiries(actor):
        raise NotFound()
    found = (
        Inquiry.objects.for_org(actor.organisation)
        .select_related("clinician", "prescriber__user", "course")
        .filter(pk=inquiry_id)
        .first()
    )
    if found is None:
        raise audit_not_found(actor=actor, model=Inquiry, object_id=inquiry_id,
                              message="Inquiry not found.")  # fmt: skip
    return found


def inquiry_by_token(*, token: str) -> Inquiry:
    from kapflow.accounts.models import hash_secret
    from kapflow.directory.services import inquiry_id_from_token

    inquiry_id = inquiry_id_from_token(token)
    found = (
        Inquiry.objects.select_related(
            "clinician", "clinician__practice__organisation", "prescriber__user"
        )
        .filter(pk=inquiry_id, token_hash=hash_secret(token or ""))
        .first()
        if inquiry_id is not None
        else None
    )
    if found is None:
        raise NotFound("This link is not valid.")
    return found


def practice_profile_for_actor(*, actor) -> PracticeProfile | None:
    if not policy.can_manage_directory(actor):
        raise NotFound()
    return (
        PracticeProfile.objects.filter(organisation=actor.organisation)
        .prefetch_related(
            Prefetch(
                "clinicians",
                queryset=ClinicianProfile.objects.select_related("membership__user").order_by(
                    "display_name", "id"
                ),
            )
        )
        .first()
    )


@dataclass
class FunnelRow:
    month: date
    source: str
    requests: int = 0
    consultations: int = 0
    clients: int = 0
    first_dosing: int = 0


def _local_month(value):
    """A TruncMonth in the practice's zone comes back as a local datetime: its date is the
    month (SQLite may hand back a date already)."""
    return value.date() if isinstance(value, datetime) else value  # local datetimes


def funnel(*, actor, months: int = 12) -> list[FunnelRow]:
    """Per month of the request and source: requests (confirmed), consultations (booked or
    later), clients (converted), and first dosing (the inquiry's course reached dosing). One
    query."""
    if not policy.can_manage_directory(actor):
        raise NotFound()
    since = clock.now() - timedelta(days=31 * months)
    confirmed = Inquiry.objects.for_org(actor.organisation).filter(
        created_at__gte=since, confirmed_at__isnull=False
    )
    # A course at "active" or later has had its first dosing (clinical.course.Stage).
    dosed_stages = ("active", "maintenance", "completed")
    seen_stages = ("intake", "referred", "medical_evaluation", "eligible", "not_eligible",
                   "consented", "preparation", *dosed_stages)  # fmt: skip
    rows = (
        confirmed.annotate(
            month=TruncMonth("created_at", tzinfo=clock.clinical_zone(actor.organisation))
        )
        .values("month", "source")
        .annotate(
            requests=Count("pk"),
            consultations=Count(
                "pk",
                filter=Q(status__in=[InquiryStatus.BOOKED, InquiryStatus.CONVERTED])
                | Q(course__stage__in=seen_stages),
            ),
            clients=Count(
                "pk",
                filter=Q(status=InquiryStatus.CONVERTED) | Q(course__client__user__isnull=False),
            ),
            first_dosing=Count("pk", filter=Q(course__stage__in=dosed_stages)),
        )
        .order_by("-month", "source")
    )
    return [
        FunnelRow(
            month=_local_month(r["month"]),
            source=r["source"],
            requests=r["requests"],
            consultations=r["consultations"],
            clients=r["clients"],
            first_dosing=r["first_dosing"],
        )
        for r in rows
    ]
