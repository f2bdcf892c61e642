"""The client's portal account and their companion: invitations, the companion's checklist
and confirmation (which the at-home gate reads), check-ins, and what each may see."""

import datetime
import re

import pytest
from django.core import mail

from kapflow.accounts.models import Invitation
from kapflow.core import clock
from kapflow.courses.models import Course
from kapflow.courses.selectors import course_facts, with_facts
from kapflow.patients.models import Client, Companion, CompanionCheckin
from kapflow.patients.services import COMPANION_CHECKLIST
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory, on_team

pytestmark = pytest.mark.django_db


def _link(body: str) -> str:
    line = next(line for line in body.splitlines() if "/invite/" in line).strip()
    return "/invite/" + line.split("/invite/", 1)[1]


def _accept(client, path, name):
    client.post("/sign-out/")
    return client.post(path, {"full_name": name, "password": "a-long-enough-passphrase"})


def test_therapist_invites_the_client_who_opens_their_own_record(
    client, world, django_capture_on_commit_callbacks
):
    record = ClientFactory(organisation=world.practice, email="rowan.client@example.test")
    on_team(record, world.therapist)
    make_course(record, world.therapist, stage="intake")
    sign_in(client, world.therapist.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/clients/{record.pk}/portal-invite/")
    assert response.status_code == 302
    body = mail.outbox[0].body
    assert record.legal_last_name not in body and "portal" in body
    assert _accept(client, _link(body), "Rowan Client").status_code == 302
    record.refresh_from_db()
    assert record.user is not None and record.user.email == "rowan.client@example.test"
    home = client.get("/").content.decode()
    assert 'data-testid="next-step"' in home and "assessing whether KAP suits you" in home


def test_the_biller_may_not_invite_and_another_practice_gets_404(client, world):
    sign_in(client, world.biller.user)
    assert client.post(f"/clients/{world.unreferred.pk}/portal-invite/").status_code == 403
    sign_in(client, world.other_admin.user)
    assert client.post(f"/clients/{world.unreferred.pk}/portal-invite/").status_code == 404
    assert not Invitation.objects.filter(client=world.unreferred).exists()


def test_a_client_with_a_portal_account_is_not_invited_again(client, world):
    sign_in(client, world.therapist.user)
    client.post(f"/clients/{world.client.pk}/portal-invite/")
    assert not Invitation.objects.filter(client=world.client).exists()


def test_a_companion_must_be_an_adult(client, world):
    sign_in(client, world.client_member.user)
    today = clock.clinical_date(world.practice)
    young = today.replace(year=today.year - 17)
    response = client.post(
        "/me/companion/new/",
        {"full_name": "Sky", "email": "sky@example.test", "relationship": "cousin",
         "date_of_birth": young.isoformat()},
    )  # fmt: skip
    assert response.status_code == 422
    assert "18 or older" in response.content.decode()
    assert not Invitation.objects.filter(email="sky@example.test").exists()


def test_client_names_a_companion_who_accepts_and_sees_no_clinical_data(
    client, world, django_capture_on_commit_callbacks
):
    sign_in(client, world.client_member.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/me/companion/new/",
            {"full_name": "Morgan Reyes", "email": "morgan@example.test",
             "relationship": "partner", "date_of_birth": "1985-04-02"},
        )  # fmt: skip
    assert response.status_code == 302
    body = mail.outbox[0].body
    assert world.client.legal_last_name not in body and "companion" in body
    assert _accept(client, _link(body), "Morgan Reyes").status_code == 302
    companion = Companion.objects.get(client=world.client, user__email="morgan@example.test")
    assert (companion.relationship, companion.date_of_birth) == (
        "partner",
        datetime.date(1985, 4, 2),
    )
    page = client.get(f"/me/companions/{companion.pk}/").content.decode()
    assert 'data-testid="safety-sheet"' in page and "911" in page
    for url in (
        f"/clients/{world.client.pk}/", f"/assessments/clients/{world.client.pk}/",
        f"/outcomes/clients/{world.client.pk}/", "/courses/", "/prescribing/referrals/",
    ):  # fmt: skip
        assert client.get(url).status_code == 404, url


def test_confirmation_needs_every_item_and_clears_the_at_home_gate(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="active", delivery="at_home")  # fmt: skip
    companion = Companion.objects.get(client=world.client, user=world.companion.user)

    def facts():
        return course_facts(with_facts(Course.objects.filter(pk=course.pk)).get())

    assert not facts().companion_confirmed
    sign_in(client, world.companion.user)
    url = f"/me/companions/{companion.pk}/"
    partial = client.post(url, {"intent": "confirm", "present": "on"})
    assert partial.status_code == 422 and "Not ticked yet" in partial.content.decode()
    companion.refresh_from_db()
    assert companion.confirmed_at is None and companion.checklist == {}  # nothing half-saved
    assert re.search(r'name="present"[^>]*checked', partial.content.decode())  # kept ticked
    everything = {"intent": "confirm", **{code: "on" for code, _ in COMPANION_CHECKLIST}}
    assert client.post(url, everything).status_code == 302
    assert facts().companion_confirmed


def test_companion_check_in_reaches_the_course_and_validates_vitals(client, world):
    course = make_course(world.client, world.therapist, stage="active", delivery="at_home")
    companion = Companion.objects.get(client=world.client, user=world.companion.user)
    sign_in(client, world.companion.user)
    url = f"/me/companions/{companion.pk}/"
    half = client.post(url, {"intent": "checkin", "state": "settled", "bp_systolic": "150"})
    assert half.status_code == 422 and not CompanionCheckin.objects.exists()
    ok = client.post(url, {"intent": "checkin", "state": "restless", "bp_systolic": "150",
                           "bp_diastolic": "95", "heart_rate": "92"})  # fmt: skip
    assert ok.status_code == 302
    checkin = CompanionCheckin.objects.get()
    assert (checkin.course_id, checkin.state, checkin.bp_systolic) == (course.pk, "restless", 150)


def test_another_persons_companion_page_is_not_found(client, world):
    other = Companion.objects.create(
        organisation=world.practice, client=world.unreferred, user=world.therapist2.user
    )
    sign_in(client, world.companion.user)
    assert client.get(f"/me/companions/{other.pk}/").status_code == 404
    sign_in(client, world.client_member.user)
    assert client.get(f"/me/companions/{other.pk}/").status_code == 404
    assert Client.objects.filter(pk=world.client.pk).exists()


def test_a_not_responding_check_in_alerts_the_care_team_at_once(client, world):
    from kapflow.alerts.models import Alert

    make_course(world.client, world.therapist, stage="active", delivery="at_home")
    companion = Companion.objects.get(client=world.client, user=world.companion.user)
    sign_in(client, world.companion.user)
    client.post(f"/me/companions/{companion.pk}/", {"intent": "checkin", "state": "unresponsive"})
    alert = Alert.objects.get(client=world.client)
    assert (alert.kind, alert.severity, alert.raised_by_role) == (
        "help_now",
        "emergency",
        "companion",
    )


def test_the_therapist_sees_the_companions_check_ins_on_the_course_page(client, world):
    course = make_course(world.client, world.therapist, stage="active", delivery="at_home")
    companion = Companion.objects.get(client=world.client, user=world.companion.user)
    CompanionCheckin.objects.create(
        organisation=world.practice, companion=companion, client=world.client, course=course,
        state="restless", bp_systolic=148, bp_diastolic=92,
    )  # fmt: skip
    sign_in(client, world.therapist.user)
    page = client.get(f"/courses/{course.pk}/").content.decode()
    assert 'data-testid="companion-checkins"' in page and "148/92" in page
    sign_in(client, world.biller.user)
    assert client.get(f"/courses/{course.pk}/").status_code == 404
