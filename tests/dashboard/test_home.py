"""The home dashboards: each role's contents, the session in progress on top (the bug where
the therapist's home said "No appointments today" while a dosing session with a flagged
reading ran), scoping, audited reads and fixed query counts."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.alerts.services import alert_raise
from kapflow.audit.models import AuditEvent
from kapflow.encounters import services as sessions
from tests.conftest import sign_in
from tests.encounters.factories import GOOD_VITALS, dosed, ready_course
from tests.notes.factories import draft
from tests.patients.factories import ClientFactory, on_team

# 03:30 UTC: still the evening before in Portland, the practice's zone (decision 0027).
EVENING = dt.datetime(2026, 12, 8, 3, 30, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(EVENING, tick=False)
    return EVENING


def _flagged_session(world, client=None, at=None):
    course = ready_course(client or world.client, world.therapist, world.prescriber)
    at = at or EVENING - 50 * MIN
    session = dosed(world.therapist, course, at=at)
    sessions.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals", occurred_at=at + 40 * MIN,
        now=at + 40 * MIN, **{**GOOD_VITALS, "bp_systolic": 184, "bp_diastolic": 102},
    )  # fmt: skip
    return session


def _help(world, note=""):
    kind = "reaction" if note else "help_now"
    return alert_raise(
        actor=world.client_member, client_id=world.client.pk, kind=kind, answers={}, note=note
    )


def _home(client, member):
    sign_in(client, member.user)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_session_in_progress_is_on_top_with_its_flagged_reading(client, world, frozen):
    session = _flagged_session(world)
    page = _home(client, world.therapist)
    today = page.split('data-testid="today"')[1].split("</section>")[0]
    assert "No appointments today" not in page
    assert 'data-testid="today-empty"' not in today
    first = today.split('data-testid="today-item"')[1]
    assert 'data-status="in_session"' in first
    assert f"/sessions/{session.pk}/" in first
    assert world.client.display_name in first
    assert "Flagged reading: BP 184/102" in first
    # The practice's day, not UTC's: 7 December in Portland although UTC says the 8th.
    assert "Today, Monday 7 December" in today


def test_flagged_session_comes_before_an_unflagged_one(client, world, frozen):
    other = ClientFactory(organisation=world.practice)
    on_team(other, world.therapist)
    on_team(other, world.prescriber, role="prescriber", added_by=world.therapist.user)
    course = ready_course(other, world.therapist, world.prescriber)
    dosed(world.therapist, course, at=EVENING - 10 * MIN)  # later, no flag
    _flagged_session(world)
    today = _home(client, world.therapist).split('data-testid="today"')[1]
    items = today.split('data-testid="today-item"')[1:]
    assert "184/102" in items[0] and world.client.display_name in items[0]
    assert other.display_name in items[1] and "Flagged reading" not in items[1]


def test_todays_appointment_follows_the_open_session(client, world, frozen):
    from tests.scheduling.factories import LA, book

    _flagged_session(world)
    # 20:45 in Portland on the 7th: the practice's today although UTC is already the 8th.
    appointment = book(
        world.therapist, world.unreferred,
        starts_at=dt.datetime(2026, 12, 7, 20, 45, tzinfo=LA),
    ).first  # fmt: skip
    # Tomorrow's (practice's) appointment is not today's.
    book(world.therapist, world.unreferred, starts_at=dt.datetime(2026, 12, 8, 10, 0, tzinfo=LA))
    today = _home(client, world.therapist).split('data-testid="today"')[1].split("</section>")[0]
    items = today.split('data-testid="today-item"')[1:]
    assert len(items) == 2
    assert 'data-status="in_session"' in items[0]
    assert f"/schedule/{appointment.pk}/" in items[1] and "20:45" in items[1]
    assert world.unreferred.display_name in items[1]


def test_nothing_today_says_so(client, world, frozen):
    page = _home(client, world.therapist)
    assert 'data-testid="today-empty"' in page


def test_therapist_not_on_the_team_sees_neither_session_nor_alert(client, world, frozen):
    _flagged_session(world)
    _help(world)
    page = _home(client, world.therapist2)
    assert world.client.display_name not in page
    assert "184/102" not in page


def test_other_practice_sees_nothing_of_this_one(client, world, frozen):
    _flagged_session(world)
    page = _home(client, world.other_admin)
    assert world.client.display_name not in page
    glance = page.split('data-testid="dash-glance"')[1]
    assert 'data-testid="glance-session"' not in glance
    assert '<strong data-testid="glance-alerts">0</strong>' in glance


def test_therapist_sees_alerts_drafts_and_audits_what_it_names(client, world, frozen):
    _flagged_session(world)
    _help(world)
    note = draft(world.client, world.therapist)
    before = AuditEvent.objects.count()
    page = _home(client, world.therapist)
    alerts = page.split('data-testid="dash-alerts"')[1].split("</article>")[0]
    assert world.client.display_name in alerts
    notes = page.split('data-testid="dash-notes"')[1].split("</article>")[0]
    assert f"/notes/{note.pk}/" in notes
    assert 'Notes to sign <span class="badge">1</span>' in notes
    actions = set(
        AuditEvent.objects.filter(pk__gt=0).order_by("-pk")[: AuditEvent.objects.count() - before]
        .values_list("action", flat=True)
    )  # fmt: skip
    assert {"dashboard.view", "alert.list", "note.list"} <= actions


def test_admin_glance_counts_the_practice(client, world, frozen):
    _flagged_session(world)
    _help(world)
    draft(world.client, world.therapist)
    glance = _home(client, world.admin).split('data-testid="dash-glance"')[1]
    assert 'data-testid="glance-session"' in glance and "184/102" in glance
    assert '<strong data-testid="glance-alerts">1</strong>' in glance
    assert '<strong data-testid="glance-unsigned">1</strong>' in glance


def test_prescriber_sees_queue_counts(client, world, frozen):
    from tests.courses.factories import make_course
    from tests.prescriptions.factories import refer

    course = make_course(world.client, world.therapist, stage="referred")
    refer(course, world.prescriber, status="sent")
    queue = _home(client, world.prescriber).split('data-testid="dash-queue"')[1]
    assert '<strong data-testid="queue-new">1</strong>' in queue
    assert '<strong data-testid="queue-evaluating">0</strong>' in queue


def test_biller_sees_billing_and_no_clinical_sections(client, world, frozen):
    _flagged_session(world)
    page = _home(client, world.biller)
    assert 'data-testid="billing-home"' in page
    assert 'data-testid="today"' not in page
    assert world.client.display_name not in page


# The whole page, session and sign-in checks included; measured on SQLite, 2026-12-07.
QUERY_LIMITS = {"therapist": 30, "admin": 30, "prescriber": 30, "biller": 20}


@pytest.mark.parametrize("who", ["therapist", "admin", "prescriber", "biller"])
def test_home_queries_do_not_grow_with_data(client, world, frozen, who):
    """One of everything, then four: the same statements (the audit rows go in one INSERT)."""
    member = getattr(world, who)
    _flagged_session(world)
    _help(world, note="Dizzy and sick.")
    draft(world.client, world.therapist)
    sign_in(client, member.user)
    client.get("/")  # session warm-up
    with CaptureQueriesContext(connection) as few:
        assert client.get("/").status_code == 200
    more = []
    for _ in range(3):
        extra = ClientFactory(organisation=world.practice)
        on_team(extra, world.therapist)
        on_team(extra, world.prescriber, role="prescriber", added_by=world.therapist.user)
        more.append(extra)
    for extra in more:
        _flagged_session(world, client=extra, at=EVENING - 30 * MIN)
        _help(world, note="Dizzy and sick.")
        draft(extra, world.therapist)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/").status_code == 200
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]
    assert len(few) <= QUERY_LIMITS[who]
