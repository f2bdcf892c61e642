"""Who sees the prescribing pages and endpoints: a role-by-URL matrix, the partner's view of
what was referred to it (and nothing else), shared scores, and what the practice sees of the
prescriber's decision."""

import pytest

from kapflow.accounts.models import Role
from kapflow.prescriptions import services
from tests.accounts.factories import member
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.outcomes.factories import score
from tests.patients.factories import on_team
from tests.prescriptions.factories import decide, evaluate, refer

ROLES = ["admin", "therapist", "therapist2", "biller", "prescriber", "client_member",
         "companion", "other_admin", "other_therapist"]  # fmt: skip

MAOI = {
    "code": "interaction.maoi", "severity": "interaction", "source": "Spravato PI 7",
    "message": "MAOI (phenelzine): monitor blood pressure closely.",
}  # fmt: skip


@pytest.fixture
def treated(world):
    """world.client's active course: referred to world.prescriber (scores not shared),
    evaluated, decided eligible with one finding, and prescribed (2 doses dispensed)."""
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    referral = refer(course, world.prescriber, status="evaluated", share_scores=False)
    evaluation = evaluate(course, world.prescriber, referral=referral)
    decide(evaluation, reason="Cleared; watch blood pressure.", findings=[MAOI])
    score(world.client, 12)
    w = type("Treated", (), {})()
    w.course, w.referral, w.evaluation = course, referral, evaluation
    w.prescription = course.prescriptions.get()
    return w


def _ids(t):
    return {"c": t.course.pk, "r": t.referral.pk, "p": t.prescription.pk}


# 200 for these roles, 404 for everyone else (in the order of ROLES).
ALL = "admin therapist therapist2 biller prescriber other_admin other_therapist"
SEES_THE_CLIENT = "admin therapist prescriber"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("/prescribing/", "prescriber"),
        ("/prescribing/referrals/", "admin therapist therapist2 prescriber other_admin "
                                    "other_therapist"),
        ("/prescribing/referrals/{r}/", SEES_THE_CLIENT),
        ("/prescribing/referrals/{r}/evaluation/", SEES_THE_CLIENT),
        ("/prescribing/courses/{c}/refer/", "therapist"),
        ("/prescribing/courses/{c}/prescribe/", "prescriber"),
        ("/prescribing/courses/{c}/followup/", "prescriber"),
        ("/prescribing/prescriptions/{p}/", SEES_THE_CLIENT),
        ("/prescribing/mine/doses/", "client_member"),
        ("/api/v1/prescribing/referrals", "admin therapist therapist2 prescriber other_admin "
                                          "other_therapist"),
        ("/api/v1/prescribing/referrals/{r}", SEES_THE_CLIENT),
        ("/api/v1/prescribing/referrals/{r}/evaluation", SEES_THE_CLIENT),
        ("/api/v1/prescribing/prescriptions/{p}", SEES_THE_CLIENT),
    ],
)  # fmt: skip
@pytest.mark.parametrize("role", ROLES)
def test_prescribing_permissions(client, world, treated, url, allowed, role):
    sign_in(client, getattr(world, role).user)
    response = client.get(url.format(**_ids(treated)))
    assert response.status_code == (200 if role in allowed.split() else 404), response.content[:200]


POSTS = [
    pytest.param("/prescribing/referrals/{r}/accept/", {}, id="accept"),
    ("/prescribing/referrals/{r}/schedule/", {"scheduled_for": "2030-01-01T10:00"}),
    ("/prescribing/referrals/{r}/close/", {"reason": "No."}),
    ("/prescribing/referrals/{r}/evaluation/", {"intent": "decide"}),
    ("/prescribing/courses/{c}/refer/", {"reason": "x"}),
    ("/prescribing/courses/{c}/prescribe/", {"product": "ketamine_sl_rdt"}),
    ("/prescribing/courses/{c}/followup/", {"plan": "continue", "note": "x"}),
    ("/prescribing/prescriptions/{p}/fills/", {"quantity": 1, "dispensed_on": "2030-01-01"}),
    ("/prescribing/prescriptions/{p}/cancel/", {"reason": "No."}),
]


@pytest.mark.parametrize(("url", "body"), POSTS)
@pytest.mark.parametrize("role", ["biller", "other_admin", "other_therapist"])
def test_outsiders_get_404_on_every_prescribing_form(client, world, treated, url, body, role):
    sign_in(client, getattr(world, role).user)
    response = client.post(url.format(**_ids(treated)), body)
    assert response.status_code == 404
    treated.prescription.refresh_from_db()
    assert treated.prescription.status == "active"
    assert treated.prescription.dispenses.count() == 1


