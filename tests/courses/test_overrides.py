"""Override authority on the database (decision 0029): who may sign an override of each gate
reason, the one-line override refused with every reason and why, the risk assessment that
clears a positive screen, a practice's stricter settings, and the practice's overrides report
with its pinned query count."""

import datetime
import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.accounts import services as account_services
from kapflow.assessments import services as assessment_services
from kapflow.assessments.models import UrgentTask
from kapflow.audit.models import AuditEvent
from kapflow.clinical.course import DoseDay, dosing_reasons
from kapflow.clinical.overrides import Justification
from kapflow.core import clock
from kapflow.core.errors import GateBlocked, NotFound
from kapflow.courses import services
from kapflow.courses.models import Course, CourseEvent, OverrideDecision
from kapflow.courses.selectors import course_facts, gate_policy, with_facts
from kapflow.prescriptions.models import DoseUse
from tests.conftest import sign_in
from tests.courses.factories import event, make_course
from tests.patients.factories import on_team

GOOD_DAY = DoseDay(bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True)
PHQ9_CLEAN = {f"phq9_{i}": 0 for i in range(1, 10)} | {"phq9_difficulty": 0}
RATIONALE = "Checked in person with the client at 09:10; details in the note."
CATEGORY = {
    "driver.unconfirmed": "verified_other_means",
    "companion.unconfirmed": "verified_other_means",
    "preparation.none": "equivalent_completed",
    "vitals.bp_high": "prescriber_reviewed",
    "vitals.bp_missing": "prescriber_reviewed",
    "clearance.expired": "renewal_in_progress",
}
OWNER = {
    "driver.unconfirmed": "therapist",
    "companion.unconfirmed": "therapist",
    "preparation.none": "therapist",
    "vitals.bp_high": "prescriber",
    "vitals.bp_missing": "prescriber",
    "clearance.expired": "prescriber",
}


def _ready(world, **fields):
    course = make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage="active", **fields
    )
    event(course, world.therapist, "risk_screen", positive=False)
    return course


def _with_reason(world, code):
    """A course whose gate gives `code` (with the day returned), and nothing else."""
    day = GOOD_DAY
    if code in {"companion.unconfirmed", "companion.absent"}:
        course = _ready(world, delivery="at_home")
        day = DoseDay(bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True,
                      companion_present=code == "companion.unconfirmed")  # fmt: skip
        if code == "companion.absent":
            world.client.companions.update(confirmed_at=clock.now())
        return course, day
    course = _ready(world)
    if code == "driver.unconfirmed":
        day = DoseDay(bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True)
    elif code == "vitals.bp_high":
        day = DoseDay(bp_systolic=170, bp_diastolic=95, alcohol_free_24h=True,
                      driver_confirmed=True)  # fmt: skip
    elif code == "vitals.bp_missing":
        day = DoseDay(alcohol_free_24h=True, driver_confirmed=True)
    elif code == "alcohol.not_attested":
        day = DoseDay(bp_systolic=120, bp_diastolic=80, driver_confirmed=True)
    elif code == "clearance.expired":
        course.clearance_on = clock.clinical_date(course.organisation) - datetime.timedelta(200)
        course.save()
    elif code == "preparation.none":
        CourseEvent.objects.filter(course=course, kind="preparation").delete()
    elif code == "screen.suicide_risk_positive":
        event(course, world.therapist, "risk_screen", positive=True)
    elif code == "screen.missing":
        CourseEvent.objects.filter(course=course, kind="risk_screen").delete()
    return course, day


def _gate(course, day):
    row = with_facts(Course.objects.filter(pk=course.pk)).get()
    return dosing_reasons(course_facts(row), now=clock.now(), policy=gate_policy(row), day=day)


CODES = [
    "driver.unconfirmed", "companion.unconfirmed", "preparation.none", "vitals.bp_high",
    "vitals.bp_missing", "clearance.expired", "alcohol.not_attested", "companion.absent",
    "screen.suicide_risk_positive", "screen.missing",
]  # fmt: skip
ROLES = ["therapist", "covering_therapist", "off_team_therapist", "prescriber", "admin", "client"]


