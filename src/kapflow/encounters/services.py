"""Dosing-session write paths: open, checklist, start, timeline entries and corrections,
discharge, abandon; group sessions; the practice's session settings.

Each function runs in one transaction, locks the session row first (then, where the course's
facts matter, the course through courses.services), asks kapflow.policy and
kapflow.clinical.session, and refuses with every reason (GateBlocked) or writes the change and
its audit row together. Every change bumps `DosingSession.version`; edits made against an
older version are refused with `session.stale` so two staff never overwrite each other.

The dosing gate is the course's: `session_start` calls courses.services.dosing_gate_check
(the whole gate with the day's facts; it signs any override decision and counts nothing), and
the first dose given calls courses.services.dose_given_record (the DOSING event the deadlines
read, and one dose from the fill, decisions 0019 and 0030). Nothing here knows HTTP.
"""

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from kapflow import policy
from kapflow.accounts.models import Membership, Role
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.clinical import course as course_rules
from kapflow.clinical import session as rules
from kapflow.clinical.overrides import Justification
from kapflow.core.errors import DomainError, GateBlocked, NotFound, PermissionDenied
from kapflow.courses import services as course_services
from kapflow.encounters import presence, selectors
from kapflow.encounters.models import (
    CHECKLIST_ITEMS,
    OPEN_STATES,
    ChecklistResponse,
    DischargeRecord,
    DoseUnit,
    DosingSession,
    EntryKind,
    EntrySource,
    EventType,
    GroupAttendee,
    GroupKind,
    GroupSession,
    GroupState,
    Respondent,
    Route,
    SessionSettings,
    SessionState,
    TimelineEntry,
)

logger = logging.getLogger(__name__)

TEXT_MAX = 2000
REASON_MAX = 2000
# Entries may be back-timed (typed in after the fact), never future-dated; a minute of slack
# absorbs clock skew between tablets and the server.
FUTURE_SLACK = timedelta(minutes=1)

# Plausible ranges: outside them a reading is a typing error, refused by field (422).
VITAL_RANGES = {
    "bp_systolic": (40, 300),
    "bp_diastolic": (20, 200),
    "heart_rate": (20, 250),
    "spo2": (50, 100),
}
AMOUNT_MAX = Decimal("2000")
AMOUNT_PLACES = 2


# ---- helpers ------------------------------------------------------------------------------


def _check_version(session: DosingSession, version: int | None) -> None:
    if version is not None and version != session.version:
        raise DomainError(
            "Someone else changed this session since you opened it; the screen now shows "
            "the latest state. Check it and try again.",
            code="session.stale",
            field="version",
        )


def _only_checklist_since(session: DosingSession, version: int | None) -> bool:
    """True when the session moved on from `version` only by checklist answers: before the
    start nothing else changes a session without changing its state (checklist_submit is
    the only write that bumps a session in CHECKLIST). A start that attests nothing itself
    relies on those answers alone, and reads them again at once: the client answering on
    their phone after the screen was drawn is not "someone else changed this session"
    (issue 17: it refused every such start once)."""
    return (
        version is not None
        and version < session.version
        and session.state == SessionState.CHECKLIST
    )


def _require_state(session: DosingSession, *states: str) -> None:
    if session.state in states:
        return
    if session.state in (SessionState.DISCHARGED, SessionState.ABANDONED):
        raise DomainError("This session is closed.", code="session.closed")
    if session.state == SessionState.CHECKLIST:
        raise DomainError(
            "The session has not started: record the pre-dose vitals and start it first.",
            code="session.not_started",
        )
    raise DomainError("The session has already started.", code="session.already_started")


def _bump(session: DosingSession, *fields: str) -> None:
    session.version += 1
    session.full_clean()
    session.save(update_fields=["version", *fields])


def _text(value, field: str, *, required: bool = False, limit: int = TEXT_MAX) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise ValidationError({field: "Write something here."})
    if len(text) > limit:
        raise ValidationError({field: f"Keep this under {limit:,} characters."})
    if "\x00" in text:
        raise ValidationError({field: "The text contains a character that cannot be saved."})
    return text


def _when(value: datetime | None, *, session: DosingSession, now: datetime) -> datetime:
    if value is None:
        return now
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if value > now + FUTURE_SLACK:
        raise ValidationError({"occurred_at": "This cannot be in the future."})
    if session.started_at and value < session.started_at - timedelta(minutes=30):
        raise ValidationError({"occurred_at": "This is before the session started."})
    return value


def _vitals(values: dict, *, required: bool = True) -> dict:
    """Validated vitals (ints within plausible ranges); blood pressure comes in pairs."""
    errors = {}
    clean: dict = {}
    for name, (low, high) in VITAL_RANGES.items():
        value = values.get(name)
        if value in (None, ""):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[name] = f"Enter a number from {low} to {high}."
        else:
            clean[name] = value
    if not errors and ("bp_systolic" in clean) != ("bp_diastolic" in clean):
        missing = "bp_diastolic" if "bp_systolic" in clean else "bp_systolic"
        errors[missing] = "Blood pressure needs both numbers."
    if not errors and "bp_systolic" in clean and clean["bp_diastolic"] >= clean["bp_systolic"]:
        errors["bp_diastolic"] = "Diastolic must be lower than systolic."
    if not errors and required and not clean:
        errors["bp_systolic"] = "Record at least one reading."
    if errors:
        raise ValidationError(errors)
    return clean


