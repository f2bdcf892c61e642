"""Assessment pages: who sees them, the portal questionnaire, staff entry and urgent tasks."""

import pytest

from kapflow.assessments import services
from kapflow.assessments.models import Response, UrgentTask
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.prescriptions.factories import refer, shared_scores

PHQ9 = {f"phq9_{i}": "1" for i in range(1, 9)} | {"phq9_9": "0"}


@pytest.mark.parametrize(
    ("role", "expected"),
    [("admin", 200), ("therapist", 200), ("prescriber", 200), ("biller", 404),
     ("therapist2", 404), ("client_member", 404), ("companion", 404), ("other_admin", 404)],
)  # fmt: skip
def test_client_assessments_page_permissions(client, world, role, expected):
    shared_scores(world.client, world.therapist, world.prescriber)
    sign_in(client, getattr(world, role).user)
    assert client.get(f"/assessments/clients/{world.client.pk}/").status_code == expected


def test_portal_questionnaire_draft_then_submit_with_item_errors(client, world):
    make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    assignment = services.assignment_create(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9"
    )
    client.force_login(
        world.client_member.user, backend="django.contrib.auth.backends.ModelBackend"
    )
    assert str(assignment.pk) in client.get("/assessments/mine/").content.decode()
    url = f"/assessments/mine/{assignment.pk}/"
    client.post(url, {"phq9_1": "2", "save": "1"})
    page = client.get(url).content.decode()
    assert 'value="2"' in page and "checked" in page
    bad = client.post(url, {"phq9_1": "2", "submit": "1"})
    assert bad.status_code == 422
    assert 'id="item-phq9_9"' in bad.content.decode() and "errorlist" in bad.content.decode()
    ok = client.post(url, PHQ9 | {"submit": "1"})
    assert ok.status_code == 200 and "Thank you" in ok.content.decode()
    assert Response.objects.get(assignment=assignment).total == 8


def test_other_client_and_staff_cannot_open_a_clients_questionnaire(client, world):
    assignment = services.assignment_create(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9"
    )
    sign_in(client, world.therapist.user)
    assert client.get(f"/assessments/mine/{assignment.pk}/").status_code == 404


def test_staff_enter_and_urgent_task_flow_on_pages(client, world):
    make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    sign_in(client, world.therapist.user)
    response = client.post(
        f"/assessments/clients/{world.client.pk}/enter/phq9/", PHQ9 | {"phq9_9": "2"}
    )
    assert response.status_code == 302
    task = UrgentTask.objects.get()
    detail = client.get(f"/clients/{world.client.pk}/").content.decode()
    assert 'data-testid="urgent-banner"' in detail
    caseload = client.get("/courses/").content.decode()
    assert 'data-testid="urgent-tasks"' in caseload
    resolved = client.post(
        f"/assessments/urgent/{task.pk}/",
        {"decision": "hold", "note": "Safety plan reviewed; hold dosing.", "risk_level": "high",
         "safety_plan_reviewed": "on"},
    )  # fmt: skip
    assert resolved.status_code == 302
    assert (
        'data-testid="urgent-banner"'
        not in client.get(f"/clients/{world.client.pk}/").content.decode()
    )


def test_unknown_instrument_is_404_and_bad_total_names_the_field(client, world):
    sign_in(client, world.therapist.user)
    assert client.get(f"/assessments/clients/{world.client.pk}/enter/nope/").status_code == 404
    bad = client.post(f"/assessments/clients/{world.client.pk}/enter/cadss/", {"total": "500"})
    assert bad.status_code == 422 and "errorlist" in bad.content.decode()


@pytest.mark.parametrize(
    ("role", "expected"),
    [("therapist", 200), ("admin", 200), ("prescriber", 200), ("biller", 404),
     ("therapist2", 404), ("other_admin", 404), ("client_member", 404), ("companion", 404)],
)  # fmt: skip
def test_response_and_urgent_pages_permissions(client, world, role, expected):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    refer(course, world.prescriber)
    response = services.response_enter(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9",
        answers={k: int(v) for k, v in PHQ9.items()} | {"phq9_9": 1},
    )  # fmt: skip
    task = UrgentTask.objects.get(response=response)
    sign_in(client, getattr(world, role).user)
    assert client.get(f"/assessments/responses/{response.pk}/").status_code == expected
    assert client.get(f"/assessments/urgent/{task.pk}/").status_code == expected
