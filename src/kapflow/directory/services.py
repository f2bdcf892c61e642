"""Directory write paths: publish profiles, take a consultation request from the public,
confirm, cancel or move it from the e-mailed link, let holds lapse, and work it on the
practice's side.

A public request has no acting membership: its audit rows are system rows (actor None) and
its only credential is the opaque token in the e-mailed link (its hash is stored, never the
token; no PHI in any URL). Slots come from kapflow.clinical.directory over the clinicians'
availability; the pre-screen guidance from kapflow.clinical.directory.prescreen, which asks
the evaluation screen (one rule).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import date, datetime, timedelta

from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.text import slugify

from kapflow import policy
from kapflow.accounts.models import Membership, Role, hash_secret
from kapflow.audit.services import audit_record
from kapflow.clinical import directory as rules
from kapflow.clinical.course import age_on
from kapflow.clinical.geography import US_STATES
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound
from kapflow.directory import selectors
from kapflow.directory.models import (
    LIVE_HOLD_STATUSES,
    ClinicianProfile,
    Condition,
    Inquiry,
    InquiryStatus,
    Insurance,
    Language,
    Modality,
    PracticeProfile,
    codes_text,
)

logger = logging.getLogger(__name__)

# An unconfirmed request holds its slot this long; a confirmed one until the practice acts.
PENDING_HOLD = timedelta(minutes=30)
# Per address and per e-mail, in RATE_WINDOW.
RATE_LIMIT = 5
RATE_WINDOW = timedelta(hours=1)


class RateLimited(DomainError):
    code = "directory.rate_limited"


class SlotTaken(DomainError):
    code = "directory.slot_taken"


# ---- profiles --------------------------------------------------------------------------------


def _check_codes(values, allowed, field_name: str, errors: dict) -> list[str]:
    values = [v for v in (values or []) if v]
    bad = [v for v in values if v not in allowed]
    if bad:
        errors[field_name] = "Choose from the list."
    return values


def _search_words(*parts: str) -> str:
    return selectors.normalise(" ".join(p for p in parts if p))


@transaction.atomic
def practice_profile_save(*, actor: Membership, data: dict) -> PracticeProfile:
    """Create or update the practice's public profile. The location is the ZIP's centroid;
    publishing shows it (and its published clinicians) at once, unpublishing hides both."""
    if not policy.can_manage_directory(actor):
        raise NotFound()
    now = clock.now()
    profile = (
        PracticeProfile.objects.select_for_update().filter(organisation=actor.organisation).first()
    )
    created = profile is None
    if profile is None:
        profile = PracticeProfile(organisation=actor.organisation, updated_at=now)
    errors: dict[str, str] = {}
    for key in ("display_name", "bio", "phone", "website", "street", "city"):
        if key in data:
            setattr(profile, key, (data[key] or "").strip())
    if "state" in data:
        profile.state = (data["state"] or "").upper()
    if "online_only" in data:
        profile.online_only = bool(data["online_only"])
    if "zip_code" in data:
        profile.zip_code = (data["zip_code"] or "").strip()
    if profile.zip_code:
        place = selectors.zip_place(profile.zip_code)
        if place is None:
            errors["zip_code"] = "Enter a 5-digit US ZIP code we know."
        else:
            profile.latitude, profile.longitude = place.latitude, place.longitude
            if not profile.city:
                profile.city = place.city.title()
    else:
        profile.latitude = profile.longitude = None
        if not profile.online_only:
            errors["zip_code"] = "Enter the office's ZIP code, or mark the practice online only."
    if "partner_id" in data:
        partner_id = data["partner_id"]
        profile.partner = None
        if partner_id:
            from kapflow.accounts.models import Partnership

            link = (
                Partnership.objects.filter(practice=actor.organisation, partner_id=partner_id)
                .select_related("partner")
                .first()
            )
            if link is None:
                errors["partner_id"] = "Choose one of the practice's prescribing partners."
            else:
                profile.partner = link.partner
    if "published" in data:
        publish = bool(data["published"])
        if publish and not profile.published:
            profile.published_at = now
        profile.published = publish
    if not profile.slug:
        profile.slug = _unique_slug(PracticeProfile, profile.display_name or "practice")
    if errors:
        raise ValidationError(errors)
    profile.updated_at = now
    profile.full_clean()
    profile.save()
    _refresh_clinicians(profile)
    audit_record(
        actor=actor,
        action="directory.practice_create" if created else "directory.practice_update",
        target=profile,
        changed_fields=sorted(data),
    )
    return profile


def _unique_slug(model, text: str) -> str:
    base = slugify(text)[:60] or "profile"
    slug, n = base, 1
    while model.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _refresh_clinicians(practice: PracticeProfile) -> None:
    """Copy the practice's place onto its clinicians and recompute what the public sees."""
    for clinician in ClinicianProfile.objects.filter(practice=practice):
        _denormalise(clinician, practice)
        clinician.save()


