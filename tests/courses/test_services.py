"""Course services on the database: transitions, refusals that change nothing, overrides,
and a concurrent double submit that applies once."""

import datetime
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from kapflow.clinical.course import DoseDay
from kapflow.clinical.overrides import Justification
from kapflow.core import clock
from kapflow.core.errors import DomainError, GateBlocked, NotFound, PermissionDenied
from kapflow.courses import services
from kapflow.courses.models import Course, CourseEvent
from kapflow.patients.models import CareTeamMember, Companion
from kapflow.prescriptions.models import DoseUse
from tests.courses.factories import event, make_course

GOOD_DAY = DoseDay(bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True)


def _codes(exc):
    return sorted(r.code for r in exc.value.reasons)


def _ready(world, **fields):
    course = make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage="active", **fields
    )
    event(course, world.therapist, "risk_screen", positive=False)
    return course


def test_open_course_starts_at_inquiry_with_a_timeline_event(world):
    course = services.course_open(
        actor=world.therapist, client_id=world.unreferred.pk, pathway="low_dose", delivery="at_home"
    )
    assert (course.stage, course.therapist, course.pathway) == (
        "inquiry",
        world.therapist,
        "low_dose",
    )
    assert CourseEvent.objects.get(course=course).action == "open"


def test_second_open_course_for_a_client_is_refused(world):
    make_course(world.client, world.therapist)
    with pytest.raises(DomainError) as exc:
        services.course_open(
            actor=world.admin, client_id=world.client.pk, pathway="higher_dose",
            delivery="in_person", therapist_id=world.therapist.pk,
        )  # fmt: skip
    assert exc.value.code == "course.already_open"


def test_open_course_validates_fields_by_name(world):
    with pytest.raises(ValidationError) as exc:
        services.course_open(
            actor=world.admin, client_id=world.client.pk, pathway="x", delivery="y"
        )
    assert set(exc.value.message_dict) == {"pathway", "delivery", "therapist"}


def test_biller_cannot_open_a_course(world):
    with pytest.raises(PermissionDenied):
        services.course_open(
            actor=world.biller, client_id=world.client.pk, pathway="higher_dose",
            delivery="in_person",
        )  # fmt: skip


def test_refer_grants_the_partner_prescriber_access(world):
    course = make_course(world.unreferred, world.therapist, stage="intake")
    services.course_workflow_step(
        actor=world.therapist, course_id=course.pk, action="refer",
        prescriber_id=world.prescriber.pk,)  # fmt: skip
    course.refresh_from_db()
    assert course.stage == "referred" and course.prescriber == world.prescriber
    assert CareTeamMember.objects.filter(
        client=world.unreferred, membership=world.prescriber, ended_at__isnull=True
    ).exists()


def test_blocked_transition_changes_nothing(world):
    course = make_course(world.client, world.therapist, stage="preparation", consent=False)
    events = CourseEvent.objects.count()
    with pytest.raises(GateBlocked) as exc:
        services.course_transition(actor=world.therapist, course_id=course.pk, action="activate")
    assert _codes(exc) == ["consent.missing", "preparation.none", "prescription.missing"]
    course.refresh_from_db()
    assert course.stage == "preparation"
    assert CourseEvent.objects.count() == events


def test_prescriber_decides_and_therapist_may_not(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="medical_evaluation")  # fmt: skip
    # Asked for directly, the prescriber's steps are refused: they belong to the referral
    # workflow (kapflow.prescriptions), which checks its own permissions.
    for actor in (world.therapist, world.prescriber):
        with pytest.raises(DomainError) as refused:
            services.course_transition(actor=actor, course_id=course.pk, action="decide_eligible")
        assert refused.value.code == "course.use_referral"
    services.course_workflow_step(
        actor=world.prescriber, course_id=course.pk, action="decide_eligible",
        clearance_on=clock.clinical_date(world.practice), clearance_valid_days=90,)  # fmt: skip
    course.refresh_from_db()
    assert (course.stage, course.eligibility, course.clearance_valid_days) == (
        "eligible",
        "eligible",
        90,
    )
    last = CourseEvent.objects.filter(course=course).latest("id")
    assert (last.actor, last.from_stage, last.to_stage) == (
        world.prescriber.user,
        "medical_evaluation",
        "eligible",
    )
    # The decision records the clearance it signed on its timeline event.
    assert last.data == {
        "clearance_on": clock.clinical_date(world.practice).isoformat(),
        "valid_days": 90,
    }


