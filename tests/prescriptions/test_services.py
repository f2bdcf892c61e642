"""Prescribing services: the referral, the evaluation, the signed eligibility decision,
prescriptions, fills, doses and refill requests, follow-ups and the client's low-dose log.
Each refusal names its field or reason and leaves nothing half-saved."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from kapflow.audit.models import AuditEvent
from kapflow.clinical import course as rules
from kapflow.clinical import prescribing as rx
from kapflow.clinical.icd10 import diagnosis_get
from kapflow.core import clock
from kapflow.core.errors import DomainError, GateBlocked, NotFound, PermissionDenied
from kapflow.courses import selectors as course_selectors
from kapflow.courses import services as course_services
from kapflow.courses.models import Course, CourseEvent, GateSettings
from kapflow.patients import selectors as patient_selectors
from kapflow.patients.models import CareTeamMember
from kapflow.prescriptions import doses, selectors, services
from kapflow.prescriptions.models import (
    Dispense,
    DoseUse,
    EligibilityDecision,
    MedicalEvaluation,
    Prescription,
    Referral,
    RefillRequest,
)
from tests.accounts.factories import member, practice_today
from tests.conftest import sign_in
from tests.courses.factories import event, make_course
from tests.outcomes.factories import score
from tests.patients.factories import ClientFactory, on_team
from tests.prescriptions.factories import CLEAN_CHECKLIST, dose_logged, evaluate, prescribe

TODAY = practice_today
DAY = datetime.timedelta(days=1)
GOOD_DAY = rules.DoseDay(
    bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True
)


def _codes(exc) -> list[str]:
    return [r.code for r in exc.value.reasons]


def _counts():
    return (
        Referral.objects.count(),
        CourseEvent.objects.count(),
        CareTeamMember.objects.count(),
        AuditEvent.objects.count(),
    )


def _facts(course):
    return course_selectors.course_facts(
        course_selectors.with_facts(Course.objects.filter(pk=course.pk)).get()
    )


def _gate(course) -> list[str]:
    now = timezone.now()
    return [r.code for r in rules.dosing_reasons(_facts(course), now=now)]


# ---- referral_send ------------------------------------------------------------------------


@pytest.fixture
def intake(world):
    """world.unreferred's course at intake: the partner prescriber has no grant yet."""
    return make_course(world.unreferred, world.therapist, stage="intake")


def _send(world, course, **overrides):
    args = {
        "actor": world.therapist, "course_id": course.pk, "prescriber_id": world.prescriber.pk,
        "reason": "Recurrent depression after two medication trials.",
        "diagnoses": ["F33.1", "f41.1"], "medications": "Sertraline 100 mg",
        "history": "No psychosis.", "consent_to_share": True,
        "consent_note": "Signed release of information on file.",
    }  # fmt: skip
    return services.referral_send(**(args | overrides))


def test_referral_send_moves_the_course_to_referred(world, intake):
    referral = _send(world, intake)

    intake.refresh_from_db()
    assert (intake.stage, intake.prescriber_id) == ("referred", world.prescriber.pk)
    assert (referral.status, referral.partner_id) == ("sent", world.partner.pk)
    assert referral.prescriber_id == world.prescriber.pk
    assert referral.sent_by_id == world.therapist.user_id
    refer_event = CourseEvent.objects.get(course=intake, action="refer")
    assert (refer_event.from_stage, refer_event.to_stage) == ("intake", "referred")
    assert AuditEvent.objects.filter(action="referral.send", target_id=str(referral.pk)).exists()


def test_referral_send_grants_the_prescriber_access_to_the_client(world, intake):
    with pytest.raises(NotFound):
        patient_selectors.client_get_for_actor(actor=world.prescriber, client_id=intake.client_id)

    _send(world, intake)

    grant = CareTeamMember.objects.get(client=intake.client, membership=world.prescriber)
    assert (grant.role, grant.ended_at) == ("prescriber", None)
    seen = patient_selectors.client_get_for_actor(
        actor=world.prescriber, client_id=intake.client_id, audit_action=""
    )
    assert seen.pk == intake.client_id


def test_referral_send_codes_diagnoses_with_their_descriptions(world, intake):
    referral = _send(world, intake, diagnoses=["F33.1", " f41.1 ", "F33.1", ""])
    assert referral.diagnoses == [
        {"code": "F33.1", "description": diagnosis_get("F33.1").description},
        {"code": "F41.1", "description": diagnosis_get("F41.1").description},
    ]
    assert "depressive" in referral.diagnoses[0]["description"].lower()


def test_referral_send_takes_codes_typed_with_commas(world, intake):
    referral = _send(world, intake, diagnoses=["F33.1, f41.1,", "F43.10"])
    assert [d["code"] for d in referral.diagnoses] == ["F33.1", "F41.1", "F43.10"]


def test_referral_send_snapshots_scores_only_when_shared(world, intake):
    score(intake.client, 14, at=timezone.now() - 3 * DAY)
    score(intake.client, 9, at=timezone.now() - DAY)
    score(intake.client, 6, instrument="gad7", at=timezone.now() - DAY)

    referral = _send(world, intake, share_scores=True)

    assert [(s["instrument"], s["score"]) for s in referral.scores] == [("gad7", 6), ("phq9", 9)]
    assert referral.scores[1]["label"] == "PHQ-9"
    # Dated by the practice's day, not the UTC one (decision 0027).
    yesterday = clock.clinical_date(intake.organisation, timezone.now() - DAY)
    assert referral.scores[1]["on"] == yesterday.isoformat()


def test_referral_send_without_sharing_stores_no_scores(world, intake):
    score(intake.client, 14)
    referral = _send(world, intake, share_scores=False)
    assert (referral.share_scores, referral.scores) == (False, [])


