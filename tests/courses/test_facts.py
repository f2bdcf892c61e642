"""The stored course facts (decision 0042): every write path that changes a row a fact is
read from refreshes them in its transaction, so the stored row always equals what with_facts
computes from the rows; the caseload reads the stored row; drift is found and repaired.

The property: whatever sequence of the services below runs (refused calls included), every
course's stored facts equal the facts computed afresh."""

import datetime
import itertools
import logging
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapflow.accounts import services as account_services
from kapflow.assessments import services as assessment_services
from kapflow.assessments.models import UrgentTask
from kapflow.clinical.course import DoseDay
from kapflow.consents import services as consent_services
from kapflow.consents.models import ConsentSignature
from kapflow.core import clock, paging
from kapflow.core.errors import DomainError
from kapflow.courses import selectors
from kapflow.courses import services as course_services
from kapflow.courses.models import FACT_FIELDS, Course, CourseEvent, CourseFacts
from kapflow.encounters import services as session_services
from kapflow.encounters.models import DosingSession
from kapflow.patients import services as patient_services
from kapflow.patients.models import Companion
from kapflow.prescriptions import services as rx_services
from kapflow.prescriptions.models import Prescription
from tests.consents.factories import current
from tests.courses.factories import event, make_course
from tests.encounters.factories import ALL_YES, GOOD_START, GOOD_VITALS
from tests.patients.factories import ClientFactory, on_team

GOOD_DAY = DoseDay(
    bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True,
    companion_present=True,
)  # fmt: skip
ASSESSED = {
    "risk_level": "low", "protective_factors_reviewed": True, "safety_plan_reviewed": True,
    "means_restriction_discussed": True,
}  # fmt: skip
RX = {
    "product": "ketamine_sl_rdt", "strength_mg": Decimal("100"), "dose_mg": Decimal("200"),
    "quantity": 2, "refills": 1, "pharmacy_name": "Cedar Compounding",
    "dea_number": "AB1234563",
}  # fmt: skip
REFUSED = (DomainError, ValidationError)  # GateBlocked, NotFound and PermissionDenied included
COUNTER = itertools.count(1)


@pytest.fixture
def course(world):
    """An active course with a prescriber, a fill and a negative screen today."""
    made = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    event(made, world.therapist, "risk_screen", positive=False)
    return made


def _open_session(course):
    return (
        DosingSession.objects.filter(course=course)
        .exclude(state__in=["discharged", "abandoned"])
        .order_by("-pk")
        .first()
    )


def _latest_rx(course):
    return Prescription.objects.filter(course=course, status="active").order_by("-pk").first()


# ---- the kinds of change: each is one service call of the app that owns the row -----------


def record(kind, **fields):
    def step(w, course):
        actor = w.prescriber if kind == "followup" else w.therapist
        course_services.course_record(actor=actor, course_id=course.pk, kind=kind, **fields)

    return step


def quick_dosing(w, course):
    course_services.dosing_start(
        actor=w.therapist, course_id=course.pk, day=GOOD_DAY, amount_mg=Decimal("200")
    )


# A session's times: opened and dosed two and a half hours ago, so it may be discharged now.
SESSION_AT = datetime.timedelta(minutes=150)


def session_open(w, course):
    session_services.session_open(
        actor=w.therapist, course_id=course.pk, now=clock.now() - SESSION_AT
    )


def session_checklist_and_start(w, course):
    session = _open_session(course)
    if session is None:
        raise DomainError("No open session.", code="test.none")
    session_services.checklist_submit(actor=w.client_member, session_id=session.pk, answers=ALL_YES)
    session.refresh_from_db()
    session_services.session_start(
        actor=w.therapist, session_id=session.pk, version=session.version,
        now=session.opened_at, **GOOD_START,
    )  # fmt: skip


def session_dose(w, course):
    session = _open_session(course)
    if session is None:
        raise DomainError("No open session.", code="test.none")
    at = session.started_at or session.opened_at
    session_services.entry_add(
        actor=w.therapist, session_id=session.pk, kind="dose", route="sublingual", amount=200,
        unit="mg", occurred_at=at, now=at,
    )  # fmt: skip


def session_discharge(w, course):
    session = _open_session(course)
    if session is None:
        raise DomainError("No open session.", code="test.none")
    at = clock.now() - datetime.timedelta(minutes=5)
    session_services.entry_add(
        actor=w.therapist, session_id=session.pk, kind="vitals", occurred_at=at, now=at,
        **GOOD_VITALS,
    )  # fmt: skip
    session.refresh_from_db()
    session_services.session_discharge(
        actor=w.therapist, session_id=session.pk, version=session.version,
        alert_oriented=True, walks_steadily=True, escort_present=True,
    )  # fmt: skip