def _denormalise(clinician: ClinicianProfile, practice: PracticeProfile) -> None:
    clinician.state = practice.state
    clinician.city_key = selectors.city_key(practice.city, practice.state) if practice.city else ""
    clinician.latitude, clinician.longitude = practice.latitude, practice.longitude
    clinician.search_name = _search_words(clinician.display_name, practice.display_name)
    clinician.search_text = _search_words(
        clinician.display_name,
        clinician.credentials,
        clinician.bio,
        practice.display_name,
        practice.city,
    )
    clinician.visible = bool(clinician.published and practice.published)


@transaction.atomic
def clinician_profile_save(
    *, actor: Membership, membership_id: int, data: dict
) -> ClinicianProfile:
    """Create or update one clinician's public card (written by the practice)."""
    if not policy.can_manage_directory(actor):
        raise NotFound()
    practice = (
        PracticeProfile.objects.select_for_update().filter(organisation=actor.organisation).first()
    )
    if practice is None:
        raise ValidationError({"practice": "Publish the practice's profile first."})
    member = (
        Membership.objects.filter(
            pk=membership_id,
            organisation=actor.organisation,
            is_active=True,
            roles__role__in=[Role.THERAPIST, Role.PRESCRIBER],
        )
        .select_related("user")
        .first()
    )
    if member is None:
        raise NotFound("Clinician not found.")
    now = clock.now()
    profile = ClinicianProfile.objects.filter(membership=member).first()
    created = profile is None
    if profile is None:
        profile = ClinicianProfile(
            organisation=actor.organisation,
            practice=practice,
            membership=member,
            display_name=member.user.full_name or "Clinician",
            credentials=member.title,
            updated_at=now,
        )
    errors: dict[str, str] = {}
    for key in ("display_name", "credentials", "bio"):
        if key in data:
            setattr(profile, key, (data[key] or "").strip())
    for key, choices in (
        ("modalities", Modality.values),
        ("conditions", Condition.values),
        ("insurance", Insurance.values),
        ("languages", Language.values),
    ):
        if key in data:
            setattr(profile, key, codes_text(_check_codes(data[key], choices, key, errors)))
    for key in ("price_min", "price_max"):
        if key in data:
            value = data[key]
            if value in ("", None):
                setattr(profile, key, None)
            else:
                try:
                    number = int(value)
                    if number < 0:
                        raise ValueError
                    setattr(profile, key, number)
                except (TypeError, ValueError):
                    errors[key] = "Enter a whole number of US dollars."
    for key in ("accepting_new", "in_person", "telehealth", "published"):
        if key in data:
            setattr(profile, key, bool(data[key]))
    if "partner_prescriber_id" in data:
        profile.partner_prescriber = None
        pid = data["partner_prescriber_id"]
        if pid:
            found = _partner_prescriber(actor, pid)
            if found is None:
                errors["partner_prescriber_id"] = (
                    "Choose a prescriber of the practice or of its prescribing partner."
                )
            profile.partner_prescriber = found
    if (
        profile.price_min is not None
        and profile.price_max is not None
        and profile.price_max < profile.price_min
    ):
        errors["price_max"] = "The highest price must be at least the lowest."
    if errors:
        raise ValidationError(errors)
    if not profile.slug:
        profile.slug = _unique_slug(ClinicianProfile, profile.display_name)
    profile.updated_at = now
    _denormalise(profile, practice)
    profile.full_clean()
    profile.save()
    audit_record(
        actor=actor,
        action="directory.clinician_create" if created else "directory.clinician_update",
        target=profile,
        changed_fields=sorted(data),
    )
    return profile