def test_the_prescriber_is_told_of_a_referral_once_it_is_saved(
    world, intake, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _send(world, intake)
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [world.prescriber.user.email]
    assert "Practice A has sent you a referral." in mail.body
    client = intake.client
    for private in (client.legal_last_name, client.legal_first_name, "F33.1", "Sertraline"):
        assert private not in mail.subject + mail.body


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reason": "   "}, "reason"),
        ({"consent_to_share": False}, "consent_to_share"),
        ({"consent_note": ""}, "consent_note"),
        ({"prescriber_id": None}, "prescriber"),
        ({"diagnoses": ["F33.1", "XYZ.99"]}, "diagnoses"),
        ({"diagnoses": []}, "diagnoses"),
        ({"diagnoses": ["", "  "]}, "diagnoses"),
        ({"consent_note": "x" * 301}, "consent_note"),
    ],
)
def test_referral_send_refusal_names_the_field_and_saves_nothing(world, intake, overrides, field):
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        _send(world, intake, **overrides)
    assert field in exc.value.message_dict
    assert _counts() == before
    intake.refresh_from_db()
    assert (intake.stage, intake.prescriber_id) == ("intake", None)


def test_referral_send_refuses_someone_who_is_not_a_prescriber(world, intake):
    for wrong in (world.therapist2, world.other_admin, member(world.other, "prescriber")):
        with pytest.raises(ValidationError) as exc:
            _send(world, intake, prescriber_id=wrong.pk)
        assert set(exc.value.message_dict) == {"prescriber"}
    assert not Referral.objects.exists()


def test_referral_send_lists_every_bad_field_at_once(world, intake):
    with pytest.raises(ValidationError) as exc:
        _send(world, intake, reason="", consent_to_share=False, consent_note="", diagnoses=[])
    assert set(exc.value.message_dict) == {
        "reason", "consent_to_share", "consent_note", "diagnoses",
    }  # fmt: skip


def test_a_second_open_referral_is_refused(world, intake):
    _send(world, intake)
    before = _counts()
    with pytest.raises(DomainError) as exc:
        _send(world, intake)
    assert exc.value.code == "referral.open"
    assert _counts() == before


def test_referral_send_is_for_the_clients_therapist(world, intake):
    with pytest.raises(PermissionDenied):
        _send(world, intake, actor=world.admin)
    with pytest.raises(NotFound):
        _send(world, intake, actor=world.therapist2)
    assert not Referral.objects.exists()


# ---- referral_accept and referral_close ---------------------------------------------------


@pytest.fixture
def sent(world, intake):
    return _send(world, intake)


def test_referral_accept_opens_the_evaluation(world, sent):
    services.referral_accept(actor=world.prescriber, referral_id=sent.pk)

    sent.refresh_from_db()
    assert (sent.status, sent.responded_by_id) == ("accepted", world.prescriber.user_id)
    evaluation = MedicalEvaluation.objects.get(referral=sent)
    assert (evaluation.prescriber_id, evaluation.course_id) == (world.prescriber.pk, sent.course_id)
    assert (evaluation.version, evaluation.checklist) == (1, {})
    assert Course.objects.get(pk=sent.course_id).stage == "medical_evaluation"


def test_only_the_named_prescriber_accepts(world, sent):
    colleague = member(world.partner, "prescriber", licences=[("MD", "OR")])
    with pytest.raises(NotFound):
        services.referral_accept(actor=colleague, referral_id=sent.pk)
    with pytest.raises(PermissionDenied):
        services.referral_accept(actor=world.therapist, referral_id=sent.pk)
    sent.refresh_from_db()
    assert sent.status == "sent"
    assert not MedicalEvaluation.objects.exists()
    assert Course.objects.get(pk=sent.course_id).stage == "referred"


def test_an_accepted_referral_is_not_accepted_again(world, sent):
    services.referral_accept(actor=world.prescriber, referral_id=sent.pk)
    with pytest.raises(GateBlocked) as exc:
        services.referral_accept(actor=world.prescriber, referral_id=sent.pk)
    assert _codes(exc) == ["referral.not_sent"]
    assert MedicalEvaluation.objects.count() == 1


@pytest.mark.parametrize(
    ("who", "status", "accepted"),
    [
        ("prescriber", "declined", False),
        ("prescriber", "declined", True),
        ("therapist", "withdrawn", False),
        ("therapist", "withdrawn", True),
    ],
)
def test_closing_a_referral_returns_the_course_to_intake_and_ends_the_grant(
    world, sent, who, status, accepted
):
    if accepted:
        services.referral_accept(actor=world.prescriber, referral_id=sent.pk)

    services.referral_close(
        actor=getattr(world, who), referral_id=sent.pk, reason="Client moved out of state."
    )

    sent.refresh_from_db()
    assert (sent.status, sent.status_reason) == (status, "Client moved out of state.")
    course = Course.objects.get(pk=sent.course_id)
    assert (course.stage, course.prescriber_id) == ("intake", None)
    grant = CareTeamMember.objects.get(client=course.client, membership=world.prescriber)
    assert grant.ended_at is not None
    with pytest.raises(NotFound):
        course_selectors.course_get_for_actor(actor=world.prescriber, course_id=course.pk)
    with pytest.raises(NotFound):
        patient_selectors.client_get_for_actor(actor=world.prescriber, client_id=course.client_id)
    timeline = CourseEvent.objects.filter(course=course, action="decline_referral").get()
    assert timeline.reason == f"Referral {status}: Client moved out of state."


def test_closing_needs_a_reason(world, sent):
    before = _counts()
    for who in (world.prescriber, world.therapist):
        with pytest.raises(ValidationError) as exc:
            services.referral_close(actor=who, referral_id=sent.pk, reason="  ")
        assert set(exc.value.message_dict) == {"reason"}
    assert _counts() == before
    sent.refresh_from_db()
    assert sent.status == "sent"


def test_a_closed_referral_cannot_be_closed_again(world, sent):
    services.referral_close(actor=world.therapist, referral_id=sent.pk, reason="Paused.")
    with pytest.raises(GateBlocked) as exc:
        services.referral_close(actor=world.therapist, referral_id=sent.pk, reason="Again.")
    assert _codes(exc) == ["referral.closed"]


def test_the_biller_and_another_therapist_cannot_withdraw(world, sent):
    with pytest.raises(NotFound):
        services.referral_close(actor=world.biller, referral_id=sent.pk, reason="No.")
    with pytest.raises(NotFound):
        services.referral_close(actor=world.therapist2, referral_id=sent.pk, reason="No.")
    sent.refresh_from_db()
    assert sent.status == "sent"


