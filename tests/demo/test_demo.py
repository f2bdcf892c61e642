"""`manage.py demo`: the demo's courses carry the prescribing records the screens read
(kapflow.prescriptions) and the consent signatures the gate reads (kapflow.consents),
consistent with the model, and loading twice adds nothing."""

import hashlib
import json
from collections import Counter
from datetime import timedelta
from io import StringIO

from django.apps import apps
from django.core.management import call_command
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.accounts.selectors import memberships_for_user
from kapflow.clinical import course as rules
from kapflow.clinical.icd10 import diagnosis_get
from kapflow.clinical.prescribing import dea_number_valid
from kapflow.consents.models import ConsentDocument, ConsentSignature, ConsentWithdrawal
from kapflow.consents.selectors import own_consents
from kapflow.core import clock
from kapflow.courses.models import Course, CourseEvent
from kapflow.courses.selectors import course_facts, gate_policy, with_facts
from kapflow.demo.plan import DEMO_COURSES, JORDAN_COURSE
from kapflow.encounters.models import DosingSession
from kapflow.prescriptions import selectors
from kapflow.prescriptions.models import (
    Dispense,
    DoseUse,
    EligibilityDecision,
    MedicalEvaluation,
    Prescription,
    Referral,
    RefillRequest,
)
from kapflow.prescriptions.services import evaluation_findings

PRESCRIBING = [
    Referral,
    MedicalEvaluation,
    EligibilityDecision,
    Prescription,
    Dispense,
    RefillRequest,
]
DOSING = {"active", "maintenance"}


def _counts() -> dict[str, int]:
    return {
        m.__name__: m.objects.count()
        for m in apps.get_models()
        if m._meta.app_label
        in {
            "accounts",
            "patients",
            "courses",
            "prescriptions",
            "assessments",
            "consents",
            "journal",
            "messaging",
            "alerts",
        }
    }


def _expected_session_doses_left() -> Counter:
    """(therapist, delivery, dosing sessions, doses left) of each open higher-dose course that
    doses, as DEMO_COURSES plans them: the doses dispensed are `doses`, else the planned six
    (or two more than the sessions held)."""
    specs = [s for s in [*DEMO_COURSES, JORDAN_COURSE] if s.stage in DOSING]
    return Counter(
        (
            s.therapist,
            s.delivery,
            len(s.dosings),
            (s.doses or max(6, len(s.dosings) + 2)) - len(s.dosings),
        )
        for s in specs
        if s.pathway == "higher_dose"
    )


