"""Sign-in lockout counts failures per person, however the e-mail address is typed."""

import pytest
from axes.models import AccessAttempt

from tests.accounts.factories import PASSWORD

WRONG = "wrong-password-123"


def _post(client, email, password, address="203.0.113.7"):
    return client.post("/sign-in/", {"username": email, "password": password}, REMOTE_ADDR=address)


def _variants(email: str) -> list[str]:
    local, domain = email.split("@")
    return [
        email,
        email.upper(),
        local.capitalize() + "@" + domain.upper(),
        f"  {email.swapcase()}  ",
        local.upper() + "@" + domain,
    ]


def test_wrong_guesses_spread_over_letter_case_lock_the_account(client, world):
    email = world.therapist.user.email
    *first, fifth = _variants(email)
    for variant in first:
        assert _post(client, variant, WRONG).status_code == 200
    assert _post(client, fifth, WRONG).status_code == 429
    for variant in [email, email.upper(), email.title()]:
        response = _post(client, variant, PASSWORD)
        assert response.status_code == 429
        assert "Too many failed sign-ins" in response.content.decode()


def test_lockout_holds_across_addresses(client, world):
    email = world.therapist.user.email
    for number, variant in enumerate(_variants(email)):
        _post(client, variant, WRONG, address=f"198.51.100.{number + 1}")
    assert _post(client, email.upper(), PASSWORD, address="192.0.2.99").status_code == 429


def test_unknown_addresses_are_counted_by_their_normalised_form(client, db):
    for variant in _variants("nobody@example.test"):
        _post(client, variant, WRONG)
    assert _post(client, "NOBODY@example.test", WRONG).status_code == 429


def test_fewer_failures_than_the_limit_still_let_the_right_password_in(client, world):
    email = world.client_member.user.email
    for variant in _variants(email)[:4]:
        _post(client, variant, WRONG)
    assert _post(client, email.upper(), PASSWORD).status_code == 302
    # A success clears the count for the person, whatever case was typed before.
    assert not AccessAttempt.objects.exists()


def test_the_lockout_key_names_the_user_id_never_the_address(rf, world):
    from kapflow.accounts.lockout import lockout_username

    user = world.therapist.user
    for variant in _variants(user.email):
        assert lockout_username(rf.post("/sign-in/"), {"username": variant}) == f"user:{user.pk}"
    request = rf.post("/sign-in/", {"username": f" {user.email.upper()} "})
    assert lockout_username(request, None) == f"user:{user.pk}"
    assert lockout_username(None, {"username": " Nobody@Example.TEST "}) == (
        "email:nobody@example.test"
    )
    assert lockout_username(None, {}) == ""


@pytest.mark.parametrize("typed", ["", "   "])
def test_blank_usernames_do_not_share_one_counter_with_a_person(rf, world, typed):
    from kapflow.accounts.lockout import lockout_username

    assert lockout_username(rf.post("/sign-in/"), {"username": typed}) == ""