def test_not_eligible_needs_a_reason_and_closes(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="medical_evaluation")  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        services.course_workflow_step(
            actor=world.prescriber, course_id=course.pk, action="decide_not_eligible")  # fmt: skip
    assert "reason" in exc.value.message_dict
    services.course_workflow_step(
        actor=world.prescriber, course_id=course.pk, action="decide_not_eligible",
        reason="Takes an MAOI; uncontrolled hypertension.")  # fmt: skip
    course.refresh_from_db()
    assert course.stage == "not_eligible" and course.closed_at is not None
    assert CourseEvent.objects.filter(course=course).latest("id").reason.startswith("Takes an MAOI")


def test_other_organisation_gets_not_found(world):
    course = make_course(world.client, world.therapist)
    with pytest.raises(NotFound):
        services.course_transition(
            actor=world.other_therapist, course_id=course.pk, action="start_intake"
        )


def test_dosing_uses_a_dose_when_every_gate_holds(world):
    course = _ready(world)
    services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY)
    use = DoseUse.objects.get(course=course)
    assert use.source == "session" and use.dosing_event.kind == "dosing"
    assert CourseEvent.objects.filter(course=course, kind="dosing").count() == 1


def test_dosing_lists_every_reason_and_changes_nothing(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active",
                         delivery="at_home", consent=False)  # fmt: skip
    with pytest.raises(GateBlocked) as exc:
        services.dosing_start(actor=world.therapist, course_id=course.pk, day=DoseDay())
    assert _codes(exc) == [
        "alcohol.not_attested", "companion.absent", "companion.unconfirmed", "consent.missing",
        "consent.telehealth_missing", "screen.missing", "vitals.bp_missing",
    ]  # fmt: skip
    assert not DoseUse.objects.filter(course=course).exists()


def test_high_blood_pressure_passes_only_under_the_prescribers_signed_decision(world):
    course = _ready(world)
    high = DoseDay(bp_systolic=170, bp_diastolic=95, alcohol_free_24h=True, driver_confirmed=True)
    reviewed = Justification(
        "prescriber_reviewed", "Known hypertension, 168/94 at last visit; reviewed, proceed."
    )
    with pytest.raises(GateBlocked) as exc:
        services.dosing_start(
            actor=world.therapist, course_id=course.pk, day=high,
            overrides={"vitals.bp_high": reviewed},
        )  # fmt: skip
    assert _codes(exc) == ["vitals.bp_high"]
    assert exc.value.explanations[0][0] == "prescriber"
    assert "prescriber" in exc.value.explanations[0][1]
    decision = services.gate_override_sign(
        actor=world.prescriber, course_id=course.pk, day=high,
        overrides={"vitals.bp_high": reviewed},
    )  # fmt: skip
    assert (decision.authority, decision.licence_type, decision.standing) == (
        "prescriber", "NP", True,
    )  # fmt: skip
    assert decision.facts_seen["day"]["bp_systolic"] == 170
    higher = DoseDay(bp_systolic=176, bp_diastolic=95, alcohol_free_24h=True, driver_confirmed=True)
    with pytest.raises(GateBlocked):  # a reading higher than the one the prescriber saw
        services.dosing_start(actor=world.therapist, course_id=course.pk, day=higher)
    event = services.dosing_start(actor=world.therapist, course_id=course.pk, day=high)
    assert event.overridden == ["vitals.bp_high"]
    override = CourseEvent.objects.get(course=course, kind="override")
    assert override.overridden == ["vitals.bp_high"]
    assert override.actor == world.prescriber.user and "Known hypertension" in override.reason


def test_a_recheck_under_the_limit_clears_high_blood_pressure_by_itself(world):
    course = _ready(world)
    high = DoseDay(bp_systolic=170, bp_diastolic=95, alcohol_free_24h=True, driver_confirmed=True)
    with pytest.raises(GateBlocked):
        services.dosing_start(actor=world.therapist, course_id=course.pk, day=high)
    services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY)
    assert not CourseEvent.objects.filter(course=course, kind="override").exists()


def test_hard_reasons_cannot_be_overridden(world):
    course = _ready(world, consent="withdrawn")
    with pytest.raises(GateBlocked) as exc:
        services.dosing_start(
            actor=world.therapist, course_id=course.pk, day=GOOD_DAY,
            overrides={"consent.withdrawn": Justification("verified_other_means", "x" * 40)},
        )  # fmt: skip
    assert _codes(exc) == ["consent.withdrawn"]
    assert exc.value.explanations[0][0] == "nobody"
    assert not CourseEvent.objects.filter(course=course, kind__in=["dosing", "override"]).exists()


def test_licence_in_client_state_is_a_hard_gate(world):
    world.client.state = "WA"
    world.client.save()
    course = _ready(world)
    with pytest.raises(GateBlocked) as exc:
        services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY)
    assert _codes(exc) == ["licence.state_mismatch", "licence.state_mismatch"]