def _flags(reading: dict, session_rules: rules.SessionPolicy) -> list[dict]:
    flags = rules.vitals_flags(
        rules.Reading(
            bp_systolic=reading.get("bp_systolic"),
            bp_diastolic=reading.get("bp_diastolic"),
            heart_rate=reading.get("heart_rate"),
            spo2=reading.get("spo2"),
        ),
        session_rules,
    )
    return [{"code": f.code, "message": f.message, "rule": f.rule} for f in flags]


def _entry_data(kind: str, fields: dict) -> dict:
    """The entry's data for its kind, validated by field."""
    if kind == EntryKind.VITALS:
        return _vitals(fields)
    if kind == EntryKind.DOSE:
        errors = {}
        route = fields.get("route")
        if route not in Route.values:
            errors["route"] = "Choose the route."
        unit = fields.get("unit") or DoseUnit.MG
        if unit not in DoseUnit.values:
            errors["unit"] = "Choose the unit."
        try:
            amount = Decimal(str(fields.get("amount")))
            if not amount.is_finite() or not Decimal("0") < amount <= AMOUNT_MAX:
                raise InvalidOperation
        except (InvalidOperation, ValueError, TypeError):
            errors["amount"] = f"Enter the amount given, more than 0 and at most {AMOUNT_MAX}."
            amount = None
        if amount is not None and amount.normalize().as_tuple().exponent < -AMOUNT_PLACES:
            # The dose used from the fill stores the amount to the hundredth.
            errors["amount"] = f"Enter the amount with at most {AMOUNT_PLACES} decimal places."
        if errors:
            raise ValidationError(errors)
        return {"route": route, "amount": format(amount.normalize(), "f"), "unit": unit}
    if kind == EntryKind.EVENT:
        event_type = fields.get("event_type")
        if event_type not in EventType.values:
            raise ValidationError({"event_type": "Choose what happened."})
        return {
            "type": event_type,
            "intervention": _text(fields.get("intervention"), "intervention"),
            "text": _text(fields.get("text"), "text"),
        }
    if kind in (EntryKind.OBSERVATION, EntryKind.INTERVENTION, EntryKind.NOTE):
        return {"text": _text(fields.get("text"), "text", required=True)}
    raise ValidationError({"kind": "Choose what to record."})


def _has_first_dose(session: DosingSession) -> bool:
    """A dose that used the session's dose is on the timeline (struck or not: the dose was
    used from the fill either way)."""
    return TimelineEntry.objects.filter(
        session=session, kind=EntryKind.DOSE, data__booster=False
    ).exists()


def _session_amount_check(*, actor: Membership, session: DosingSession) -> None:
    """The session's doses as they stand (corrections applied, struck ones out) must add up
    to no more than the prescription allows per session (decision 0030): the first dose and
    every booster together. Refuses with the reason, else the dose use records the total."""
    from kapflow.prescriptions.doses import session_amount_check
    from kapflow.prescriptions.models import DoseUse

    use_id = (
        DoseUse.objects.filter(dosing_event_id=session.dose_event_id)
        .values_list("pk", flat=True)
        .first()
    )
    if use_id is None:
        return
    superseded = TimelineEntry.objects.filter(session=session, corrects__isnull=False)
    doses = TimelineEntry.objects.filter(
        session=session, kind=EntryKind.DOSE, struck=False
    ).exclude(pk__in=superseded.values("corrects_id"))
    total = Decimal("0")
    unit = DoseUnit.MG
    for dose in doses:
        total += Decimal(dose.data["amount"])
        if dose.data.get("unit", DoseUnit.MG) != DoseUnit.MG:
            unit = dose.data["unit"]
    session_amount_check(actor=actor, dose_use_id=use_id, total_mg=total, unit=unit)


def _day_blood_pressure(session: DosingSession, dose_at: datetime) -> tuple[int | None, int | None]:
    """The day's blood pressure for the first dose: the latest reading taken at or before the
    dose (the start's pre-dose vitals, or any taken since), corrections applied and struck
    readings left out. (None, None) when there is none."""
    superseded = TimelineEntry.objects.filter(session=session, corrects__isnull=False)
    readings = (
        TimelineEntry.objects.filter(session=session, kind=EntryKind.VITALS, struck=False)
        .filter(Q(occurred_at__lte=dose_at) | Q(data__phase="pre_dose"))
        .exclude(pk__in=superseded.values("corrects_id"))
        .order_by("-occurred_at", "-recorded_at", "-pk")
    )
    for reading in readings:
        if reading.data.get("bp_systolic") is not None:
            return reading.data["bp_systolic"], reading.data.get("bp_diastolic")
    return None, None


def _check_start_valid(session: DosingSession, now: datetime) -> None:
    """The gate was checked at the start; the first dose must be recorded within the
    practice's `start_valid_minutes` of it (measured by the clock when the dose is recorded,
    whatever time is typed for the dose), else the clinician abandons and starts again (a
    new gate check)."""
    limit = selectors.session_policy(session.organisation_id).start_valid_minutes
    if session.started_at and now - session.started_at > timedelta(minutes=limit):
        raise GateBlocked(
            [
                course_rules.Reason(
                    "session.start_expired",
                    f"The session started more than {limit} minutes ago, so its pre-dose check "
                    "is out of date. End this session as abandoned and start a new one to check "
                    "the client again before dosing.",
                )
            ]
        )