def test_a_new_referral_after_a_withdrawal_is_allowed(world, sent):
    services.referral_close(actor=world.therapist, referral_id=sent.pk, reason="Wrong clinic.")
    again = _send(world, Course.objects.get(pk=sent.course_id))
    assert again.status == "sent"
    assert Referral.objects.filter(course_id=sent.course_id).count() == 2


def test_the_prescriber_schedules_an_accepted_referral(world, sent):
    services.referral_accept(actor=world.prescriber, referral_id=sent.pk)
    when = timezone.now() + 3 * DAY
    services.referral_schedule(actor=world.prescriber, referral_id=sent.pk, scheduled_for=when)
    sent.refresh_from_db()
    assert (sent.status, sent.scheduled_for) == ("scheduled", when)


def test_scheduling_needs_an_accepted_referral_and_its_prescriber(world, sent):
    when = timezone.now() + 3 * DAY
    with pytest.raises(GateBlocked) as exc:
        services.referral_schedule(actor=world.prescriber, referral_id=sent.pk, scheduled_for=when)
    assert _codes(exc) == ["referral.not_accepted"]
    services.referral_accept(actor=world.prescriber, referral_id=sent.pk)
    with pytest.raises(PermissionDenied):
        services.referral_schedule(actor=world.therapist, referral_id=sent.pk, scheduled_for=when)
    sent.refresh_from_db()
    assert sent.scheduled_for is None


@pytest.mark.parametrize(
    "moment",
    [
        datetime.datetime(1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5))),
        datetime.datetime(9999, 12, 31, 23, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
    ],
)
def test_a_time_beyond_the_calendar_in_utc_names_scheduled_for(world, sent, moment):
    services.referral_accept(actor=world.prescriber, referral_id=sent.pk)
    with pytest.raises(ValidationError) as exc:
        services.referral_schedule(actor=world.prescriber, referral_id=sent.pk,
                                   scheduled_for=moment)  # fmt: skip
    assert set(exc.value.message_dict) == {"scheduled_for"}
    sent.refresh_from_db()
    assert (sent.status, sent.scheduled_for) == ("accepted", None)


# ---- evaluation_save ----------------------------------------------------------------------


@pytest.fixture
def evaluation(world):
    """world.client's course at medical evaluation, its evaluation not filled in yet."""
    course = make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage="medical_evaluation"
    )
    return evaluate(course, world.prescriber, complete=False)


def _save(world, evaluation, *, actor=None, version=None, medications=(), checklist=None, **data):
    fields = {"evaluated_on": TODAY(), "bp_systolic": 122, "bp_diastolic": 78,
              "pregnancy": "not_applicable", "ongoing_therapy": True} | data  # fmt: skip
    return services.evaluation_save(
        actor=actor or world.prescriber,
        evaluation_id=evaluation.pk,
        data=fields,
        medications=list(medications),
        checklist=CLEAN_CHECKLIST if checklist is None else checklist,
        version=evaluation.version if version is None else version,
    )


def test_evaluation_save_stores_the_answers_and_bumps_the_version(world, evaluation):
    saved = _save(world, evaluation, history="Hypertension, treated.")
    evaluation.refresh_from_db()
    assert (evaluation.version, evaluation.bp_systolic) == (2, 122)
    assert evaluation.history == "Hypertension, treated."
    assert evaluation.checklist == CLEAN_CHECKLIST
    assert saved.version == 2
    audit = AuditEvent.objects.get(action="evaluation.update")
    assert {"bp_systolic", "checklist", "history"} <= set(audit.changed_fields)


def test_a_stale_version_is_refused_and_nothing_is_saved(world, evaluation):
    _save(world, evaluation)  # someone else saved: version 2
    with pytest.raises(DomainError) as exc:
        _save(world, evaluation, version=1, bp_systolic=190, history="Overwritten.")
    assert exc.value.code == "evaluation.stale"
    evaluation.refresh_from_db()
    assert (evaluation.version, evaluation.bp_systolic, evaluation.history) == (2, 122, "")
    assert AuditEvent.objects.filter(action="evaluation.update").count() == 1


def test_an_unknown_checklist_code_is_refused(world, evaluation):
    with pytest.raises(ValidationError) as exc:
        _save(world, evaluation, checklist=CLEAN_CHECKLIST | {"contra.made_up": True})
    assert set(exc.value.message_dict) == {"checklist"}
    evaluation.refresh_from_db()
    assert (evaluation.version, evaluation.checklist) == (1, {})


def test_medications_are_matched_to_rxnorm_by_name_and_brand(world, evaluation):
    _save(
        world,
        evaluation,
        medications=[
            {"name": "Phenelzine", "dose": "15 mg twice a day"},
            {"name": "Xanax", "daily_dose_mg": 1.5},
            {"name": "Grandma's tea"},
            {"name": "  "},
        ],
    )
    evaluation.refresh_from_db()
    assert evaluation.medications == [
        {"name": "phenelzine", "rxcui": "8123", "dose": "15 mg twice a day", "daily_dose_mg": None},
        {"name": "alprazolam", "rxcui": "596", "dose": "", "daily_dose_mg": 1.5},
        {"name": "Grandma's tea", "rxcui": "", "dose": "", "daily_dose_mg": None},
    ]


def test_a_bad_daily_dose_names_medications(world, evaluation):
    with pytest.raises(ValidationError) as exc:
        _save(world, evaluation, medications=[{"name": "Xanax", "daily_dose_mg": "lots"}])
    assert set(exc.value.message_dict) == {"medications"}
    evaluation.refresh_from_db()
    assert evaluation.version == 1


def test_a_future_evaluation_date_is_refused(world, evaluation):
    with pytest.raises(ValidationError) as exc:
        _save(world, evaluation, evaluated_on=TODAY() + DAY)
    assert set(exc.value.message_dict) == {"evaluated_on"}
    evaluation.refresh_from_db()
    assert evaluation.version == 1


def test_only_the_evaluating_prescriber_edits(world, evaluation):
    with pytest.raises(PermissionDenied):
        _save(world, evaluation, actor=world.therapist)
    colleague = member(world.partner, "prescriber", licences=[("MD", "OR")])
    with pytest.raises(NotFound):
        _save(world, evaluation, actor=colleague)
    with pytest.raises(NotFound):
        _save(world, evaluation, actor=world.other_admin)
    evaluation.refresh_from_db()
    assert evaluation.version == 1