def _actor(world, role):
    if role == "covering_therapist":
        on_team(world.client, world.therapist2, added_by=world.therapist.user)
    return {
        "therapist": world.therapist, "covering_therapist": world.therapist2,
        "off_team_therapist": world.therapist2, "prescriber": world.prescriber,
        "admin": world.admin, "client": world.client_member,
    }[role]  # fmt: skip


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("role", ROLES)
def test_who_may_sign_an_override_of_each_reason(world, code, role):
    course, day = _with_reason(world, code)
    assert [r.code for r in _gate(course, day)] == [code]
    actor = _actor(world, role)
    owner = OWNER.get(code)
    may = (owner == "therapist" and role in {"therapist", "covering_therapist"}) or (
        owner == "prescriber" and role == "prescriber"
    )
    overrides = {code: Justification(CATEGORY.get(code, "verified_other_means"), RATIONALE)}
    if role in {"off_team_therapist", "client"}:
        with pytest.raises(NotFound):
            services.gate_override_sign(actor=actor, course_id=course.pk, overrides=overrides,
                                        day=day)  # fmt: skip
    elif may:
        decision = services.gate_override_sign(
            actor=actor, course_id=course.pk, overrides=overrides, day=day
        )
        assert decision.signed_by == actor and decision.codes == [code]
        assert decision.licence_state == "OR" and decision.justifications[code]["rationale"]
        assert AuditEvent.objects.filter(action="course.gate_override").count() == 1
    else:
        with pytest.raises(GateBlocked) as exc:
            services.gate_override_sign(
                actor=actor, course_id=course.pk, overrides=overrides, day=day
            )
        [(authority, why)] = exc.value.explanations.values()
        assert why and authority in {"nobody", "prescriber", "treating_clinician"}
        assert not OverrideDecision.objects.exists()


def test_an_override_by_its_owner_lets_the_start_through_and_is_recorded(world):
    course, day = _with_reason(world, "driver.unconfirmed")
    ride = Justification("alternative_arranged", "Clinic-booked taxi with a staff escort home.")
    event_ = services.dosing_start(
        actor=world.therapist, course_id=course.pk, day=day, overrides={"driver.unconfirmed": ride}
    )
    assert event_.overridden == ["driver.unconfirmed"]
    decision = OverrideDecision.objects.get()
    assert (decision.signed_by, decision.authority, decision.standing) == (
        world.therapist, "treating_clinician", False,
    )  # fmt: skip
    assert decision.licence_type == "LMFT" and decision.licence_number
    assert decision.facts_seen["reasons"][0]["code"] == "driver.unconfirmed"
    assert decision.facts_seen["day"]["driver_confirmed"] is False
    assert decision.event.kind == "override" and decision.event.data["decision_id"] == decision.pk


def test_an_unlicensed_owner_cannot_sign(world):
    world.therapist.user.licences.all().delete()
    course, day = _with_reason(world, "driver.unconfirmed")
    with pytest.raises(GateBlocked) as exc:
        services.dosing_start(
            actor=world.therapist, course_id=course.pk, day=day,
            overrides={"driver.unconfirmed": Justification("verified_other_means", RATIONALE)},
        )  # fmt: skip
    assert "licence" in exc.value.explanations[0][1]


# ---- the one-line override (issue 12, item 2) -----------------------------------------------


@pytest.fixture
def api(client):
    def make(actor):
        _, raw = account_services.api_token_create(actor=actor, name="tests", mfa_verified=True)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

        class Api:
            def get(self, path, **params):
                return client.get(path, params, **headers)

            def post(self, path, body):
                return client.post(
                    path, data=json.dumps(body, default=str), content_type="application/json",
                    **headers,
                )  # fmt: skip

        return Api()

    return make