@pytest.mark.parametrize(
    "url", [url for url, _ in POSTS[1:]] + ["/prescribing/referrals/{r}/accept/"]
)
@pytest.mark.parametrize("role", ["client_member", "companion"])
def test_clients_and_companions_get_404_on_every_prescribing_form(client, world, treated, url,
                                                                  role):  # fmt: skip
    sign_in(client, getattr(world, role).user)
    assert client.post(url.format(**_ids(treated)), {"reason": "x"}).status_code == 404


# ---- the partner sees only what was referred to it ----------------------------------------


@pytest.fixture(params=["partner colleague", "practice prescriber"])
def elsewhere(request, world):
    """world.unreferred's course, referred to another prescriber (a colleague of
    world.prescriber at the partner, or the practice's own) and prescribed."""
    organisation = world.partner if request.param == "partner colleague" else world.practice
    other = member(organisation, Role.PRESCRIBER, licences=[("MD", "OR")])
    on_team(world.unreferred, other, role="prescriber")
    course = make_course(world.unreferred, world.therapist, prescriber=other, stage="active")
    referral = refer(course, other, status="evaluated")
    decide(evaluate(course, other, referral=referral), findings=[MAOI])
    w = type("Elsewhere", (), {})()
    w.course, w.referral, w.prescription, w.prescriber = (
        course, referral, course.prescriptions.get(), other,
    )  # fmt: skip
    return w


UNREFERRED_URLS = [
    "/prescribing/referrals/{r}/",
    "/prescribing/referrals/{r}/evaluation/",
    "/prescribing/prescriptions/{p}/",
    "/prescribing/courses/{c}/prescribe/",
    "/prescribing/courses/{c}/followup/",
    "/courses/{c}/",
    "/clients/{client}/",
    "/assessments/clients/{client}/",
    "/outcomes/clients/{client}/",
    "/api/v1/prescribing/referrals/{r}",
    "/api/v1/prescribing/referrals/{r}/evaluation",
    "/api/v1/prescribing/prescriptions/{p}",
    "/api/v1/courses/{c}",
    "/api/v1/clients/{client}",
]


@pytest.mark.parametrize("url", UNREFERRED_URLS)
def test_the_partner_never_sees_a_client_not_referred_to_it(client, world, elsewhere, url):
    ids = {"c": elsewhere.course.pk, "r": elsewhere.referral.pk, "p": elsewhere.prescription.pk,
           "client": world.unreferred.pk}  # fmt: skip
    sign_in(client, world.prescriber.user)
    assert client.get(url.format(**ids)).status_code == 404
    sign_in(client, elsewhere.prescriber.user)
    assert client.get(url.format(**ids)).status_code == 200  # the addressee does


def test_the_partners_lists_leave_out_a_client_not_referred_to_it(client, world, elsewhere):
    sign_in(client, world.prescriber.user)
    listed = client.get("/api/v1/prescribing/referrals", {"status": "all"}).json()
    assert listed["count"] == 0
    page = client.get("/prescribing/referrals/?status=all").content.decode()
    assert world.unreferred.legal_last_name not in page
    queue = client.get("/prescribing/").content.decode()
    assert world.unreferred.legal_last_name not in queue
    sign_in(client, elsewhere.prescriber.user)
    page = client.get("/prescribing/referrals/?status=all").content.decode()
    assert world.unreferred.legal_last_name in page


# ---- shared content and scores ------------------------------------------------------------


def test_the_partner_sees_the_shared_referral_but_not_unshared_scores(client, world, treated):
    sign_in(client, world.prescriber.user)
    page = client.get(f"/prescribing/referrals/{treated.referral.pk}/").content.decode()
    assert "Depression that did not respond to two antidepressants." in page
    assert "F33.1" in page
    assert "Not shared." in page
    body = client.get(f"/api/v1/prescribing/referrals/{treated.referral.pk}").json()
    assert (body["share_scores"], body["scores"]) == (False, [])
    assert client.get(f"/assessments/clients/{world.client.pk}/").status_code == 404
    assert client.get(f"/outcomes/clients/{world.client.pk}/").status_code == 404
    assert client.get(f"/api/v1/assessments/clients/{world.client.pk}").status_code == 404
    assert client.get(f"/api/v1/outcomes/clients/{world.client.pk}/scores").status_code == 404


