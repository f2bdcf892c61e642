"""Assessments: assign, draft, submit with item-named errors, immutability by correction,
and the safety path into the urgent task and the dosing gate."""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from kapflow.assessments import services
from kapflow.assessments.models import Response, Source, UrgentTask
from kapflow.clinical.course import DoseDay
from kapflow.core.errors import DomainError, GateBlocked, NotFound, PermissionDenied
from kapflow.courses import services as course_services
from kapflow.courses.models import CourseEvent
from tests.courses.factories import make_course
from tests.prescriptions.factories import shared_scores

PHQ9_CLEAN = {f"phq9_{i}": 1 for i in range(1, 9)} | {"phq9_9": 0}  # total 8, mild
GOOD_DAY = DoseDay(bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True)

# A complete structured risk assessment (decision 0029); the decision and rationale vary.
ASSESSED = {
    "risk_level": "low", "protective_factors_reviewed": True, "safety_plan_reviewed": True,
    "means_restriction_discussed": True,
}  # fmt: skip


@pytest.fixture
def course(world):
    return make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")


def _assign(world, instrument="phq9"):
    return services.assignment_create(
        actor=world.therapist, client_id=world.client.pk, instrument=instrument
    )


def _submit(world, assignment, answers, submit=True):
    return services.response_save(
        assignment_id=assignment.pk, answers=answers, submit=submit, source=Source.PORTAL,
        actor=world.client_member,
    )  # fmt: skip


def test_client_saves_a_draft_then_submits_and_it_is_scored(world, course):
    assignment = _assign(world)
    draft = _submit(world, assignment, {"phq9_1": 2}, submit=False)
    assert draft.submitted_at is None and draft.answers == {"phq9_1": 2}
    done = _submit(world, assignment, PHQ9_CLEAN)
    assert done.pk == draft.pk
    assert (done.total, done.band, done.safety_flags) == (8, "mild", [])
    assignment.refresh_from_db()
    assert assignment.completed_at is not None
    screen = CourseEvent.objects.get(course=course, kind="risk_screen")
    assert screen.positive is False and screen.actor == world.client_member.user


def test_submission_names_every_missing_or_bad_item_and_saves_nothing(world, course):
    assignment = _assign(world)
    with pytest.raises(ValidationError) as exc:
        _submit(world, assignment, {"phq9_1": 7, "phq9_2": 1})
    errors = exc.value.message_dict
    assert "phq9_1" in errors and {f"phq9_{i}" for i in range(3, 10)} <= set(errors)
    assert not Response.objects.filter(submitted_at__isnull=False).exists()
    assert not CourseEvent.objects.filter(kind="risk_screen").exists()


def test_unknown_item_is_named(world, course):
    with pytest.raises(ValidationError) as exc:
        _submit(world, _assign(world), {"phq9_42": 1})
    assert "phq9_42" in exc.value.message_dict


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_positive_item_9_raises_urgent_task_blocks_dosing_and_mails_without_phi(
    world, course, item9, django_capture_on_commit_callbacks
):
    from tests.courses.factories import event

    event(course, world.therapist, "preparation")
    with django_capture_on_commit_callbacks(execute=True):
        response = _submit(world, _assign(world), PHQ9_CLEAN | {"phq9_9": item9})
    task = UrgentTask.objects.get(response=response)
    assert task.codes == ["phq9.item9_positive"] and task.resolved_at is None
    assert CourseEvent.objects.get(course=course, kind="risk_screen").positive is True
    with pytest.raises(GateBlocked) as exc:
        course_services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY)
    assert [r.code for r in exc.value.reasons] == ["screen.suicide_risk_positive"]
    bodies = " ".join(m.body + m.subject for m in mail.outbox)
    assert world.therapist.user.email in [m.to[0] for m in mail.outbox]
    assert world.client.legal_last_name not in bodies and "phq9" not in bodies.lower()


def test_the_urgent_notice_skips_a_deactivated_clinician(
    world, course, django_capture_on_commit_callbacks
):
    """Every active person on the care team is told; a membership deactivated since keeps
    its grant row (history) but gets no e-mail."""
    from tests.courses.factories import event

    world.prescriber.is_active = False
    world.prescriber.save(update_fields=["is_active"])
    event(course, world.therapist, "preparation")
    with django_capture_on_commit_callbacks(execute=True):
        _submit(world, _assign(world), PHQ9_CLEAN | {"phq9_9": 1})
    recipients = {m.to[0] for m in mail.outbox}
    assert world.therapist.user.email in recipients
    assert world.prescriber.user.email not in recipients