def test_confirmed_companion_satisfies_at_home_gate(world):
    course = _ready(world, delivery="at_home")
    Companion.objects.filter(client=world.client).update(confirmed_at=timezone.now())
    day = DoseDay(bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, companion_present=True)
    dosing = services.dosing_start(actor=world.therapist, course_id=course.pk, day=day)
    assert (dosing.kind, dosing.course_id, dosing.overridden) == ("dosing", course.pk, [])
    assert DoseUse.objects.filter(dosing_event=dosing).count() == 1


def test_positive_screen_blocks_until_a_risk_assessment(world):
    course = _ready(world)
    services.course_record(
        actor=world.therapist, course_id=course.pk, kind="risk_screen", positive=True
    )
    with pytest.raises(GateBlocked) as exc:
        services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY)
    assert _codes(exc) == ["screen.suicide_risk_positive"]


def test_records_validate_and_refuse_by_stage(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="intake")
    with pytest.raises(GateBlocked) as exc:
        services.course_record(actor=world.therapist, course_id=course.pk, kind="preparation")
    assert _codes(exc) == ["stage.not_allowed"]
    with pytest.raises(ValidationError) as verr:
        services.course_record(actor=world.therapist, course_id=course.pk, kind="risk_screen")
    assert "positive" in verr.value.message_dict
    with pytest.raises(ValidationError) as verr:
        services.course_record(actor=world.prescriber, course_id=course.pk, kind="prescription")
    assert "kind" in verr.value.message_dict  # prescriptions are kapflow.prescriptions' now
    with pytest.raises(PermissionDenied):
        services.course_record(actor=world.therapist, course_id=course.pk, kind="followup")
    future = timezone.now() + datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as verr:
        services.course_record(
            actor=world.therapist, course_id=course.pk, kind="risk_screen", positive=False,
            occurred_at=future,
        )  # fmt: skip
    assert "occurred_at" in verr.value.message_dict


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submit_applies_once(world):
    course = make_course(world.client, world.therapist)
    results = []
    barrier = threading.Barrier(2)

    def submit():
        barrier.wait()
        try:
            services.course_transition(
                actor=world.therapist, course_id=course.pk, action="start_intake"
            )
            results.append("ok")
        except GateBlocked as exc:
            results.append([r.code for r in exc.reasons])
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, results)) == sorted(["ok", str(["stage.not_allowed"])])
    assert Course.objects.get(pk=course.pk).stage == "intake"
    assert CourseEvent.objects.filter(course=course, action="start_intake").count() == 1


def test_record_accepts_naive_times(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="eligible")  # fmt: skip
    naive = datetime.datetime.now() - datetime.timedelta(hours=1)
    recorded = services.course_record(
        actor=world.therapist, course_id=course.pk, kind="risk_screen", positive=False,
        occurred_at=naive,
    )  # fmt: skip
    stored = CourseEvent.objects.get(pk=recorded.pk)
    assert timezone.is_aware(stored.occurred_at)
    assert stored.occurred_at == timezone.make_aware(naive)


def test_eligibility_clearance_cannot_be_in_the_future(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="medical_evaluation")  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        services.course_workflow_step(
            actor=world.prescriber, course_id=course.pk, action="decide_eligible",
            clearance_on=clock.clinical_date(world.practice) + datetime.timedelta(days=3650),
            clearance_valid_days=9999,)  # fmt: skip
    assert set(exc.value.message_dict) == {"clearance_on", "clearance_valid_days"}


def test_wrong_stage_is_refused_before_inputs_are_checked(world):
    course = make_course(world.client, world.therapist, stage="inquiry")
    with pytest.raises(GateBlocked) as exc:
        services.course_workflow_step(
            actor=world.therapist, course_id=course.pk, action="refer", prescriber_id=999999
        )
    assert _codes(exc) == ["stage.not_allowed"]


def test_closing_a_course_withdraws_its_open_referral_and_ends_the_grant(world):
    from tests.prescriptions.factories import refer

    course = make_course(world.unreferred, world.therapist, prescriber=world.prescriber,
                         stage="referred")  # fmt: skip
    CareTeamMember.objects.create(
        organisation=course.organisation, client=world.unreferred, membership=world.prescriber,
        role="prescriber", added_by=world.therapist.user,
    )  # fmt: skip
    referral = refer(course, world.prescriber, status="sent")
    services.course_transition(
        actor=world.therapist, course_id=course.pk, action="withdraw",
        reason="Client moved abroad.",
    )  # fmt: skip
    referral.refresh_from_db()
    assert referral.status == "withdrawn" and "moved abroad" in referral.status_reason
    assert not CareTeamMember.objects.filter(
        client=world.unreferred, membership=world.prescriber, ended_at__isnull=True
    ).exists()