def session_abandon(w, course):
    session = _open_session(course)
    if session is None:
        raise DomainError("No open session.", code="test.none")
    session_services.session_abandon(
        actor=w.therapist, session_id=session.pk, version=session.version, reason="Unwell."
    )


def prescription_issue(w, course):
    rx_services.prescription_issue(actor=w.prescriber, course_id=course.pk, **RX)


def dispense(w, course):
    rx = _latest_rx(course)
    if rx is None:
        raise DomainError("No prescription.", code="test.none")
    rx_services.dispense_record(
        actor=w.prescriber, prescription_id=rx.pk, quantity=2,
        dispensed_on=clock.clinical_date(course.organisation),
    )  # fmt: skip


def prescription_cancel(w, course):
    rx = _latest_rx(course)
    if rx is None:
        raise DomainError("No prescription.", code="test.none")
    rx_services.prescription_cancel(actor=w.prescriber, prescription_id=rx.pk, reason="Stopped.")


def phq9_positive(w, course):
    answers = {f"phq9_{i}": 1 for i in range(1, 9)} | {"phq9_9": 1, "phq9_difficulty": 1}
    assessment_services.response_enter(
        actor=w.therapist, client_id=course.client_id, instrument="phq9", answers=answers
    )


def urgent_task_resolve(decision):
    def step(w, course):
        task = UrgentTask.objects.filter(course=course, resolved_at__isnull=True).first()
        if task is None:
            raise DomainError("No open task.", code="test.none")
        assessment_services.urgent_task_resolve(
            actor=w.therapist, task_id=task.pk, decision=decision,
            note="Reviewed with the client; safety plan in place.",
            **ASSESSED | {"risk_level": task.level},
        )  # fmt: skip

    return step


def companion_confirm(w, course):
    companion = Companion.objects.get(client_id=course.client_id)
    patient_services.companion_confirm(
        actor=w.companion, companion_id=companion.pk,
        checklist=dict.fromkeys(dict(patient_services.COMPANION_CHECKLIST), True),
    )  # fmt: skip


def client_moves(w, course):
    client = type(course.client).objects.get(pk=course.client_id)
    state = "WA" if client.state == "OR" else "OR"
    patient_services.client_update(actor=w.admin, client_id=client.pk, data={"state": state})


def licence_add(w, course):
    expires = clock.clinical_date(course.organisation) + datetime.timedelta(days=400)
    account_services.licence_add(
        actor=w.prescriber, membership=w.prescriber,
        data={"licence_type": "NP", "state": "WA", "number": f"WA-{next(COUNTER)}",
              "expires_on": expires},
    )  # fmt: skip


def consent_publish(w, course):
    consent_services.document_publish(
        actor=w.admin, kind="kap", title="KAP consent", body=f"Version text {next(COUNTER)}."
    )


def consent_sign(w, course):
    client = course.client
    consent_services.consent_sign(
        actor=w.client_member, document_id=current(w.practice, "kap").pk,
        typed_name=f"{client.legal_first_name} {client.legal_last_name}",
        signed_on=clock.clinical_date(w.practice), understood=True,
    )  # fmt: skip


def consent_withdraw(w, course):
    signature = (
        ConsentSignature.objects.filter(client_id=course.client_id, withdrawal__isnull=True)
        .order_by("-pk")
        .first()
    )
    if signature is None:
        raise DomainError("Nothing signed.", code="test.none")
    consent_services.consent_withdraw(actor=w.client_member, signature_id=signature.pk)


def refer_again(w, course):
    """A stage change that names another prescriber (their licences become the fact)."""
    other = ClientFactory(organisation=w.practice)
    on_team(other, w.therapist)
    opened = course_services.course_open(
        actor=w.therapist, client_id=other.pk, pathway="higher_dose", delivery="in_person"
    )
    course_services.course_transition(actor=w.therapist, course_id=opened.pk, action="start_intake")
    course_services.course_workflow_step(
        actor=w.therapist, course_id=opened.pk, action="refer", prescriber_id=w.prescriber.pk
    )


