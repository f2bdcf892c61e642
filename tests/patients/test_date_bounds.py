"""Dates of birth are real ones (issue 12): every other date about a client is bounded below
by their birth, so a client's (or a companion's) date of birth lies from 1900 to today.
Refused with the field named (service and API) and nothing saved."""

import datetime
import json

import pytest
from django.core.exceptions import ValidationError

from kapflow.accounts import services as account_services
from kapflow.accounts.models import Invitation
from kapflow.patients import services
from kapflow.patients.models import Client

UTC = datetime.UTC
DAY = datetime.timedelta(days=1)
# 20:00 UTC is noon in Oregon (the practice's zone): one date everywhere that matters.
NOW = datetime.datetime(2027, 3, 10, 20, tzinfo=UTC)
TODAY = datetime.date(2027, 3, 10)
VALID = {"legal_first_name": "Robin", "legal_last_name": "Example", "state": "OR"}
BIRTHS = [
    (datetime.date(1, 1, 1), False),
    (datetime.date(1899, 12, 31), False),
    (datetime.date(1900, 1, 1), True),
    (TODAY, True),
    (TODAY + DAY, False),
    (datetime.date(9999, 12, 31), False),
]


@pytest.fixture(autouse=True)
def _clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.mark.parametrize(("value", "ok"), BIRTHS)
def test_a_new_clients_date_of_birth_is_bounded(world, value, ok):
    before = Client.objects.count()

    def create():
        return services.client_create(actor=world.therapist, data={**VALID, "date_of_birth": value})

    if ok:
        assert create().date_of_birth == value
        return
    with pytest.raises(ValidationError) as exc:
        create()
    assert set(exc.value.message_dict) == {"date_of_birth"}
    assert Client.objects.count() == before


@pytest.mark.parametrize(("value", "ok"), BIRTHS)
def test_a_changed_date_of_birth_is_bounded(world, value, ok):
    born = world.client.date_of_birth

    def update():
        return services.client_update(
            actor=world.therapist, client_id=world.client.pk, data={"date_of_birth": value}
        )

    if ok:
        assert update().date_of_birth == value
        return
    with pytest.raises(ValidationError) as exc:
        update()
    assert set(exc.value.message_dict) == {"date_of_birth"}
    assert Client.objects.get(pk=world.client.pk).date_of_birth == born


@pytest.mark.parametrize(
    ("value", "ok"),
    [(datetime.date(1, 1, 1), False), (datetime.date(1899, 12, 31), False),
     (datetime.date(1900, 1, 1), True), (datetime.date(2009, 3, 10), True),
     (TODAY, False), (datetime.date(9999, 12, 31), False)],
)  # fmt: skip
def test_a_companions_date_of_birth_is_bounded(world, value, ok):
    before = Invitation.objects.count()

    def invite():
        return services.companion_invite(
            actor=world.client_member, email="sam.companion@example.test",
            relationship="Sister", date_of_birth=value,
        )  # fmt: skip

    if ok:
        assert invite().companion_date_of_birth == value
        return
    with pytest.raises(ValidationError) as exc:
        invite()
    assert set(exc.value.message_dict) == {"date_of_birth"}
    assert Invitation.objects.count() == before


@pytest.mark.parametrize("value", ["0001-01-01", "2027-03-11", "9999-12-31"])
def test_the_api_refuses_an_unbounded_date_of_birth_with_422_naming_it(client, world, value):
    _, raw = account_services.api_token_create(
        actor=world.therapist, name="tests", mfa_verified=True
    )
    before = Client.objects.count()
    response = client.post(
        "/api/v1/clients", data=json.dumps({**VALID, "date_of_birth": value}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}",
    )  # fmt: skip
    assert response.status_code == 422, response.content
    assert [e["field"] for e in response.json()["errors"]] == ["date_of_birth"]
    assert Client.objects.count() == before
