"""Names refuse invisible and text-direction characters, with an error naming the field
(issue 13; kapflow.core.names)."""

import json

import pytest
from django.core.exceptions import ValidationError

from kapflow.accounts import services as account_services
from kapflow.accounts.models import User
from kapflow.core.names import check_names, invisible_characters
from kapflow.patients.models import Client
from tests.patients.factories import ClientFactory

REFUSED = [
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u2066", "\u2067", "\u2068", "\u2069",
]  # fmt: skip


@pytest.mark.parametrize("char", REFUSED)
def test_each_invisible_or_bidi_character_is_refused(char):
    with pytest.raises(ValidationError) as caught:
        check_names({"full_name": f"Ann{char}Lee"}, {"full_name": "Full name"})
    message = caught.value.message_dict["full_name"][0]
    assert message.startswith("Full name contains") and f"U+{ord(char):04X}" in message
    assert "Ann" not in message


@pytest.mark.parametrize("name", ["Zoë O'Brien-Núñez", "محمد علي", "李小龍", "Nguyễn Thị Minh"])
def test_real_names_in_any_script_pass(name):
    assert invisible_characters(name) == []
    check_names({"full_name": name})


def test_a_client_name_with_a_right_to_left_override_is_refused(world):
    client = ClientFactory.build(
        organisation=world.practice, legal_last_name="Smith\u202eevil", preferred_name="A\u200bb"
    )
    with pytest.raises(ValidationError) as caught:
        client.full_clean()
    errors = caught.value.message_dict
    assert errors["legal_last_name"][0].startswith("Legal last name contains")
    assert errors["preferred_name"][0].startswith("Preferred name contains")


def test_a_user_name_with_a_zero_width_space_is_refused(db):
    user = User(email="zw@example.test", full_name="Jo\u200bhn")
    with pytest.raises(ValidationError) as caught:
        user.full_clean()
    assert "full_name" in caught.value.message_dict


def test_the_api_answers_422_naming_the_field(client, world):
    _, raw = account_services.api_token_create(actor=world.therapist, name="t", mfa_verified=True)
    body = {
        "legal_first_name": "Ann", "legal_last_name": "Lee\u2066x", "state": "OR",
        "date_of_birth": "1980-01-01", "emergency_contact_name": "Bo\ufeffb",
    }  # fmt: skip
    before = Client.objects.count()
    response = client.post(
        "/api/v1/clients", json.dumps(body), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )  # fmt: skip
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"legal_last_name", "emergency_contact_name"}
    assert Client.objects.count() == before


def test_a_companion_or_client_accepting_an_invitation_gives_a_visible_name(world):
    invitation = account_services.invitation_create(
        actor=world.admin, email="new.person@example.test", roles=["therapist"]
    )
    import secrets

    from kapflow.accounts.models import hash_secret

    token = secrets.token_urlsafe(16)
    invitation.token_hash = hash_secret(token)
    invitation.save(update_fields=["token_hash"])
    with pytest.raises(ValidationError) as caught:
        account_services.invitation_accept(
            token=token, user=None, full_name="New\u202ePerson", password="a-long-passphrase-42"
        )
    assert "full_name" in caught.value.message_dict
    assert not User.objects.filter(email="new.person@example.test").exists()
