"""The client's side in the portal: from the home page, ask to correct the record, see the
status and the due date, read the decision and its reason, file a statement of disagreement,
and see an accepted correction of their details on the home page. Nobody else reaches these
pages; bad input names its field and saves nothing."""

import datetime as dt

import pytest

from kapflow.accounts.models import Role
from kapflow.amendments.models import AmendmentRequest
from kapflow.audit.models import AuditEvent
from tests.accounts.factories import member, practice_today
from tests.amendments.factories import SHOULD, WHY, WRONG, accept, ask, deny, gad7
from tests.conftest import sign_in
from tests.patients.factories import ClientFactory

pytestmark = pytest.mark.django_db


def test_the_client_asks_from_the_home_page_and_sees_the_due_date(client, world):
    response = gad7(world)
    sign_in(client, world.client_member.user)
    home = client.get("/").content.decode()
    assert 'data-testid="ask-correction"' in home and 'data-testid="my-corrections"' in home
    form = client.get("/amendments/mine/new/").content.decode()
    assert "Generalized Anxiety Disorder" in form  # their questionnaire is offered
    done = client.post(
        "/amendments/mine/new/",
        {"part": "assessment", "response_id": response.pk, "what_is_wrong": WRONG,
         "should_say": SHOULD, "why": WHY},
    )  # fmt: skip
    assert done.status_code == 302
    row = AmendmentRequest.objects.get()
    assert done["Location"] == f"/amendments/mine/{row.pk}/"
    assert row.response == response
    due = row.due_on.isoformat()
    assert due == (practice_today() + dt.timedelta(days=60)).isoformat()
    listing = client.get("/amendments/mine/").content.decode()
    assert due in listing and "Waiting for a decision" in listing
    page = client.get(done["Location"]).content.decode()
    assert 'data-testid="amendment-due"' in page and due in page
    assert WRONG in page


def test_missing_answers_are_named_beside_their_fields_and_nothing_is_saved(client, world):
    sign_in(client, world.client_member.user)
    response = client.post("/amendments/mine/new/", {"part": "other", "what_is_wrong": WRONG})
    assert response.status_code == 422
    page = response.content.decode()
    assert "Which part exactly?: Describe which part of your record this is about." in page
    assert "What should it say?: Say what it should say." in page
    assert "Why should it change?: Say why it should change." in page
    assert AmendmentRequest.objects.count() == 0


def test_the_client_reads_the_denial_its_ground_and_their_rights_then_disagrees(client, world):
    row = deny(world, ask(world))
    sign_in(client, world.client_member.user)
    page = client.get(f"/amendments/mine/{row.pk}/").content.decode()
    assert "Denied: Accurate and complete" in page
    assert "The prescription record shows the last refill in March." in page
    assert 'data-testid="denial-rights"' in page and "Office for Civil Rights" in page
    assert 'data-testid="send-disagreement"' in page
    empty = client.post(f"/amendments/mine/{row.pk}/", {"statement": ""})
    assert empty.status_code == 422
    assert (
        client.post(
            f"/amendments/mine/{row.pk}/", {"statement": "My pharmacy says May."}
        ).status_code
        == 302
    )
    page = client.get(f"/amendments/mine/{row.pk}/").content.decode()
    assert "My pharmacy says May." in page
    assert 'data-testid="send-disagreement"' not in page
    again = client.post(f"/amendments/mine/{row.pk}/", {"statement": "Once more."})
    assert again.status_code == 409
    row.refresh_from_db()
    assert row.disagreement == "My pharmacy says May."


def test_an_accepted_correction_of_the_details_shows_on_the_home_page(client, world):
    accept(world, ask(world, part="demographics", part_description="My phone number"))
    sign_in(client, world.client_member.user)
    home = client.get("/").content.decode()
    assert 'data-testid="part-amendments"' in home and SHOULD in home


@pytest.mark.parametrize("role", ["therapist", "admin", "companion", "biller"])
def test_nobody_else_opens_the_clients_pages(client, world, role):
    row = ask(world)
    sign_in(client, getattr(world, role).user)
    for url in ("/amendments/mine/", "/amendments/mine/new/", f"/amendments/mine/{row.pk}/"):
        assert client.get(url).status_code == 404, url


def test_another_clients_request_is_not_found_and_the_probe_recorded(client, world):
    row = ask(world)
    someone = member(world.practice, Role.CLIENT)
    ClientFactory(organisation=world.practice, user=someone.user)
    sign_in(client, someone.user)
    assert client.get(f"/amendments/mine/{row.pk}/").status_code == 404
    assert client.post(f"/amendments/mine/{row.pk}/", {"statement": "x"}).status_code == 404
    assert AuditEvent.objects.filter(action="access.denied", target_id=row.pk).exists()
    assert client.get("/amendments/mine/").content.count(b"/amendments/mine/") <= 1


def test_reading_is_audited_without_the_text(client, world):
    row = ask(world)
    sign_in(client, world.client_member.user)
    client.get("/amendments/mine/")
    client.get(f"/amendments/mine/{row.pk}/")
    events = AuditEvent.objects.filter(action__in=["amendment.list", "amendment.view"])
    assert {e.action for e in events} == {"amendment.list", "amendment.view"}
    assert all(WRONG not in str(e.__dict__) for e in events)