# ---- eligibility_decide -------------------------------------------------------------------


def _digest(world, evaluation) -> str:
    return selectors.evaluation_get_for_actor(
        actor=world.prescriber, referral_id=evaluation.referral_id
    ).digest


def _decide(world, evaluation, **overrides):
    args = {
        "actor": world.prescriber, "evaluation_id": evaluation.pk, "decision": "eligible",
        "reason": "Benefits outweigh the risks.", "signature": world.prescriber.user.full_name,
        "clearance_valid_days": 180,
    }  # fmt: skip
    args |= overrides
    if "findings_digest_seen" not in args:
        args["findings_digest_seen"] = _digest(world, evaluation)
    return services.eligibility_decide(**args)


@pytest.fixture
def complete(world, evaluation):
    """The evaluation filled in with nothing found."""
    _save(world, evaluation)
    evaluation.refresh_from_db()
    return evaluation


def test_the_decision_stores_the_findings_seen(world, complete):
    _save(world, complete, medications=[{"name": "Nardil", "dose": "15 mg"}])
    complete.refresh_from_db()
    seen = selectors.evaluation_get_for_actor(
        actor=world.prescriber, referral_id=complete.referral_id
    )
    assert [f.code for f in seen.findings] == ["interaction.maoi"]

    record = _decide(world, complete, decision="not_eligible", reason="MAOI cannot be stopped.",
                     findings_digest_seen=seen.digest)  # fmt: skip

    record.refresh_from_db()
    assert record.decision == "not_eligible"
    assert record.findings == [
        {
            "code": "interaction.maoi", "severity": "interaction", "source": "Spravato PI 7",
            "message": seen.findings[0].message,
        }
    ]  # fmt: skip
    assert "phenelzine" in record.findings[0]["message"]
    assert record.findings_digest == seen.digest
    assert record.evaluation_snapshot["medications"][0]["rxcui"] == "8123"
    assert record.evaluation_snapshot["version"] == complete.version
    assert (record.signature, record.decided_by_id) == (
        world.prescriber.user.full_name,
        world.prescriber.user_id,
    )


def test_a_changed_evaluation_after_reading_is_refused(world, complete):
    digest = _digest(world, complete)
    _save(world, complete, bp_systolic=185, bp_diastolic=112)  # another tab: now an exclusion
    before = _counts()

    with pytest.raises(DomainError) as exc:
        _decide(world, complete, findings_digest_seen=digest)

    assert exc.value.code == "evaluation.findings_changed"
    assert not EligibilityDecision.objects.exists()
    assert _counts() == before
    assert Course.objects.get(pk=complete.course_id).stage == "medical_evaluation"


def test_eligible_is_refused_while_information_is_missing(world, evaluation):
    view = selectors.evaluation_get_for_actor(
        actor=world.prescriber, referral_id=evaluation.referral_id
    )
    missing = [f.code for f in view.findings if f.severity == "missing"]
    assert set(missing) == {
        "missing.bp", "missing.checklist", "missing.ongoing_therapy", "missing.pregnancy",
    }  # fmt: skip

    with pytest.raises(GateBlocked) as exc:
        _decide(world, evaluation, findings_digest_seen=view.digest, acknowledge_exclusions=True)

    assert sorted(_codes(exc)) == sorted(missing)
    assert all(r.overridable is False for r in exc.value.reasons)
    assert not EligibilityDecision.objects.exists()


def test_eligible_with_exclusions_needs_them_acknowledged(world, complete):
    _save(
        world, complete, pregnancy="breastfeeding",
        checklist=CLEAN_CHECKLIST | {"contra.current_mania": True},
    )  # fmt: skip
    complete.refresh_from_db()

    with pytest.raises(GateBlocked) as exc:
        _decide(world, complete)
    assert sorted(_codes(exc)) == ["contra.current_mania", "pregnancy.breastfeeding"]
    assert all(r.overridable for r in exc.value.reasons)
    assert not EligibilityDecision.objects.exists()

    record = _decide(world, complete, acknowledge_exclusions=True, clearance_valid_days=90)

    assert record.exclusions_acknowledged is True
    assert {f["code"] for f in record.findings} == {
        "contra.current_mania", "pregnancy.breastfeeding",
    }  # fmt: skip
    course = Course.objects.get(pk=complete.course_id)
    assert (course.stage, course.eligibility) == ("eligible", "eligible")
    assert (course.clearance_on, course.clearance_valid_days) == (TODAY(), 90)
    complete.referral.refresh_from_db()
    assert complete.referral.status == "evaluated"


def test_eligible_without_findings_clears_the_course(world, complete):
    record = _decide(world, complete)
    assert (record.findings, record.exclusions_acknowledged) == ([], False)
    course = Course.objects.get(pk=complete.course_id)
    assert (course.stage, course.clearance_valid_days) == ("eligible", 180)


@pytest.mark.parametrize("signature", ["Someone Else", "", "Person"])
def test_the_signature_must_be_the_prescribers_full_name(world, complete, signature):
    with pytest.raises(ValidationError) as exc:
        _decide(world, complete, signature=signature)
    assert set(exc.value.message_dict) == {"signature"}
    assert not EligibilityDecision.objects.exists()


def test_the_signature_ignores_case_and_spaces(world, complete):
    name = world.prescriber.user.full_name
    assert _decide(world, complete, signature=f"  {name.upper()} ").signature == name.upper()


def test_eligible_needs_clearance_days(world, complete):
    with pytest.raises(ValidationError) as exc:
        _decide(world, complete, clearance_valid_days=None)
    assert set(exc.value.message_dict) == {"clearance_valid_days"}


def test_needs_info_keeps_the_evaluation_open(world, complete):
    record = _decide(world, complete, decision="needs_info", reason="Need a cardiology letter.")

    assert record.clearance_valid_days is None
    course = Course.objects.get(pk=complete.course_id)
    assert (course.stage, course.eligibility) == ("medical_evaluation", "")
    view = selectors.evaluation_get_for_actor(
        actor=world.prescriber, referral_id=complete.referral_id
    )
    assert view.editable is True
    assert [d.decision for d in view.decisions] == ["needs_info"]
    _save(world, complete, history="Cardiology letter received.")
    complete.refresh_from_db()
    assert complete.history == "Cardiology letter received."