def test_demo_prescribing_records_match_the_courses(db):
    call_command("demo", stdout=StringIO())
    loaded = _counts()
    call_command("demo", stdout=StringIO())
    assert _counts() == loaded  # idempotent

    now = timezone.now()
    therapist_index = {
        User.objects.get(email=email).pk: n
        for n, email in enumerate(
            ["therapist@harborlight.example", "therapist2@harborlight.example"]
        )
    }
    courses = list(with_facts(Course.objects.exclude(stage__in=rules.CLOSED_STAGES)).order_by("id"))
    sessions, no_doses = Counter(), []
    # The demo's sessions on the screen (kapflow.demo.sessions) add a dosing each to
    # courses the plan built; take them out to compare with the plan.
    on_screen = Counter(
        DosingSession.objects.filter(dose_event__isnull=False).values_list("course_id", flat=True)
    )
    assert sum(on_screen.values()) == 2
    for course in courses:
        facts = course_facts(course)
        if course.stage not in DOSING:
            continue
        assert facts.prescription_active
        if course.pathway == "higher_dose":
            extra = on_screen[course.pk]
            key = (
                therapist_index[course.therapist.user_id],
                course.delivery,
                facts.dosing_count - extra,
            )
            sessions[(*key, facts.doses_left + extra)] += 1
        else:
            assert facts.doses_left >= 2, course.pk  # low dose keeps a few days in hand
        if facts.doses_left == 0:
            no_doses.append(course)
            codes = {r.code for r in rules.blockers(facts, now=now, policy=gate_policy(course))}
            assert "prescription.no_doses_left" in codes
    assert sessions == _expected_session_doses_left()
    (blocked,) = no_doses
    assert RefillRequest.objects.filter(course=blocked, status="open").count() == 1
    # A preparation course without a prescription yet.
    assert any(c.stage == "preparation" and c.active_prescription_id is None for c in courses)

    # Every dosing session used exactly one dose; low-dose clients logged daily doses.
    dosings = CourseEvent.objects.filter(kind="dosing").count()
    assert DoseUse.objects.filter(source="session").values("dosing_event").distinct().count() == (
        dosings
    )
    assert DoseUse.objects.filter(source="session").count() == dosings
    logged = DoseUse.objects.filter(source="self_log")
    assert logged.exists()
    assert set(logged.values_list("course__pathway", flat=True)) == {"low_dose"}
    for event in CourseEvent.objects.filter(kind="prescription"):
        assert Prescription.objects.filter(
            pk=event.data["prescription_id"], course_id=event.course_id
        ).exists()

    # Records are valid as the model sees them, fills within the Schedule III limits.
    for model in PRESCRIBING:
        for row in model.objects.all():
            row.full_clean()
    for prescription in Prescription.objects.prefetch_related("dispenses"):
        assert dea_number_valid(prescription.dea_number)
        fills = list(prescription.dispenses.all())
        assert len(fills) <= prescription.refills + 1
        assert all(
            prescription.written_on <= f.dispensed_on <= prescription.expires_on for f in fills
        )

    # Referrals: one for every course past "refer", coded diagnoses, consent recorded.
    referred = Course.objects.filter(events__action="refer").distinct().count()
    assert Referral.objects.count() == referred
    for referral in Referral.objects.all():
        assert referral.consent_to_share and referral.consent_note
        assert referral.diagnoses
        for d in referral.diagnoses:
            assert diagnosis_get(d["code"]).description == d["description"]

    # Decisions: findings as screened, with their digest; eligible ones found nothing missing
    # or excluding; the hypertension course's evaluation lists an MAOI.
    for decision in EligibilityDecision.objects.select_related("course"):
        payload = json.dumps(decision.findings, sort_keys=True).encode()
        assert hashlib.sha256(payload).hexdigest() == decision.findings_digest
        assert decision.course.eligibility == decision.decision
        severities = {f["severity"] for f in decision.findings}
        if decision.decision == "eligible":
            assert not severities & {"missing", "exclude"}
    not_eligible = EligibilityDecision.objects.filter(decision="not_eligible")
    assert not_eligible.count() == sum(1 for s in DEMO_COURSES if s.stage == "not_eligible")
    hypertension = not_eligible.get(reason__contains="168/104")
    codes = {f["code"] for f in hypertension.findings}
    assert {"interaction.maoi", "contra.uncontrolled_hypertension"} <= codes
    assert (hypertension.evaluation.bp_systolic, hypertension.evaluation.bp_diastolic) == (168, 104)

    # Evaluations in progress show what is still missing.
    for evaluation in MedicalEvaluation.objects.filter(
        course__stage="medical_evaluation"
    ).select_related("referral", "course__client"):
        found = evaluation_findings(
            evaluation, on_date=clock.clinical_date(evaluation.course.organisation)
        )
        assert any(f.code.startswith("missing.") for f in found)

    # The prescriber's queue has work in every section the demo feeds.
    (actor,) = memberships_for_user(User.objects.get(email="prescriber@northstar.example"))
    queue = selectors.prescriber_queue(actor=actor)
    assert queue.new_referrals and queue.evaluations and queue.refills and queue.low_dose
    assert blocked in [r.course for r in queue.refills]