def _appointment_step(appointment_id: int | None, step: str, *, actor, now) -> None:
    """The booked appointment follows its session (decision 0054): opened -> checked in,
    started -> in session, discharged -> completed, abandoned before the dose -> checked in
    again. The transitions are scheduling's (scheduling.services.encounter_status)."""
    if appointment_id is None:
        return
    from kapflow.scheduling.services import encounter_status

    encounter_status(actor=actor, appointment_id=appointment_id, step=step, now=now)


def _complete_appointment(appointment, *, actor: Membership, now: datetime) -> None:
    """Mark the booked appointment completed."""
    _appointment_step(appointment.pk, "finish", actor=actor, now=now)


# ---- open and checklist -------------------------------------------------------------------


def _appointment_for(course, appointment_id: int | None):
    if appointment_id is None:
        return None
    from kapflow.scheduling.models import (
        Appointment,
        AppointmentKind,
        AppointmentParticipant,
        AppointmentStatus,
    )

    appointment = (
        Appointment.objects.for_org(course.organisation_id)
        .filter(pk=appointment_id, kind=AppointmentKind.DOSING)
        .first()
    )
    if appointment is None or not (
        appointment.course_id == course.pk
        or AppointmentParticipant.objects.filter(
            appointment=appointment, client_id=course.client_id
        ).exists()
    ):
        raise ValidationError({"appointment": "Choose one of this client's dosing appointments."})
    if appointment.status not in (AppointmentStatus.SCHEDULED, AppointmentStatus.CHECKED_IN):
        raise ValidationError(
            {"appointment": f"This appointment is {appointment.get_status_display().lower()}; "
                            "only a scheduled or checked-in one opens a session."}
        )  # fmt: skip
    return appointment


@transaction.atomic
def session_open(
    *,
    actor: Membership,
    course_id: int,
    appointment_id: int | None = None,
    group: GroupSession | None = None,
    now: datetime | None = None,
) -> DosingSession:
    """Open a dosing session on a course (the pre-session checklist stage). One open session
    per course; the gate is checked when the session starts, not here."""
    now = now or timezone.now()
    course = course_services.course_for_update(actor, course_id)
    if not policy.can_run_session(actor, course):
        raise PermissionDenied("Sessions are run by the course's therapists.")
    if course.closed_at is not None:
        raise DomainError("The course is closed.", code="course.closed")
    if DosingSession.objects.filter(course=course, state__in=OPEN_STATES).exists():
        raise DomainError(
            "This course already has an open session; continue it or end it first.",
            code="session.already_open",
        )
    appointment = _appointment_for(course, appointment_id)
    session = DosingSession(
        organisation=course.organisation, course=course, client=course.client,
        appointment=appointment, group=group, delivery=course.delivery, opened_at=now,
        opened_by=actor.user,
    )  # fmt: skip
    session.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            session.save()
    except IntegrityError as exc:  # the partial unique index: a concurrent open won
        raise DomainError(
            "This course already has an open session.", code="session.already_open"
        ) from exc
    audit_record(
        actor=actor, action="dosing_session.open", target=session, client_id=course.client_id
    )
    _appointment_step(session.appointment_id, "open", actor=actor, now=now)
    return session


CHECKLIST_CODES = tuple(code for code, _ in CHECKLIST_ITEMS)


@transaction.atomic
def checklist_submit(
    *,
    actor: Membership,
    session_id: int,
    answers: dict,
    now: datetime | None = None,
) -> ChecklistResponse:
    """The pre-session checklist: the client (their own session), the companion (at-home
    sessions of the client who named them) or a clinician recording the client's word.
    Allowed until the session starts; a new answer replaces the respondent's earlier one."""
    now = now or timezone.now()
    if policy.is_staff_actor(actor):
        session = selectors.session_for_update(actor=actor, session_id=session_id)
        if not policy.can_record_in_session(actor, session.course):
            raise PermissionDenied("The checklist is recorded by the session's clinicians.")
        respondent = Respondent.CLINICIAN
    else:
        session = selectors.session_for_party_update(actor=actor, session_id=session_id)
        respondent = (
            Respondent.CLIENT if policy.is_session_client(actor, session) else Respondent.COMPANION
        )
    if session.state != SessionState.CHECKLIST:
        raise DomainError(
            "The session has started; the checklist is closed.", code="session.checklist_closed"
        )
    values = {}
    for code in CHECKLIST_CODES:
        value = answers.get(code, False)
        if not isinstance(value, bool):
            raise ValidationError({code: "Answer yes or no."})
        values[code] = value
    response = ChecklistResponse(
        organisation=session.organisation, session=session, respondent=respondent,
        answered_by=actor.user, answered_at=now, **values,
    )  # fmt: skip
    response.full_clean()
    response.save()
    _bump(session)
    audit_record(
        actor=actor, action="dosing_session.checklist", target=session, client_id=session.client_id
    )
    return response


# ---- start --------------------------------------------------------------------------------