def test_not_eligible_closes_the_course_and_the_course_page_says_why(client, world, complete):
    _decide(world, complete, decision="not_eligible", reason="Unstable angina last month.")

    course = Course.objects.get(pk=complete.course_id)
    assert (course.stage, course.eligibility) == ("not_eligible", "not_eligible")
    assert course.closed_at is not None
    with pytest.raises(GateBlocked) as exc:
        _save(world, complete)
    assert _codes(exc) == ["evaluation.closed"]
    sign_in(client, world.therapist.user)
    page = client.get(f"/courses/{course.pk}/").content.decode()
    assert '<strong data-testid="decision-value">Not eligible</strong>' in page
    assert "Unstable angina last month." in page


def test_only_the_evaluating_prescriber_decides(world, complete):
    with pytest.raises(PermissionDenied):
        _decide(world, complete, actor=world.therapist)
    assert not EligibilityDecision.objects.exists()


@pytest.mark.skipif(
    __import__("django.db").db.connection.vendor != "postgresql",
    reason="the trigger is PostgreSQL-only",
)
def test_postgres_refuses_changing_or_deleting_a_decision(world, complete):
    record = _decide(world, complete)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        EligibilityDecision.objects.filter(pk=record.pk).update(reason="Edited later.")
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        EligibilityDecision.objects.filter(pk=record.pk).delete()
    record.refresh_from_db()
    assert record.reason == "Benefits outweigh the risks."


# ---- prescription_issue -------------------------------------------------------------------

RX = {
    "product": "ketamine_sl_rdt", "strength_mg": Decimal("100"), "dose_mg": Decimal("200"),
    "quantity": 2, "refills": 1, "pharmacy_name": "Cedar Compounding",
    "dea_number": "AB1234563",
}  # fmt: skip


def _course(world, stage="eligible", **fields):
    return make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage=stage, **fields
    )


def _issue(world, course, **overrides):
    return services.prescription_issue(
        actor=overrides.pop("actor", world.prescriber), course_id=course.pk, **(RX | overrides)
    )


def test_prescription_issue_writes_a_schedule_iii_prescription(world):
    course = _course(world)
    prescription = _issue(world, course, dea_number="ab1234563")

    assert (prescription.status, prescription.dea_schedule) == ("active", "CIII")
    assert (prescription.drug, prescription.rxcui, prescription.route) == (
        "ketamine", "6130", "sublingual",
    )  # fmt: skip
    assert (prescription.frequency, prescription.pathway) == ("per_session", "higher_dose")
    assert prescription.dea_number == "AB1234563"
    assert prescription.written_on == TODAY()
    assert prescription.expires_on == rx.expires_on(TODAY())
    assert (prescription.warnings_confirmed, prescription.confirm_reason) == ([], "")
    assert CourseEvent.objects.get(course=course, kind="prescription").data["prescription_id"] == (
        prescription.pk
    )


def test_more_than_five_refills_is_refused(world):
    course = _course(world)
    with pytest.raises(GateBlocked) as exc:
        _issue(world, course, refills=6, confirm_reason="Long course.")
    assert _codes(exc) == ["prescription.too_many_refills"]
    assert not Prescription.objects.exists()
    assert _issue(world, course, refills=5).refills == 5


def test_an_in_clinic_product_is_refused_for_an_at_home_course(world):
    course = _course(world, delivery="at_home")
    with pytest.raises(GateBlocked) as exc:
        _issue(world, course, product="ketamine_inj_50", strength_mg=Decimal("50"),
               dose_mg=Decimal("100"))  # fmt: skip
    assert _codes(exc) == ["prescription.in_clinic_only"]
    assert not Prescription.objects.exists()


def test_the_low_dose_pathway_is_prescribed_daily(world):
    course = _course(world, pathway="low_dose", delivery="at_home")
    with pytest.raises(GateBlocked) as exc:
        _issue(world, course, frequency="per_session", dose_mg=Decimal("100"))
    assert "prescription.frequency_pathway" in _codes(exc)
    assert not Prescription.objects.exists()
    daily = _issue(world, course, dose_mg=Decimal("50"), strength_mg=Decimal("50"), quantity=30)
    assert (daily.frequency, daily.pathway) == ("daily", "low_dose")


def test_an_unusual_dose_needs_a_confirmation_reason(world):
    course = _course(world)
    with pytest.raises(GateBlocked) as exc:
        _issue(world, course, dose_mg=Decimal("600"))
    assert [(r.code, r.overridable) for r in exc.value.reasons] == [
        ("prescription.dose_unusual", True)
    ]
    assert not Prescription.objects.exists()

    prescription = _issue(
        world, course, dose_mg=Decimal("600"), confirm_reason="Tolerant at 400 mg; titrating."
    )

    assert prescription.warnings_confirmed == ["prescription.dose_unusual"]
    assert prescription.confirm_reason == "Tolerant at 400 mg; titrating."
    assert CourseEvent.objects.get(course=course, kind="prescription").overridden == [
        "prescription.dose_unusual"
    ]


def test_a_confirmation_reason_is_not_kept_without_a_warning(world):
    prescription = _issue(world, _course(world), confirm_reason="Just in case.")
    assert (prescription.warnings_confirmed, prescription.confirm_reason) == ([], "")


@pytest.mark.parametrize("dea", ["AB1234564", "1B1234563", "AB123456", ""])
def test_an_invalid_dea_number_names_dea_number(world, dea):
    with pytest.raises(ValidationError) as exc:
        _issue(world, _course(world), dea_number=dea)
    assert set(exc.value.message_dict) == {"dea_number"}
    assert not Prescription.objects.exists()


@pytest.mark.parametrize("stage", ["medical_evaluation", "intake"])
def test_prescribing_before_an_eligible_decision_is_refused(world, stage):
    course = _course(world, stage=stage)
    with pytest.raises(GateBlocked) as exc:
        _issue(world, course)
    assert _codes(exc) == ["eligibility.missing"]
    assert not Prescription.objects.exists()