def test_risk_assessment_with_proceed_clears_the_gate_and_hold_does_not(world, course):
    from tests.courses.factories import event

    event(course, world.therapist, "preparation")
    response = _submit(world, _assign(world), PHQ9_CLEAN | {"phq9_9": 1})
    task = UrgentTask.objects.get(response=response)
    with pytest.raises(ValidationError) as exc:
        services.urgent_task_resolve(actor=world.therapist, task_id=task.pk, decision="x", note="")
    assert set(exc.value.message_dict) == {"decision", "note", "risk_level"}
    with pytest.raises(NotFound):
        services.urgent_task_resolve(
            actor=world.therapist2, task_id=task.pk, decision="proceed", note="n", **ASSESSED
        )
    # A free-text dismissal (no risk level, nothing reviewed) closes nothing.
    with pytest.raises(ValidationError):
        services.urgent_task_resolve(
            actor=world.therapist, task_id=task.pk, decision="proceed",
            note="Passive thoughts only, no plan or intent; safety plan reviewed; C-SSRS low.",
        )  # fmt: skip
    task.refresh_from_db()
    assert task.resolved_at is None
    services.urgent_task_resolve(
        actor=world.therapist, task_id=task.pk, decision="proceed",
        note="Passive thoughts only, no plan or intent; safety plan reviewed; C-SSRS low.",
        **ASSESSED,
    )  # fmt: skip
    course_services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY)
    task.refresh_from_db()
    assert task.resolved_by == world.therapist and task.decision == "proceed"


def test_hold_decision_keeps_dosing_blocked(world, course):
    response = _submit(world, _assign(world), PHQ9_CLEAN | {"phq9_9": 2})
    task = UrgentTask.objects.get(response=response)
    services.urgent_task_resolve(
        actor=world.therapist, task_id=task.pk, decision="hold",
        note="Safety plan reviewed; hold dosing.", **ASSESSED | {"risk_level": "high"},
    )  # fmt: skip
    with pytest.raises(GateBlocked) as exc:
        course_services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY)
    assert "screen.suicide_risk_positive" in [r.code for r in exc.value.reasons]


def test_submitted_response_is_immutable_and_corrections_reference_it(world, course):
    assignment = _assign(world)
    original = _submit(world, assignment, PHQ9_CLEAN)
    with pytest.raises(DomainError):
        _submit(world, assignment, PHQ9_CLEAN | {"phq9_1": 3})
    with pytest.raises(ValidationError) as exc:
        services.response_correct(actor=world.therapist, response_id=original.pk, reason="",
                                  answers=PHQ9_CLEAN)  # fmt: skip
    assert "reason" in exc.value.message_dict
    fixed = services.response_correct(
        actor=world.therapist, response_id=original.pk, reason="Client misread item 1.",
        answers=PHQ9_CLEAN | {"phq9_1": 3},
    )  # fmt: skip
    original.refresh_from_db()
    assert (original.total, fixed.total, fixed.corrects) == (8, 10, original)
    with pytest.raises(DomainError):
        services.response_correct(actor=world.therapist, response_id=original.pk, reason="again",
                                  answers=PHQ9_CLEAN)  # fmt: skip


def test_staff_enter_total_only_instrument(world, course):
    response = services.response_enter(
        actor=world.therapist, client_id=world.client.pk, instrument="cadss", total=25
    )
    assert response.total == 25 and response.answers == {} and response.source == "staff"
    with pytest.raises(ValidationError) as exc:
        services.response_enter(
            actor=world.therapist, client_id=world.client.pk, instrument="cadss", total=400
        )
    assert "total" in exc.value.message_dict


def test_cssrs_high_risk_raises_a_high_urgent_task(world, course):
    answers = {"q1": 1, "q2": 1, "q3": 1, "q4": 1, "q5": 0, "q6": 0}
    response = services.response_enter(
        actor=world.therapist, client_id=world.client.pk, instrument="cssrs", answers=answers
    )
    assert UrgentTask.objects.get(response=response).level == "high"


@pytest.mark.parametrize("role", ["biller", "therapist2", "other_therapist", "companion"])
def test_only_the_care_team_clinicians_assign(world, role):
    with pytest.raises((NotFound, PermissionDenied)):
        services.assignment_create(
            actor=getattr(world, role), client_id=world.client.pk, instrument="phq9"
        )