@transaction.atomic
def session_start(
    *,
    actor: Membership,
    session_id: int,
    version: int | None,
    bp_systolic: int | None = None,
    bp_diastolic: int | None = None,
    heart_rate: int | None = None,
    spo2: int | None = None,
    alcohol_free_24h: bool = False,
    companion_present: bool = False,
    driver_confirmed: bool = False,
    overrides: Mapping[str, Justification] | None = None,
    now: datetime | None = None,
) -> DosingSession:
    """Start the session: the pre-dose vitals and the day's attestations (the clinician's, or
    the client's and companion's checklist answers) build the DoseDay, and the whole dosing
    gate is checked again (courses.services.dosing_gate_check, which applies the override
    table). Refused with every reason, who may override it and why this person may not; a
    reason passes only under a signed decision (decision 0029)."""
    now = now or timezone.now()
    session = selectors.session_for_update(actor=actor, session_id=session_id)
    answers = {
        r.respondent: r
        for r in sorted(
            ChecklistResponse.objects.filter(session=session), key=lambda r: (r.answered_at, r.pk)
        )
    }
    attests = alcohol_free_24h or companion_present or driver_confirmed or bool(overrides)
    # Answers that arrived since the screen was drawn pass unseen only when every item of
    # every latest answer is yes: a "no" (fasting, say, which the gate does not weigh) must
    # be seen by the clinician before the start, so that start is stale as before.
    all_yes = all(a.complete for a in answers.values())
    if not (_only_checklist_since(session, version) and not attests and all_yes):
        _check_version(session, version)
    _require_state(session, SessionState.CHECKLIST)
    if not policy.can_run_session(actor, session.course):
        raise PermissionDenied("Only the course's therapists start a session.")
    reading = _vitals(
        {"bp_systolic": bp_systolic, "bp_diastolic": bp_diastolic, "heart_rate": heart_rate,
         "spo2": spo2},
        required=False,
    )  # fmt: skip
    # A clinician's answers record the client's word (by phone, in the room).
    client = max(
        (a for a in (answers.get(Respondent.CLIENT), answers.get(Respondent.CLINICIAN)) if a),
        key=lambda a: (a.answered_at, a.pk),
        default=None,
    )
    companion = answers.get(Respondent.COMPANION)
    day = course_rules.DoseDay(
        session_id=session.pk,
        bp_systolic=reading.get("bp_systolic"),
        bp_diastolic=reading.get("bp_diastolic"),
        alcohol_free_24h=bool(alcohol_free_24h or (client and client.no_alcohol_24h)),
        companion_present=bool(
            companion_present or (session.at_home and companion and companion.ride_or_companion)
        ),
        driver_confirmed=bool(
            driver_confirmed or (not session.at_home and client and client.ride_or_companion)
        ),
    )
    course = course_services.course_for_update(actor, session.course_id)
    overridden = course_services.dosing_gate_check(
        actor=actor, course=course, day=day, overrides=overrides, now=now
    )
    session.state = SessionState.IN_PROGRESS
    session.started_at = now
    session.started_by = actor.user
    session.start_day = dataclasses.asdict(day)
    session.overridden = overridden
    # The justifications signed at this start (the decision itself is on the course).
    session.override_reason = "; ".join(
        f"{code}: {j.category}: {j.rationale.strip()}"
        for code, j in (overrides or {}).items()
        if code in overridden
    )
    _bump(session, "state", "started_at", "started_by", "start_day", "overridden",
          "override_reason")  # fmt: skip
    if reading:
        _create_entry(
            session=session, kind=EntryKind.VITALS, data=reading, occurred_at=now,
            recorded_by=actor.user, source=EntrySource.CLINICIAN, now=now, phase="pre_dose",
        )  # fmt: skip
    course_services.course_facts_refresh(course_id=session.course_id)
    audit_record(
        actor=actor, action="dosing_session.start", target=session, client_id=session.client_id
    )
    _appointment_step(session.appointment_id, "start", actor=actor, now=now)
    return session


# ---- the timeline -------------------------------------------------------------------------


def _create_entry(
    *,
    session: DosingSession,
    kind: str,
    data: dict,
    occurred_at: datetime,
    recorded_by,
    source: str,
    now: datetime,
    corrects: TimelineEntry | None = None,
    struck: bool = False,
    reason: str = "",
    phase: str = "in_session",
) -> TimelineEntry:
    flags: list[dict] = []
    if kind == EntryKind.VITALS and not struck:
        flags = _flags(data, selectors.session_policy(session.organisation_id))
        data = {**data, "phase": phase}
    entry = TimelineEntry(
        organisation=session.organisation, session=session, kind=kind, occurred_at=occurred_at,
        recorded_at=now, recorded_by=recorded_by, source=source, data=data, flags=flags,
        flagged=bool(flags), corrects=corrects, struck=struck, reason=reason,
    )  # fmt: skip
    entry.full_clean()
    entry.save()
    return entry