STEPS = {
    "preparation": record("preparation"),
    "integration": record("integration"),
    "screen_negative": record("risk_screen", positive=False),
    "screen_positive": record("risk_screen", positive=True),
    "followup": record("followup"),
    "quick_dosing": quick_dosing,
    "session_open": session_open,
    "session_start": session_checklist_and_start,
    "session_dose": session_dose,
    "session_discharge": session_discharge,
    "session_abandon": session_abandon,
    "prescription_issue": prescription_issue,
    "dispense": dispense,
    "prescription_cancel": prescription_cancel,
    "phq9_positive": phq9_positive,
    "urgent_task_proceed": urgent_task_resolve("proceed"),
    "urgent_task_hold": urgent_task_resolve("hold"),
    "companion_confirm": companion_confirm,
    "client_moves": client_moves,
    "licence_add": licence_add,
    "consent_publish": consent_publish,
    "consent_sign": consent_sign,
    "consent_withdraw": consent_withdraw,
    "course_open_and_refer": refer_again,
}


def _run(step, world, course) -> bool:
    try:
        step(world, course)
    except REFUSED:
        return False
    return True


def _assert_stored_equals_fresh():
    assert selectors.course_facts_drift() == {}
    assert CourseFacts.objects.count() == Course.objects.count()


@pytest.mark.parametrize("name", sorted(STEPS))
def test_each_kind_of_change_keeps_the_stored_facts(world, course, name):
    _run(STEPS[name], world, course)
    _assert_stored_equals_fresh()


@pytest.mark.parametrize(
    "sequence",
    [
        # A whole session, a refill, a positive screen answered, and the client's consent.
        ["session_open", "session_start", "session_dose", "session_discharge", "integration"],
        ["session_open", "session_start", "session_abandon", "preparation"],
        ["prescription_issue", "dispense", "quick_dosing", "prescription_cancel"],
        ["phq9_positive", "urgent_task_proceed", "screen_positive", "urgent_task_hold"],
        ["consent_publish", "consent_sign", "consent_withdraw", "companion_confirm"],
        ["client_moves", "licence_add", "client_moves", "course_open_and_refer", "followup"],
    ],
)
def test_a_course_of_care_keeps_the_stored_facts(world, course, sequence):
    """Every step of these is allowed (none is refused), and together they change facts."""

    def stored():
        row = CourseFacts.objects.get(course=course)
        return {f: getattr(row, f) for f in FACT_FIELDS}

    first = stored()
    for name in sequence:
        assert _run(STEPS[name], world, course), name
        _assert_stored_equals_fresh()
    assert stored() != first


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=6))
def test_any_sequence_of_changes_keeps_the_stored_facts(world, course, sequence):
    for name in sequence:
        _run(STEPS[name], world, course)
        _assert_stored_equals_fresh()


# ---- drift: found, logged and repaired --------------------------------------------------------


def test_a_row_written_behind_the_services_back_is_found_and_repaired(world, course, caplog):
    CourseEvent.objects.create(
        organisation=course.organisation, course=course, kind="dosing",
        occurred_at=clock.now() - datetime.timedelta(days=3), actor=world.therapist.user,
        actor_membership=world.therapist,
    )  # fmt: skip
    assert selectors.course_facts_drift() == {course.pk: ["dosing_count", "last_dosing_at"]}
    with pytest.raises(SystemExit):
        call_command("refresh_course_facts", "--check")
    assert selectors.course_facts_drift() != {}
    call_command("refresh_course_facts")
    assert selectors.course_facts_drift() == {}


def test_the_gate_repairs_stored_facts_it_finds_stale(world, course, caplog):
    CourseFacts.objects.filter(course=course).update(dosing_count=7)
    with caplog.at_level(logging.WARNING, logger="kapflow.courses.services"):
        course_services.course_record(
            actor=world.therapist, course_id=course.pk, kind="preparation"
        )
    assert "course_facts.drift" in caplog.text
    assert selectors.course_facts_drift() == {}


def test_migrate_fills_the_facts_of_courses_without_them(world, course):
    CourseFacts.objects.all().delete()
    call_command("migrate", verbosity=0)
    assert selectors.course_facts_drift() == {}


# ---- the caseload reads the stored row --------------------------------------------------------


def test_the_caseload_reads_the_stored_facts(world, course):
    CourseFacts.objects.filter(course=course).update(preparation_done=5)
    page = selectors.course_list(actor=world.therapist, filters=selectors.CourseFilters())
    assert [row.facts.preparation_done for row in page.object_list] == [5]
    # The course page and the gate compute them from the rows.
    fresh = selectors.course_get_for_actor(actor=world.therapist, course_id=course.pk)
    assert selectors.course_facts(fresh).preparation_done == 1