def test_the_one_line_override_is_409_with_every_reason_and_why(world, api):
    course = _ready(world)
    assessment_services.response_enter(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9",
        answers=PHQ9_CLEAN | {"phq9_9": 2},
    )  # fmt: skip
    task = UrgentTask.objects.get()
    response = api(world.therapist).post(
        f"/api/v1/courses/{course.pk}/dosing",
        {"amount_mg": "100", "bp_systolic": 170, "bp_diastolic": 105, "alcohol_free_24h": False,
         "companion_present": False, "driver_confirmed": False, "override_reason": "testing"},
    )  # fmt: skip
    assert response.status_code == 409, response.content
    errors = {e["code"]: e for e in response.json()["errors"]}
    assert {c: e["override_by"] for c, e in errors.items()} == {
        "screen.suicide_risk_positive": "nobody",
        "vitals.bp_high": "prescriber",
        "alcohol.not_attested": "nobody",
        "driver.unconfirmed": "treating_clinician",
    }
    assert "risk assessment" in errors["screen.suicide_risk_positive"]["why_not"]
    assert "prescriber" in errors["vitals.bp_high"]["why_not"]
    assert errors["alcohol.not_attested"]["why_not"].startswith("Never overridable")
    assert "category" in errors["driver.unconfirmed"]["why_not"]
    # The same attempt with a structured justification for each still passes nothing.
    tried = api(world.therapist).post(
        f"/api/v1/courses/{course.pk}/dosing",
        {"amount_mg": "100", "bp_systolic": 170, "bp_diastolic": 105, "alcohol_free_24h": False,
         "companion_present": False, "driver_confirmed": False,
         "overrides": [{"code": c, "category": "verified_other_means", "rationale": RATIONALE}
                       for c in errors]},
    )  # fmt: skip
    assert tried.status_code == 409
    assert not DoseUse.objects.filter(course=course).exists()
    assert not OverrideDecision.objects.exists()
    assert not CourseEvent.objects.filter(course=course, kind__in=["dosing", "override"]).exists()
    task.refresh_from_db()
    assert task.resolved_at is None


def test_the_page_refuses_the_one_line_override_the_same_way(client, world):
    course, _ = _with_reason(world, "screen.suicide_risk_positive")
    sign_in(client, world.therapist.user)
    page = client.post(
        f"/courses/{course.pk}/dosing/",
        {"amount_mg": "100", "bp_systolic": "170", "bp_diastolic": "105",
         "override_rationale": "testing"},
    )  # fmt: skip
    assert page.status_code == 409
    body = page.content.decode()
    for code in ["screen.suicide_risk_positive", "vitals.bp_high", "alcohol.not_attested",
                 "driver.unconfirmed"]:  # fmt: skip
        assert f'data-code="{code}"' in body
    assert "Never overridable" in body and "Only the course&#x27;s prescriber" in body


# ---- the risk assessment path --------------------------------------------------------------


def test_a_positive_screen_clears_only_through_the_structured_risk_assessment(world):
    course = _ready(world)
    assessment_services.response_enter(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9",
        answers=PHQ9_CLEAN | {"phq9_9": 1},
    )  # fmt: skip
    task = UrgentTask.objects.get()
    # A later negative screen typed in does not clear it while the task is open.
    services.course_record(
        actor=world.therapist, course_id=course.pk, kind="risk_screen", positive=False
    )
    with pytest.raises(GateBlocked) as exc:
        services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY)
    assert [r.code for r in exc.value.reasons] == ["screen.suicide_risk_positive"]
    # Free text, and a high risk level, never close it to proceed.
    with pytest.raises(ValidationError):
        assessment_services.urgent_task_resolve(
            actor=world.therapist, task_id=task.pk, decision="proceed", note=RATIONALE
        )
    full = {"protective_factors_reviewed": True, "safety_plan_reviewed": True,
            "means_restriction_discussed": True}  # fmt: skip
    with pytest.raises(ValidationError) as verr:
        assessment_services.urgent_task_resolve(
            actor=world.therapist, task_id=task.pk, decision="proceed", note=RATIONALE,
            risk_level="high", **full,
        )  # fmt: skip
    assert "decision" in verr.value.message_dict
    task.refresh_from_db()
    assert task.resolved_at is None
    assessment_services.urgent_task_resolve(
        actor=world.therapist, task_id=task.pk, decision="proceed", note=RATIONALE,
        risk_level="moderate", **full,
    )  # fmt: skip
    task.refresh_from_db()
    assert task.resolved_at and task.risk_level == "moderate" and task.licence_type == "LMFT"
    services.dosing_start(actor=world.therapist, course_id=course.pk, day=GOOD_DAY)


# ---- the practice tightens, never loosens ---------------------------------------------------


