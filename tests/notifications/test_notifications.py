"""In-app notifications: each event tells the right people (and only them), in the event's
own transaction, with no PHI in the row; the unread count, the list, opening one and marking
all read; another practice never sees them; the list's queries are fixed."""

import ast
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.alerts.services import alert_raise
from kapflow.core import clock
from kapflow.notifications.models import Kind, Notification
from kapflow.notifications.services import notify
from tests.conftest import sign_in
from tests.consents.factories import current
from tests.courses.factories import make_course
from tests.messaging.factories import care_thread
from tests.prescriptions.factories import evaluate

SRC = Path(__file__).resolve().parents[2] / "src" / "kapflow" / "notifications"


def _to(member, kind=None):
    qs = Notification.objects.filter(recipient=member)
    return qs.filter(kind=kind) if kind else qs


def test_a_client_signing_a_consent_tells_the_care_team_only(world):
    from kapflow.consents import services

    signature = services.consent_sign(
        actor=world.client_member, document_id=current(world.practice, "kap").pk,
        typed_name=f"{world.client.legal_first_name} {world.client.legal_last_name}",
        signed_on=clock.clinical_date(world.practice), understood=True,
    )  # fmt: skip
    [n] = _to(world.therapist, Kind.CONSENT_SIGNED)
    assert (n.route, n.object_id, n.organisation_id) == (
        "consents:signature", signature.pk, world.practice.pk,
    )  # fmt: skip
    # The partner prescriber is on the team too: told, in the partner's organisation.
    assert _to(world.prescriber, Kind.CONSENT_SIGNED).get().organisation_id == world.partner.pk
    assert not _to(world.therapist2).exists()  # not on the care team
    assert not _to(world.client_member).exists()  # not oneself
    assert not _to(world.other_therapist).exists()


def test_a_client_answering_a_questionnaire_tells_the_care_team(world):
    from kapflow.assessments import services
    from kapflow.assessments.models import Source

    make_course(world.client, world.therapist, prescriber=world.prescriber, stage="intake")
    assignment = services.assignment_create(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9"
    )
    response = services.response_save(
        assignment_id=assignment.pk, answers={f"phq9_{i}": 1 for i in range(1, 10)},
        submit=True, source=Source.PORTAL, actor=world.client_member,
    )  # fmt: skip
    [n] = _to(world.therapist, Kind.QUESTIONNAIRE_ANSWERED)
    assert (n.route, n.object_id) == ("assessments:response", response.pk)
    assert not _to(world.therapist2).exists()


def test_a_draft_saved_without_submitting_tells_no_one(world):
    from kapflow.assessments import services
    from kapflow.assessments.models import Source

    assignment = services.assignment_create(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9"
    )
    services.response_save(
        assignment_id=assignment.pk, answers={"phq9_1": 1}, submit=False, source=Source.PORTAL,
        actor=world.client_member,
    )  # fmt: skip
    assert not Notification.objects.exists()


def test_a_message_tells_the_other_participants(world):
    thread = care_thread(world)  # the client writes
    [n] = _to(world.therapist, Kind.MESSAGE_RECEIVED)
    assert (n.route, n.object_id) == ("messaging:thread", thread.pk)
    assert not _to(world.client_member).exists()
    from kapflow.messaging import services

    services.message_send(actor=world.therapist, thread_id=thread.pk, body="See you Tuesday.")
    assert _to(world.client_member, Kind.MESSAGE_RECEIVED).count() == 1
    assert _to(world.therapist, Kind.MESSAGE_RECEIVED).count() == 1  # not for their own


def test_a_referral_tells_its_prescriber(world):
    from kapflow.prescriptions import services

    course = make_course(world.unreferred, world.therapist, stage="intake")
    referral = services.referral_send(
        actor=world.therapist, course_id=course.pk, prescriber_id=world.prescriber.pk,
        reason="Recurrent depression after two medication trials.", diagnoses=["F33.1"],
        medications="Sertraline 100 mg", history="No psychosis.", consent_to_share=True,
        consent_note="Signed release of information on file.",
    )  # fmt: skip
    [n] = _to(world.prescriber, Kind.REFERRAL_RECEIVED)
    assert (n.route, n.object_id, n.organisation_id) == (
        "prescriptions:referral", referral.pk, world.partner.pk,
    )  # fmt: skip
    assert not _to(world.therapist).exists()


def test_a_decision_and_a_prescription_tell_the_therapist(world):
    from kapflow.prescriptions import selectors, services
    from tests.prescriptions.factories import CLEAN_CHECKLIST

    course = make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage="medical_evaluation"
    )
    evaluation = evaluate(course, world.prescriber, complete=False)
    services.evaluation_save(
        actor=world.prescriber, evaluation_id=evaluation.pk,
        data={"evaluated_on": clock.clinical_date(world.practice), "bp_systolic": 122,
              "bp_diastolic": 78, "pregnancy": "not_applicable", "ongoing_therapy": True},
        medications=[], checklist=CLEAN_CHECKLIST, version=evaluation.version,
    )  # fmt: skip
    digest = selectors.evaluation_get_for_actor(
        actor=world.prescriber, referral_id=evaluation.referral_id
    ).digest
    services.eligibility_decide(
        actor=world.prescriber, evaluation_id=evaluation.pk, decision="eligible",
        reason="Benefits outweigh the risks.", signature=world.prescriber.user.full_name,
        clearance_valid_days=180, findings_digest_seen=digest,
    )  # fmt: skip
    [n] = _to(world.therapist, Kind.EVALUATION_DECIDED)
    assert (n.route, n.object_id) == ("courses:detail", course.pk)
    from decimal import Decimal

    prescription = services.prescription_issue(
        actor=world.prescriber, course_id=course.pk, product="ketamine_sl_rdt",
        strength_mg=Decimal("100"), dose_mg=Decimal("200"), quantity=2, refills=1,
        pharmacy_name="Cedar Compounding", dea_number="AB1234563",
    )  # fmt: skip
    [n] = _to(world.therapist, Kind.PRESCRIPTION_ISSUED)
    assert (n.route, n.object_id) == ("prescriptions:prescription", prescription.pk)
    assert not _to(world.prescriber).exists()