def _partner_prescriber(actor, membership_id) -> Membership | None:
    """A prescriber of the practice itself or of one of its prescribing partners."""
    from kapflow.accounts.models import Partnership

    partner_ids = list(
        Partnership.objects.filter(practice=actor.organisation).values_list("partner_id", flat=True)
    )
    return (
        Membership.objects.filter(pk=membership_id, is_active=True, roles__role=Role.PRESCRIBER)
        .filter(organisation_id__in=[actor.organisation_id, *partner_ids])
        .first()
    )


# ---- the public request ----------------------------------------------------------------------


def address_key(address: str) -> str:
    """A hash of the caller's network address: rate limits and the inquiry never store it."""
    return hashlib.sha256(f"kapflow-directory:{address or ''}".encode()).hexdigest()


def _rate_check(*keys: str) -> None:
    """At most RATE_LIMIT requests per key in RATE_WINDOW (the cache: Redis when set)."""
    seconds = int(RATE_WINDOW.total_seconds())
    for key in keys:
        name = f"directory:rate:{key}"
        cache.add(name, 0, seconds)
        try:
            count = cache.incr(name)
        except ValueError:
            cache.set(name, 1, seconds)
            count = 1
        if count > RATE_LIMIT:
            raise RateLimited(
                "Too many requests from here in the last hour. Please try again later, or "
                "call the practice."
            )


def _parse_dob(value) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None


