"""A client's outcomes: the staff page, the client's own portal page and the scores API.
Who sees what, what the page says, corrections, audit, and fixed query counts."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.accounts.models import Role
from kapflow.audit.models import AuditEvent
from tests.accounts.factories import PartnerFactory, member, partnership
from tests.conftest import sign_in
from tests.courses.factories import event, make_course
from tests.outcomes.factories import START, history, score
from tests.prescriptions.factories import refer

ROLES = ["admin", "therapist", "therapist2", "biller", "prescriber", "client_member",
         "companion", "other_admin", "other_therapist"]  # fmt: skip


def _scored(world):
    """world.client: a course with two dosing sessions (days 10 and 24), PHQ-9 scores before
    and after them, and GAD-7 scores only after the first."""
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="active")  # fmt: skip
    refer(course, world.prescriber, status="evaluated")  # scores shared with the prescriber
    event(course, world.therapist, "dosing", at=START + datetime.timedelta(days=10))
    event(course, world.therapist, "dosing", at=START + datetime.timedelta(days=24))
    history(world.client, [19, 18, 12, 8], course=course)  # days 0, 7, 14, 21
    history(world.client, [12, 6], instrument="gad7", course=course,
            start=START + datetime.timedelta(days=14))  # fmt: skip
    return course


@pytest.mark.parametrize(
    ("url", "target", "expected"),
    [
        ("/outcomes/clients/{id}/", "client", [200, 200, 404, 404, 200, 404, 404, 404, 404]),
        ("/outcomes/clients/{id}/", "unreferred", [200, 200, 404, 404, 404, 404, 404, 404, 404]),
        ("/outcomes/clients/{id}/", "other_client", [404, 404, 404, 404, 404, 404, 404, 200, 200]),
        ("/api/v1/outcomes/clients/{id}/scores", "client",
         [200, 200, 404, 404, 200, 404, 404, 404, 404]),
        ("/api/v1/outcomes/clients/{id}/scores", "other_client",
         [404, 404, 404, 404, 404, 404, 404, 200, 200]),
        ("/outcomes/mine/", None, [404, 404, 404, 404, 404, 200, 404, 404, 404]),
    ],
)  # fmt: skip
@pytest.mark.parametrize("role", ROLES)
def test_who_sees_a_clients_outcomes(client, world, url, target, expected, role):
    _scored(world)
    sign_in(client, getattr(world, role).user)
    response = client.get(url.format(id=getattr(world, target).pk if target else ""))
    assert response.status_code == dict(zip(ROLES, expected, strict=True))[role]


def test_a_prescriber_of_another_partner_gets_404(client, world):
    _scored(world)
    elsewhere = PartnerFactory(name="Partner Q")
    partnership(world.practice, elsewhere)
    stranger = member(elsewhere, Role.PRESCRIBER, licences=[("NP", "OR")])
    sign_in(client, stranger.user)
    assert client.get(f"/outcomes/clients/{world.client.pk}/").status_code == 404
    assert client.get(f"/api/v1/outcomes/clients/{world.client.pk}/scores").status_code == 404


def test_unauthenticated_visitors_are_sent_to_sign_in(client, world):
    response = client.get(f"/outcomes/clients/{world.client.pk}/")
    assert response.status_code == 302 and "/sign-in/" in response["Location"]


def test_the_referred_prescriber_sees_the_scores(client, world):
    _scored(world)
    sign_in(client, world.prescriber.user)
    page = client.get(f"/outcomes/clients/{world.client.pk}/").content.decode()
    assert 'data-instrument="phq9"' in page and 'data-instrument="gad7"' in page


def test_page_shows_chart_summary_and_table(client, world):
    _scored(world)
    sign_in(client, world.therapist.user)
    html = client.get(f"/outcomes/clients/{world.client.pk}/").content.decode()
    # Baseline is the last score before the first dosing (day 7: 18); latest 8.
    assert 'data-field="baseline">18' in html
    assert 'data-field="latest">8' in html
    assert 'data-field="change">−10' in html
    assert 'data-field="response">Yes' in html  # 8 <= 9
    assert 'data-field="remission">No' in html
    assert "the last score before the first dosing session" in html
    assert html.count('role="img"') == 2
    assert 'aria-labelledby="chart-phq9-title chart-phq9-desc"' in html
    assert html.count('data-rule="response"') == 2 and html.count('data-rule="remission"') == 2
    assert html.count("<title>Dosing session") == 4  # two dosings on each chart
    assert 'data-testid="scores-phq9"' in html
    assert "<script" not in html.split("</head>")[1]


def test_a_client_without_scores_gets_a_plain_page(client, world):
    sign_in(client, world.admin.user)
    html = client.get(f"/outcomes/clients/{world.unreferred.pk}/").content.decode()
    assert 'data-testid="no-scores"' in html and "<svg" not in html


def test_a_correction_replaces_the_score_it_corrects(client, world):
    first = score(world.client, 25, at=START)
    score(world.client, 20, at=START, corrects=first)
    score(world.client, 10, at=START + datetime.timedelta(days=14))
    sign_in(client, world.therapist.user)
    data = client.get(f"/api/v1/outcomes/clients/{world.client.pk}/scores").json()
    (phq9,) = data["series"]
    assert [s["total"] for s in phq9["scores"]] == [20, 10]
    assert phq9["scores"][0]["corrected"] is True
    assert (phq9["baseline"]["total"], phq9["change"], phq9["response"]) == (20, -10, True)


def test_drafts_and_other_organisations_rows_are_not_scores(client, world):
    score(world.client, 14, at=START)
    score(world.client, 0, at=START + datetime.timedelta(days=1), submitted=False)
    sign_in(client, world.therapist.user)
    (phq9,) = client.get(f"/api/v1/outcomes/clients/{world.client.pk}/scores").json()["series"]
    assert [s["total"] for s in phq9["scores"]] == [14]
    assert phq9["change"] is None and phq9["response"] is None


def test_api_series_shape(client, world):
    _scored(world)
    sign_in(client, world.admin.user)
    data = client.get(f"/api/v1/outcomes/clients/{world.client.pk}/scores").json()
    assert data["client_id"] == world.client.pk
    assert len(data["dosings"]) == 2
    phq9, gad7 = data["series"]
    assert (phq9["instrument"], gad7["instrument"]) == ("phq9", "gad7")
    assert phq9["baseline_rule"] == "before_first_dosing"
    assert phq9["response_threshold"] == 9.0 and phq9["remission_max"] == 4
    assert phq9["bands"][0]["label"] == "minimal"
    assert gad7["baseline_rule"] == "first_score"  # its first score came after the dosing
    one = client.get(f"/api/v1/outcomes/clients/{world.client.pk}/scores?instrument=gad7")
    assert [s["instrument"] for s in one.json()["series"]] == ["gad7"]


def test_api_refuses_an_unknown_instrument_naming_the_field(client, world):
    sign_in(client, world.admin.user)
    response = client.get(f"/api/v1/outcomes/clients/{world.client.pk}/scores?instrument=bdi")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["instrument"]


def test_each_view_is_audited_with_the_client(client, world):
    _scored(world)
    sign_in(client, world.prescriber.user)
    client.get(f"/outcomes/clients/{world.client.pk}/")
    client.get(f"/api/v1/outcomes/clients/{world.client.pk}/scores")
    events = AuditEvent.objects.filter(action="outcomes.client_view")
    assert events.count() == 2
    assert {e.client_id for e in events} == {world.client.pk}
    assert {e.actor_id for e in events} == {world.prescriber.user_id}
    # A refused view writes nothing.
    sign_in(client, world.therapist2.user)
    client.get(f"/outcomes/clients/{world.client.pk}/")
    assert AuditEvent.objects.filter(action="outcomes.client_view").count() == 2


def test_the_client_sees_their_own_progress(client, world):
    _scored(world)
    sign_in(client, world.client_member.user)
    html = client.get("/outcomes/mine/").content.decode()
    assert "Your progress" in html and 'data-field="latest">8' in html
    assert "/assessments/responses/" not in html  # no links into staff pages
    assert AuditEvent.objects.filter(action="outcomes.own_view", client=world.client).exists()


def test_a_client_sign_in_without_a_record_gets_404(client, world):
    loose = member(world.practice, Role.CLIENT)
    sign_in(client, loose.user)
    assert client.get("/outcomes/mine/").status_code == 404


def _more_scores(world, n, start=0):
    course = world.unreferred.courses.first() or make_course(
        world.unreferred, world.therapist, stage="active"
    )
    for i in range(start, start + n):
        event(course, world.therapist, "dosing", at=START + datetime.timedelta(days=3 * i + 1))
    begin = START + datetime.timedelta(days=3 * start)
    history(world.unreferred, [(i * 7) % 28 for i in range(n)], start=begin, every_days=3,
            course=course)  # fmt: skip
    history(world.unreferred, [(i * 5) % 22 for i in range(n)], start=begin, every_days=3,
            instrument="gad7")  # fmt: skip


@pytest.mark.parametrize("url", ["/outcomes/clients/{id}/", "/api/v1/outcomes/clients/{id}/scores"])
def test_client_queries_are_the_same_for_5_and_50_scores(client, world, url):
    sign_in(client, world.admin.user)
    url = url.format(id=world.unreferred.pk)
    _more_scores(world, 5)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    _more_scores(world, 45, start=5)
    with CaptureQueriesContext(connection) as large:
        response = client.get(url)
    assert response.status_code == 200
    assert len(small.captured_queries) == len(large.captured_queries)


def test_current_scores_are_exactly_the_current_responses(world):
    from kapflow.assessments.models import Response
    from kapflow.assessments.selectors import current_responses
    from kapflow.outcomes.selectors import current_scores

    first = score(world.client, 25, at=START)
    second = score(world.client, 20, at=START, corrects=first)
    score(world.client, 18, at=START, corrects=second)  # a correction of a correction
    score(world.client, 11, at=START + datetime.timedelta(days=7))
    score(world.client, 3, at=START + datetime.timedelta(days=8), submitted=False)
    score(world.other_client, 9, at=START)
    everything = Response.objects.all()
    assert set(current_scores(everything).values_list("pk", flat=True)) == set(
        current_responses(everything).values_list("pk", flat=True)
    )
    assert sorted(current_scores(everything).values_list("total", flat=True)) == [9, 11, 18]


def test_a_flagged_score_is_marked_for_staff_not_in_the_portal(client, world):
    score(world.client, 12, at=START)
    score(world.client, 15, at=START + datetime.timedelta(days=7), flags=["phq9.item9_positive"])
    sign_in(client, world.therapist.user)
    html = client.get(f"/outcomes/clients/{world.client.pk}/").content.decode()
    assert html.count('data-testid="safety-flag"') == 1
    data = client.get(f"/api/v1/outcomes/clients/{world.client.pk}/scores").json()
    assert [s["safety_flag"] for s in data["series"][0]["scores"]] == [False, True]
    sign_in(client, world.client_member.user)
    assert 'data-testid="safety-flag"' not in client.get("/outcomes/mine/").content.decode()


def test_a_prescriber_sees_no_scores_the_referral_did_not_share(client, world):
    course = _scored(world)
    course.referrals.update(share_scores=False)
    sign_in(client, world.prescriber.user)
    assert client.get(f"/outcomes/clients/{world.client.pk}/").status_code == 404
    assert client.get(f"/api/v1/outcomes/clients/{world.client.pk}/scores").status_code == 404
    assert client.get(f"/assessments/clients/{world.client.pk}/").status_code == 404


def test_the_chart_names_the_same_day_as_the_table_in_the_viewers_zone(client, world):
    """A score submitted at 19:30 Pacific on 27 November (03:30 UTC on the 28th) is the
    27th in the chart as in the table, not the UTC day."""
    course = make_course(world.client, world.therapist, stage="active")
    evening = datetime.datetime(2026, 11, 28, 3, 30, tzinfo=datetime.UTC)
    score(world.client, 12, at=evening - datetime.timedelta(days=7), course=course)
    score(world.client, 9, at=evening, course=course)
    sign_in(client, world.therapist.user)
    html = client.get(f"/outcomes/clients/{world.client.pk}/").content.decode()
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert "<title>2026-11-27: 9, mild</title>" in svg
    assert "2026-11-28: 9" not in svg and "to 2026-11-27, latest 9" in svg
