"""The directory over JSON: public search and profile without sign-in, 422 naming a field,
and the inquiries for the practice's staff only."""

import pytest

from kapflow.directory.models import Inquiry
from tests.conftest import sign_in
from tests.directory.factories import hours, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def card(world, frozen):
    hours(world.therapist)
    hours(world.prescriber)
    return publish(world)[1]


def test_public_search_and_profile(client, card):
    found = client.get("/api/v1/directory/search", {"mode": "near", "zip_code": "97214"})
    assert found.status_code == 200
    body = found.json()
    assert body["count"] == 1 and body["results"][0]["slug"] == card.slug
    assert body["results"][0]["licensed_states"] == ["OR"]
    bad = client.get("/api/v1/directory/search", {"mode": "near", "zip_code": "1"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "zip_code"
    profile = client.get("/api/v1/directory/clinician", {"slug": card.slug})
    assert profile.status_code == 200 and profile.json()["joint_slots"]
    assert client.get("/api/v1/directory/clinician", {"slug": "nobody"}).status_code == 404


def test_inquiries_for_staff_only(client, card, world):
    from datetime import date

    inquiry = Inquiry.objects.create(
        organisation=world.practice, clinician=card, first_name="A", last_name="B",
        email="a@example.test", date_of_birth=date(1980, 1, 1), client_state="OR",
        status="confirmed", token_hash="x", created_at=world.practice.created_at,
    )  # fmt: skip
    assert client.get("/api/v1/directory/inquiries").status_code == 401
    sign_in(client, world.admin.user)
    rows = client.get("/api/v1/directory/inquiries").json()
    assert [r["id"] for r in rows] == [inquiry.pk]
    done = client.post(
        f"/api/v1/directory/inquiries/{inquiry.pk}/actions",
        {"action": "closed"},
        content_type="application/json",
    )
    assert done.status_code == 422 and done.json()["errors"][0]["field"] == "reason"
    client.logout()
    sign_in(client, world.other_admin.user)
    assert client.get(f"/api/v1/directory/inquiries/{inquiry.pk}").status_code == 404
    client.logout()
    sign_in(client, world.biller.user)
    assert client.get("/api/v1/directory/inquiries").status_code == 404