def test_a_course_without_stored_facts_is_still_listed_correctly(world, course, caplog):
    CourseFacts.objects.all().delete()
    with caplog.at_level(logging.WARNING, logger="kapflow.courses.selectors"):
        page = selectors.course_list(actor=world.therapist, filters=selectors.CourseFilters())
    assert [row.facts.preparation_done for row in page.object_list] == [1]
    assert "course_facts.missing" in caplog.text
    assert not CourseFacts.objects.exists()  # a read writes nothing


def test_the_caseload_page_is_one_query_plus_a_bounded_count(
    world, course, django_assert_num_queries
):
    filters = selectors.CourseFilters()
    selectors.course_list(actor=world.therapist, filters=filters)
    # The bounded count, the page's rows with their facts, the audit chain's head and INSERT.
    with django_assert_num_queries(4) as captured:
        selectors.course_list(actor=world.therapist, filters=filters)
    page_sql = captured.captured_queries[1]["sql"]
    assert '"courses_coursefacts"' in page_sql and "courses_courseevent" not in page_sql


def test_pages_count_at_most_the_cap(world, monkeypatch):
    monkeypatch.setattr(paging, "COUNT_CAP", 3)
    for _ in range(5):
        client = ClientFactory(organisation=world.practice)
        on_team(client, world.therapist)
        make_course(client, world.therapist)
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    first = selectors.course_list(actor=world.therapist, filters=selectors.CourseFilters())
    assert (first.paginator.count, first.paginator.count_exact) == (3, False)
    assert first.paginator.count_label == "3+" and first.has_next()
    third = selectors.course_list(actor=world.therapist, filters=selectors.CourseFilters(page=3))
    assert len(third.object_list) == 1 and not third.has_next()
    shown = [
        row.course.pk
        for number in (1, 2, 3)
        for row in selectors.course_list(
            actor=world.therapist, filters=selectors.CourseFilters(page=number)
        ).object_list
    ]
    assert len(shown) == len(set(shown)) == 5


def test_the_demo_stores_the_facts_of_the_courses_it_loads(db):
    from io import StringIO

    call_command("demo", stdout=StringIO())
    assert Course.objects.exists()
    _assert_stored_equals_fresh()


def test_the_caseload_page_writes_its_trail_once(client, world, course):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kapflow.alerts.services import alert_raise
    from kapflow.audit.models import AuditEvent
    from tests.conftest import sign_in

    alert_raise(actor=world.companion, client_id=world.client.pk, kind="help_now", answers={})
    sign_in(client, world.therapist.user)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/courses/").status_code == 200
    inserts = [q for q in ctx.captured_queries if q["sql"].startswith('INSERT INTO "audit_')]
    assert len(inserts) == 1
    actions = set(
        AuditEvent.objects.filter(actor_id=world.therapist.user_id).values_list("action", flat=True)
    )
    assert {"course.list", "alert.list"} <= actions


def test_a_filter_redraw_reads_and_audits_the_rows_only(client, world, course):
    """The htmx redraw of the results (a search, a filter) neither reads nor records the
    alerts, due items and urgent tasks drawn above the table: fewer queries than the page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kapflow.alerts.services import alert_raise
    from kapflow.audit.models import AuditEvent
    from tests.conftest import sign_in

    alert_raise(actor=world.companion, client_id=world.client.pk, kind="help_now", answers={})
    sign_in(client, world.therapist.user)
    client.get("/courses/")  # the session's first read of remembered filters
    with CaptureQueriesContext(connection) as page_queries:
        page = client.get("/courses/").content.decode()
    before = AuditEvent.objects.filter(action="alert.list").count()
    with CaptureQueriesContext(connection) as rows_queries:
        rows = client.get("/courses/", HTTP_HX_REQUEST="true",
                          HTTP_HX_TARGET="course-results").content.decode()  # fmt: skip
    assert "<html" not in rows and 'data-testid="caseload"' in rows
    assert 'data-testid="caseload"' in page and "<html" in page
    assert AuditEvent.objects.filter(action="alert.list").count() == before
    assert AuditEvent.objects.filter(action="course.list").count() >= 3
    tables = " ".join(q["sql"] for q in rows_queries.captured_queries)
    for table in ("alerts_alert", "courses_dueitem", "assessments_urgenttask"):
        assert table not in tables
        assert table in " ".join(q["sql"] for q in page_queries.captured_queries)
    assert len(rows_queries) < len(page_queries)
