"""Shared fixtures: two practices and a partner, one member per role, helpers to sign in.

KAPFLOW_TEST_CLOCK moves the whole run's clock (it keeps ticking): `utc-date-boundary` is
03:30 UTC of today's UTC date, when the UTC date is a day ahead of America/Los_Angeles (and
of every US zone); an ISO instant is taken as given. CI runs one pass this way (decision
0027), so a test that mixes a UTC date with a local one fails on every run, not only at night.
"""

import datetime as dt
import os

import pytest
import time_machine

from kapflow.accounts.models import AuthenticatorDevice, Role
from kapflow.patients.models import Companion
from tests.accounts.factories import (
    OrganisationFactory,
    PartnerFactory,
    member,
    partnership,
)
from tests.patients.factories import ClientFactory, on_team


def _test_clock_destination(value: str) -> dt.datetime:
    if value == "utc-date-boundary":
        today = dt.datetime.now(dt.UTC).date()
        return dt.datetime.combine(today, dt.time(3, 30), tzinfo=dt.UTC)
    at = dt.datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


@pytest.fixture(scope="session", autouse=True)
def _test_clock():
    value = os.environ.get("KAPFLOW_TEST_CLOCK", "")
    if not value:
        yield None
        return
    with time_machine.travel(_test_clock_destination(value), tick=True) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Every test starts with an empty cache: counters kept there (the directory's rate limits,
    sign-in lockouts with Redis) must not carry from one test, or one demo load, to the next."""
    from django.core.cache import cache

    cache.clear()
    yield


def sign_in(client, user):
    """Log in through the test client with a verified OTP session, as after a real MFA step."""
    device = AuthenticatorDevice.objects.filter(user=user, confirmed=True).first() or (
        AuthenticatorDevice.objects.create(user=user, name="test", confirmed=True)
    )
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def world(db):
    """A small universe: practice A (with partner P) and practice B, each with every role."""
    practice = OrganisationFactory(name="Practice A", state="OR")
    other = OrganisationFactory(name="Practice B", state="OR")
    partner = PartnerFactory(name="Partner P")
    partnership(practice, partner)

    w = type("World", (), {})()
    w.practice, w.other, w.partner = practice, other, partner
    w.admin = member(practice, Role.PRACTICE_ADMIN)
    w.therapist = member(practice, Role.THERAPIST, licences=[("LMFT", "OR")])
    w.therapist2 = member(practice, Role.THERAPIST, licences=[("LPC", "OR")])
    w.biller = member(practice, Role.BILLER)
    w.prescriber = member(partner, Role.PRESCRIBER, licences=[("NP", "OR")])
    w.other_admin = member(other, Role.PRACTICE_ADMIN)
    w.other_therapist = member(other, Role.THERAPIST)

    w.client = ClientFactory(organisation=practice)
    on_team(w.client, w.therapist)
    on_team(w.client, w.prescriber, role="prescriber", added_by=w.therapist.user)
    w.unreferred = ClientFactory(organisation=practice)
    on_team(w.unreferred, w.therapist)
    w.other_client = ClientFactory(organisation=other)
    on_team(w.other_client, w.other_therapist)

    w.client_member = member(practice, Role.CLIENT)
    w.client.user = w.client_member.user
    w.client.save()
    w.companion = member(practice, Role.COMPANION)
    Companion.objects.create(organisation=practice, client=w.client, user=w.companion.user)
    return w