def test_demo_consents_feed_the_gate(db):
    call_command("demo", stdout=StringIO())
    loaded = _counts()
    call_command("demo", stdout=StringIO())
    assert _counts() == loaded  # idempotent

    # Four documents at version 1, the KAP consent also at version 2, published recently.
    versions = sorted(ConsentDocument.objects.values_list("kind", "version"))
    assert versions == [
        ("financial_policy", 1), ("kap", 1), ("kap", 2), ("release_of_information", 1),
        ("telehealth", 1),
    ]  # fmt: skip
    v2 = ConsentDocument.objects.get(kind="kap", version=2)
    assert v2.change_summary and timezone.now() - v2.published_at < timedelta(days=14)
    for document in ConsentDocument.objects.all():
        document.full_clean()
    kap_v1 = ConsentDocument.objects.get(kind="kap", version=1).body
    for element in ("off label", "esketamine", "dissociation", "bladder", "pregnan",
                    "911", "988", "withdraw", "touch"):  # fmt: skip
        assert element in kap_v1.lower() or element in kap_v1, element
    for row in ConsentSignature.objects.select_related("document"):
        row.full_clean()
        assert row.content_sha256 == row.document.content_sha256
        assert row.signed_on == clock.clinical_date(row.organisation, row.signed_at)

    # Open courses past consent: signed, except Jordan's (outdated) and the one whose
    # client withdrew; at home, the telehealth consent too.
    now = timezone.now()
    open_courses = with_facts(Course.objects.exclude(stage__in=rules.CLOSED_STAGES))
    by_code = Counter()
    jordan = User.objects.get(email="client@harborlight.example")
    for course in open_courses:
        facts = course_facts(course)
        codes = {r.code for r in rules.blockers(facts, now=now, policy=gate_policy(course))}
        by_code.update(c for c in codes if c.startswith("consent."))
        if course.stage in {"consented", "preparation", "active", "maintenance"}:
            if course.client.user_id == jordan.pk:
                assert facts.consent_outdated and not facts.consent_signed
            elif facts.consent_withdrawn:
                assert course.stage == "active"
            else:
                assert facts.consent_signed, course.pk
            if course.delivery == "at_home":
                assert facts.telehealth_consent_signed, course.pk
    assert by_code["consent.outdated"] == 1
    assert by_code["consent.withdrawn"] == 1
    # Eligible courses: one client has signed (the therapist can confirm), one has not.
    eligible = [
        rules.transition_reasons(rules.Action.RECORD_CONSENT, course_facts(c), now=now)
        for c in open_courses
        if c.stage == "eligible"
    ]
    assert sorted(len(r) for r in eligible) == [0, 2]

    # The closed course whose client withdrew consent, and the active one, are withdrawn on
    # the client's behalf with a reason.
    assert ConsentWithdrawal.objects.count() == sum(
        1 for s in DEMO_COURSES if s.consent_withdrawn is not None
    )
    assert all(w.on_behalf and w.reason for w in ConsentWithdrawal.objects.all())

    # The client sign-in has the new KAP consent to sign.
    (actor,) = memberships_for_user(jordan)
    statuses = {s.kind: s for s in own_consents(actor=actor).statuses}
    assert statuses["kap"].state == "outdated" and statuses["kap"].can_sign
    assert {k: s.state for k, s in statuses.items() if k != "kap"} == {
        "telehealth": "signed", "release_of_information": "signed",
        "financial_policy": "signed",
    }  # fmt: skip