@transaction.atomic
def entry_add(
    *,
    actor: Membership,
    session_id: int,
    kind: str,
    occurred_at: datetime | None = None,
    source: str = EntrySource.CLINICIAN,
    version: int | None = None,
    now: datetime | None = None,
    **fields,
) -> TimelineEntry:
    """Record a dose, vitals, an observation, an event with its intervention, or a note.

    The first dose uses one dose from the client's fill (dose_given_record); later doses in
    the same session are boosters and use none. Vitals are flagged at once against the
    practice's thresholds, with the rule that fired stored beside the reading. `source` says
    who read the vitals out (the clinician, or at home the client or companion on the call).
    Entries are append-only; `version` is optional here (adding cannot overwrite)."""
    now = now or timezone.now()
    session = selectors.session_for_update(actor=actor, session_id=session_id)
    _check_version(session, version)
    if not policy.can_record_in_session(actor, session.course):
        raise PermissionDenied("Only the session's clinicians record on its timeline.")
    _require_state(session, SessionState.IN_PROGRESS)
    if kind not in EntryKind.values:
        raise ValidationError({"kind": "Choose what to record."})
    if source not in EntrySource.values:
        raise ValidationError({"source": "Choose who read this out."})
    if source != EntrySource.CLINICIAN and not session.at_home:
        raise ValidationError({"source": "Read-outs by the client or companion are for at-home "
                                         "sessions."})  # fmt: skip
    occurred_at = _when(occurred_at, session=session, now=now)
    data = _entry_data(kind, fields)
    if kind == EntryKind.DOSE:
        data["booster"] = _has_first_dose(session)
        if not data["booster"]:
            # The start's check expires by the clock, not by the dose's typed time, and the
            # gate runs now; occurred_at is only the dose's clinical time.
            _check_start_valid(session, now)
            # The dosing (gate, amount, dose used) is recorded before the entry, so the
            # gate's last dose is the one before this session's (decision 0030).
            course = course_services.course_for_update(actor, session.course_id)
            bp_systolic, bp_diastolic = _day_blood_pressure(session, occurred_at)
            day = course_rules.DoseDay(
                **{**session.start_day, "session_id": session.pk,
                   "bp_systolic": bp_systolic, "bp_diastolic": bp_diastolic}
            )  # fmt: skip
            event, use = course_services.dose_given_record(
                actor=actor, course=course, now=now, occurred_at=occurred_at,
                started_at=session.started_at, day=day, overridden=session.overridden,
                data={"session_id": session.pk}, amount_mg=Decimal(data["amount"]),
                unit=data["unit"],
            )  # fmt: skip
            data["dose_use_id"] = use.pk
            session.dose_event = event
    entry = _create_entry(
        session=session, kind=kind, data=data, occurred_at=occurred_at, recorded_by=actor.user,
        source=source, now=now,
    )  # fmt: skip
    if kind == EntryKind.DOSE and data["booster"]:
        _session_amount_check(actor=actor, session=session)
    _bump(session, *(["dose_event"] if session.dose_event_id else []))
    course_services.course_facts_refresh(course_id=session.course_id)
    audit_record(
        actor=actor, action=f"dosing_session.{kind}", target=entry, client_id=session.client_id
    )
    if entry.flagged:
        logger.info("dosing_session.vitals_flagged", extra={"session_id": session.pk})
    return entry


@transaction.atomic
def entry_correct(
    *,
    actor: Membership,
    session_id: int,
    entry_id: int,
    version: int | None,
    reason: str,
    strike: bool = False,
    occurred_at: datetime | None = None,
    now: datetime | None = None,
    **fields,
) -> TimelineEntry:
    """Correct an entry: a new entry that names the old one and says why, either with the
    corrected values or striking the old one through. The old entry is never changed. The
    dose that used the fill cannot be struck (the dose was used); correct its details."""
    now = now or timezone.now()
    session = selectors.session_for_update(actor=actor, session_id=session_id)
    _check_version(session, version)
    if not policy.can_record_in_session(actor, session.course):
        raise PermissionDenied("Only the session's clinicians correct its timeline.")
    _require_state(session, SessionState.IN_PROGRESS)
    old = TimelineEntry.objects.filter(session=session, pk=entry_id).first()
    if old is None:
        raise audit_not_found(
            actor=actor, model=TimelineEntry, object_id=entry_id, message="Entry not found."
        )
    if old.struck or TimelineEntry.objects.filter(corrects=old).exists():
        raise DomainError(
            "This entry was already corrected; correct the latest version.",
            code="session.entry_superseded",
        )
    reason = _text(reason, "reason", required=True, limit=REASON_MAX)
    pre_dose = old.kind == EntryKind.VITALS and old.data.get("phase") == "pre_dose"
    if pre_dose and _has_first_dose(session):
        raise DomainError(
            "The dosing gate passed on these pre-dose vitals when the first dose was given, so "
            "they cannot be corrected now. Write a note on the timeline instead.",
            code="session.pre_dose_locked",
        )
    if strike:
        if old.kind == EntryKind.DOSE and old.data.get("booster") is False:
            raise DomainError(
                "The first dose used a dose from the client's supply and cannot be struck "
                "out; correct its details instead.",
                code="session.dose_used",
            )
        data = dict(old.data)
        when = old.occurred_at
    else:
        data = _entry_data(old.kind, fields)
        if old.kind == EntryKind.DOSE:
            data["booster"] = old.data.get("booster", True)
            if "dose_use_id" in old.data:
                data["dose_use_id"] = old.data["dose_use_id"]
        when = _when(occurred_at, session=session, now=now) if occurred_at else old.occurred_at
    entry = _create_entry(
        session=session, kind=old.kind, data=data, occurred_at=when, recorded_by=actor.user,
        source=old.source if strike else EntrySource.CLINICIAN, now=now, corrects=old,
        struck=strike, reason=reason, phase=old.data.get("phase", "in_session"),
    )  # fmt: skip
    if old.kind == EntryKind.DOSE and session.dose_event_id:
        # A corrected amount changes the session's total: checked like a booster.
        _session_amount_check(actor=actor, session=session)
    if pre_dose:
        # Before the dose: the start's blood pressure follows the correction, and the whole
        # gate is checked again with it when the first dose is given (dose_given_record).
        corrected = {} if strike else data
        session.start_day = {
            **(session.start_day or {}),
            "bp_systolic": corrected.get("bp_systolic"),
            "bp_diastolic": corrected.get("bp_diastolic"),
        }
        _bump(session, "start_day")
    else:
        _bump(session)
    course_services.course_facts_refresh(course_id=session.course_id)
    audit_record(
        actor=actor, action="dosing_session.correct", target=entry, client_id=session.client_id,
        changed_fields=sorted(data) if not strike else ["struck"],
    )  # fmt: skip
    return entry


