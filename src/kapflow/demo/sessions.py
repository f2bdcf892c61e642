"""Demo dosing sessions and notes (kapflow.demo.loader calls load_demo_sessions after the
courses and the schedule): for the first therapist, one in-person session discharged
yesterday with its signed dosing note, and one in progress now (dose given 50 minutes ago,
one flagged blood pressure), so the session screen, the vitals reminders and the notes have
something to show; and the client sign-in's at-home session opened for today, waiting for
their and their companion's pre-session checklist. Booked through the services, so every
gate and rule applies; a course the gate refuses is skipped. Idempotent: nothing is added
once the practice has sessions.

All people are fictional."""

from datetime import UTC, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from kapflow.core import clock
from kapflow.core.errors import DomainError

GOOD_VITALS = {"bp_systolic": 124, "bp_diastolic": 80, "heart_rate": 74, "spo2": 98}
START = {**GOOD_VITALS, "alcohol_free_24h": True, "driver_confirmed": True}


def _dosing_note(*, amount_mg, started: datetime, discharged: datetime, zone) -> dict:
    """The signed dosing note, written from what the session recorded: the amount and the
    times in the practice's zone (a note that disagrees with its session misleads)."""
    dose_at = (started + timedelta(minutes=5)).astimezone(zone)
    amount = format(amount_mg.normalize(), "f")
    return {
        "subjective": "Arrived on time, slept well, fasted since breakfast. Intention for the "
        "session: to stay with the feeling of grief rather than push it away.",
        "objective": f"Sublingual {amount} mg at {dose_at:%H:%M}. BP 124/80 before the dose, "
        "138/86 at 40 minutes, 126/80 at 120 minutes; SpO2 97-98 %. Mild nausea at 20 "
        "minutes, settled with slow breathing. Eyes closed, music, little speech in the first "
        "hour.",
        "assessment": "Tolerated the dose well; emotional material around the loss surfaced "
        "and was held with support. No safety concerns.",
        "plan": "Integration session within 72 hours (booked). Journal prompts given. "
        "Continue the planned series.",
        "discharge": f"Alert and oriented at {discharged.astimezone(zone):%H:%M}, walked "
        "steadily, vitals back in range; partner drove them home.",
    }


def _candidates(practice, therapist, *, at: datetime, exclude: tuple[int, ...] = ()):
    """Courses the gate lets dose at `at` (the session's start), with two doses left: the
    session then respects the dose interval after the course's last dosing (decision
    0030)."""
    from kapflow.clinical import course as rules
    from kapflow.courses.models import Course
    from kapflow.courses.selectors import course_facts, gate_policy, with_facts

    day = rules.DoseDay(
        bp_systolic=124, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True
    )
    courses = with_facts(
        Course.objects.filter(
            organisation=practice, therapist=therapist, stage="active", delivery="in_person",
            closed_at__isnull=True,
        ).exclude(pk__in=exclude).order_by("id")
    )  # fmt: skip
    for course in courses:
        facts = course_facts(course)
        if facts.doses_left >= 2 and not rules.dosing_reasons(
            facts, now=at, policy=gate_policy(course), day=day
        ):
            yield course


def _session(actor, course, *, started: datetime, vitals: list[tuple[int, dict]], discharge):
    from kapflow.encounters import services

    session = services.session_open(actor=actor, course_id=course.pk, now=started)
    session = services.session_start(
        actor=actor, session_id=session.pk, version=session.version, now=started, **START
    )
    dose_at = started + timedelta(minutes=5)
    from kapflow.prescriptions.selectors import session_allowance

    # The prescription's per-session amount, as the screen fills it in (decision 0030).
    allowance = session_allowance(course=course)
    services.entry_add(
        actor=actor, session_id=session.pk, kind="dose", occurred_at=dose_at, now=dose_at,
        route="sublingual", amount=str(allowance.per_session_mg), unit="mg",
    )  # fmt: skip
    services.entry_add(
        actor=actor, session_id=session.pk, kind="event", occurred_at=dose_at + timedelta(
            minutes=20), now=dose_at + timedelta(minutes=20), event_type="nausea",
        intervention="Slow breathing; sips of water.", text="Mild, passed in ten minutes.",
    )  # fmt: skip
    for minutes, reading in vitals:
        at = dose_at + timedelta(minutes=minutes)
        services.entry_add(
            actor=actor, session_id=session.pk, kind="vitals", occurred_at=at, now=at, **reading
        )
    if discharge is not None:
        session.refresh_from_db()
        session = services.session_discharge(
            actor=actor, session_id=session.pk, version=session.version, alert_oriented=True,
            walks_steadily=True, escort_present=True, now=discharge,
            note="Partner drove them home.",
        )  # fmt: skip
    return session