def test_the_partner_sees_scores_the_referral_shared(client, world):
    course = make_course(world.client, world.therapist, stage="intake")
    score(world.client, 17)
    referral = services.referral_send(
        actor=world.therapist, course_id=course.pk, prescriber_id=world.prescriber.pk,
        reason="Treatment-resistant depression.", diagnoses=["F33.2"], share_scores=True,
        consent_to_share=True, consent_note="Signed release on file.",
    )  # fmt: skip
    sign_in(client, world.prescriber.user)
    page = client.get(f"/prescribing/referrals/{referral.pk}/").content.decode()
    assert "<td>PHQ-9</td><td>17</td>" in page
    assert client.get(f"/assessments/clients/{world.client.pk}/").status_code == 200
    assert client.get(f"/outcomes/clients/{world.client.pk}/").status_code == 200
    assert client.get(f"/api/v1/assessments/clients/{world.client.pk}").status_code == 200


@pytest.mark.parametrize("role", ["therapist", "admin"])
def test_the_practice_sees_the_decision_with_findings_and_the_prescriptions(
    client, world, treated, role
):
    sign_in(client, getattr(world, role).user)
    page = client.get(f"/courses/{treated.course.pk}/").content.decode()
    assert '<strong data-testid="decision-value">Eligible</strong>' in page
    assert "Cleared; watch blood pressure." in page
    assert 'data-code="interaction.maoi"' in page
    assert MAOI["message"] in page
    assert 'data-testid="prescriptions"' in page
    assert "2 dispensed, 0 used" in page
    assert "Ketamine rapid-dissolve tablet (compounded)" in page
    evaluation = client.get(f"/api/v1/prescribing/referrals/{treated.referral.pk}/evaluation")
    assert evaluation.json()["decisions"][0]["findings"] == [MAOI | {"medication": ""}]
    assert evaluation.json()["editable"] is False


def test_a_withdrawn_referral_is_not_shown_to_the_partner(client, world):
    course = make_course(world.client, world.therapist, stage="intake")
    referral = services.referral_send(
        actor=world.therapist, course_id=course.pk, prescriber_id=world.prescriber.pk,
        reason="Confidential reason for referral.", diagnoses=["F43.10"],
        medications="Confidential medication list", history="Confidential history",
        share_scores=True, consent_to_share=True, consent_note="Signed release on file.",
    )  # fmt: skip
    services.referral_accept(actor=world.prescriber, referral_id=referral.pk)
    services.referral_close(actor=world.therapist, referral_id=referral.pk,
                            reason="Client chose another clinic.")  # fmt: skip

    sign_in(client, world.prescriber.user)
    # The page says it was withdrawn and why; nothing that was shared shows any more.
    page = client.get(f"/prescribing/referrals/{referral.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Client chose another clinic." in text and "Confidential" not in text
    assert "F43.10" not in text
    assert client.get(f"/prescribing/referrals/{referral.pk}/evaluation/").status_code == 404
    assert client.get(f"/api/v1/prescribing/referrals/{referral.pk}/evaluation").status_code == 404
    assert client.get(f"/courses/{course.pk}/").status_code == 404
    assert client.get(f"/clients/{world.client.pk}/").status_code == 404
    for response in (
        client.get(f"/api/v1/prescribing/referrals/{referral.pk}"),
        client.get("/api/v1/prescribing/referrals", {"status": "all"}),
        client.get("/prescribing/referrals/", {"status": "all"}),
    ):
        text = response.content.decode()
        assert "Confidential" not in text, response.request["PATH_INFO"]
        assert "F43.10" not in text
    sign_in(client, world.therapist.user)
    page = client.get(f"/prescribing/referrals/{referral.pk}/").content.decode()
    assert "Confidential reason for referral." in page
    assert "Client chose another clinic." in page
    assert client.get(f"/prescribing/referrals/{referral.pk}/evaluation/").status_code == 200


def test_the_partner_still_learns_a_referral_was_withdrawn_and_why(client, world):
    course = make_course(world.client, world.therapist, stage="intake")
    referral = services.referral_send(
        actor=world.therapist, course_id=course.pk, prescriber_id=world.prescriber.pk,
        reason="Depression.", diagnoses=["F33.1"], consent_to_share=True,
        consent_note="Signed release on file.",
    )  # fmt: skip
    services.referral_close(actor=world.therapist, referral_id=referral.pk, reason="Moved away.")
    sign_in(client, world.prescriber.user)
    body = client.get(f"/api/v1/prescribing/referrals/{referral.pk}").json()
    assert (body["status"], body["status_reason"]) == ("withdrawn", "Moved away.")
    assert (body["reason"], body["diagnoses"]) == ("", [])