@transaction.atomic
def companion_reading_add(
    *,
    actor: Membership,
    session_id: int,
    kind: str,
    check_state: str = "",
    text: str = "",
    now: datetime | None = None,
    **reading,
) -> TimelineEntry:
    """The companion, at home, records a vitals reading off the home monitor (kind "vitals")
    or their visual check (kind "check": how the client seems), during the session."""
    now = now or timezone.now()
    session = selectors.session_for_party_update(actor=actor, session_id=session_id)
    if not policy.is_session_companion(actor, session):
        raise audit_not_found(
            actor=actor, model=DosingSession, object_id=session_id, message="Session not found."
        )
    if session.state != SessionState.IN_PROGRESS:
        raise DomainError("The session is not in progress.", code="session.not_in_progress")
    if kind == "vitals":
        entry = _create_entry(
            session=session, kind=EntryKind.VITALS, data=_vitals(reading), occurred_at=now,
            recorded_by=actor.user, source=EntrySource.COMPANION, now=now,
        )  # fmt: skip
    elif kind == "check":
        if check_state not in dict(CHECK_STATES):
            raise ValidationError({"check_state": "Choose how the client seems."})
        entry = _create_entry(
            session=session, kind=EntryKind.OBSERVATION,
            data={"check": check_state, "text": _text(text, "text", limit=500)}, occurred_at=now,
            recorded_by=actor.user, source=EntrySource.COMPANION, now=now,
        )  # fmt: skip
    else:
        raise ValidationError({"kind": "Choose a reading or a check."})
    _bump(session)
    audit_record(
        actor=actor, action="dosing_session.companion_readout", target=entry,
        client_id=session.client_id,
    )  # fmt: skip
    return entry


CHECK_STATES = (
    ("settled", "Calm and settled"),
    ("restless", "Restless or uneasy"),
    ("distressed", "Distressed"),
    ("unresponsive", "Hard to rouse or not responding"),
)


# ---- end ----------------------------------------------------------------------------------


def _group_finished(session: DosingSession, *, actor: Membership, now: datetime) -> None:
    """When the last open session of a group ends, the group closes and its appointment is
    completed."""
    group = session.group
    if group is None:
        return
    group = GroupSession.objects.select_for_update().get(pk=group.pk)
    if group.sessions.filter(state__in=OPEN_STATES).exists():
        return
    group.state = GroupState.CLOSED
    group.closed_at = now
    group.save(update_fields=["state", "closed_at"])
    if group.appointment_id and group.sessions.filter(state=SessionState.DISCHARGED).exists():
        _complete_appointment(group.appointment, actor=actor, now=now)


@transaction.atomic
def session_discharge(
    *,
    actor: Membership,
    session_id: int,
    version: int | None,
    alert_oriented: bool = False,
    walks_steadily: bool = False,
    escort_present: bool = False,
    note: str = "",
    now: datetime | None = None,
) -> DosingSession:
    """Discharge the client and close the session, or refuse listing every unmet criterion
    (none can be overridden). Records the length (first hour and the rest; in a session room,
    the therapist's time in the room: encounters.presence), brings the course's integration
    items (72 h) and week-after check-in onto the dashboard, and marks the booked appointment
    completed."""
    now = now or timezone.now()
    session = selectors.session_for_update(actor=actor, session_id=session_id)
    _check_version(session, version)
    if not policy.can_run_session(actor, session.course):
        raise PermissionDenied("Only the course's therapists discharge a client.")
    _require_state(session, SessionState.IN_PROGRESS)
    note = _text(note, "note")
    state = selectors.session_state(session=session, now=now)
    reasons = state.discharge_reasons(
        alert_oriented=alert_oriented is True,
        walks_steadily=walks_steadily is True,
        escort_present=escort_present is True,
    )
    if reasons:
        raise GateBlocked(reasons)
    minutes = rules.session_minutes(session.started_at, now)
    # In a session room, the therapist's time in the room is what is billed (decision 0049).
    present = presence.therapist_intervals(session, until=now)
    if present is not None:
        minutes = rules.present_minutes(present, session.started_at, now)
    split = rules.billing_split(minutes)
    observed = rules.session_minutes(state.dose_at, now)
    record = DischargeRecord(
        organisation=session.organisation, session=session, alert_oriented=True,
        walks_steadily=True, escort_present=True, vitals_within_range=True,
        observation_minutes=observed, note=note, recorded_by=actor.user, recorded_at=now,
    )  # fmt: skip
    record.full_clean()
    record.save()
    session.state = SessionState.DISCHARGED
    session.ended_at = now
    session.ended_by = actor.user
    session.minutes = split.minutes
    session.first_hour_minutes = split.first_hour_minutes
    session.additional_minutes = split.additional_minutes
    session.additional_hour_units = split.additional_hour_units
    _bump(session, "state", "ended_at", "ended_by", "minutes", "first_hour_minutes",
          "additional_minutes", "additional_hour_units")  # fmt: skip
    course_services.due_items_refresh(course_id=session.course_id, now=now)
    if session.appointment_id:
        _complete_appointment(session.appointment, actor=actor, now=now)
    _group_finished(session, actor=actor, now=now)
    course_services.course_facts_refresh(course_id=session.course_id)
    audit_record(
        actor=actor, action="dosing_session.discharge", target=session,
        client_id=session.client_id,
    )  # fmt: skip
    return session


