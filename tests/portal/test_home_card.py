"""The client's home leads with one card (issue 17): the checklist to answer for a session
already open, the next appointment with its countdown, what to sign, what to answer, and where
the course stands, before any other heading of the page."""

import datetime

import pytest
from django.utils import timezone

from kapflow.assessments import services as assessments
from tests.conftest import sign_in
from tests.consents.factories import publish
from tests.encounters.factories import opened, ready_course
from tests.scheduling.factories import book

pytestmark = pytest.mark.django_db


def _card(home: str) -> str:
    return home.split('data-testid="client-next"', 1)[1].split("</section>", 1)[0]


def test_the_card_leads_the_home_with_everything_waiting(client, world):
    course = ready_course(world.client, world.therapist, world.prescriber, delivery="at_home")
    publish(world.practice, "financial_policy", by=world.therapist.user)  # not signed yet
    assessments.assignment_create(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9"
    )
    starts = timezone.now() + datetime.timedelta(days=2, minutes=30)
    book(world.therapist, world.client, kind="integration", starts_at=starts)
    opened(world.therapist, course)  # today's dosing session waits for the checklist
    sign_in(client, world.client_member.user)

    home = client.get("/").content.decode()
    main = home.split("<main", 1)[1]
    # The card is the page's first section heading: nothing to scroll past on a phone.
    assert main.split("<h2", 1)[1].split(">", 1)[1].startswith("Your next step")
    card = _card(home)
    checklist = card.index('data-testid="client-next-checklist"')
    assert "Answer your pre-session checklist" in card and 'href="/sessions/mine/"' in card
    assert checklist < card.index('data-testid="client-next-appointment"')
    assert 'data-testid="countdown">in 2\xa0days' in card or 'countdown">in 2 days' in card
    assert "Integration" in card
    signing = card.split('data-testid="client-next-sign"', 1)[1].split("</li>", 1)[0]
    assert "Sign:" in signing and "inancial" in signing
    assert "<strong>Answer:</strong> 1 questionnaire<" in card
    assert 'data-testid="next-step"' in card and "Your therapist:" in card
    assert "Nothing to do right now" not in card
    # The course's stage sentence lives in the card only (no second "Where you are" section).
    assert home.count('data-testid="next-step"') == 1


def test_the_card_says_when_nothing_waits(client, world):
    ready_course(world.client, world.therapist, world.prescriber, delivery="at_home")
    sign_in(client, world.client_member.user)
    card = _card(client.get("/").content.decode())
    assert "Nothing to do right now" in card
    assert 'data-testid="client-next-checklist"' not in card
    assert "Before a dosing session: your pre-session checklist" in card