def test_a_not_eligible_course_cannot_be_prescribed(world, complete):
    _decide(world, complete, decision="not_eligible", reason="Psychosis history.")
    with pytest.raises(GateBlocked) as exc:
        _issue(world, Course.objects.get(pk=complete.course_id))
    assert "eligibility.missing" in _codes(exc)


def test_the_therapist_cannot_prescribe(world):
    course = _course(world)
    with pytest.raises(PermissionDenied):
        _issue(world, course, actor=world.therapist)
    with pytest.raises(NotFound):
        _issue(world, course, actor=world.other_admin)
    assert not Prescription.objects.exists()


# ---- dispense_record ----------------------------------------------------------------------


@pytest.fixture
def unfilled(world):
    """An active prescription of 2 doses a fill with 1 refill, not filled yet."""
    course = _course(world, stage="active", doses=0)
    return prescribe(course, world.prescriber, doses=0, refills=1, quantity=2)


def _fill(world, prescription, **overrides):
    args = {"quantity": 2, "dispensed_on": TODAY()} | overrides
    return services.dispense_record(actor=world.prescriber, prescription_id=prescription.pk, **args)


def test_fills_are_numbered_from_the_original(world, unfilled):
    first = _fill(world, unfilled, shipped_on=TODAY(), tracking=" 1Z999 ", received_on=TODAY())
    second = _fill(world, unfilled, quantity=1)
    assert [first.fill_number, second.fill_number] == [0, 1]
    assert first.tracking == "1Z999"
    assert services.supply(unfilled) == (3, 0, 2)


def test_no_more_fills_than_one_plus_the_refills(world, unfilled):
    _fill(world, unfilled)
    _fill(world, unfilled)
    with pytest.raises(GateBlocked) as exc:
        _fill(world, unfilled)
    assert _codes(exc) == ["prescription.no_refills_left"]
    assert Dispense.objects.filter(prescription=unfilled).count() == 2


def test_a_fill_after_the_six_month_window_is_refused(world):
    course = _course(world, stage="active", doses=0)
    old = prescribe(course, world.prescriber, doses=0, written_on=TODAY() - 200 * DAY)
    assert old.expires_on < TODAY()
    with pytest.raises(GateBlocked) as exc:
        _fill(world, old, quantity=1)
    assert _codes(exc) == ["prescription.expired"]
    assert _fill(world, old, quantity=1, dispensed_on=old.expires_on).fill_number == 0


@pytest.mark.parametrize("quantity", [0, 3, -1])
def test_a_fill_is_between_one_dose_and_the_quantity_per_fill(world, unfilled, quantity):
    with pytest.raises(ValidationError) as exc:
        _fill(world, unfilled, quantity=quantity)
    assert set(exc.value.message_dict) == {"quantity"}
    assert not Dispense.objects.exists()


@pytest.mark.parametrize(
    ("dates", "field"),
    [
        # Days from today, read when the test runs (under its clock), not at collection.
        ({"dispensed_on": 1}, "dispensed_on"),
        ({"dispensed_on": -5}, "dispensed_on"),  # before it was written
        ({"dispensed_on": None}, "dispensed_on"),
        ({"shipped_on": -1}, "shipped_on"),
        ({"received_on": 0}, "received_on"),
        ({"shipped_on": 0, "received_on": -1}, "received_on"),
    ],
)
def test_fill_dates_come_in_order(world, unfilled, dates, field):
    dates = {k: None if v is None else TODAY() + v * DAY for k, v in dates.items()}
    with pytest.raises(ValidationError) as exc:
        _fill(world, unfilled, **dates)
    assert set(exc.value.message_dict) == {field}
    assert not Dispense.objects.exists()


def test_a_cancelled_prescription_is_not_filled(world, unfilled):
    services.prescription_cancel(actor=world.prescriber, prescription_id=unfilled.pk,
                                 reason="Wrong pharmacy.")  # fmt: skip
    with pytest.raises(GateBlocked) as exc:
        _fill(world, unfilled)
    assert _codes(exc) == ["prescription.not_active"]


def test_fills_are_recorded_by_the_prescriber(world, unfilled):
    with pytest.raises(PermissionDenied):
        services.dispense_record(actor=world.therapist, prescription_id=unfilled.pk, quantity=1,
                                 dispensed_on=TODAY())  # fmt: skip
    assert not Dispense.objects.exists()


# ---- doses and refill requests ------------------------------------------------------------


def _screened(course, world):
    event(course, world.therapist, "risk_screen", positive=False,
          at=timezone.now() - datetime.timedelta(hours=1))  # fmt: skip


def _use(world, course):
    """One dosing session's dose, as courses.services.dosing_start takes it."""
    with transaction.atomic():
        dosing = event(course, world.therapist, "dosing")
        return doses.dose_use_for_session(
            actor=world.therapist, course=course, event=dosing, now=timezone.now()
        )


def test_dosing_uses_one_dose_from_the_oldest_prescription_with_doses_left(world):
    course = _course(world, stage="active", doses=0)
    emptied = prescribe(course, doses=1, written_on=TODAY() - 20 * DAY)
    DoseUse.objects.create(organisation=course.organisation, course=course, prescription=emptied,
                           source="session", taken_on=TODAY() - 19 * DAY,
                           recorded_by=world.therapist.user)  # fmt: skip
    older = prescribe(course, doses=1, written_on=TODAY() - 10 * DAY)
    newer = prescribe(course, doses=3, written_on=TODAY() - 2 * DAY)
    _screened(course, world)

    dosing = course_services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY)

    use = DoseUse.objects.get(dosing_event=dosing)
    assert (use.prescription_id, use.source) == (older.pk, "session")
    assert DoseUse.objects.filter(course=course).count() == 2
    assert _use(world, course).prescription_id == newer.pk


def test_dosing_without_doses_left_is_refused(world):
    course = _course(world, stage="active", doses=0)
    prescribe(course, doses=0)
    with pytest.raises(GateBlocked) as exc:
        _use(world, course)
    assert _codes(exc) == ["prescription.no_doses_left"]