@transaction.atomic
def session_abandon(
    *,
    actor: Membership,
    session_id: int,
    version: int | None,
    reason: str,
    now: datetime | None = None,
) -> DosingSession:
    """End a session without discharge (the gate refused all day, the client left), with a
    written reason. A session abandoned after the dose keeps its DOSING event on the course
    (its due items are refreshed); before the dose nothing counts as a dosing. Its
    appointment goes back to checked in before the dose (a new session can open on it), and
    is completed after it (the dosing happened)."""
    now = now or timezone.now()
    session = selectors.session_for_update(actor=actor, session_id=session_id)
    _check_version(session, version)
    if not policy.can_run_session(actor, session.course):
        raise PermissionDenied("Only the course's therapists end a session.")
    _require_state(session, *OPEN_STATES)
    reason = _text(reason, "reason", required=True, limit=REASON_MAX)
    session.state = SessionState.ABANDONED
    session.abandon_reason = reason
    session.ended_at = now
    session.ended_by = actor.user
    _bump(session, "state", "abandon_reason", "ended_at", "ended_by")
    if session.dose_event_id:
        course_services.due_items_refresh(course_id=session.course_id, now=now)
    _appointment_step(
        session.appointment_id, "finish" if session.dose_event_id else "abandon",
        actor=actor, now=now,
    )  # fmt: skip
    _group_finished(session, actor=actor, now=now)
    course_services.course_facts_refresh(course_id=session.course_id)
    audit_record(
        actor=actor, action="dosing_session.abandon", target=session, client_id=session.client_id
    )
    return session


# ---- groups -------------------------------------------------------------------------------


def _group_size_max(organisation_id: int) -> int:
    from kapflow.scheduling.models import SchedulingSettings

    value = (
        SchedulingSettings.objects.filter(organisation_id=organisation_id)
        .values_list("group_size_max", flat=True)
        .first()
    )
    return value or 6


@transaction.atomic
def group_create(
    *,
    actor: Membership,
    course_ids: list[int],
    kind: str = GroupKind.DOSING,
    co_clinician_id: int | None = None,
    room_id: int | None = None,
    appointment_id: int | None = None,
    now: datetime | None = None,
) -> GroupSession:
    """Create a group session led by the actor (and optionally one more clinician of the
    practice). A dosing group opens a session for each client's course (each keeps their own
    gate check, dose, vitals, events and discharge); an integration group lists each client,
    whose attendance goes on their course when the group closes."""
    now = now or timezone.now()
    if not policy.can_list_courses(actor):
        raise NotFound()
    if not policy.can_lead_group(actor):
        raise PermissionDenied("Group sessions are led by the practice's therapists.")
    from kapflow.scheduling.models import Appointment, Room

    errors = {}
    if kind not in GroupKind.values:
        errors["kind"] = "Choose a group dosing or integration session."
    size = _group_size_max(actor.organisation_id)
    course_ids = list(dict.fromkeys(course_ids))
    if len(course_ids) > size:
        errors["course_ids"] = f"A group holds at most {size} clients in this practice."
    clinicians = [actor]
    if co_clinician_id is not None and co_clinician_id != actor.pk:
        other = (
            Membership.objects.for_org(actor.organisation)
            .filter(pk=co_clinician_id, is_active=True, roles__role__in=[Role.THERAPIST,
                    Role.PRESCRIBER])
            .distinct()
            .first()
        )  # fmt: skip
        if other is None:
            errors["co_clinician"] = "Choose a therapist or prescriber of this practice."
        else:
            clinicians.append(other)
    room = None
    if room_id is not None:
        room = Room.objects.for_org(actor.organisation).filter(pk=room_id, is_active=True).first()
        if room is None:
            errors["room"] = "Choose one of the practice's rooms."
    appointment = None
    if appointment_id is not None:
        appointment = (
            Appointment.objects.for_org(actor.organisation)
            .filter(pk=appointment_id, kind=kind, status__in=("scheduled", "checked_in"))
            .first()
        )
        if appointment is None:
            errors["appointment"] = "Choose a scheduled appointment of the same kind."
    if errors:
        raise ValidationError(errors)
    group = GroupSession(
        organisation=actor.organisation, kind=kind, appointment=appointment,
        room=room or (appointment.room if appointment else None), size_limit=size,
        created_at=now, created_by=actor.user,
    )  # fmt: skip
    group.full_clean()
    group.save()
    group.clinicians.set(clinicians)
    for course_id in course_ids:
        _group_join(actor=actor, group=group, course_id=course_id, now=now)
    audit_record(actor=actor, action="group_session.create", target=group)
    return group


@transaction.atomic
def group_add_client(
    *, actor: Membership, group_id: int, course_id: int, now: datetime | None = None
) -> DosingSession:
    """Open a session for one more client in the group, within the practice's size limit
    (the group row is locked, so two additions cannot both take the last place)."""
    now = now or timezone.now()
    group = (
        policy.group_sessions_queryset(actor)
        .filter(pk=group_id)
        .values_list("pk", flat=True)
        .first()
    )
    if group is None:
        raise audit_not_found(
            actor=actor, model=GroupSession, object_id=group_id, message="Group session not found."
        )
    group = GroupSession.objects.select_for_update().get(pk=group)
    if group.state != GroupState.OPEN:
        raise DomainError("This group session is closed.", code="group.closed")
    if group.kind == GroupKind.INTEGRATION:
        taken = group.attendees.count()
    else:
        taken = group.sessions.exclude(state=SessionState.ABANDONED).count()
    if taken >= group.size_limit:
        raise DomainError(
            f"The group is full: at most {group.size_limit} clients.", code="group.full"
        )
    return _group_join(actor=actor, group=group, course_id=course_id, now=now)