def test_the_teams_prescriber_may_assign(world):
    shared_scores(world.client, world.therapist, world.prescriber)
    assignment = services.assignment_create(
        actor=world.prescriber, client_id=world.client.pk, instrument="gad7"
    )
    assert assignment.assigned_by == world.prescriber


def test_another_client_cannot_answer_this_assignment(world, course):
    from kapflow.accounts.models import Role
    from tests.accounts.factories import member

    stranger = member(world.practice, Role.CLIENT)
    with pytest.raises(NotFound):
        services.response_save(assignment_id=_assign(world).pk, answers=PHQ9_CLEAN, submit=True,
                               source=Source.PORTAL, actor=stranger)  # fmt: skip


def test_one_time_link_works_once_and_carries_no_phi(
    world, course, client, django_capture_on_commit_callbacks
):
    assignment = _assign(world)
    with django_capture_on_commit_callbacks(execute=True):
        services.link_send(actor=world.therapist, assignment_id=assignment.pk)
    body = mail.outbox[-1].body
    url = next(line for line in body.splitlines() if "/q/" in line).split("8000", 1)[-1].strip()
    page = client.get(url)
    text = page.content.decode()
    assert page.status_code == 200
    assert world.client.legal_last_name not in text and world.client.legal_first_name not in text
    data = {k: str(v) for k, v in PHQ9_CLEAN.items()} | {"submit": "1"}
    assert client.post(url, data).status_code == 200
    assert Response.objects.get(assignment=assignment).source == "link"
    assert client.get(url).status_code == 404


def test_kap_schedule_asks_for_baseline_then_after_dosings_once_each(world, course):
    from datetime import timedelta

    from django.utils import timezone

    from kapflow.assessments.models import Assignment
    from tests.courses.factories import event

    plan = services.plan_create(actor=world.therapist, client_id=world.client.pk, instrument="phq9")
    assert list(Assignment.objects.filter(plan=plan).values_list("occasion", flat=True)) == [
        "baseline"
    ]
    with pytest.raises(DomainError):
        services.plan_create(actor=world.therapist, client_id=world.client.pk, instrument="phq9")
    plan.created_at = timezone.now() - timedelta(days=10)  # the plan ran before the dosing
    plan.save()
    event(course, world.therapist, "dosing", at=timezone.now() - timedelta(days=8))
    assert services.measurement_scan(organisation_id=world.practice.pk) == 2
    assert services.measurement_scan(organisation_id=world.practice.pk) == 0
    assert sorted(Assignment.objects.filter(plan=plan).values_list("occasion", flat=True)) == [
        "baseline", "pre:2", "week:1",
    ]  # fmt: skip


def test_schedule_needs_an_open_course(world):
    with pytest.raises(DomainError) as exc:
        services.plan_create(actor=world.therapist, client_id=world.client.pk, instrument="phq9")
    assert exc.value.code == "course.none"


@pytest.mark.skipif(
    __import__("django.db").db.connection.vendor != "postgresql",
    reason="the trigger is PostgreSQL-only",
)
def test_postgres_refuses_changing_a_submitted_response(world, course):
    from django.db import DatabaseError, transaction

    response = _submit(world, _assign(world), PHQ9_CLEAN)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        Response.objects.filter(pk=response.pk).update(total=0)
    response.refresh_from_db()
    assert response.total == 8
    draft = _submit(world, _assign(world, "gad7"), {"gad7_1": 1}, submit=False)
    Response.objects.filter(pk=draft.pk).update(answers={"gad7_1": 2})  # drafts stay editable


def test_a_correction_never_clears_a_positive_screen_or_doubles_the_task(world, course):
    from tests.courses.factories import event

    event(course, world.therapist, "preparation")
    positive = _submit(world, _assign(world), PHQ9_CLEAN | {"phq9_9": 2})
    services.response_correct(
        actor=world.therapist, response_id=positive.pk, reason="Misread", answers=PHQ9_CLEAN
    )
    with pytest.raises(GateBlocked) as exc:
        course_services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY)
    assert "screen.suicide_risk_positive" in [r.code for r in exc.value.reasons]
    again = _submit(world, _assign(world), PHQ9_CLEAN | {"phq9_9": 1})
    services.response_correct(
        actor=world.therapist, response_id=again.pk, reason="Item 9 was 3",
        answers=PHQ9_CLEAN | {"phq9_9": 3},
    )  # fmt: skip
    assert UrgentTask.objects.filter(resolved_at__isnull=True).count() == 2  # one per screen