def load_demo_sessions(*, practice, therapist, appointment_id: int | None = None) -> dict:
    """Yesterday's discharged session with its signed note, a session in progress with a
    flagged reading, and the client sign-in's at-home session opened for today, on its
    dosing appointment (`appointment_id`, the session room's) when there is one."""
    from kapflow.encounters.models import DosingSession
    from kapflow.notes import services as notes

    if DosingSession.objects.filter(organisation=practice).exists():
        return {"sessions": 0, "notes": 0}
    therapist = type(therapist).objects.select_related("user", "organisation").get(pk=therapist.pk)
    now = timezone.now()
    made = {"sessions": 0, "notes": 0}
    # Yesterday at 10:00 in the practice's zone: a daytime session, whatever hour it loads.
    zone = clock.clinical_zone(practice)
    day_before = clock.clinical_date(practice, now) - timedelta(days=1)
    yesterday = datetime.combine(day_before, time(10, 0), tzinfo=zone).astimezone(UTC)
    live_start = now - timedelta(minutes=55)
    try:
        done_course = next(_candidates(practice, therapist, at=yesterday))
        done = _session(
            therapist, done_course, started=yesterday,
            vitals=[(40, {**GOOD_VITALS, "bp_systolic": 138, "bp_diastolic": 86}),
                    (120, {**GOOD_VITALS, "bp_systolic": 126})],
            discharge=yesterday + timedelta(minutes=150),
        )  # fmt: skip
        made["sessions"] += 1
        note = notes.note_create(
            actor=therapist, client_id=done.client_id, session_type="dosing",
            course_id=done_course.pk, session_date=clock.clinical_date(practice, yesterday),
            now=yesterday,
        )  # fmt: skip
        note = notes.note_autosave(
            actor=therapist, note_id=note.pk, version=note.version,
            sections=_dosing_note(
                amount_mg=done_course.dose_uses.order_by("-id").first().amount_mg,
                started=yesterday, discharged=yesterday + timedelta(minutes=150), zone=zone,
            ),
        )  # fmt: skip
        notes.note_sign(
            actor=therapist, note_id=note.pk, signature_name=therapist.user.full_name,
            version=note.version,
        )  # fmt: skip
        draft = notes.note_create(
            actor=therapist, client_id=done.client_id, session_type="integration",
            course_id=done_course.pk,
        )  # fmt: skip
        notes.note_autosave(
            actor=therapist, note_id=draft.pk, version=draft.version,
            sections={"subjective": "Draft: notes from the integration call go here."},
        )  # fmt: skip
        made["notes"] += 2
        live_course = next(
            _candidates(practice, therapist, at=live_start, exclude=(done_course.pk,))
        )
        _session(
            therapist, live_course, started=live_start,
            vitals=[(40, {**GOOD_VITALS, "bp_systolic": 184, "bp_diastolic": 102})],
            discharge=None,
        )  # fmt: skip
        made["sessions"] += 1
    except (StopIteration, DomainError, ValidationError):
        # Fewer ready courses than expected (or a rule refused): the demo shows what it made.
        pass
    # The client sign-in's at-home course: a session opened for today on its appointment
    # (which it checks in), so the client and the companion see the pre-session checklist
    # (the gate will refuse the start until the new consent version is signed).
    from kapflow.courses.models import Course
    from kapflow.encounters import services as sessions

    own = (
        Course.objects.filter(
            organisation=practice, client__user__email="client@harborlight.example",
            closed_at__isnull=True, stage__in=["active", "maintenance"],
        )
        .select_related("therapist__user", "therapist__organisation")
        .first()
    )  # fmt: skip
    if own is not None:
        try:
            sessions.session_open(
                actor=own.therapist, course_id=own.pk, appointment_id=appointment_id
            )
            made["sessions"] += 1
        except (DomainError, ValidationError):
            pass
    return made
