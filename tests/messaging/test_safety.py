"""The crisis words that make the emergency notice prominent, and the notice's wording."""

import pytest

from kapflow.messaging.safety import NOTICE, mentions_crisis


@pytest.mark.parametrize(
    "text",
    [
        "I have been thinking about suicide",
        "Sometimes I want to KILL MYSELF",
        "i want to end   my life",
        "I think I took an overdose",
        "I can’t breathe properly",  # curly apostrophe
        "cant breathe",
        "Having chest pain since the session.",
        "I might hurt myself tonight",
    ],
)
def test_crisis_words_are_found(text):
    assert mentions_crisis(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "See you next week",
        "The session was breathtaking",
        "My suitcase is packed for the retreat",
        "I will end my lifelong habit of skipping breakfast",
    ],
)
def test_ordinary_messages_are_not_flagged(text):
    assert not mentions_crisis(text)


def test_notice_points_to_emergency_services_without_promising_a_reply_time():
    assert "911" in NOTICE
    assert "988" in NOTICE
    assert "not for emergencies" in NOTICE
    assert "business hours" in NOTICE
    for promise in ["within", "hours of", "we will reply", "respond by"]:
        assert promise not in NOTICE.lower()