def test_one_refill_request_is_raised_when_doses_fall_to_the_threshold(world):
    course = _course(world, stage="active", doses=0)
    prescription = prescribe(course, doses=3, refills=2, quantity=3)

    _use(world, course)
    assert not RefillRequest.objects.exists()  # 2 left
    _use(world, course)  # 1 left: the default threshold
    request = RefillRequest.objects.get()
    assert (request.prescription_id, request.prescriber_id) == (
        prescription.pk,
        world.prescriber.pk,
    )
    assert (request.doses_left, request.fills_left, request.status) == (1, 2, "open")
    _use(world, course)  # 0 left: still the one request
    assert RefillRequest.objects.count() == 1


def test_the_prescriber_is_told_of_a_refill_request(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    course = _course(world, stage="active", doses=0)
    prescribe(course, doses=2, quantity=2)
    with django_capture_on_commit_callbacks(execute=True):
        _use(world, course)
    assert [m.to for m in mailoutbox] == [[world.prescriber.user.email]]
    assert course.client.legal_last_name not in mailoutbox[0].body


def test_the_practice_sets_the_refill_threshold(world):
    GateSettings.objects.create(organisation=world.practice, refill_threshold=2)
    course = _course(world, stage="active", doses=0)
    prescribe(course, doses=3, refills=1, quantity=3)

    _use(world, course)

    assert RefillRequest.objects.get().doses_left == 2


def test_a_fill_fulfils_the_open_refill_request(world):
    course = _course(world, stage="active", doses=0)
    prescription = prescribe(course, doses=2, refills=1, quantity=2)
    _use(world, course)
    request = RefillRequest.objects.get()

    _fill(world, prescription)

    request.refresh_from_db()
    assert (request.status, request.resolved_by_id) == ("fulfilled", world.prescriber.user_id)
    assert request.note == "Fill 1 recorded."


def test_a_new_prescription_fulfils_the_open_refill_request(world):
    course = _course(world, stage="active", doses=0)
    prescribe(course, doses=2, refills=0, quantity=2)
    _use(world, course)
    request = RefillRequest.objects.get()
    assert request.fills_left == 0

    _issue(world, course)

    request.refresh_from_db()
    assert request.status == "fulfilled"


def test_cancelling_the_prescription_makes_the_gate_say_prescription_missing(world):
    course = _course(world, stage="active")
    prescription = course.prescriptions.get()
    assert "prescription.missing" not in _gate(course)

    services.prescription_cancel(actor=world.prescriber, prescription_id=prescription.pk,
                                 reason="Switching product.")  # fmt: skip

    assert "prescription.missing" in _gate(course)
    prescription.refresh_from_db()
    assert (prescription.status, prescription.cancel_reason) == ("cancelled", "Switching product.")
    with pytest.raises(GateBlocked) as exc:
        services.prescription_cancel(actor=world.prescriber, prescription_id=prescription.pk,
                                     reason="Again.")  # fmt: skip
    assert _codes(exc) == ["prescription.not_active"]


def test_cancelling_needs_a_reason_and_the_prescriber(world):
    prescription = _course(world, stage="active").prescriptions.get()
    with pytest.raises(ValidationError) as exc:
        services.prescription_cancel(actor=world.prescriber, prescription_id=prescription.pk,
                                     reason="")  # fmt: skip
    assert set(exc.value.message_dict) == {"reason"}
    with pytest.raises(PermissionDenied):
        services.prescription_cancel(actor=world.therapist, prescription_id=prescription.pk,
                                     reason="Not mine to cancel.")  # fmt: skip
    prescription.refresh_from_db()
    assert prescription.status == "active"


# ---- follow-up ----------------------------------------------------------------------------


def test_a_followup_clears_followup_overdue_on_the_gate(world):
    course = _course(world, stage="active")
    now = timezone.now()
    event(course, world.therapist, "dosing", at=now - 20 * DAY)
    event(course, world.therapist, "dosing", at=now - 19 * DAY)
    assert "followup.overdue" in _gate(course)

    recorded = services.followup_record(
        actor=world.prescriber, course_id=course.pk, plan="continue", note="BP stable.",
        bp_systolic=124, bp_diastolic=80,
    )  # fmt: skip

    assert "followup.overdue" not in _gate(course)
    assert (recorded.kind, recorded.reason) == ("followup", "BP stable.")
    assert recorded.data["plan"] == "continue"


@pytest.mark.parametrize(
    ("overrides", "field"), [({"plan": "maybe"}, "plan"), ({"note": " "}, "note")]
)
def test_a_followup_needs_a_plan_and_a_note(world, overrides, field):
    course = _course(world, stage="active")
    with pytest.raises(ValidationError) as exc:
        services.followup_record(
            actor=world.prescriber, course_id=course.pk,
            **({"plan": "continue", "note": "Fine."} | overrides),
        )  # fmt: skip
    assert set(exc.value.message_dict) == {field}
    assert not CourseEvent.objects.filter(course=course, kind="followup").exists()


def test_a_followup_is_the_prescribers(world):
    course = _course(world, stage="active")
    with pytest.raises(PermissionDenied):
        services.followup_record(actor=world.therapist, course_id=course.pk, plan="continue",
                                 note="Fine.")  # fmt: skip


# ---- the client's daily low-dose log ------------------------------------------------------


@pytest.fixture
def low_dose(world):
    """world.client (signed in as world.client_member) on an active low-dose course with 10
    daily doses dispensed 5 days ago (the course opened 10 days ago: no dose predates it)."""
    course = _course(world, stage="active", pathway="low_dose", delivery="at_home", doses=0,
                     opened_at=timezone.now() - 10 * DAY)  # fmt: skip
    prescribe(course, doses=10, quantity=10, written_on=TODAY() - 5 * DAY)
    return course


def _log(world, course, taken_on, **kwargs):
    return services.dose_log(
        actor=kwargs.pop("actor", world.client_member), course_id=course.pk, taken_on=taken_on,
        **kwargs,
    )  # fmt: skip


def test_the_client_logs_a_daily_dose_and_it_uses_one(world, low_dose):
    use = _log(world, low_dose, TODAY(), amount_mg=Decimal("50"), note=" Felt calm. ")

    assert (use.source, use.taken_on, use.amount_mg, use.note) == (
        "self_log", TODAY(), Decimal("50"), "Felt calm.",
    )  # fmt: skip
    assert use.recorded_by_id == world.client_member.user_id
    facts = _facts(low_dose)
    assert (facts.doses_authorised, facts.doses_used) == (10, 1)


def test_only_the_client_logs_their_doses(world, low_dose):
    other = member(world.practice, "client")
    someone = ClientFactory(organisation=world.practice, user=other.user)
    on_team(someone, world.therapist)
    for actor in (world.therapist, world.prescriber, world.companion, other):
        with pytest.raises(NotFound):
            _log(world, low_dose, TODAY(), actor=actor)
    assert not DoseUse.objects.exists()


def test_daily_logs_are_for_the_low_dose_pathway(world):
    course = _course(world, stage="active")
    with pytest.raises(GateBlocked) as exc:
        _log(world, course, TODAY())
    assert _codes(exc) == ["dose_log.not_low_dose"]
    assert not DoseUse.objects.exists()


def test_a_low_dose_course_not_yet_dosing_cannot_log(world):
    course = _course(world, stage="preparation", pathway="low_dose", delivery="at_home")
    with pytest.raises(GateBlocked) as exc:
        _log(world, course, TODAY())
    assert _codes(exc) == ["stage.not_active"]


def test_one_log_a_day(world, low_dose):
    _log(world, low_dose, TODAY() - DAY)
    with pytest.raises(ValidationError) as exc:
        _log(world, low_dose, TODAY() - DAY)
    assert set(exc.value.message_dict) == {"taken_on"}
    assert DoseUse.objects.count() == 1
    _log(world, low_dose, TODAY())
    assert DoseUse.objects.count() == 2


@pytest.mark.parametrize("days_ago", [-1, 8, 30])
def test_a_log_is_for_today_or_the_last_seven_days(world, low_dose, days_ago):
    with pytest.raises(ValidationError) as exc:
        _log(world, low_dose, TODAY() - days_ago * DAY)
    assert set(exc.value.message_dict) == {"taken_on"}
    assert not DoseUse.objects.exists()


def test_a_log_seven_days_back_is_accepted(world, low_dose):
    assert _log(world, low_dose, TODAY() - 7 * DAY).taken_on == TODAY() - 7 * DAY


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("1000.01"), Decimal("-5")])
def test_a_logged_amount_is_1_to_1000_mg(world, low_dose, amount):
    with pytest.raises(ValidationError) as exc:
        _log(world, low_dose, TODAY(), amount_mg=amount)
    assert set(exc.value.message_dict) == {"amount_mg"}


