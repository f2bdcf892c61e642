"""The session screen and the group screen: the flow through the pages (htmx and plain
posts), refusals with every reason, stale versions, who may see what (404 for everyone
outside), and query counts that do not grow with the timeline or the group."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.encounters import services
from kapflow.encounters.models import DosingSession, GroupSession, TimelineEntry
from kapflow.patients.models import Companion
from tests.accounts.factories import member
from tests.conftest import sign_in
from tests.encounters.factories import ALL_YES, GOOD_VITALS, MIN, dosed, opened, ready_course
from tests.patients.factories import ClientFactory, on_team

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def course(world):
    return ready_course(world.client, world.therapist, world.prescriber)


def _url(name, *args):
    return reverse(f"encounters:{name}", args=args)


def test_open_start_dose_vitals_discharge_through_the_pages(client, world, course):
    sign_in(client, world.therapist.user)
    response = client.get(_url("open"), {"course_id": course.pk})
    assert response.status_code == 200
    response = client.post(_url("open"), {"course_id": course.pk})
    session = DosingSession.objects.get(course=course)
    assert response.status_code == 302 and response.url == _url("detail", session.pk)
    page = client.get(_url("detail", session.pk))
    assert page.status_code == 200 and b'data-testid="start-form"' in page.content
    again = client.get(_url("open"), {"course_id": course.pk})  # the button continues it
    assert again.status_code == 302 and again.url == _url("detail", session.pk)

    # Refused with every reason (htmx: the live region, 409), then fixed.
    refused = client.post(_url("start", session.pk), {"version": 1}, **HTMX)
    assert refused.status_code == 409
    body = refused.content.decode()
    for code in ("vitals.bp_missing", "alcohol.not_attested", "driver.unconfirmed"):
        assert f'data-code="{code}"' in body
    ok = client.post(
        _url("start", session.pk),
        {"version": 1, "bp_systolic": 120, "bp_diastolic": 80, "alcohol_free_24h": "on",
         "driver_confirmed": "on"},
        **HTMX,
    )  # fmt: skip
    assert ok.status_code == 204 and ok["HX-Redirect"] == _url("detail", session.pk)

    dose = client.post(
        _url("entry", session.pk, "dose"), {"route": "sublingual", "amount": "200", "unit": "mg"},
        **HTMX,
    )  # fmt: skip
    assert dose.status_code == 200 and b"uses one dose" in dose.content
    flagged = client.post(
        _url("entry", session.pk, "vitals"),
        {"bp_systolic": 186, "bp_diastolic": 96, "source": "clinician"},
        **HTMX,
    )  # fmt: skip
    assert flagged.status_code == 200
    assert b'data-testid="flagged"' in flagged.content
    assert b"systolic &gt;= 180 mmHg" in flagged.content
    bad = client.post(_url("entry", session.pk, "vitals"), {"bp_systolic": 120}, **HTMX)
    assert bad.status_code == 422 and b"Diastolic (mmHg): Blood pressure needs both" in bad.content

    session.refresh_from_db()
    refused = client.post(_url("discharge", session.pk), {"version": session.version}, **HTMX)
    assert refused.status_code == 409
    for code in ("discharge.not_alert", "discharge.not_walking", "discharge.no_driver",
                 "discharge.vitals_flagged", "discharge.observation_short"):  # fmt: skip
        assert f'data-code="{code}"'.encode() in refused.content
    assert DosingSession.objects.get(pk=session.pk).state == "in_progress"


@pytest.mark.parametrize("who", ["prescriber", "admin", "biller", "other_therapist"])
def test_only_the_course_therapists_may_open(client, world, course, who):
    sign_in(client, getattr(world, who).user)
    assert client.get(_url("open"), {"course_id": course.pk}).status_code == 404
    assert client.post(_url("open"), {"course_id": course.pk}).status_code == 404
    assert not DosingSession.objects.exists()


def test_stale_version_is_a_409_with_the_fresh_state(client, world, course):
    session = dosed(world.therapist, course)
    sign_in(client, world.therapist.user)
    response = client.post(_url("abandon", session.pk), {"version": 1, "reason": "Left."}, **HTMX)
    assert response.status_code == 409 and b'data-testid="stale"' in response.content
    session.refresh_from_db()
    assert f'data-version="{session.version}"'.encode() in response.content
    assert session.state == "in_progress"


def test_plain_post_without_htmx_redirects_or_renders_the_page(client, world, course):
    session = dosed(world.therapist, course)
    sign_in(client, world.therapist.user)
    response = client.post(_url("entry", session.pk, "note"), {"text": "Resting, music on."})
    assert response.status_code == 302
    response = client.post(_url("entry", session.pk, "note"), {"text": ""})
    assert response.status_code == 422 and b"<html" in response.content
    assert client.post(_url("entry", session.pk, "nope"), {}).status_code == 404


def test_correction_page_keeps_the_original(client, world, course):
    session = dosed(world.therapist, course)
    entry = services.entry_add(
        actor=world.therapist, session_id=session.pk, kind="vitals", bp_systolic=190,
        bp_diastolic=90,
    )  # fmt: skip
    sign_in(client, world.therapist.user)
    url = _url("correct", session.pk, entry.pk)
    assert client.get(url).status_code == 200
    session.refresh_from_db()
    response = client.post(
        url, {"version": session.version, "reason": "Typo.", "bp_systolic": 130,
              "bp_diastolic": 90},
    )  # fmt: skip
    assert response.status_code == 302
    fixed = TimelineEntry.objects.get(corrects=entry)
    assert fixed.data["bp_systolic"] == 130 and not fixed.flagged
    page = client.get(_url("detail", session.pk))
    assert b"<del>" in page.content and b"Correction of entry" in page.content


def test_live_region_polls_and_reloads_when_the_state_changed(client, world, course):
    session = opened(world.therapist, course)
    sign_in(client, world.therapist.user)
    response = client.get(_url("live", session.pk), {"state": "checklist"}, **HTMX)
    assert response.status_code == 200 and b'hx-trigger="every 10s"' in response.content
    response = client.get(_url("live", session.pk), {"state": "in_progress"}, **HTMX)
    assert response.status_code == 204 and response["HX-Refresh"] == "true"


def test_vitals_due_and_overdue_are_shown(client, world, course):
    session = dosed(world.therapist, course, at=timezone.now() - 45 * MIN)
    sign_in(client, world.therapist.user)
    response = client.get(_url("detail", session.pk))
    assert b'data-testid="vitals-due"' in response.content and b"overdue" in response.content


# ---- who may see what ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("therapist", 200),
        ("admin", 200),
        ("prescriber", 200),  # the partner prescriber on the team reads
        ("therapist2", 404),  # not on the client's care team
        ("biller", 404),
        ("client_member", 404),
        ("companion", 404),
        ("other_admin", 404),
        ("other_therapist", 404),
    ],
)
def test_session_screen_permission_matrix(client, world, course, who, status):
    session = dosed(world.therapist, course)
    sign_in(client, getattr(world, who).user)
    assert client.get(_url("detail", session.pk)).status_code == status
    assert client.get(_url("live", session.pk)).status_code == status


def test_read_only_viewers_see_no_forms_and_cannot_write(client, world, course):
    session = dosed(world.therapist, course)
    for who in ("prescriber", "admin"):
        sign_in(client, getattr(world, who).user)
        page = client.get(_url("detail", session.pk))
        assert b"vitals-form" not in page.content and b"discharge-form" not in page.content
        response = client.post(_url("entry", session.pk, "note"), {"text": "x"}, **HTMX)
        assert response.status_code == 403  # refused by the policy, like the API
    for who in ("biller", "other_therapist", "client_member"):
        sign_in(client, getattr(world, who).user)
        assert client.post(_url("entry", session.pk, "note"), {"text": "x"}).status_code == 404
    assert TimelineEntry.objects.filter(session=session, kind="note").count() == 0


def test_client_checklist_page_is_theirs_only(client, world, course):
    session = opened(world.therapist, course)
    sign_in(client, world.client_member.user)
    assert client.get(_url("mine")).url == _url("checklist", session.pk)
    response = client.post(_url("checklist", session.pk), dict.fromkeys(ALL_YES, "on"))
    assert response.status_code == 302
    for who in ("companion", "therapist", "biller", "other_admin"):
        sign_in(client, getattr(world, who).user)
        assert client.get(_url("checklist", session.pk)).status_code == 404
    stranger = member(world.practice, "client")
    sign_in(client, stranger.user)
    assert client.get(_url("checklist", session.pk)).status_code == 404


def test_companion_readout_page_for_at_home_sessions(client, world):
    course = ready_course(world.client, world.therapist, world.prescriber, delivery="at_home")
    Companion.objects.filter(client=world.client).update(confirmed_at=timezone.now())
    session = opened(world.therapist, course)
    sign_in(client, world.companion.user)
    answers = dict.fromkeys(ALL_YES, "on")
    assert client.post(_url("checklist", session.pk), answers).status_code == 302
    session.refresh_from_db()
    services.session_start(
        actor=world.therapist, session_id=session.pk, version=session.version,
        bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True,
    )  # fmt: skip
    assert client.get(_url("mine")).url == _url("readout", session.pk)
    response = client.post(
        _url("readout", session.pk), {"kind": "vitals", "bp_systolic": 182, "bp_diastolic": 90}
    )
    assert response.status_code == 302
    response = client.post(_url("readout", session.pk), {"kind": "check", "check_state": "settled"})
    assert response.status_code == 302
    sources = list(TimelineEntry.objects.filter(session=session).values_list("source", flat=True))
    assert sources.count("companion") == 2
    for who in ("client_member", "therapist"):
        sign_in(client, getattr(world, who).user)
        assert client.get(_url("readout", session.pk)).status_code == 404


def test_settings_page_for_practice_admins(client, world):
    sign_in(client, world.admin.user)
    assert client.get(_url("settings")).status_code == 200
    response = client.post(
        _url("settings"),
        {"bp_systolic_flag": 170, "bp_diastolic_flag": 100, "heart_rate_high": 110,
         "heart_rate_low": 50, "spo2_low": 92, "recheck_minutes": "30, 90",
         "companion_check_minutes": 15, "observation_minutes_in_person": 120,
         "observation_minutes_at_home": 120, "start_valid_minutes": 180},
    )  # fmt: skip
    assert response.status_code == 302
    from kapflow.encounters.models import SessionSettings

    assert SessionSettings.objects.get(organisation=world.practice).recheck_minutes == [30, 90]
    for who in ("therapist", "biller", "client_member"):
        sign_in(client, getattr(world, who).user)
        assert client.get(_url("settings")).status_code == 404


# ---- query counts -------------------------------------------------------------------------


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_session_screen_queries_do_not_grow_with_the_timeline(client, world, course):
    session = dosed(world.therapist, course)
    sign_in(client, world.therapist.user)
    client.get(_url("detail", session.pk))  # warm the session and caches

    def add(n):
        for i in range(n):
            services.entry_add(
                actor=world.therapist, session_id=session.pk, kind="vitals",
                **{**GOOD_VITALS, "heart_rate": 70 + i % 20},
            )  # fmt: skip

    add(1)  # 3 entries: pre-dose vitals, dose, vitals
    few = _queries(client, _url("detail", session.pk))
    few_live = _queries(client, _url("live", session.pk))
    add(27)
    assert TimelineEntry.objects.filter(session=session).count() == 30
    assert _queries(client, _url("detail", session.pk)) == few
    assert _queries(client, _url("live", session.pk)) == few_live


def _group_with(world, n):
    courses = []
    for _ in range(n):
        c = ClientFactory(organisation=world.practice)
        on_team(c, world.therapist)
        courses.append(ready_course(c, world.therapist, world.prescriber))
    group = services.group_create(actor=world.therapist, course_ids=[c.pk for c in courses])
    for session in group.sessions.all():
        session.refresh_from_db()
        services.session_start(
            actor=world.therapist, session_id=session.pk, version=session.version,
            bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True,
        )  # fmt: skip
        services.entry_add(
            actor=world.therapist, session_id=session.pk, kind="vitals", **GOOD_VITALS
        )
    return group


def test_group_screen_queries_do_not_grow_with_the_group(client, world):
    from kapflow.scheduling.models import SchedulingSettings

    SchedulingSettings.objects.create(organisation=world.practice, group_size_max=6)
    small = _group_with(world, 2)
    large = _group_with(world, 6)
    sign_in(client, world.therapist.user)
    client.get(_url("group", small.pk))
    assert _queries(client, _url("group_rows", small.pk)) == _queries(
        client, _url("group_rows", large.pk)
    )
    assert _queries(client, _url("group", small.pk)) == _queries(client, _url("group", large.pk))
    page = client.get(_url("group", large.pk))
    assert page.content.count(b'data-testid="group-row-') == 6


def test_group_size_limit_and_per_client_gate(client, world):
    from kapflow.scheduling.models import SchedulingSettings

    SchedulingSettings.objects.create(organisation=world.practice, group_size_max=2)
    clients = [ClientFactory(organisation=world.practice) for _ in range(3)]
    for c in clients:
        on_team(c, world.therapist)
    courses = [ready_course(c, world.therapist, world.prescriber) for c in clients[:2]]
    blocked = ready_course(clients[2], world.therapist, world.prescriber, consent="withdrawn")
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.group_create(actor=world.therapist, course_ids=[c.pk for c in [*courses, blocked]])
    assert not GroupSession.objects.exists()
    group = services.group_create(actor=world.therapist, course_ids=[courses[0].pk, blocked.pk])
    from kapflow.core.errors import DomainError, GateBlocked

    with pytest.raises(DomainError) as exc:
        services.group_add_client(actor=world.therapist, group_id=group.pk, course_id=courses[1].pk)
    assert exc.value.code == "group.full"
    blocked_session = group.sessions.get(course=blocked)
    with pytest.raises(GateBlocked):
        services.session_start(
            actor=world.therapist, session_id=blocked_session.pk, version=1,
            bp_systolic=120, bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True,
        )  # fmt: skip
    fine = group.sessions.get(course=courses[0])
    started = services.session_start(
        actor=world.therapist, session_id=fine.pk, version=1, bp_systolic=120,
        bp_diastolic=80, alcohol_free_24h=True, driver_confirmed=True,
    )  # fmt: skip
    assert started.state == "in_progress"
    sign_in(client, world.therapist.user)
    page = client.get(_url("group", group.pk))
    assert page.status_code == 200 and b"In progress" in page.content


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("therapist", 200),
        ("admin", 200),
        ("therapist2", 404),
        ("biller", 404),
        ("client_member", 404),
        ("companion", 404),
        ("other_admin", 404),
        ("prescriber", 404),  # partner organisation: groups are the practice's
    ],
)
def test_group_screen_permission_matrix(client, world, course, who, status):
    group = services.group_create(actor=world.therapist, course_ids=[course.pk])
    sign_in(client, getattr(world, who).user)
    assert client.get(_url("group", group.pk)).status_code == status


# ---- review fixes -------------------------------------------------------------------------


def _audits(action, **filters):
    from kapflow.audit.models import AuditEvent

    return AuditEvent.objects.filter(action=action, **filters)


def test_first_dose_refused_by_the_gate_shows_every_reason_on_the_screen(client, world, course):
    from kapflow.consents.models import ConsentSignature
    from tests.consents.factories import withdraw
    from tests.encounters.factories import started

    session = started(world.therapist, course)
    signature = ConsentSignature.objects.filter(client=course.client).latest("signed_at")
    withdraw(signature, by=world.therapist.user)
    sign_in(client, world.therapist.user)
    body = {"route": "sublingual", "amount": "200", "unit": "mg"}
    for extra in (HTMX, {}):
        response = client.post(_url("entry", session.pk, "dose"), body, **extra)
        assert response.status_code == 409
        assert 'data-code="consent.withdrawn"' in response.content.decode()
    assert not TimelineEntry.objects.filter(session=session, kind="dose").exists()


def test_an_expired_start_refuses_the_first_dose_on_the_screen(client, world, course):
    from tests.encounters.factories import started

    session = started(world.therapist, course, at=timezone.now() - 10 * 24 * 60 * MIN)
    sign_in(client, world.therapist.user)
    response = client.post(
        _url("entry", session.pk, "dose"), {"route": "sublingual", "amount": "200", "unit": "mg"},
        **HTMX,
    )  # fmt: skip
    assert response.status_code == 409
    assert 'data-code="session.start_expired"' in response.content.decode()


def test_settings_page_shows_the_start_validity(client, world):
    sign_in(client, world.admin.user)
    page = client.get(_url("settings")).content.decode()
    assert 'name="start_valid_minutes"' in page and 'value="240"' in page


def test_a_partner_prescriber_posting_vitals_gets_403_not_409(client, world, course):
    session = dosed(world.therapist, course)
    sign_in(client, world.prescriber.user)
    for extra in (HTMX, {}):
        response = client.post(_url("entry", session.pk, "vitals"), GOOD_VITALS, **extra)
        assert response.status_code == 403
    assert TimelineEntry.objects.filter(session=session, kind="vitals").count() == 1  # pre-dose


def test_the_group_screen_and_its_poll_audit_every_client_shown(client, world):
    group = _group_with(world, 3)
    client_ids = set(group.sessions.values_list("client_id", flat=True))
    sign_in(client, world.therapist.user)
    assert client.get(_url("group", group.pk)).status_code == 200
    views = _audits("group_session.view", client_id__isnull=False)
    assert set(views.values_list("client_id", flat=True)) == client_ids and views.count() == 3
    assert client.get(_url("group_rows", group.pk)).status_code == 200
    polls = _audits("group_session.poll")
    assert set(polls.values_list("client_id", flat=True)) == client_ids and polls.count() == 3


def test_the_open_confirmation_audits_the_client_shown(client, world, course):
    sign_in(client, world.therapist.user)
    assert client.get(_url("open"), {"course_id": course.pk}).status_code == 200
    assert _audits("dosing_session.open_view", client_id=course.client_id).count() == 1


def test_a_refusal_re_rendering_the_screen_audits_the_client(client, world, course):
    session = opened(world.therapist, course)
    sign_in(client, world.therapist.user)
    before = _audits("dosing_session.view", client_id=course.client_id).count()
    refused = client.post(_url("start", session.pk), {"version": 1}, **HTMX)
    assert refused.status_code == 409
    assert _audits("dosing_session.view", client_id=course.client_id).count() == before + 1


def test_the_correction_page_audits_the_client(client, world, course):
    session = dosed(world.therapist, course)
    entry = TimelineEntry.objects.filter(session=session).first()
    sign_in(client, world.therapist.user)
    before = _audits("dosing_session.view", client_id=course.client_id).count()
    assert client.get(_url("correct", session.pk, entry.pk)).status_code == 200
    assert _audits("dosing_session.view", client_id=course.client_id).count() == before + 1


def test_times_name_their_zone(client, world, course):
    import re

    group = _group_with(world, 2)
    sign_in(client, world.therapist.user)
    rows = client.get(_url("group_rows", group.pk)).content.decode()
    assert re.search(r"Updated \d\d:\d\d:\d\d [A-Za-z][A-Za-z0-9+\-]*", rows)
    assert re.search(r">\d\d:\d\d [A-Za-z][A-Za-z0-9+\-]*<", rows)  # last vitals
    session = dosed(world.therapist, course)
    screen = client.get(_url("detail", session.pk)).content.decode()
    assert re.search(r"dose at \d\d:\d\d [A-Za-z][A-Za-z0-9+\-]*", screen)


def test_my_sessions_name_the_zone(rf, world, course):
    import re

    from django.template.loader import render_to_string

    session = opened(world.therapist, course)
    request = rf.get(_url("mine"))
    request.user = world.client_member.user
    request.actor = world.client_member
    html = render_to_string("encounters/mine.html", {"sessions": [session]}, request=request)
    assert re.search(r"opened \w{3} \d+ \w{3}, \d\d:\d\d [A-Za-z][A-Za-z0-9+\-]*<", html)


def test_the_session_panel_lists_only_confirmed_companions(world):
    """An invited companion who has not confirmed is not the escort the panel promises."""
    from kapflow.encounters.selectors import session_context
    from tests.encounters.factories import opened, ready_course

    course = ready_course(world.client, world.therapist, world.prescriber)
    session = opened(world.therapist, course)
    Companion.objects.filter(client=world.client).update(confirmed_at=None)
    assert session_context(session=session).companions == []
    Companion.objects.filter(client=world.client).update(confirmed_at=timezone.now())
    names = [name for name, _ in session_context(session=session).companions]
    assert names == [str(world.companion.user)]


def test_the_room_link_is_shown_only_to_those_with_a_seat(client, world):
    """A session opened on a telehealth dosing appointment links its video room for the
    appointment's therapist; an admin reading the screen has no seat (the room would say
    "not found"), so no link."""
    from tests.telehealth.factories import telehealth_appointment

    appointment = telehealth_appointment(world)
    session = services.session_open(
        actor=world.therapist, course_id=appointment.course_id, appointment_id=appointment.pk
    )
    room = reverse("telehealth:room", args=[appointment.pk])
    sign_in(client, world.therapist.user)
    assert f'href="{room}"' in client.get(_url("detail", session.pk)).content.decode()
    sign_in(client, world.admin.user)
    screen = client.get(_url("detail", session.pk))
    assert screen.status_code == 200 and f'href="{room}"' not in screen.content.decode()