def test_the_teams_prescriber_may_record_proceed(world, course):
    response = _submit(world, _assign(world), PHQ9_CLEAN | {"phq9_9": 1})
    task = UrgentTask.objects.get(response=response)
    services.urgent_task_resolve(
        actor=world.prescriber, task_id=task.pk, decision="proceed",
        note="Assessed by phone; no plan or intent.", **ASSESSED,
    )  # fmt: skip
    assert (
        CourseEvent.objects.filter(course=course, kind="risk_screen")
        .latest("occurred_at", "id")
        .positive
        is False
    )


@pytest.mark.parametrize("bad", [True, 2.7, "two", [1]])
def test_answers_that_are_not_whole_numbers_are_named(world, course, bad):
    with pytest.raises(ValidationError) as exc:
        _submit(world, _assign(world), PHQ9_CLEAN | {"phq9_3": bad})
    assert "phq9_3" in exc.value.message_dict


def test_biller_gets_not_found_from_assessment_writes(world):
    with pytest.raises(NotFound):
        services.response_enter(actor=world.biller, client_id=world.client.pk, instrument="cadss",
                                total=3)  # fmt: skip


# ---- a positive screen stays positive until a "proceed" assessment (decision 0029) -------

T0 = datetime.datetime(2027, 3, 10, 18, 0, tzinfo=datetime.UTC)  # 10:00 in the practice
WHY_LOWER = "Collateral from her partner; means removed; no intent on careful interview."
NOTE = "Reviewed in person with the client; safety plan updated and shared."


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


def _blocked(world, course):
    with pytest.raises(GateBlocked) as exc:
        course_services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY)
    assert "screen.suicide_risk_positive" in [r.code for r in exc.value.reasons]


def _typed(world, course, positive):
    return course_services.course_record(
        actor=world.therapist, course_id=course.pk, kind="risk_screen", positive=positive,
        note="C-SSRS Q4 yes" if positive else "fine today",
    )  # fmt: skip


def test_a_typed_positive_screen_raises_a_high_task_and_no_negative_screen_clears_it(
    world, course, frozen
):
    event = _typed(world, course, True)
    task = UrgentTask.objects.get(course=course)
    assert (task.screen_event, task.response, task.level) == (event, None, "high")
    assert task.resolved_at is None
    _blocked(world, course)
    # Neither a typed negative screen nor a scored one clears the positive screen.
    _typed(world, course, False)
    _blocked(world, course)
    services.response_enter(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9", answers=PHQ9_CLEAN
    )
    _blocked(world, course)
    # Nobody scored it: it is high, so no "proceed" on the day it was raised.
    with pytest.raises(ValidationError) as exc:
        services.urgent_task_resolve(
            actor=world.therapist, task_id=task.pk, decision="proceed", note=NOTE,
            downgrade_rationale=WHY_LOWER, **ASSESSED,
        )  # fmt: skip
    assert "decision" in exc.value.message_dict
    frozen.move_to(T0 + datetime.timedelta(days=1), tick=False)
    services.urgent_task_resolve(
        actor=world.therapist, task_id=task.pk, decision="proceed", note=NOTE,
        downgrade_rationale=WHY_LOWER, **ASSESSED,
    )  # fmt: skip
    assert (
        course_services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY).kind
        == "dosing"
    )


def test_a_screen_typed_as_an_assessment_is_still_a_screen(world, course, frozen):
    _typed(world, course, True)
    course_services.course_record(
        actor=world.therapist, course_id=course.pk, kind="risk_screen", positive=False,
        data={"clinician_risk_assessment": True},
    )  # fmt: skip
    _blocked(world, course)