def test_a_safety_alert_tells_the_care_team(world):
    alert = alert_raise(
        actor=world.client_member, client_id=world.client.pk, kind="help_now", answers={}
    )
    assert _to(world.therapist, Kind.ALERT_RAISED).get().object_id == alert.pk
    assert _to(world.prescriber, Kind.ALERT_RAISED).exists()
    assert not _to(world.therapist2).exists()
    assert not _to(world.other_therapist).exists()


def test_an_event_that_fails_tells_no_one(world):
    from django.core.exceptions import ValidationError

    from kapflow.consents import services

    with pytest.raises(ValidationError):
        services.consent_sign(
            actor=world.client_member, document_id=current(world.practice, "kap").pk,
            typed_name="Someone Else", signed_on=clock.clinical_date(world.practice),
            understood=True,
        )  # fmt: skip
    assert not Notification.objects.exists()


def test_notify_refuses_an_unknown_kind(world):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        notify(recipients=[world.therapist], kind="gossip")
    assert set(exc.value.message_dict) == {"kind"}
    assert not Notification.objects.exists()


def test_the_notification_text_names_no_one(world):
    alert_raise(actor=world.client_member, client_id=world.client.pk, kind="help_now", answers={})
    n = _to(world.therapist).get()
    row = {f.name: getattr(n, f.attname) for f in Notification._meta.concrete_fields}
    text = " ".join(str(v) for v in row.values()) + n.get_kind_display()
    for value in (world.client.legal_first_name, world.client.legal_last_name):
        assert value not in text


def test_notifications_import_no_other_app():
    """Apps import notifications, never the reverse (route names instead)."""
    allowed = {"kapflow.accounts", "kapflow.core", "kapflow.notifications"}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("kapflow."):
                    assert ".".join(name.split(".")[:2]) in allowed, (path.name, name)


# ---- pages ----------------------------------------------------------------------------------


def _alert(world):
    return alert_raise(
        actor=world.client_member, client_id=world.client.pk, kind="help_now", answers={}
    )


def test_bell_shows_the_unread_count(client, world):
    _alert(world)
    sign_in(client, world.therapist.user)
    page = client.get("/notifications/bell/").content.decode()
    assert 'data-testid="bell-count" aria-hidden="true">1<' in page
    assert "1 unread" in page
    sign_in(client, world.therapist2.user)
    assert 'data-testid="bell-count"' not in client.get("/notifications/bell/").content.decode()


def test_every_page_carries_the_bell(client, world):
    sign_in(client, world.therapist.user)
    assert 'hx-get="/notifications/bell/"' in client.get("/courses/").content.decode()


def test_open_marks_read_and_goes_to_the_page(client, world):
    alert = _alert(world)
    n = _to(world.therapist).get()
    sign_in(client, world.therapist.user)
    response = client.post("/notifications/open/", {"id": n.pk})
    assert response.status_code == 302
    assert response["Location"] == f"/alerts/{alert.pk}/"
    n.refresh_from_db()
    assert n.read_at is not None
    assert 'data-testid="bell-count"' not in client.get("/notifications/bell/").content.decode()


def test_someone_elses_notification_cannot_be_opened(client, world):
    _alert(world)
    n = _to(world.therapist).get()
    for other in (world.therapist2, world.other_admin, world.prescriber):
        sign_in(client, other.user)
        response = client.post("/notifications/open/", {"id": n.pk}, follow=True)
        assert response.status_code == 200
        assert "no longer there" in response.content.decode()
    n.refresh_from_db()
    assert n.read_at is None
    sign_in(client, world.therapist.user)
    assert client.post("/notifications/open/", {"id": "x"}).status_code == 302  # no 500


def test_mark_all_read_and_get_is_refused(client, world):
    _alert(world)
    care_thread(world)
    _other = _to(world.prescriber).count()
    sign_in(client, world.therapist.user)
    assert client.get("/notifications/read-all/").status_code == 405
    page = client.get("/notifications/").content.decode()
    assert 'data-testid="unread-count">2 unread' in page
    client.post("/notifications/read-all/")
    assert not _to(world.therapist).filter(read_at__isnull=True).exists()
    assert _to(world.prescriber).filter(read_at__isnull=True).count() == _other


def test_list_queries_are_fixed(client, world):
    sign_in(client, world.therapist.user)
    client.get("/notifications/")
    _alert(world)
    with CaptureQueriesContext(connection) as one:
        client.get("/notifications/")
    for _ in range(5):
        notify(recipients=[world.therapist], kind="message_received", route="messaging:inbox")
    with CaptureQueriesContext(connection) as six:
        page = client.get("/notifications/").content.decode()
    assert page.count('name="id"') == 6
    assert len(six) == len(one)


def test_a_client_and_a_companion_have_a_list_too(client, world):
    notify(recipients=[world.client_member], kind="message_received", route="messaging:inbox")
    sign_in(client, world.client_member.user)
    assert 'data-testid="unread-count">1 unread' in client.get("/notifications/").content.decode()
    sign_in(client, world.companion.user)
    assert "Nothing unread" in client.get("/notifications/").content.decode()
