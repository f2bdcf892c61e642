"""Alert pages: the checklist for the client and the companion, what the reporter is told to
do for each severity, the companion's "need help now", the staff detail with its
acknowledgement, the banner partial, and a role-by-URL matrix."""

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils.html import strip_tags

from kapflow.alerts import selectors, services
from kapflow.alerts.models import Alert
from tests.conftest import sign_in
from tests.journal.factories import course_with_dosings
from tests.patients.factories import ClientFactory


@pytest.fixture
def course(world):
    return course_with_dosings(world.client, world.therapist, prescriber=world.prescriber)


def _alert(world, actor=None, kind="reaction", symptoms=("nausea",)):
    return services.alert_raise(
        actor=actor or world.client_member, client_id=world.client.pk, kind=kind,
        answers={"symptoms": list(symptoms)} if kind == "reaction" else {},
        note="A fictional note.",
    )  # fmt: skip


def _report(client, url, data):
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:500]
    return client.get(response.url).content.decode()


def test_the_client_sees_a_plain_checklist_and_what_to_call_first(client, world, course):
    page = sign_in(client, world.client_member.user).get("/alerts/report/").content.decode()
    assert "Chest pain or tightness" in page and "Feeling sick (nausea)" in page
    assert "Blood pressure: top number" in page
    assert "Call 911 now" in strip_tags(page) and "988" in strip_tags(page)


def test_emergency_signs_tell_the_reporter_to_call_911(client, world, course):
    sign_in(client, world.client_member.user)
    page = _report(client, "/alerts/report/", {"symptoms": ["chest_pain"]})
    assert "Call 911 now." in strip_tags(page)
    assert 'data-testid="advice-988"' not in page
    assert Alert.objects.get().severity == "emergency"


def test_self_harm_tells_the_reporter_988_and_911(client, world, course):
    sign_in(client, world.client_member.user)
    page = _report(client, "/alerts/report/", {"symptoms": ["self_harm"]})
    assert 'data-testid="advice-988"' in page
    assert "Call or text 988" in strip_tags(page) and "call 911" in strip_tags(page)


@pytest.mark.parametrize(
    ("data", "severity"),
    [({"symptoms": ["vomiting"]}, "urgent"), ({"bp_systolic": 190, "bp_diastolic": 100}, "urgent"),
     ({"symptoms": ["headache"]}, "routine")],
)  # fmt: skip
def test_other_reports_say_the_team_was_told_and_when_to_call_911(
    client, world, course, data, severity
):
    sign_in(client, world.client_member.user)
    page = _report(client, "/alerts/report/", data)
    assert "Your care team has been told." in page
    assert "If it gets worse, call 911" in strip_tags(page)
    assert 'data-testid="advice-911"' not in page
    for promise in ("within", "will call you", "will reply", "minutes"):
        assert promise not in page
    assert Alert.objects.get().severity == severity


def test_checklist_errors_appear_beside_the_fields(client, world, course):
    sign_in(client, world.client_member.user)
    response = client.post("/alerts/report/", {"bp_systolic": 150})
    assert response.status_code == 422
    assert 'id="id_bp_diastolic_error"' in response.content.decode()
    empty = client.post("/alerts/report/", {})
    assert empty.status_code == 422
    assert not Alert.objects.exists()


def test_the_companion_reports_for_their_client(client, world, course):
    sign_in(client, world.companion.user)
    page = client.get(f"/alerts/report/{world.client.pk}/").content.decode()
    assert "Report a reaction for" in page
    _report(client, f"/alerts/report/{world.client.pk}/", {"symptoms": ["agitation"]})
    alert = Alert.objects.get()
    assert (alert.raised_by_role, alert.severity) == ("companion", "urgent")


def test_need_help_now_alerts_the_therapist_and_says_when_to_call_911(client, world, course):
    sign_in(client, world.companion.user)
    page = client.get(f"/alerts/help/{world.client.pk}/").content.decode()
    assert 'data-testid="help-now-button"' in page
    assert "not responding or not breathing normally" in strip_tags(
        page
    ) and "call 911" in strip_tags(page)
    assert not Alert.objects.exists()  # a GET raises nothing
    done = _report(client, f"/alerts/help/{world.client.pk}/", {})
    assert "The therapist has been alerted" in done
    assert "Call 911 now if the person is not responding or not breathing normally" in strip_tags(
        done
    )
    alert = Alert.objects.get()
    assert (alert.kind, alert.severity, alert.raised_by_role) == (
        "help_now",
        "emergency",
        "companion",
    )


def test_the_reporters_page_is_theirs_alone(client, world, course):
    alert = _alert(world)
    sign_in(client, world.companion.user)
    assert client.get(f"/alerts/sent/{alert.pk}/").status_code == 404


def test_the_therapist_reads_and_acknowledges_an_alert(client, world, course):
    alert = _alert(world, symptoms=("self_harm",))
    sign_in(client, world.therapist.user)
    page = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert "Thoughts of harming oneself or of suicide" in page
    assert "A fictional note." in page
    assert "Acknowledge" in page
    response = client.post(
        f"/alerts/{alert.pk}/acknowledge/",
        {"note": "Called; safety plan reviewed.", "next": f"/courses/{course.pk}/"},
    )
    assert response.status_code == 302 and response.url == f"/courses/{course.pk}/"
    alert.refresh_from_db()
    assert alert.acknowledged_by == world.therapist