def test_a_practice_may_make_a_rule_stricter_and_the_gate_follows(world):
    services.gate_settings_update(
        actor=world.admin, data={"override_authority": {"driver.unconfirmed": "nobody"}}
    )
    course, day = _with_reason(world, "driver.unconfirmed")
    with pytest.raises(GateBlocked) as exc:
        services.dosing_start(
            actor=world.therapist, course_id=course.pk, day=day,
            overrides={"driver.unconfirmed": Justification("verified_other_means", RATIONALE)},
        )  # fmt: skip
    assert exc.value.explanations[0][0] == "nobody"
    assert exc.value.reasons[0].overridable is False


@pytest.mark.parametrize(
    "setting",
    [{"vitals.bp_high": "treating_clinician"}, {"alcohol.not_attested": "prescriber"},
     {"screen.suicide_risk_positive": "treating_clinician"}],
)  # fmt: skip
def test_a_practice_may_never_loosen_a_rule(world, setting):
    with pytest.raises(ValidationError) as exc:
        services.gate_settings_update(actor=world.admin, data={"override_authority": setting})
    assert "override_authority" in exc.value.message_dict


def test_the_settings_page_offers_only_stricter_owners(client, world):
    sign_in(client, world.admin.user)
    page = client.get("/courses/settings/").content.decode()
    assert 'name="override__vitals__bp_high"' in page
    assert 'name="override__alcohol__not_attested"' not in page  # nobody already
    start = page.index('name="override__vitals__bp_high"')
    form_bp = page[start : page.index("</select>", start)]
    assert 'value="treating_clinician"' not in form_bp


# ---- the practice's report -----------------------------------------------------------------


def _signed(world, n):
    for _ in range(n):
        course, day = _with_reason(world, "driver.unconfirmed")
        services.gate_override_sign(
            actor=world.therapist, course_id=course.pk, day=day,
            overrides={"driver.unconfirmed": Justification("verified_other_means", RATIONALE)},
        )  # fmt: skip
        course.closed_at = clock.now()
        course.stage = "discharged"
        course.save()


def test_the_report_lists_each_override_with_its_signer(client, world, api):
    _signed(world, 2)
    listed = api(world.admin).get("/api/v1/courses/overrides")
    assert listed.status_code == 200, listed.content
    body = listed.json()
    assert body["count"] == 2
    row = body["results"][0]
    assert row["signer_membership_id"] == world.therapist.pk
    assert row["signer_name"] == (world.therapist.user.full_name or world.therapist.user.email)
    assert row["licence"].startswith("LMFT OR ") and row["zone"]
    assert row["codes"] == ["driver.unconfirmed"]
    assert row["justifications"][0] == {
        "code": "driver.unconfirmed", "category": "verified_other_means", "rationale": RATIONALE,
    }  # fmt: skip
    sign_in(client, world.admin.user)
    page = client.get("/courses/overrides/").content.decode()
    assert page.count("data-decision=") == 2 and row["zone"] in page
    assert AuditEvent.objects.filter(action="course.override_report").exists()


def test_another_practices_admin_sees_none_of_these_overrides(world, api):
    _signed(world, 1)
    listed = api(world.other_admin).get("/api/v1/courses/overrides")
    assert listed.status_code == 200 and listed.json()["count"] == 0


@pytest.mark.parametrize("who", ["therapist", "prescriber", "biller"])
def test_only_the_practices_admins_see_the_report(client, world, api, who):
    _signed(world, 1)
    assert api(getattr(world, who)).get("/api/v1/courses/overrides").status_code == 404
    sign_in(client, getattr(world, who).user)
    assert client.get("/courses/overrides/").status_code == 404


def test_the_report_query_count_is_pinned(client, world, api, django_assert_num_queries):
    _signed(world, 1)
    sign_in(client, world.admin.user)
    client.get("/")  # session warm-up
    with CaptureQueriesContext(connection) as page_one:
        assert client.get("/courses/overrides/").status_code == 200
    admin = api(world.admin)
    with CaptureQueriesContext(connection) as api_one:
        assert admin.get("/api/v1/courses/overrides").status_code == 200
    _signed(world, 6)
    # One page whatever it holds: session, user, device, memberships and roles, count, the
    # page with signer, course and practice, the audit insert; pinned so an N+1 fails loudly.
    with django_assert_num_queries(len(page_one.captured_queries)):
        assert client.get("/courses/overrides/").content.decode().count("data-decision=") == 7
    with django_assert_num_queries(len(api_one.captured_queries)):
        assert len(admin.get("/api/v1/courses/overrides").json()["results"]) == 7