@pytest.mark.parametrize("decision", ["hold", "higher_care"])
def test_hold_or_higher_care_is_lifted_only_by_a_proceed_reassessment(
    world, course, frozen, decision
):
    response = _submit(world, _assign(world), PHQ9_CLEAN | {"phq9_9": 1})
    task = UrgentTask.objects.get(response=response)
    services.urgent_task_resolve(
        actor=world.therapist, task_id=task.pk, decision=decision, note=NOTE,
        **ASSESSED | {"risk_level": "moderate"},
    )  # fmt: skip
    _blocked(world, course)
    _typed(world, course, False)
    _blocked(world, course)
    services.response_enter(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9", answers=PHQ9_CLEAN
    )
    _blocked(world, course)
    with pytest.raises(DomainError):  # the task is closed: a new assessment, not a second one
        services.urgent_task_resolve(
            actor=world.therapist, task_id=task.pk, decision="proceed", note=NOTE, **ASSESSED
        )
    again = services.urgent_task_reassess(
        actor=world.therapist, task_id=task.pk, decision="proceed", note=NOTE, **ASSESSED
    )
    task.refresh_from_db()
    assert task.decision == decision  # the first decision stays as it was signed
    assert (again.reassesses, again.decision, again.resolved_by) == (
        task,
        "proceed",
        world.therapist,
    )
    assert (
        course_services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY).kind
        == "dosing"
    )
    with pytest.raises(DomainError):
        services.urgent_task_reassess(
            actor=world.therapist, task_id=task.pk, decision="hold", note=NOTE, **ASSESSED
        )


def test_a_reassessment_of_an_old_hold_does_not_clear_a_newer_hold(world, course, frozen):
    first = UrgentTask.objects.get(
        response=_submit(world, _assign(world), PHQ9_CLEAN | {"phq9_9": 1})
    )
    services.urgent_task_resolve(
        actor=world.therapist, task_id=first.pk, decision="hold", note=NOTE,
        **ASSESSED | {"risk_level": "moderate"},
    )  # fmt: skip
    _typed(world, course, True)
    second = UrgentTask.objects.get(screen_event__isnull=False)
    services.urgent_task_resolve(
        actor=world.therapist, task_id=second.pk, decision="hold", note=NOTE,
        **ASSESSED | {"risk_level": "high"},
    )  # fmt: skip
    services.urgent_task_reassess(
        actor=world.therapist, task_id=first.pk, decision="proceed", note=NOTE, **ASSESSED
    )
    _blocked(world, course)


def test_a_cssrs_high_task_is_not_cleared_the_same_clinical_day_even_assessed_low(
    world, course, frozen
):
    answers = {"q1": 1, "q2": 1, "q3": 1, "q4": 1, "q5": 1, "q6": 0}
    response = services.response_enter(
        actor=world.therapist, client_id=world.client.pk, instrument="cssrs", answers=answers
    )
    task = UrgentTask.objects.get(response=response)
    assert task.level == "high"
    with pytest.raises(ValidationError) as exc:  # the reviewer's reproduction
        services.urgent_task_resolve(
            actor=world.therapist, task_id=task.pk, decision="proceed", note=NOTE, **ASSESSED
        )
    assert {"decision", "downgrade_rationale"} <= set(exc.value.message_dict)
    with pytest.raises(ValidationError) as exc:  # a reason for "low" does not make it today
        services.urgent_task_resolve(
            actor=world.therapist, task_id=task.pk, decision="proceed", note=NOTE,
            downgrade_rationale=WHY_LOWER, **ASSESSED,
        )  # fmt: skip
    assert set(exc.value.message_dict) == {"decision"}
    # 23:30 in the practice is still the same clinical date (07:30 UTC the next day).
    frozen.move_to(T0 + datetime.timedelta(hours=13, minutes=30), tick=False)
    with pytest.raises(ValidationError):
        services.urgent_task_resolve(
            actor=world.therapist, task_id=task.pk, decision="proceed", note=NOTE,
            downgrade_rationale=WHY_LOWER, **ASSESSED,
        )  # fmt: skip
    task.refresh_from_db()
    assert task.resolved_at is None
    _blocked(world, course)
    services.urgent_task_resolve(
        actor=world.therapist, task_id=task.pk, decision="hold", note=NOTE,
        **ASSESSED | {"risk_level": "high"},
    )  # fmt: skip
    # The next clinical day a new assessment may proceed at low, with the reason for it.
    frozen.move_to(T0 + datetime.timedelta(days=1), tick=False)
    with pytest.raises(ValidationError) as exc:
        services.urgent_task_reassess(
            actor=world.therapist, task_id=task.pk, decision="proceed", note=NOTE, **ASSESSED
        )
    assert set(exc.value.message_dict) == {"downgrade_rationale"}
    again = services.urgent_task_reassess(
        actor=world.therapist, task_id=task.pk, decision="proceed", note=NOTE,
        downgrade_rationale=WHY_LOWER, **ASSESSED,
    )  # fmt: skip
    assert again.downgrade_rationale == WHY_LOWER
    assert (
        course_services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY).kind
        == "dosing"
    )