def test_demo_portal_records(db):
    from kapflow.alerts.models import Alert
    from kapflow.clinical import reactions
    from kapflow.journal.models import JournalEntry
    from kapflow.messaging.models import Message, MessageReceipt, Thread
    from kapflow.patients.models import CompanionCheckin

    call_command("demo", stdout=StringIO())
    loaded = _counts()
    call_command("demo", stdout=StringIO())
    assert _counts() == loaded  # idempotent

    jordan = User.objects.get(email="client@harborlight.example")
    therapist = User.objects.get(email="therapist@harborlight.example")
    prescriber = User.objects.get(email="prescriber@northstar.example")
    companion = User.objects.get(email="companion@harborlight.example")
    course = Course.objects.get(client__user=jordan, closed_at__isnull=True)
    latest = CourseEvent.objects.filter(course=course, kind="dosing").latest("occurred_at")

    # Journal: Jordan's intention before and integration after the latest session (shared),
    # a private reflection; one shared integration entry on three other active courses.
    own = JournalEntry.objects.filter(client__user=jordan, course=course)
    assert sorted(own.values_list("kind", "shared")) == [
        ("integration", True), ("intention", True), ("reflection", False),
    ]  # fmt: skip
    assert own.get(kind="intention").created_at < latest.occurred_at
    assert own.get(kind="integration").created_at > latest.occurred_at
    others = JournalEntry.objects.exclude(client__user=jordan)
    assert others.count() == 3
    assert set(others.values_list("kind", "shared", "course__stage")) == {
        ("integration", True, "active")
    }
    for entry in JournalEntry.objects.all():
        entry.full_clean()

    # Messaging: Jordan's care thread with the care team, one message read; a partner thread.
    care = Thread.objects.get(kind="care", client__user=jordan)
    assert {p.user_id for p in care.participants.all()} >= {jordan.pk, therapist.pk}
    authors = list(care.messages.order_by("created_at").values_list("author_id", flat=True))
    assert authors == [jordan.pk, therapist.pk, therapist.pk]
    assert MessageReceipt.objects.filter(message__thread=care).count() == 1
    partner = Thread.objects.get(kind="partner")
    assert {p.user_id for p in partner.participants.all()} == {therapist.pk, prescriber.pk}
    assert partner.messages.count() == 2
    assert Message.objects.count() == 5

    # Alerts: an open routine reaction report and an acknowledged "need help now".
    reaction = Alert.objects.get(kind="reaction")
    expected = reactions.reaction_triage(
        reactions.ReactionAnswers(symptoms=frozenset({"nausea", "dizziness"}))
    )
    assert reaction.severity == expected.severity == "routine"
    assert reaction.acknowledged_at is None and reaction.course.delivery == "at_home"
    assert reaction.raised_by_id == reaction.client.user_id
    help_now = Alert.objects.get(kind="help_now")
    assert help_now.raised_by_id == companion.pk and help_now.severity == "emergency"
    assert help_now.acknowledged_at is not None and help_now.raised_at < timezone.now()
    for alert in Alert.objects.all():
        alert.full_clean()

    # Companion check-ins during the latest session: settled, then restless with vitals.
    checkins = CompanionCheckin.objects.filter(course=course).order_by("recorded_at")
    assert [c.state for c in checkins] == ["settled", "restless"]
    assert (checkins[1].bp_systolic, checkins[1].bp_diastolic, checkins[1].heart_rate) == (
        138, 86, 88,
    )  # fmt: skip
    assert all(c.recorded_at > latest.occurred_at for c in checkins)


def test_the_demo_at_home_session_is_its_appointment(db):
    """The client sign-in's at-home session of today is opened on its dosing appointment (the
    session room's), so the calendar and the session screen show one encounter (decision
    0054): the appointment is checked in, and the screen names it."""
    from kapflow.scheduling.models import Appointment

    call_command("demo", stdout=StringIO())
    jordan = User.objects.get(email="client@harborlight.example")
    session = DosingSession.objects.get(client__user=jordan, state="checklist")
    assert session.delivery == "at_home" and session.appointment_id is not None
    appointment = Appointment.objects.get(pk=session.appointment_id)
    assert (appointment.kind, appointment.telehealth) == ("dosing", True)
    assert appointment.course_id == session.course_id
    assert appointment.status == "checked_in"
    # No other dosing appointment of that course stands for this session: none is checked
    # in, and none starts within the session's day around it (later visits may be booked).
    others = Appointment.objects.filter(course=session.course, kind="dosing").exclude(
        pk=appointment.pk
    )
    assert not others.filter(status="checked_in").exists()
    assert not others.filter(
        starts_at__gt=appointment.starts_at - timedelta(hours=6),
        starts_at__lt=appointment.starts_at + timedelta(hours=6),
    ).exists()