def test_low_dose_adherence_counts_days_since_the_first_fill(world, low_dose):
    _log(world, low_dose, TODAY() - 4 * DAY)
    _log(world, low_dose, TODAY() - 2 * DAY)

    adherence = selectors.low_dose_adherence(course=low_dose, today=TODAY())

    assert (adherence.start, adherence.end) == (TODAY() - 5 * DAY, TODAY())
    assert (adherence.expected, adherence.taken) == (5, 2)  # today is not missed yet
    assert adherence.missed == (TODAY() - 5 * DAY, TODAY() - 3 * DAY, TODAY() - DAY)
    _log(world, low_dose, TODAY())
    adherence = selectors.low_dose_adherence(course=low_dose, today=TODAY())
    assert (adherence.expected, adherence.taken) == (6, 3)


def test_low_dose_adherence_without_a_fill_expects_nothing(world):
    course = _course(world, stage="active", pathway="low_dose", delivery="at_home", doses=0)
    adherence = selectors.low_dose_adherence(course=course, today=TODAY())
    assert (adherence.expected, adherence.taken, adherence.rate) == (0, 0, None)


def test_the_queue_lists_low_dose_clients_who_missed_days(world):
    def low_dose_client(logged_days):
        someone = ClientFactory(organisation=world.practice)
        on_team(someone, world.therapist)
        on_team(someone, world.prescriber, role="prescriber")
        course = make_course(someone, world.therapist, prescriber=world.prescriber,
                             stage="active", pathway="low_dose", delivery="at_home",
                             doses=10)  # fmt: skip
        for days_ago in logged_days:
            dose_logged(course, TODAY() - days_ago * DAY)
        return course

    every_day = low_dose_client(range(7))
    missed = low_dose_client([0, 3, 9])  # 9 days ago is outside the week
    higher = _course(world, stage="active")

    queue = selectors.prescriber_queue(actor=world.prescriber, today=TODAY())

    assert [(c.pk, c.logged_7d) for c in queue.low_dose] == [(missed.pk, 2)]
    assert every_day.pk not in {c.pk for c in queue.low_dose}
    assert higher.pk not in {c.pk for c in queue.low_dose}


def test_the_queue_is_for_prescribers(world):
    with pytest.raises(NotFound):
        selectors.prescriber_queue(actor=world.therapist)


def test_shipping_and_receipt_are_recorded_after_the_fill(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="active")  # fmt: skip
    fill = course.prescriptions.get().dispenses.get()
    today = clock.clinical_date(world.practice)
    with pytest.raises(ValidationError) as exc:
        services.dispense_ship(
            actor=world.prescriber, dispense_id=fill.pk, shipped_on=today,
            received_on=today - datetime.timedelta(days=1),
        )  # fmt: skip
    assert set(exc.value.message_dict) == {"received_on"}
    fill.refresh_from_db()
    assert fill.shipped_on is None  # nothing half-saved
    with pytest.raises(PermissionDenied):
        services.dispense_ship(actor=world.therapist, dispense_id=fill.pk, shipped_on=today)
    with pytest.raises(NotFound):
        services.dispense_ship(actor=world.other_admin, dispense_id=fill.pk, shipped_on=today)
    services.dispense_ship(
        actor=world.prescriber, dispense_id=fill.pk, shipped_on=today, tracking="1Z999",
        received_on=today,
    )  # fmt: skip
    fill.refresh_from_db()
    assert (fill.shipped_on, fill.tracking, fill.received_on) == (today, "1Z999", today)
    assert AuditEvent.objects.filter(action="prescription.ship", client_id=world.client.pk).exists()
