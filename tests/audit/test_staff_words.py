"""Staff pages show audit actions in words, about the client rather than to them."""

from kapflow.audit.actions import ACTIONS, staff_words
from kapflow.audit.services import audit_record
from tests.conftest import sign_in


def test_staff_words_speak_about_the_client():
    assert staff_words("client.view") == "Opened the client's record"
    assert staff_words("no.such.code") == "Other activity"
    assert all("your " not in staff_words(code) for code in ACTIONS)


def test_the_audit_page_shows_words_beside_the_code(client, world):
    audit_record(actor=world.therapist, action="client.view", target=world.client)
    sign_in(client, world.admin.user)
    page = client.get("/audit/").content.decode()
    assert "Opened the client&#x27;s record" in page
    assert "<code>client.view</code>" in page
