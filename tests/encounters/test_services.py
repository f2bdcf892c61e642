"""Dosing-session services on the database: the gate at start (every reason, soft with a
written reason, hard never), doses used exactly once, flagged vitals, corrections, discharge
refused until every criterion holds, minutes and due items, stale versions, and nothing
half-saved after a refusal."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from kapflow.clinical.overrides import Justification
from kapflow.core import clock
from kapflow.core.errors import DomainError, GateBlocked, NotFound, PermissionDenied
from kapflow.courses.models import CourseEvent, DueItem
from kapflow.encounters import services
from kapflow.encounters.models import (
    ChecklistResponse,
    DischargeRecord,
    DosingSession,
    TimelineEntry,
)
from kapflow.patients.models import Companion
from kapflow.prescriptions.models import DoseUse
from tests.encounters.factories import (
    ALL_YES,
    GOOD_START,
    GOOD_VITALS,
    MIN,
    dosed,
    dosing_appointment,
    opened,
    ready_course,
    started,
)


def _codes(exc):
    return sorted(r.code for r in exc.value.reasons)


@pytest.fixture
def course(world):
    return ready_course(world.client, world.therapist, world.prescriber)


def _counts(course):
    return (
        DosingSession.objects.filter(course=course).count(),
        TimelineEntry.objects.filter(session__course=course).count(),
        CourseEvent.objects.filter(course=course).count(),
        DoseUse.objects.filter(course=course).count(),
        DischargeRecord.objects.filter(session__course=course).count(),
    )


def _vitals(world, session, at, **values):
    return services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals", occurred_at=at, now=at,
        **{**GOOD_VITALS, **values},
    )  # fmt: skip


def _discharge(world, session, **kwargs):
    session.refresh_from_db()
    values = {"alert_oriented": True, "walks_steadily": True, "escort_present": True}
    values.update(kwargs)
    return services.session_discharge(
        actor=world.therapist, session_id=session.pk, version=session.version, **values
    )


# ---- open and start -----------------------------------------------------------------------


def test_open_creates_a_checklist_session(world, course):
    session = opened(world.therapist, course)
    assert session.state == "checklist" and session.delivery == "in_person"
    with pytest.raises(DomainError) as exc:
        opened(world.therapist, course)
    assert exc.value.code == "session.already_open"


def test_open_is_for_the_course_therapists(world, course):
    with pytest.raises(PermissionDenied):
        opened(world.prescriber, course)
    with pytest.raises(NotFound):
        opened(world.biller, course)
    with pytest.raises(NotFound):
        opened(world.other_therapist, course)


def test_start_refused_with_every_reason_then_fixed(world, course):
    session = opened(world.therapist, course)
    before = _counts(course)
    with pytest.raises(GateBlocked) as exc:
        services.session_start(actor=world.therapist, session_id=session.pk, version=1)
    assert _codes(exc) == ["alcohol.not_attested", "driver.unconfirmed", "vitals.bp_missing"]
    assert _counts(course) == before
    session = services.session_start(
        actor=world.therapist, session_id=session.pk, version=1, **GOOD_START
    )
    # Started, but nothing counts as a dosing until the dose is given.
    assert session.state == "in_progress" and session.dose_event is None
    assert not CourseEvent.objects.filter(course=course, kind="dosing").exists()
    pre = TimelineEntry.objects.get(session=session)
    assert pre.kind == "vitals" and pre.data["phase"] == "pre_dose" and not pre.flagged
    assert not DoseUse.objects.filter(course=course).exists()  # used when the dose is given


def test_checklist_answers_count_as_attestations(world, course):
    session = opened(world.therapist, course)
    services.checklist_submit(actor=world.client_member, session_id=session.pk, answers=ALL_YES)
    session.refresh_from_db()
    started_session = services.session_start(
        actor=world.therapist, session_id=session.pk, version=session.version,
        bp_systolic=118, bp_diastolic=76,
    )  # fmt: skip
    assert started_session.state == "in_progress"


def test_treating_clinician_reasons_pass_only_with_a_structured_justification(world, course):
    session = opened(world.therapist, course)
    no_driver = {**GOOD_START, "driver_confirmed": False}
    with pytest.raises(GateBlocked) as exc:
        services.session_start(actor=world.therapist, session_id=session.pk, version=1, **no_driver)
    assert _codes(exc) == ["driver.unconfirmed"]
    with pytest.raises(GateBlocked):  # free text with no category is not a justification
        services.session_start(
            actor=world.therapist, session_id=session.pk, version=1, **no_driver,
            overrides={"driver.unconfirmed": Justification("", "Her sister collects her at 5pm.")},
        )  # fmt: skip
    ride = Justification("verified_other_means", "Sister confirmed by phone at 09:10 she drives.")
    session = services.session_start(
        actor=world.therapist, session_id=session.pk, version=1, **no_driver,
        overrides={"driver.unconfirmed": ride},
    )  # fmt: skip
    assert session.overridden == ["driver.unconfirmed"]
    assert "Sister confirmed" in session.override_reason
    override = CourseEvent.objects.get(course=course, kind="override")
    assert override.overridden == ["driver.unconfirmed"]
    assert override.decision.signed_by == world.therapist


def test_high_blood_pressure_at_the_start_needs_the_prescribers_decision(world, course):
    session = opened(world.therapist, course)
    high = {**GOOD_START, "bp_systolic": 165, "bp_diastolic": 95}
    with pytest.raises(GateBlocked) as exc:
        services.session_start(
            actor=world.therapist, session_id=session.pk, version=1, **high,
            overrides={"vitals.bp_high": Justification("prescriber_reviewed", "x" * 30)},
        )  # fmt: skip
    assert _codes(exc) == ["vitals.bp_high"]
    from kapflow.clinical.course import DoseDay
    from kapflow.courses.services import gate_override_sign

    gate_override_sign(
        actor=world.prescriber, course_id=course.pk, day=DoseDay(bp_systolic=165, bp_diastolic=95),
        overrides={"vitals.bp_high": Justification(
            "prescriber_reviewed", "Rechecked at 150/90 after ten minutes; proceed.")},
    )  # fmt: skip
    session = services.session_start(
        actor=world.therapist, session_id=session.pk, version=1, **high
    )
    assert session.overridden == ["vitals.bp_high"]
    assert CourseEvent.objects.get(course=course, kind="override").overridden == ["vitals.bp_high"]


def test_hard_reasons_are_never_overridable(world):
    course = ready_course(world.client, world.therapist, world.prescriber, consent="withdrawn")
    session = opened(world.therapist, course)
    with pytest.raises(GateBlocked) as exc:
        services.session_start(
            actor=world.therapist, session_id=session.pk, version=1, **GOOD_START,
            overrides={"consent.withdrawn": Justification("verified_other_means", "Please." * 5)},
        )  # fmt: skip
    assert _codes(exc) == ["consent.withdrawn"]
    session.refresh_from_db()
    assert session.state == "checklist" and session.dose_event is None


def test_start_validates_vitals_by_field(world, course):
    session = opened(world.therapist, course)
    with pytest.raises(ValidationError) as exc:
        services.session_start(
            actor=world.therapist, session_id=session.pk, version=1,
            **{**GOOD_START, "bp_systolic": 500},
        )  # fmt: skip
    assert "bp_systolic" in exc.value.message_dict


def test_stale_version_is_refused_and_changes_nothing(world, course):
    session = opened(world.therapist, course)
    services.checklist_submit(actor=world.client_member, session_id=session.pk, answers=ALL_YES)
    before = _counts(course)
    with pytest.raises(DomainError) as exc:
        services.session_start(
            actor=world.therapist, session_id=session.pk, version=1, **GOOD_START
        )
    assert exc.value.code == "session.stale"
    assert _counts(course) == before


def test_a_checklist_answered_after_the_screen_was_drawn_does_not_stale_the_start(world, course):
    """The client answers on their phone after the therapist opened the screen (issue 17):
    a start that attests nothing itself stands on those answers, read again at the start."""
    session = opened(world.therapist, course)
    services.checklist_submit(actor=world.client_member, session_id=session.pk, answers=ALL_YES)
    started_session = services.session_start(
        actor=world.therapist, session_id=session.pk, version=1, **GOOD_VITALS
    )
    assert started_session.state == "in_progress"
    assert started_session.start_day["alcohol_free_24h"] is True
    assert started_session.start_day["driver_confirmed"] is True


@pytest.mark.parametrize("denied", ["no_alcohol_24h", "fasting"])
def test_a_checklist_answer_that_denies_an_item_is_seen_before_any_start(world, course, denied):
    """A "no" that arrived after the screen was drawn makes that start stale, gated item
    or not (fasting is not one): the clinician sees it first. From the redrawn screen the
    gate then refuses what it weighs."""
    session = opened(world.therapist, course)
    services.checklist_submit(
        actor=world.client_member, session_id=session.pk, answers={**ALL_YES, denied: False},
    )  # fmt: skip
    with pytest.raises(DomainError) as exc:
        services.session_start(
            actor=world.therapist, session_id=session.pk, version=1, **GOOD_VITALS
        )
    assert exc.value.code == "session.stale"
    session.refresh_from_db()
    if denied == "no_alcohol_24h":
        with pytest.raises(GateBlocked) as gate:
            services.session_start(
                actor=world.therapist, session_id=session.pk, version=session.version,
                **GOOD_VITALS,
            )  # fmt: skip
        assert _codes(gate) == ["alcohol.not_attested"]
    else:
        started = services.session_start(
            actor=world.therapist, session_id=session.pk, version=session.version,
            **GOOD_VITALS,
        )  # fmt: skip
        assert started.state == "in_progress"


# ---- the timeline -------------------------------------------------------------------------


def test_first_dose_uses_exactly_one_dose_and_boosters_none(world, course):
    # 100 mg and a 100 mg booster: the prescription's 200 mg a session (decision 0030).
    session = dosed(world.therapist, course, amount=100)
    assert DoseUse.objects.filter(course=course).count() == 1
    booster = services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="dose", route="sublingual",
        amount="100", unit="mg",
    )  # fmt: skip
    assert booster.data["booster"] is True
    assert DoseUse.objects.filter(course=course).count() == 1
    first = TimelineEntry.objects.get(session=session, kind="dose", data__booster=False)
    assert first.data["dose_use_id"] == DoseUse.objects.get(course=course).pk


def test_first_dose_refused_when_no_dose_is_left_and_nothing_saved(world):
    course = ready_course(world.client, world.therapist, world.prescriber, doses=1)
    session = started(world.therapist, course)
    # The last dose is used elsewhere (a daily log) after the session started.
    from kapflow.prescriptions.models import Prescription
    from tests.prescriptions.factories import dose_logged

    dose_logged(
        course, clock.clinical_date(course.organisation), Prescription.objects.get(course=course)
    )
    before = _counts(course)
    with pytest.raises(GateBlocked) as exc:
        services.entry_add(
            actor=world.therapist, session_id=session.pk, kind="dose", route="sublingual",
            amount=200,
        )  # fmt: skip
    assert _codes(exc) == ["prescription.no_doses_left"]
    assert _counts(course) == before


def test_flagged_vitals_carry_the_rule_that_fired(world, course):
    session = dosed(world.therapist, course)
    entry = _vitals(world, session, timezone.now(), bp_systolic=185, bp_diastolic=102)
    assert entry.flagged
    assert [f["rule"] for f in entry.flags] == ["systolic >= 180 mmHg", "diastolic >= 100 mmHg"]


def test_practice_thresholds_apply(world, course):
    from kapflow.encounters.models import SessionSettings

    SessionSettings.objects.create(organisation=world.practice, heart_rate_high=100)
    session = dosed(world.therapist, course)
    entry = _vitals(world, session, timezone.now(), heart_rate=105)
    assert [f["rule"] for f in entry.flags] == ["heart rate > 100 bpm"]


def test_entries_need_a_started_session_and_valid_fields(world, course):
    session = opened(world.therapist, course)
    with pytest.raises(DomainError) as exc:
        services.entry_add(actor=world.therapist, session_id=session.pk, kind="note", text="x")
    assert exc.value.code == "session.not_started"
    session = services.session_start(
        actor=world.therapist, session_id=session.pk, version=1, **GOOD_START
    )
    for kind, fields, field in [
        ("dose", {"route": "sublingual", "amount": "-1"}, "amount"),
        ("dose", {"route": "nasal-ish", "amount": "10"}, "route"),
        ("vitals", {"bp_systolic": 120}, "bp_diastolic"),
        ("vitals", {}, "bp_systolic"),
        ("event", {"event_type": "boredom"}, "event_type"),
        ("note", {"text": "  "}, "text"),
        ("mystery", {}, "kind"),
    ]:
        with pytest.raises(ValidationError) as exc:
            services.entry_add(actor=world.therapist, session_id=session.pk, kind=kind, **fields)
        assert field in exc.value.message_dict, (kind, fields)
    future = timezone.now() + datetime.timedelta(minutes=10)
    with pytest.raises(ValidationError) as exc:
        services.entry_add(
            actor=world.therapist, session_id=session.pk, kind="note", text="x", occurred_at=future
        )
    assert "occurred_at" in exc.value.message_dict


def test_events_keep_their_intervention(world, course):
    session = dosed(world.therapist, course)
    entry = services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="event", event_type="nausea",
        intervention="Ondansetron 4 mg ODT per standing order.",
    )  # fmt: skip
    assert entry.data["type"] == "nausea" and "Ondansetron" in entry.data["intervention"]


def test_practice_prescriber_records_partner_prescriber_may_not(world, course):
    from tests.accounts.factories import member
    from tests.patients.factories import on_team

    session = dosed(world.therapist, course)
    house = member(world.practice, "prescriber", licences=[("MD", "OR")])
    on_team(world.client, house, role="prescriber", added_by=world.therapist.user)
    _ = services.entry_add(actor=house, session_id=session.pk, kind="note", text="Seen.")
    with pytest.raises(PermissionDenied):
        services.entry_add(actor=world.prescriber, session_id=session.pk, kind="note", text="x")
    with pytest.raises(NotFound):
        services.entry_add(actor=world.biller, session_id=session.pk, kind="note", text="x")
    with pytest.raises(NotFound):
        services.entry_add(actor=world.other_admin, session_id=session.pk, kind="note", text="x")


def test_correction_is_a_new_entry_naming_the_old(world, course):
    session = dosed(world.therapist, course)
    wrong = _vitals(world, session, timezone.now(), bp_systolic=190, bp_diastolic=90)
    session.refresh_from_db()
    fixed = services.entry_correct(
        actor=world.therapist, session_id=session.pk, entry_id=wrong.pk, version=session.version,
        reason="Typed 190 for 130.", bp_systolic=130, bp_diastolic=90,
    )  # fmt: skip
    wrong.refresh_from_db()
    assert wrong.data["bp_systolic"] == 190  # never edited in place
    assert fixed.corrects == wrong and not fixed.flagged and fixed.reason == "Typed 190 for 130."
    session.refresh_from_db()
    with pytest.raises(DomainError) as exc:
        services.entry_correct(
            actor=world.therapist, session_id=session.pk, entry_id=wrong.pk,
            version=session.version, reason="Again.", strike=True,
        )  # fmt: skip
    assert exc.value.code == "session.entry_superseded"


def test_strike_through_needs_a_reason_and_spares_the_used_dose(world, course):
    session = dosed(world.therapist, course)
    note = services.entry_add(actor=world.therapist, session_id=session.pk, kind="note", text="x")
    session.refresh_from_db()
    with pytest.raises(ValidationError):
        services.entry_correct(
            actor=world.therapist, session_id=session.pk, entry_id=note.pk,
            version=session.version, reason="", strike=True,
        )  # fmt: skip
    struck = services.entry_correct(
        actor=world.therapist, session_id=session.pk, entry_id=note.pk, version=session.version,
        reason="Wrong client's note.", strike=True,
    )  # fmt: skip
    assert struck.struck and struck.corrects == note
    first = TimelineEntry.objects.get(session=session, kind="dose")
    session.refresh_from_db()
    with pytest.raises(DomainError) as exc:
        services.entry_correct(
            actor=world.therapist, session_id=session.pk, entry_id=first.pk,
            version=session.version, reason="Oops.", strike=True,
        )  # fmt: skip
    assert exc.value.code == "session.dose_used"


def test_correction_against_a_stale_version_is_refused(world, course):
    session = dosed(world.therapist, course)
    note = services.entry_add(actor=world.therapist, session_id=session.pk, kind="note", text="x")
    with pytest.raises(DomainError) as exc:
        services.entry_correct(
            actor=world.therapist, session_id=session.pk, entry_id=note.pk, version=1,
            reason="r", strike=True,
        )  # fmt: skip
    assert exc.value.code == "session.stale"


# ---- discharge ----------------------------------------------------------------------------


def test_discharge_refused_until_every_criterion_is_met(world, course):
    now = timezone.now()
    session = dosed(world.therapist, course, at=now - 30 * MIN)
    before = _counts(course)
    with pytest.raises(GateBlocked) as exc:
        _discharge(world, session, alert_oriented=False, walks_steadily=False, escort_present=False)
    assert _codes(exc) == [
        "discharge.no_driver", "discharge.not_alert", "discharge.not_walking",
        "discharge.observation_short", "discharge.vitals_missing",
    ]  # fmt: skip
    assert _counts(course) == before
    _vitals(world, session, now - 5 * MIN, bp_systolic=182, bp_diastolic=95)
    with pytest.raises(GateBlocked) as exc:
        _discharge(world, session)
    assert _codes(exc) == ["discharge.observation_short", "discharge.vitals_flagged"]


def test_discharge_records_minutes_due_items_and_completes_the_appointment(world, course):
    appointment = dosing_appointment(course, world.therapist)
    start = timezone.now() - 150 * MIN
    session = opened(world.therapist, course, appointment_id=appointment.pk, now=start)
    session = services.session_start(
        actor=world.therapist, session_id=session.pk, version=1, now=start, **GOOD_START
    )
    services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="dose", route="sublingual",
        amount=200, occurred_at=start, now=start,
    )  # fmt: skip
    _vitals(world, session, start + 40 * MIN, bp_systolic=185, bp_diastolic=100)
    _vitals(world, session, start + 125 * MIN)
    closed = _discharge(world, session)
    assert closed.state == "discharged" and closed.minutes in (150, 151)
    assert closed.first_hour_minutes == 60 and closed.additional_minutes == closed.minutes - 60
    assert closed.additional_hour_units == (1 if closed.minutes == 150 else 2)
    assert DischargeRecord.objects.get(session=closed).recorded_by == world.therapist.user
    codes = set(
        DueItem.objects.filter(course=course, resolved_at__isnull=True).values_list(
            "code", flat=True
        )
    )
    assert {"integration.due", "integration.checkin"} <= codes
    appointment.refresh_from_db()
    assert (
        appointment.status == "completed" and appointment.status_changed_by == world.therapist.user
    )
    with pytest.raises(DomainError) as exc:
        services.entry_add(actor=world.therapist, session_id=closed.pk, kind="note", text="x")
    assert exc.value.code == "session.closed"


def test_discharge_is_for_the_therapist_side(world, course):
    session = dosed(world.therapist, course)
    _vitals(world, session, timezone.now())
    with pytest.raises(PermissionDenied):
        session.refresh_from_db()
        services.session_discharge(
            actor=world.prescriber, session_id=session.pk, version=session.version,
            alert_oriented=True, walks_steadily=True, escort_present=True,
        )  # fmt: skip


def test_abandon_needs_a_reason(world, course):
    session = opened(world.therapist, course)
    with pytest.raises(ValidationError):
        services.session_abandon(actor=world.therapist, session_id=session.pk, version=1, reason="")
    ended = services.session_abandon(
        actor=world.therapist, session_id=session.pk, version=1, reason="BP stayed high all day."
    )
    assert ended.state == "abandoned" and ended.ended_at is not None
    assert opened(world.therapist, course).state == "checklist"  # a new one may open


# ---- client, companion --------------------------------------------------------------------


def test_client_answers_only_their_own_checklist(world, course):
    session = opened(world.therapist, course)
    response = services.checklist_submit(
        actor=world.client_member, session_id=session.pk, answers=ALL_YES
    )
    assert response.respondent == "client" and response.complete
    with pytest.raises(NotFound):  # in person: no companion
        services.checklist_submit(actor=world.companion, session_id=session.pk, answers=ALL_YES)
    from tests.accounts.factories import member

    stranger = member(world.practice, "client")
    with pytest.raises(NotFound):
        services.checklist_submit(actor=stranger, session_id=session.pk, answers=ALL_YES)
    with pytest.raises(ValidationError):
        services.checklist_submit(
            actor=world.client_member, session_id=session.pk, answers={"fasting": "yes"}
        )
    assert ChecklistResponse.objects.filter(session=session).count() == 1


def test_companion_checklist_and_readout_at_home(world):
    course = ready_course(world.client, world.therapist, world.prescriber, delivery="at_home")
    Companion.objects.filter(client=world.client).update(confirmed_at=timezone.now())
    session = opened(world.therapist, course)
    services.checklist_submit(actor=world.companion, session_id=session.pk, answers=ALL_YES)
    with pytest.raises(DomainError) as exc:
        services.companion_reading_add(
            actor=world.companion, session_id=session.pk, kind="vitals", **GOOD_VITALS
        )
    assert exc.value.code == "session.not_in_progress"
    session.refresh_from_db()
    services.session_start(
        actor=world.therapist,
        session_id=session.pk,
        version=session.version,
        bp_systolic=120,
        bp_diastolic=80,
        alcohol_free_24h=True,
    )  # fmt: skip  (the companion's checklist says they are present)
    entry = services.companion_reading_add(
        actor=world.companion, session_id=session.pk, kind="vitals", bp_systolic=181,
        bp_diastolic=90,
    )  # fmt: skip
    assert entry.source == "companion" and entry.flagged
    check = services.companion_reading_add(
        actor=world.companion, session_id=session.pk, kind="check", check_state="settled"
    )
    assert check.kind == "observation" and check.data["check"] == "settled"
    with pytest.raises(NotFound):
        services.companion_reading_add(
            actor=world.client_member, session_id=session.pk, kind="vitals", **GOOD_VITALS
        )


def test_a_clinician_records_the_checklist_on_the_clients_word(world, course):
    session = opened(world.therapist, course)
    response = services.checklist_submit(
        actor=world.therapist, session_id=session.pk, answers=ALL_YES
    )
    assert response.respondent == "clinician"
    with pytest.raises(PermissionDenied):
        services.checklist_submit(actor=world.prescriber, session_id=session.pk, answers=ALL_YES)
    session.refresh_from_db()
    started_session = services.session_start(
        actor=world.therapist, session_id=session.pk, version=session.version,
        bp_systolic=118, bp_diastolic=76,
    )  # fmt: skip
    assert started_session.state == "in_progress"
    with pytest.raises(DomainError) as exc:
        services.checklist_submit(actor=world.client_member, session_id=session.pk, answers={})
    assert exc.value.code == "session.checklist_closed"


def test_the_dose_given_is_what_counts_as_a_dosing_and_an_abandoned_start_is_not(world, course):
    session = opened(world.therapist, course)
    session = services.session_start(
        actor=world.therapist, session_id=session.pk, version=1, **GOOD_START
    )
    services.session_abandon(
        actor=world.therapist, session_id=session.pk, version=session.version,
        reason="The client felt unwell before the dose.",
    )  # fmt: skip
    assert not CourseEvent.objects.filter(course=course, kind="dosing").exists()
    assert not DueItem.objects.filter(course=course).exists()

    second = opened(world.therapist, course)
    second = services.session_start(
        actor=world.therapist, session_id=second.pk, version=1, **GOOD_START
    )
    given = timezone.now() - datetime.timedelta(minutes=1)
    services.entry_add(
        actor=world.therapist, session_id=second.pk, kind="dose", occurred_at=given,
        route="sublingual", amount="200", unit="mg",
    )  # fmt: skip
    event = CourseEvent.objects.get(course=course, kind="dosing")
    second.refresh_from_db()
    assert second.dose_event == event and event.data["session_id"] == second.pk
    assert event.occurred_at == given and event.data["alcohol_free_24h"] is True
    assert DoseUse.objects.filter(course=course).count() == 1


def test_the_first_dose_rechecks_the_gate_a_withdrawn_consent_refuses_it(world, course):
    from kapflow.consents.models import ConsentSignature
    from tests.consents.factories import withdraw

    session = opened(world.therapist, course)
    session = services.session_start(
        actor=world.therapist, session_id=session.pk, version=1, **GOOD_START
    )
    signature = ConsentSignature.objects.filter(client=course.client).latest("signed_at")
    withdraw(signature, by=world.therapist.user)
    with pytest.raises(GateBlocked) as exc:
        services.entry_add(
            actor=world.therapist, session_id=session.pk, kind="dose", route="sublingual",
            amount="200", unit="mg",
        )  # fmt: skip
    assert "consent.withdrawn" in _codes(exc)
    assert not DoseUse.objects.filter(course=course).exists()
    assert not CourseEvent.objects.filter(course=course, kind="dosing").exists()


# ---- review fixes -------------------------------------------------------------------------


def _dose(world, session, at):
    return services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="dose", route="sublingual",
        amount="200", unit="mg", occurred_at=at, now=at,
    )  # fmt: skip


def test_a_first_dose_long_after_the_start_is_refused_start_again(world, course):
    # Defect 1b: the start's gate check goes stale; default 240 minutes.
    start = timezone.now() - 10 * 24 * 60 * MIN
    session = started(world.therapist, course, at=start)
    before = _counts(course)
    with pytest.raises(GateBlocked) as exc:
        _dose(world, session, timezone.now())
    assert _codes(exc) == ["session.start_expired"]
    assert "start a new one" in exc.value.reasons[0].message
    assert _counts(course) == before  # no entry, no dose used, no dosing event
    assert not DoseUse.objects.filter(course=course).exists()


def test_the_start_validity_is_the_practices_setting(world, course):
    from kapflow.encounters.models import SessionSettings

    SessionSettings.objects.create(organisation=world.practice, start_valid_minutes=60)
    start = timezone.now() - 90 * MIN
    session = started(world.therapist, course, at=start)
    with pytest.raises(GateBlocked) as exc:
        _dose(world, session, start + 61 * MIN)
    assert _codes(exc) == ["session.start_expired"]
    entry = _dose(world, session, start + 60 * MIN)  # at the limit: still valid
    assert entry.data["booster"] is False


def test_the_default_start_validity_is_four_hours(world, course):
    start = timezone.now() - 300 * MIN
    session = started(world.therapist, course, at=start)
    with pytest.raises(GateBlocked):
        _dose(world, session, start + 241 * MIN)
    assert _dose(world, session, start + 240 * MIN).data["booster"] is False


def test_boosters_are_not_limited_by_the_start_validity(world, course):
    start = timezone.now() - 300 * MIN
    session = dosed(world.therapist, course, at=start, amount=100)
    booster = services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="dose", route="sublingual",
        amount="100", unit="mg",
    )  # fmt: skip
    assert booster.data["booster"] is True


def test_a_partial_reading_does_not_clear_a_flagged_blood_pressure(world, course):
    # Defect 2: BP 200/115 flagged, then SpO2 only: BP was never rechecked.
    now = timezone.now()
    session = dosed(world.therapist, course, at=now - 150 * MIN)
    _vitals(world, session, now - 60 * MIN, bp_systolic=200, bp_diastolic=115)
    services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals", spo2=98,
        occurred_at=now - 30 * MIN, now=now - 30 * MIN,
    )  # fmt: skip
    with pytest.raises(GateBlocked) as exc:
        _discharge(world, session)
    assert _codes(exc) == ["discharge.vitals_flagged"]
    assert exc.value.reasons[0].message.startswith("Blood pressure was outside")
    services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals", bp_systolic=135,
        bp_diastolic=85, occurred_at=now - 10 * MIN, now=now - 10 * MIN,
    )  # fmt: skip
    assert _discharge(world, session).state == "discharged"


def _pre_dose(session):
    return TimelineEntry.objects.get(session=session, data__phase="pre_dose")


def test_correcting_the_pre_dose_vitals_keeps_their_phase_and_feeds_the_gate(world, course):
    # Defect 11: before the dose the correction is allowed, stays pre-dose, and the first
    # dose re-checks the gate with the corrected blood pressure.
    session = started(world.therapist, course)
    old = _pre_dose(session)
    session.refresh_from_db()
    fixed = services.entry_correct(
        actor=world.therapist, session_id=session.pk, entry_id=old.pk, version=session.version,
        reason="Typed 120 for 170.", bp_systolic=170, bp_diastolic=95,
    )  # fmt: skip
    assert fixed.data["phase"] == "pre_dose"
    session.refresh_from_db()
    assert session.start_day["bp_systolic"] == 170 and session.start_day["bp_diastolic"] == 95
    with pytest.raises(GateBlocked) as exc:
        _dose(world, session, timezone.now())
    assert "vitals.bp_high" in _codes(exc)
    assert not DoseUse.objects.filter(course=course).exists()


def test_the_pre_dose_vitals_cannot_be_corrected_after_the_first_dose(world, course):
    session = dosed(world.therapist, course)
    old = _pre_dose(session)
    for strike in (False, True):
        session.refresh_from_db()
        with pytest.raises(DomainError) as exc:
            services.entry_correct(
                actor=world.therapist, session_id=session.pk, entry_id=old.pk,
                version=session.version, reason="Typo.", strike=strike, bp_systolic=130,
                bp_diastolic=85,
            )  # fmt: skip
        assert exc.value.code == "session.pre_dose_locked"
    assert not TimelineEntry.objects.filter(corrects=old).exists()


def test_correcting_in_session_vitals_stays_in_session(world, course):
    session = dosed(world.therapist, course)
    wrong = _vitals(world, session, timezone.now(), bp_systolic=190, bp_diastolic=90)
    session.refresh_from_db()
    fixed = services.entry_correct(
        actor=world.therapist, session_id=session.pk, entry_id=wrong.pk, version=session.version,
        reason="Typed 190 for 130.", bp_systolic=130, bp_diastolic=90,
    )  # fmt: skip
    assert fixed.data["phase"] == "in_session"