def test_acknowledging_without_a_note_shows_the_error(client, world, course):
    alert = _alert(world)
    sign_in(client, world.therapist.user)
    response = client.post(f"/alerts/{alert.pk}/acknowledge/", {"note": ""})
    assert response.status_code == 422
    assert 'id="id_note_error"' in response.content.decode()


def test_acknowledging_refuses_an_outside_next_address(client, world, course):
    alert = _alert(world)
    sign_in(client, world.therapist.user)
    response = client.post(
        f"/alerts/{alert.pk}/acknowledge/", {"note": "Done.", "next": "https://evil.example/"}
    )
    assert response.url == f"/alerts/{alert.pk}/"


def test_the_banner_shows_kind_severity_time_and_who_raised_it(client, world, course):
    _alert(world, actor=world.companion, kind="help_now")
    _alert(world, symptoms=("vomiting",))
    sign_in(client, world.therapist.user)
    banner = client.get(f"/alerts/courses/{course.pk}/banner/").content.decode()
    assert banner.count('data-testid="alert-banner"') == 2
    assert banner.index("NEED HELP NOW") < banner.index("URGENT: reaction reported")
    assert "raised by the companion" in banner and "raised by the client" in banner
    assert banner.count('data-testid="acknowledge-form"') == 2
    assert f'name="next" value="/courses/{course.pk}/"' in banner  # not the fragment's URL
    sign_in(client, world.admin.user)
    admin_banner = client.get(f"/alerts/courses/{course.pk}/banner/").content.decode()
    assert admin_banner.count('data-testid="alert-banner"') == 2
    assert 'data-testid="acknowledge-form"' not in admin_banner


def test_the_banner_partial_renders_from_its_context_variable(world, course):
    alert = _alert(world, symptoms=("seizure",))
    alerts = selectors.open_alerts(actor=world.therapist)
    request = RequestFactory().get(f"/courses/{course.pk}/")
    html = render_to_string("alerts/_banner.html", {"alerts": alerts}, request=request)
    assert "EMERGENCY: reaction reported" in html
    assert f'action="/alerts/{alert.pk}/acknowledge/"' in html
    assert f'value="/courses/{course.pk}/"' in html
    assert render_to_string("alerts/_banner.html", {"alerts": []}).strip() == ""


ROLES = ["admin", "therapist", "therapist2", "biller", "prescriber", "client_member",
         "companion", "other_admin", "other_therapist"]  # fmt: skip
STAFF_WHO_SEE = "admin therapist prescriber"

# (method, url, body, roles answered 200 (or 302 after a POST), status for anyone else)
MATRIX = [
    ("get", "/alerts/report/", None, "client_member", 404),
    ("get", "/alerts/report/{client}/", None, "client_member companion", 404),
    ("get", "/alerts/report/{stranger}/", None, "", 404),
    ("get", "/alerts/help/{client}/", None, "client_member companion", 404),
    ("post", "/alerts/help/{client}/", {}, "client_member companion", 404),
    ("get", "/alerts/help/{stranger}/", None, "", 404),
    ("get", "/alerts/", None, STAFF_WHO_SEE + " therapist2 other_admin other_therapist", 404),
    ("get", "/alerts/{alert}/", None, STAFF_WHO_SEE, 404),
    ("get", "/alerts/courses/{course}/banner/", None, STAFF_WHO_SEE, 404),
    ("get", "/alerts/sent/{alert}/", None, "client_member", 404),
]


@pytest.mark.parametrize(
    ("method", "url", "body", "allowed", "other", "role"),
    [(*row, role) for row in MATRIX for role in ROLES],
)
def test_alert_page_permissions(client, world, course, method, url, body, allowed, other, role):
    alert = _alert(world)
    stranger = ClientFactory(organisation=world.practice)
    target = url.format(client=world.client.pk, stranger=stranger.pk, alert=alert.pk,
                        course=course.pk)  # fmt: skip
    sign_in(client, getattr(world, role).user)
    response = getattr(client, method)(target, body) if body is not None else client.get(target)
    ok = 302 if method == "post" else 200
    assert response.status_code == (ok if role in allowed.split() else other), (url, role)


@pytest.mark.parametrize(
    ("role", "expected"),
    [("therapist", 302), ("prescriber", 302), ("admin", 403), ("therapist2", 404),
     ("biller", 404), ("client_member", 404), ("companion", 404), ("other_admin", 404),
     ("other_therapist", 404)],
)  # fmt: skip
def test_who_may_acknowledge_on_the_page(client, world, course, role, expected):
    alert = _alert(world)
    sign_in(client, getattr(world, role).user)
    response = client.post(f"/alerts/{alert.pk}/acknowledge/", {"note": "Called."})
    assert response.status_code == expected
    alert.refresh_from_db()
    assert alert.is_open == (expected != 302)
