"""A refused link send returns to `next` only when it stays on this site."""

import pytest

from kapflow.assessments import services
from kapflow.patients.models import Client
from tests.conftest import sign_in


@pytest.fixture
def assignment(world):
    Client.objects.filter(pk=world.client.pk).update(email="")
    return services.assignment_create(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9"
    )


@pytest.mark.parametrize(
    "target", ["https://evil.example/phish", "//evil.example/", "/\\evil.example"]
)
def test_link_send_refusal_never_redirects_off_site(client, world, assignment, target):
    sign_in(client, world.therapist.user)
    response = client.post(f"/assessments/assignments/{assignment.pk}/send-link/", {"next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_link_send_refusal_returns_to_a_page_on_this_site(client, world, assignment):
    sign_in(client, world.therapist.user)
    back = f"/clients/{world.client.pk}/"
    response = client.post(f"/assessments/assignments/{assignment.pk}/send-link/", {"next": back})
    assert response["Location"] == back
