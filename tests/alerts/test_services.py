"""Alert services and selectors: who may report, the severity from the answers, the open
course, the e-mail to every clinician on the team with no PHI, acknowledging, who sees what,
nothing half-saved, and open-alert lists pinned at one query plan for 1 and 20 alerts."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from kapflow.alerts import selectors, services
from kapflow.alerts.models import Alert
from kapflow.alerts.tasks import SUBJECT
from kapflow.audit.models import AuditEvent
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.patients.models import Companion
from tests.journal.factories import course_with_dosings
from tests.patients.factories import ClientFactory

NOTE = "My jaw feels tight and I keep seeing the ceiling move."


@pytest.fixture
def course(world):
    return course_with_dosings(world.client, world.therapist, prescriber=world.prescriber)


def _raise(world, actor=None, kind="reaction", answers=None, note="", **extra):
    return services.alert_raise(
        actor=actor or world.client_member, client_id=world.client.pk, kind=kind,
        answers={"symptoms": ["nausea"]} if answers is None else answers, note=note, **extra,
    )  # fmt: skip


# ---- raising ------------------------------------------------------------------------------


def test_the_client_reports_a_reaction_on_their_open_course(world, course):
    alert = _raise(world, answers={"symptoms": ["vomiting", "nausea"]}, note=NOTE)
    assert (alert.client, alert.course, alert.organisation) == (
        world.client,
        course,
        world.practice,
    )
    assert (alert.kind, alert.severity, alert.raised_by_role) == ("reaction", "urgent", "client")
    assert alert.raised_by == world.client_member.user
    assert alert.answers == {"symptoms": ["vomiting", "nausea"], "bp_systolic": None,
                             "bp_diastolic": None}  # fmt: skip
    assert alert.reasons == ["vomiting", "nausea"]
    assert alert.note == NOTE and alert.is_open
    event = AuditEvent.objects.get(action="alert.raise")
    assert (event.target_id, event.client_id) == (alert.pk, world.client.pk)


@pytest.mark.parametrize(
    ("answers", "severity"),
    [
        ({"symptoms": ["chest_pain"]}, "emergency"),
        ({"symptoms": ["self_harm"]}, "emergency"),
        ({"symptoms": ["headache"], "bp_systolic": 185, "bp_diastolic": 100}, "urgent"),
        ({"symptoms": ["low_mood"]}, "routine"),
    ],
)
def test_the_severity_comes_from_the_answers(world, course, answers, severity):
    assert _raise(world, answers=answers).severity == severity


def test_a_companion_presses_need_help_now(world, course):
    alert = _raise(world, actor=world.companion, kind="help_now", answers={})
    assert (alert.kind, alert.severity, alert.raised_by_role) == (
        "help_now",
        "emergency",
        "companion",
    )
    assert alert.answers == {} and alert.reasons == ["help_now"]


def test_a_second_press_within_two_minutes_is_the_same_call_for_help(
    world, course, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = _raise(world, actor=world.companion, kind="help_now", answers={})
    with django_capture_on_commit_callbacks(execute=True):
        again = _raise(world, actor=world.companion, kind="help_now", answers={})
    assert again.pk == first.pk and Alert.objects.count() == 1
    assert len(mailoutbox) == 2  # therapist and prescriber, once
    later = first.raised_at + datetime.timedelta(minutes=3)
    third = _raise(world, actor=world.companion, kind="help_now", answers={}, now=later)
    assert third.pk != first.pk


def test_without_an_open_course_the_alert_has_none(world):
    assert _raise(world).course is None


@pytest.mark.parametrize(
    "role", ["admin", "therapist", "prescriber", "biller", "other_admin", "other_therapist"]
)
def test_staff_cannot_raise_alerts(world, course, role):
    with pytest.raises(NotFound):
        _raise(world, actor=getattr(world, role))
    assert Alert.objects.count() == 0


def test_a_companion_reports_only_for_their_own_client(world, course):
    stranger = ClientFactory(organisation=world.practice)
    with pytest.raises(NotFound):
        services.alert_raise(
            actor=world.companion, client_id=stranger.pk, kind="help_now", answers={}
        )
    with pytest.raises(NotFound):
        services.alert_raise(
            actor=world.client_member, client_id=stranger.pk, kind="reaction",
            answers={"symptoms": ["nausea"]},
        )  # fmt: skip
    assert Alert.objects.count() == 0


def test_a_companion_link_in_another_organisation_does_not_count(world):
    other_client = ClientFactory(organisation=world.other)
    Companion.objects.create(
        organisation=world.other, client=other_client, user=world.companion.user
    )
    with pytest.raises(NotFound):
        services.alert_raise(
            actor=world.companion, client_id=other_client.pk, kind="help_now", answers={}
        )


@pytest.mark.parametrize(
    ("kind", "answers", "note", "field"),
    [
        ("reaction", {"symptoms": ["made_up"]}, "", "symptoms"),
        ("reaction", {"symptoms": "nausea"}, "", "symptoms"),
        ("reaction", {"symptoms": [1]}, "", "symptoms"),
        ("reaction", {}, "", "symptoms"),
        ("reaction", {"bp_systolic": 150}, "", "bp_diastolic"),
        ("reaction", {"bp_systolic": True, "bp_diastolic": 90}, "", "bp_systolic"),
        ("reaction", {"bp_systolic": 150.5, "bp_diastolic": 90}, "", "bp_systolic"),
        ("reaction", {"bp_systolic": 5000, "bp_diastolic": 90}, "", "bp_systolic"),
        ("reaction", {"other": 1}, "", "answers"),
        ("reaction", ["nausea"], "", "answers"),
        ("reaction", {"symptoms": ["nausea"]}, "x" * 2001, "note"),
        ("reaction", {"symptoms": ["nausea"]}, "nul \x00", "note"),
        ("help_now", {"symptoms": ["nausea"]}, "", "answers"),
        ("panic", {}, "", "kind"),
    ],
)
def test_invalid_reports_name_the_field_and_save_nothing(world, course, kind, answers, note, field):
    with pytest.raises(ValidationError) as exc:
        _raise(world, kind=kind, answers=answers, note=note)
    assert field in exc.value.message_dict
    assert Alert.objects.count() == 0
    assert not AuditEvent.objects.filter(action="alert.raise").exists()


def test_a_note_alone_is_a_report(world, course):
    assert _raise(world, answers={}, note="Something feels wrong.").severity == "routine"


# ---- the e-mail ---------------------------------------------------------------------------


def test_every_clinician_on_the_team_is_emailed_a_link_and_nothing_else(
    world, course, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        alert = _raise(world, answers={"symptoms": ["self_harm", "seizure"]}, note=NOTE)
    assert sorted(m.to[0] for m in mailoutbox) == sorted(
        [world.therapist.user.email, world.prescriber.user.email]
    )
    client = world.client
    for mail in mailoutbox:
        assert mail.subject == SUBJECT == "A client has reported a concern in kapflow"
        assert f"/alerts/{alert.pk}/" in mail.body
        text = mail.subject + mail.body
        for phi in (client.legal_first_name, client.legal_last_name, client.email, NOTE,
                    "self_harm", "seizure", "harming", "emergency",
                    str(client.date_of_birth)):  # fmt: skip
            assert phi not in text, phi


def test_nothing_is_emailed_when_the_report_is_refused(
    world, course, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        _raise(world, answers={"symptoms": ["made_up"]})
    assert mailoutbox == []


# ---- acknowledging ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["therapist", "prescriber"])
def test_a_clinician_on_the_team_acknowledges(world, course, role):
    alert = _raise(world)
    actor = getattr(world, role)
    done = services.alert_acknowledge(actor=actor, alert_id=alert.pk, note="Called the client.")
    assert (done.acknowledged_by, done.acknowledgement_note) == (actor, "Called the client.")
    assert done.acknowledged_at is not None and not done.is_open
    assert AuditEvent.objects.get(action="alert.acknowledge").target_id == alert.pk


def test_a_practice_admin_sees_but_may_not_acknowledge(world, course):
    alert = _raise(world)
    with pytest.raises(PermissionDenied):
        services.alert_acknowledge(actor=world.admin, alert_id=alert.pk, note="Seen.")
    alert.refresh_from_db()
    assert alert.is_open


@pytest.mark.parametrize(
    "role", ["therapist2", "biller", "client_member", "companion", "other_admin", "other_therapist"]
)
def test_everyone_else_is_told_not_found(world, course, role):
    alert = _raise(world)
    with pytest.raises(NotFound):
        services.alert_acknowledge(actor=getattr(world, role), alert_id=alert.pk, note="Seen.")


def test_acknowledging_needs_a_note_and_happens_once(world, course):
    alert = _raise(world)
    for note in ("", "   ", "\x00"):
        with pytest.raises(ValidationError) as exc:
            services.alert_acknowledge(actor=world.therapist, alert_id=alert.pk, note=note)
        assert list(exc.value.message_dict) == ["note"]
    services.alert_acknowledge(actor=world.therapist, alert_id=alert.pk, note="Called.")
    with pytest.raises(DomainError) as exc:
        services.alert_acknowledge(actor=world.prescriber, alert_id=alert.pk, note="Me too.")
    assert exc.value.code == "alert.acknowledged"
    alert.refresh_from_db()
    assert alert.acknowledged_by == world.therapist


# ---- reading ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "sees"),
    [("admin", True), ("therapist", True), ("prescriber", True), ("therapist2", False),
     ("biller", False), ("client_member", False), ("companion", False),
     ("other_admin", False), ("other_therapist", False)],
)  # fmt: skip
def test_who_sees_open_alerts(world, course, role, sees):
    alert = _raise(world)
    actor = getattr(world, role)
    assert [a.pk for a in selectors.open_alerts(actor=actor)] == ([alert.pk] if sees else [])
    assert [a.pk for a in selectors.open_alerts_for_course(actor=actor, course=course)] == (
        [alert.pk] if sees else []
    )
    if not sees:
        with pytest.raises(NotFound):
            selectors.alert_get_for_actor(actor=actor, alert_id=alert.pk)


def test_open_alerts_put_emergencies_first_and_drop_acknowledged_ones(world, course):
    routine = _raise(world, answers={"symptoms": ["nausea"]})
    emergency = _raise(world, answers={"symptoms": ["seizure"]})
    urgent = _raise(world, answers={"symptoms": ["agitation"]})
    done = _raise(world, answers={"symptoms": ["headache"]})
    services.alert_acknowledge(actor=world.therapist, alert_id=done.pk, note="Called.")
    listed = selectors.open_alerts(actor=world.therapist)
    assert [a.pk for a in listed] == [emergency.pk, urgent.pk, routine.pk]
    assert all(a.can_acknowledge for a in listed)
    assert not any(a.can_acknowledge for a in selectors.open_alerts(actor=world.admin))


def test_the_course_shows_its_own_alerts_and_those_raised_between_courses(world, course):
    between = _raise(world)  # raised on the open course
    Alert.objects.filter(pk=between.pk).update(course=None)
    on_course = _raise(world)
    old = course_with_dosings(world.client, world.therapist, dosings=0, closed_at=timezone.now())
    Alert.objects.filter(pk=_raise(world).pk).update(course=old)
    listed = selectors.open_alerts_for_course(actor=world.therapist, course=course)
    assert {a.pk for a in listed} == {between.pk, on_course.pk}


def test_open_alert_reads_are_audited_per_alert(world, course):
    _raise(world)
    _raise(world)
    selectors.open_alerts(actor=world.therapist)
    assert AuditEvent.objects.filter(action="alert.list").count() == 2


@pytest.mark.parametrize("reader", ["open_alerts", "open_alerts_for_course"])
def test_open_alerts_take_the_same_queries_for_1_and_20(
    world, course, reader, django_assert_num_queries
):
    def read():
        if reader == "open_alerts":
            return selectors.open_alerts(actor=world.therapist)
        return selectors.open_alerts_for_course(actor=world.therapist, course=course)

    _raise(world)
    # One SELECT (client, course, reporter joined; "may acknowledge" annotated), the audit
    # chain's head (lock and read) and one INSERT of the audit rows.
    with django_assert_num_queries(3):
        assert len(read()) == 1
    for _ in range(19):
        _raise(world, answers={"symptoms": ["seizure"]})
    with django_assert_num_queries(3):
        alerts = read()
    assert len(alerts) == 20
    # Everything the banner shows is already loaded.
    with django_assert_num_queries(0):
        [(a.client.display_name, a.get_severity_display(), a.can_acknowledge) for a in alerts]


def test_the_reporter_sees_only_what_they_raised(world, course):
    alert = _raise(world)
    assert selectors.alert_get_for_reporter(actor=world.client_member, alert_id=alert.pk) == alert
    for role in ("companion", "therapist"):
        with pytest.raises(NotFound):
            selectors.alert_get_for_reporter(actor=getattr(world, role), alert_id=alert.pk)


def test_the_advice_never_promises_a_reply_time(world, course):
    for answers in ({"symptoms": ["seizure"]}, {"symptoms": ["self_harm"]},
                    {"symptoms": ["vomiting"]}, {"symptoms": ["nausea"]}):  # fmt: skip
        advice = selectors.reporter_advice(_raise(world, answers=answers))
        for promise in ("within", "minutes", "hours", "will call", "will reply"):
            assert promise not in advice["message"]
    help_now = _raise(world, actor=world.companion, kind="help_now", answers={})
    assert "911" in selectors.reporter_advice(help_now)["message"]


def test_time_of_raise_is_kept(world, course):
    at = timezone.now() - datetime.timedelta(minutes=5)
    assert _raise(world, now=at).raised_at == at