def _group_join(*, actor: Membership, group: GroupSession, course_id: int, now: datetime):
    """A dosing group opens the client's session; an integration group lists the client."""
    if group.kind == GroupKind.DOSING:
        return session_open(actor=actor, course_id=course_id, group=group, now=now)
    course = course_services.course_for_update(actor, course_id)
    if not policy.can_run_session(actor, course):
        raise PermissionDenied("Integration sessions are run by the course's therapists.")
    if course.closed_at is not None:
        raise DomainError("The course is closed.", code="course.closed")
    if group.attendees.filter(course=course).exists():
        raise DomainError("This client is already in the group.", code="group.already_in")
    attendee = GroupAttendee(
        organisation=group.organisation, group=group, course=course, client=course.client
    )
    attendee.full_clean(validate_constraints=False)
    attendee.save()
    return attendee


@transaction.atomic
def group_integration_close(
    *,
    actor: Membership,
    group_id: int,
    attended_course_ids: list[int],
    note: str = "",
    now: datetime | None = None,
) -> GroupSession:
    """Close a group integration session: each client who attended gets an integration
    session on their course timeline (which clears the 72-hour integration item); the
    others are recorded as absent. Refused as a whole, listing every client's reason, if
    any attendee's course refuses the record."""
    now = now or timezone.now()
    found = policy.group_sessions_queryset(actor).filter(pk=group_id).values_list("pk", flat=True)
    if not found:
        raise audit_not_found(
            actor=actor, model=GroupSession, object_id=group_id, message="Group session not found."
        )
    group = GroupSession.objects.select_for_update().get(pk=found[0])
    if group.kind != GroupKind.INTEGRATION:
        raise DomainError("Dosing groups close client by client.", code="group.not_integration")
    if group.state != GroupState.OPEN:
        raise DomainError("This group session is closed.", code="group.closed")
    note = _text(note, "note")
    attendees = list(group.attendees.select_for_update().order_by("id"))
    attended = set(attended_course_ids)
    unknown = attended - {a.course_id for a in attendees}
    if unknown:
        raise ValidationError({"attended_course_ids": "Choose clients of this group."})
    reasons = []
    for attendee in attendees:
        attendee.attended = attendee.course_id in attended
        if attendee.attended:
            try:
                with transaction.atomic():
                    attendee.integration_event = course_services.course_record(
                        actor=actor, course_id=attendee.course_id, kind="integration",
                        occurred_at=now, note=note or "Group integration session.", now=now,
                        data={"group_session_id": group.pk},
                    )  # fmt: skip
            except (GateBlocked, PermissionDenied, NotFound) as exc:
                found_reasons = getattr(exc, "reasons", None) or [
                    course_rules.Reason("course.not_allowed", exc.message)
                ]
                reasons += [
                    course_rules.Reason(r.code, f"Course #{attendee.course_id}: {r.message}")
                    for r in found_reasons
                ]
                continue
            course_services.due_items_refresh(course_id=attendee.course_id, now=now)
        attendee.save(update_fields=["attended", "integration_event"])
    if reasons:
        raise GateBlocked(reasons)
    group.state = GroupState.CLOSED
    group.closed_at = now
    group.save(update_fields=["state", "closed_at"])
    if group.appointment_id and attended:
        _complete_appointment(group.appointment, actor=actor, now=now)
    audit_record(actor=actor, action="group_session.close", target=group)
    return group


# ---- settings -----------------------------------------------------------------------------

SETTINGS_FIELDS = (
    "bp_systolic_flag", "bp_diastolic_flag", "heart_rate_high", "heart_rate_low", "spo2_low",
    "recheck_minutes", "companion_check_minutes", "observation_minutes_in_person",
    "observation_minutes_at_home", "start_valid_minutes",
)  # fmt: skip


@transaction.atomic
def session_settings_update(*, actor: Membership, data: dict) -> SessionSettings:
    """Change the practice's in-session thresholds (practice admins). Audited with the field
    names."""
    if not policy.can_manage_practice_settings(actor):
        raise NotFound()
    row, _ = SessionSettings.objects.select_for_update().get_or_create(
        organisation=actor.organisation
    )
    minutes = data.get("recheck_minutes", row.recheck_minutes)
    if (
        not isinstance(minutes, list)
        or not 1 <= len(minutes) <= 8
        or not all(
            isinstance(m, int) and not isinstance(m, bool) and 5 <= m <= 480 for m in minutes
        )
    ):
        raise ValidationError({"recheck_minutes": "List one to eight times, 5 to 480 minutes."})
    changed = [f for f in SETTINGS_FIELDS if f in data and getattr(row, f) != data[f]]
    for name in SETTINGS_FIELDS:
        if name in data:
            setattr(row, name, sorted(set(data[name])) if name == "recheck_minutes" else data[name])
    row.full_clean()
    row.save()
    audit_record(actor=actor, action="session_settings.update", target=row, changed_fields=changed)
    return row