def _clean_person(data: dict, *, today: date) -> dict:
    errors: dict[str, str] = {}
    out: dict = {}
    for key, label, limit in (
        ("first_name", "your first name", 100),
        ("last_name", "your last name", 100),
    ):
        value = (data.get(key) or "").strip()
        if not value:
            errors[key] = f"Enter {label}."
        elif len(value) > limit:
            errors[key] = f"At most {limit} characters."
        out[key] = value
    email = (data.get("email") or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = "Enter an e-mail address we can write to."
    if len(email) > 254:
        errors["email"] = "At most 254 characters."
    out["email"] = email
    phone = (data.get("phone") or "").strip()
    if len(phone) > 30:
        errors["phone"] = "At most 30 characters."
    out["phone"] = phone
    dob = _parse_dob(data.get("date_of_birth"))
    if dob is None:
        errors["date_of_birth"] = "Enter your date of birth (YYYY-MM-DD)."
    elif dob > today or age_on(dob, today) > 120:
        errors["date_of_birth"] = "Enter a real date of birth."
    elif age_on(dob, today) < 18:
        errors["date_of_birth"] = "Consultations here are for adults (18 and over)."
    out["date_of_birth"] = dob
    state = (data.get("client_state") or "").strip().upper()
    if state not in US_STATES:
        errors["client_state"] = "Choose the state you live in."
    out["client_state"] = state
    message = (data.get("message") or "").strip()
    if len(message) > 2000:
        errors["message"] = "At most 2,000 characters."
    out["message"] = message
    if errors:
        raise ValidationError(errors)
    return out


@transaction.atomic
def inquiry_submit(
    *,
    clinician_slug: str,
    data: dict,
    prescreen: dict | None = None,
    slot_starts_at: datetime | None = None,
    joint: bool = False,
    address: str = "",
    source: str = "directory",
) -> Inquiry:
    """A request for a free consultation (optionally with a slot, optionally joint with the
    partner prescriber). The slot is held for PENDING_HOLD until the person confirms from
    the e-mail; nothing reaches the practice before that. Returns the inquiry; the link is
    e-mailed by the task."""
    from kapflow.directory.tasks import inquiry_link_send

    if (data.get("website") or "").strip():
        # The honeypot: a field people cannot see. Say nothing that helps a bot.
        raise ValidationError({"website": "Leave this field empty."})
    now = clock.now()
    clinician = (
        ClinicianProfile.objects.filter(slug=clinician_slug, visible=True)
        .select_related("practice", "membership")
        .first()
    )
    if clinician is None:
        raise NotFound("No published clinician at this address.")
    person = _clean_person(data, today=selectors.today_in_state(clinician.state, now))
    if not clinician.accepting_new:
        raise DomainError(
            "This clinician is not taking new clients just now.", code="directory.not_accepting"
        )
    key = address_key(address)
    _rate_check(f"addr:{key}", f"mail:{hash_secret(person['email'].lower())}")
    if joint and not clinician.partner_prescriber_id:
        raise ValidationError(
            {"joint": "This clinician has no partner prescriber for a joint intake."}
        )
    prescriber_id = clinician.partner_prescriber_id if joint else None
    ends = None
    if slot_starts_at is not None:
        _lock_clinicians(clinician.membership_id, prescriber_id)
        if not selectors.slot_is_open(clinician, starts_at=slot_starts_at, joint=joint, now=now):
            raise SlotTaken("That time has just been taken. Please choose another.", field="slot")
        ends = slot_starts_at + timedelta(minutes=clinician.consult_minutes)
    inquiry = Inquiry(
        organisation_id=clinician.organisation_id,
        clinician=clinician,
        prescriber_id=prescriber_id,
        prescreen=_clean_prescreen(prescreen),
        source=(source or "directory")[:40],
        status=InquiryStatus.PENDING,
        slot_starts_at=slot_starts_at,
        slot_ends_at=ends,
        hold_expires_at=now + PENDING_HOLD,
        token_hash=hash_secret(secrets.token_urlsafe(32)),  # replaced once the id is known
        created_at=now,
        address_hash=key,
        **person,
    )
    inquiry.full_clean()
    inquiry.save()
    inquiry.token_hash = hash_secret(inquiry_token(inquiry.pk))
    inquiry.save(update_fields=["token_hash"])
    audit_record(actor=None, action="directory.inquiry_submit", target=inquiry)
    logger.info("directory.inquiry_submitted", extra={"inquiry_id": inquiry.pk})
    transaction.on_commit(lambda: inquiry_link_send.enqueue(inquiry.pk, "confirm"))
    return inquiry


def _clean_prescreen(prescreen: dict | None) -> dict:
    """Only the guidance's codes, fit and topics are kept: never free text."""
    if not prescreen:
        return {}
    fit = str(prescreen.get("fit", ""))
    if fit not in {f.value for f in rules.Fit}:
        return {}
    return {
        "fit": fit,
        "topics": [str(t)[:200] for t in prescreen.get("topics", [])][:20],
        "finding_codes": [str(c)[:60] for c in prescreen.get("finding_codes", [])][:30],
    }


def _lock_clinicians(*ids) -> None:
    """Lock the clinicians' membership rows (id order) so two requests for one slot
    serialise, as a staff booking does."""
    wanted = sorted(i for i in ids if i)
    list(Membership.objects.select_for_update().filter(pk__in=wanted).order_by("pk"))


TOKEN_SALT = "kapflow.directory.inquiry"


def inquiry_token(inquiry_id: int) -> str:
    """The e-mailed link's token: the inquiry's id signed with the secret key (no PHI).
    Every e-mail carries the same token, so an earlier link keeps working; only its hash is
    stored, and changing that hash would revoke it."""
    return signing.Signer(salt=TOKEN_SALT).sign(str(inquiry_id))


def inquiry_id_from_token(token: str) -> int | None:
    try:
        value = signing.Signer(salt=TOKEN_SALT).unsign(token or "")
    except signing.BadSignature:
        return None
    return int(value) if value.isdecimal() else None


def _by_token(token: str) -> Inquiry:
    inquiry_id = inquiry_id_from_token(token)
    found = (
        Inquiry.objects.select_for_update()
        .filter(pk=inquiry_id, token_hash=hash_secret(token or ""))
        .first()
        if inquiry_id is not None
        else None
    )
    if found is None:
        raise NotFound("This link is not valid.")
    return Inquiry.objects.select_related("clinician", "clinician__practice").get(pk=found.pk)


@transaction.atomic
def inquiry_confirm(*, token: str) -> Inquiry:
    """The person confirmed from the e-mail: the inquiry enters the practice's pipeline (a
    client record and a course at its first stage, inquiry), the slot is held until the
    practice acts, the practice is e-mailed a link (no PHI) and the person a calendar file."""
    return _confirm(_by_token(token))


def _confirm(inquiry: Inquiry) -> Inquiry:
    """inquiry_confirm's work on a locked inquiry (the demo calls it by id)."""
    from kapflow.directory.tasks import inquiry_link_send, inquiry_practice_notify

    now = clock.now()
    if inquiry.status != InquiryStatus.PENDING:
        if inquiry.status in LIVE_HOLD_STATUSES:
            return inquiry  # confirmed already: a second click changes nothing
        raise DomainError(
            "This request is no longer open. Please send a new one.", code="directory.closed"
        )
    if inquiry.hold_expires_at and inquiry.hold_expires_at < now and inquiry.slot_starts_at:
        clinician = inquiry.clinician
        _lock_clinicians(clinician.membership_id, inquiry.prescriber_id)
        if not selectors.slot_is_open(
            clinician,
            starts_at=inquiry.slot_starts_at,
            joint=bool(inquiry.prescriber_id),
            now=now,
            exclude_inquiry_id=inquiry.pk,
        ):
            inquiry.status = InquiryStatus.EXPIRED
            inquiry.closed_at = now
            inquiry.save(update_fields=["status", "closed_at"])
            raise SlotTaken(
                "The time you chose was taken before you confirmed. Please choose another.",
                field="slot",
            )
    inquiry.status = InquiryStatus.CONFIRMED
    inquiry.confirmed_at = now
    inquiry.hold_expires_at = inquiry.slot_ends_at
    inquiry.course = _open_inquiry_course(inquiry, now=now)
    inquiry.save(update_fields=["status", "confirmed_at", "hold_expires_at", "course"])
    audit_record(
        actor=None,
        action="directory.inquiry_confirm",
        target=inquiry,
        client_id=inquiry.course.client_id,
    )
    transaction.on_commit(lambda: inquiry_practice_notify.enqueue(inquiry.pk))
    transaction.on_commit(lambda: inquiry_link_send.enqueue(inquiry.pk, "confirmed"))
    return inquiry


def _open_inquiry_course(inquiry: Inquiry, *, now: datetime):
    """A client record and a course at inquiry, the first course stage, with the clinician
    (a therapist) on the care team; the pre-screen is on the course's first event."""
    from kapflow.courses.models import Course, CourseEvent, EventKind
    from kapflow.courses.services import course_facts_refresh
    from kapflow.patients.models import Client
    from kapflow.patients.services import care_team_grant

    clinician = inquiry.clinician
    member = Membership.objects.select_related("user").get(pk=clinician.membership_id)
    client = Client(
        organisation_id=inquiry.organisation_id,
        legal_first_name=inquiry.first_name,
        legal_last_name=inquiry.last_name,
        date_of_birth=inquiry.date_of_birth,
        email=inquiry.email,
        phone=inquiry.phone,
        state=inquiry.client_state,
        created_at=now,
        updated_at=now,
    )
    client.full_clean()
    client.save()
    audit_record(actor=None, action="client.create", target=client, client_id=client.pk)
    therapist = member
    if not member.has_role(Role.THERAPIST):
        # A prescriber's card: the course still needs a therapist; the practice's first.
        therapist = (
            Membership.objects.filter(
                organisation_id=inquiry.organisation_id, is_active=True,
                roles__role=Role.THERAPIST,
            ).select_related("user").order_by("pk").first()
        )  # fmt: skip
        if therapist is None:
            raise DomainError(
                "The practice cannot take requests just now. Please call it.",
                code="directory.no_therapist",
            )
    course = Course(
        organisation_id=inquiry.organisation_id,
        client=client,
        therapist=therapist,
        prescriber_id=inquiry.prescriber_id,
        opened_at=now,
        stage_changed_at=now,
    )
    course.full_clean()
    course.save()
    care_team_grant(
        actor=None, client=client, membership=therapist, role="therapist", is_primary=True,
        now=now,
    )  # fmt: skip
    CourseEvent.objects.create(
        organisation_id=inquiry.organisation_id,
        course=course,
        kind=EventKind.TRANSITION,
        occurred_at=now,
        recorded_at=now,
        to_stage=course.stage,
        reason="Consultation request from the public directory.",
        data={"inquiry_id": inquiry.pk, "prescreen": inquiry.prescreen, "source": inquiry.source},
    )
    audit_record(actor=None, action="course.open", target=course, client_id=client.pk)
    course_facts_refresh(course_id=course.pk)
    return course


@transaction.atomic
def inquiry_cancel(*, token: str) -> Inquiry:
    """The person cancels from the e-mailed link: the hold is released."""
    inquiry = _by_token(token)
    if inquiry.status not in LIVE_HOLD_STATUSES:
        return inquiry
    now = clock.now()
    inquiry.status = InquiryStatus.CANCELLED
    inquiry.closed_at = now
    inquiry.close_reason = "Cancelled by the person."
    inquiry.save(update_fields=["status", "closed_at", "close_reason"])
    audit_record(actor=None, action="directory.inquiry_cancel", target=inquiry)
    return inquiry


@transaction.atomic
def inquiry_move(*, token: str, slot_starts_at: datetime) -> Inquiry:
    """The person moves the held slot to another open one from the e-mailed link."""
    from kapflow.directory.tasks import inquiry_link_send

    inquiry = _by_token(token)
    if inquiry.status not in LIVE_HOLD_STATUSES:
        raise DomainError("This request is no longer open.", code="directory.closed")
    now = clock.now()
    clinician = inquiry.clinician
    _lock_clinicians(clinician.membership_id, inquiry.prescriber_id)
    if not selectors.slot_is_open(
        clinician,
        starts_at=slot_starts_at,
        joint=bool(inquiry.prescriber_id),
        now=now,
        exclude_inquiry_id=inquiry.pk,
    ):
        raise SlotTaken("That time is not free. Please choose another.", field="slot")
    inquiry.slot_starts_at = slot_starts_at
    inquiry.slot_ends_at = slot_starts_at + timedelta(minutes=clinician.consult_minutes)
    if inquiry.status != InquiryStatus.PENDING:
        inquiry.hold_expires_at = inquiry.slot_ends_at
    inquiry.save(update_fields=["slot_starts_at", "slot_ends_at", "hold_expires_at"])
    audit_record(actor=None, action="directory.inquiry_move", target=inquiry)
    if inquiry.status != InquiryStatus.PENDING:
        transaction.on_commit(lambda: inquiry_link_send.enqueue(inquiry.pk, "confirmed"))
    return inquiry


def inquiry_holds_expire(*, now: datetime | None = None) -> int:
    """Unconfirmed requests past their hold lapse (the scheduler's `directory_holds` job)."""
    now = now or clock.now()
    with transaction.atomic():
        lapsed = list(
            Inquiry.objects.select_for_update()
            .filter(status=InquiryStatus.PENDING, hold_expires_at__lt=now)
            .values_list("pk", flat=True)[:500]
        )
        if lapsed:
            Inquiry.objects.filter(pk__in=lapsed).update(
                status=InquiryStatus.EXPIRED, closed_at=now
            )
    if lapsed:
        logger.info("directory.holds_expired", extra={"count": len(lapsed)})
    return len(lapsed)


INQUIRY_ACTIONS = {
    "contacted": InquiryStatus.CONTACTED,
    "booked": InquiryStatus.BOOKED,
    "converted": InquiryStatus.CONVERTED,
    "closed": InquiryStatus.CLOSED,
}
INQUIRY_AUDIT = {
    "contacted": "directory.inquiry_contacted",
    "booked": "directory.inquiry_booked",
    "converted": "directory.inquiry_converted",
    "closed": "directory.inquiry_closed",
}


@transaction.atomic
def inquiry_update(*, actor: Membership, inquiry_id: int, action: str, reason: str = "") -> Inquiry:
    """The practice works an inquiry: contacted, consultation booked, became a client
    (the invitation is sent from the client's page), or closed with a reason."""
    if not policy.can_work_inquiries(actor):
        raise NotFound()
    inquiry = (
        Inquiry.objects.for_org(actor.organisation)
        .select_for_update()
        .filter(pk=inquiry_id)
        .first()
    )
    if inquiry is None:
        raise NotFound("Inquiry not found.")
    if action not in INQUIRY_ACTIONS:
        raise ValidationError({"action": "Choose contacted, booked, converted or closed."})
    if inquiry.status in (InquiryStatus.PENDING, InquiryStatus.EXPIRED, InquiryStatus.CANCELLED):
        raise DomainError(
            "This request was never confirmed or was cancelled.", code="directory.closed"
        )
    reason = (reason or "").strip()
    if action == "closed" and not reason:
        raise ValidationError({"reason": "Say why the inquiry is closed."})
    if len(reason) > 200:
        raise ValidationError({"reason": "At most 200 characters."})
    inquiry.status = INQUIRY_ACTIONS[action]
    if action in ("closed", "converted"):
        inquiry.closed_at = clock.now()
        inquiry.hold_expires_at = None
    inquiry.close_reason = reason
    inquiry.save()
    audit_record(
        actor=actor,
        action=INQUIRY_AUDIT[action],
        target=inquiry,
        client_id=inquiry.course.client_id if inquiry.course_id else None,
    )
    return inquiry


# The kinds of request that still hold their slot and may be booked from the inquiry page.
BOOKABLE_STATUSES = (InquiryStatus.CONFIRMED, InquiryStatus.CONTACTED)


@transaction.atomic
def inquiry_book(
    *, actor: Membership, inquiry_id: int, room_id: int | None = None, confirm: bool = False
):
    """Book the inquiry's held slot as a consultation appointment through
    `scheduling.services.appointment_book` (the same locks, licensure, clash and hours
    checks and reasons as any staff booking), for the inquiry's course and the slot's
    clinicians: the card's clinician, and for a joint intake the partner prescriber too
    (joined to the client's care team first, as a booking requires). Telehealth unless a
    room is chosen. The inquiry becomes booked (its hold gives way to the appointment), all
    in one transaction: a refusal changes nothing. Returns (inquiry, Booking)."""
    from kapflow.patients import grants
    from kapflow.patients.services import care_team_add
    from kapflow.scheduling.models import AppointmentKind
    from kapflow.scheduling.services import appointment_book

    if not policy.can_work_inquiries(actor):
        raise NotFound()
    inquiry = (
        Inquiry.objects.for_org(actor.organisation)
        .select_for_update()
        .filter(pk=inquiry_id)
        .first()
    )
    if inquiry is None:
        raise NotFound("Inquiry not found.")
    if inquiry.status not in BOOKABLE_STATUSES or not inquiry.course_id:
        raise DomainError(
            "Only a confirmed request that is not yet booked or closed can be booked.",
            code="directory.closed",
        )
    if inquiry.slot_starts_at is None or inquiry.slot_ends_at is None:
        raise DomainError(
            "This request holds no time; book the consultation on the schedule.",
            code="directory.no_slot",
        )
    course = inquiry.course
    member = Membership.objects.get(pk=inquiry.clinician.membership_id)
    therapist_id, prescriber_id = None, inquiry.prescriber_id
    if member.has_role(Role.THERAPIST):
        therapist_id = member.pk
    elif prescriber_id is None:
        prescriber_id = member.pk  # a prescriber's card: the course's therapist joins
    if prescriber_id is not None and not grants.on_care_team(prescriber_id, course.client_id):
        # Licensure is the booking's to refuse (below), with the scheduling reasons.
        care_team_add(
            actor=actor, client_id=course.client_id, membership_id=prescriber_id,
            role="prescriber", acknowledge_warnings=True,
        )  # fmt: skip
    minutes = int((inquiry.slot_ends_at - inquiry.slot_starts_at).total_seconds() // 60)
    booking = appointment_book(
        actor=actor,
        kind=AppointmentKind.CONSULTATION,
        starts_at=inquiry.slot_starts_at,
        minutes=minutes,
        course_ids=[course.pk],
        therapist_id=therapist_id,
        prescriber_id=prescriber_id,
        room_id=room_id,
        telehealth=room_id is None,
        confirm=confirm,
        now=clock.now(),
    )
    inquiry.status = InquiryStatus.BOOKED
    inquiry.hold_expires_at = None
    inquiry.save(update_fields=["status", "hold_expires_at"])
    audit_record(
        actor=actor, action="directory.inquiry_booked", target=inquiry, client_id=course.client_id
    )
    logger.info(
        "directory.inquiry_booked",
        extra={"inquiry_id": inquiry.pk, "appointment_id": booking.first.pk},
    )
    return inquiry, booking
