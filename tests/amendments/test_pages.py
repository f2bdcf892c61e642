"""The practice's pages: the queue (overdue highlighted), the decision page and its forms,
who sees what, and the amendment shown with the part it concerns (the client's record page,
the note page and its PDF, the questionnaire response page)."""

import datetime as dt

import pytest

from kapflow.amendments.models import AmendmentRequest
from kapflow.audit.models import AuditEvent
from kapflow.core import clock
from tests.amendments.factories import SHOULD, WRONG, accept, ask, deny, gad7
from tests.conftest import sign_in
from tests.notes.factories import signed
from tests.pdftext import pdf_text, readable

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "expected"),
    [("therapist", 200), ("admin", 200), ("therapist2", 404), ("biller", 404),
     ("prescriber", 404), ("client_member", 404), ("companion", 404), ("other_admin", 404),
     ("other_therapist", 404)],
)  # fmt: skip
def test_who_opens_the_queue_and_a_request(client, world, role, expected):
    row = ask(world)
    sign_in(client, getattr(world, role).user)
    assert client.get(f"/amendments/{row.pk}/").status_code == expected
    queue = client.get("/amendments/")
    if role in ("therapist2", "other_admin", "other_therapist"):
        # They have a queue; this request is not in it.
        assert queue.status_code == 200
        assert b"queue-row" not in queue.content
    else:
        assert queue.status_code == expected


def test_the_queue_highlights_an_overdue_request(client, world, time_machine):
    time_machine.move_to(clock.now(), tick=False)
    row = ask(world)
    time_machine.move_to(clock.now() + dt.timedelta(days=61), tick=False)
    sign_in(client, world.therapist.user)
    page = client.get("/amendments/").content.decode()
    assert 'class="overdue"' in page
    assert 'data-testid="overdue-count"' in page
    assert row.due_on.isoformat() in page
    assert world.client.display_name in page


def test_the_therapist_accepts_on_the_page_and_the_note_shows_it(client, world):
    note = signed(world.client, world.therapist)
    row = ask(world)
    sign_in(client, world.therapist.user)
    page = client.get(f"/amendments/{row.pk}/").content.decode()
    assert WRONG in page and 'data-testid="accept"' in page
    done = client.post(
        f"/amendments/{row.pk}/accept/", {"amendment_text": SHOULD, "note_id": note.pk}
    )
    assert done.status_code == 302
    row.refresh_from_db()
    assert (row.status, row.note_id) == ("accepted", note.pk)
    note_page = client.get(f"/notes/{note.pk}/").content.decode()
    assert 'data-testid="part-amendments"' in note_page
    assert SHOULD in note_page
    text = readable(pdf_text(client.get(f"/notes/{note.pk}.pdf").content))
    assert "Amendments (45 CFR 164.526)" in text
    assert SHOULD in text


def test_a_denial_with_its_statement_and_rebuttal_goes_with_the_note(client, world):
    from kapflow.amendments import services

    note = signed(world.client, world.therapist)
    row = deny(world, ask(world), note_id=note.pk)
    services.amendment_disagree(
        actor=world.client_member, amendment_id=row.pk, statement="I kept the receipt."
    )
    sign_in(client, world.therapist.user)
    assert (
        client.post(
            f"/amendments/{row.pk}/rebut/", {"rebuttal": "The refill was in March."}
        ).status_code
        == 302
    )
    note_page = client.get(f"/notes/{note.pk}/").content.decode()
    for text in ("Accurate and complete", "I kept the receipt.", "The refill was in March."):
        assert text in note_page
    bundle = readable(pdf_text(client.get(f"/notes/clients/{world.client.pk}/records.pdf").content))
    assert "I kept the receipt." in bundle and "The refill was in March." in bundle


def test_a_bad_denial_names_its_fields_and_saves_nothing(client, world):
    row = ask(world)
    sign_in(client, world.therapist.user)
    response = client.post(f"/amendments/{row.pk}/deny/", {"denial_basis": "", "explanation": ""})
    assert response.status_code == 422
    page = response.content.decode()
    assert "Ground for the denial (45 CFR 164.526(a)(2)): " in page
    assert "Explanation for the client: " in page
    row.refresh_from_db()
    assert row.status == "open"


def test_deciding_twice_is_refused_on_the_page(client, world):
    row = deny(world, ask(world, part="demographics", part_description=""))
    sign_in(client, world.therapist.user)
    response = client.post(
        f"/amendments/{row.pk}/deny/",
        {"denial_basis": "not_in_record_set", "explanation": "Again."},
    )
    assert response.status_code == 409
    assert b"already been decided" in response.content
    row.refresh_from_db()
    assert row.denial_basis == "accurate_and_complete"


def test_the_admin_reads_but_may_not_decide(client, world):
    row = ask(world)
    sign_in(client, world.admin.user)
    page = client.get(f"/amendments/{row.pk}/").content.decode()
    assert 'data-testid="cannot-decide"' in page and 'data-testid="accept"' not in page
    response = client.post(f"/amendments/{row.pk}/accept/", {"amendment_text": "Yes."})
    assert response.status_code == 403
    assert AmendmentRequest.objects.get(pk=row.pk).status == "open"


def test_another_practices_probe_is_404_and_recorded_for_the_holder(client, world):
    row = ask(world)
    sign_in(client, world.other_therapist.user)
    assert client.post(f"/amendments/{row.pk}/extend/", {"reason": "x"}).status_code == 404
    probe = AuditEvent.objects.get(action="access.denied", target_id=row.pk)
    assert probe.record_organisation_id == world.practice.pk
    assert probe.organisation_id == world.other.pk


def test_the_client_record_page_lists_requests_for_clinical_readers_only(client, world):
    row = accept(world, ask(world, part="demographics", part_description="My phone"))
    for role, shown in [("therapist", True), ("admin", True), ("biller", False),
                        ("prescriber", False)]:  # fmt: skip
        sign_in(client, getattr(world, role).user)
        page = client.get(f"/clients/{world.client.pk}/").content.decode()
        assert ('data-testid="client-amendments"' in page) is shown, role
        assert (f"/amendments/{row.pk}/" in page) is shown, role
        assert (SHOULD in page) is shown, role


def test_the_response_page_shows_a_pending_request(client, world):
    response = gad7(world)
    ask(world, part="assessment", response_id=response.pk, part_description="")
    sign_in(client, world.therapist.user)
    page = client.get(f"/assessments/responses/{response.pk}/").content.decode()
    assert 'data-testid="part-amendments"' in page
    assert WRONG in page and "Waiting for a decision" in page


def test_the_staff_home_links_the_queue(client, world):
    sign_in(client, world.therapist.user)
    assert b'data-testid="amendment-queue-link"' in client.get("/").content
    sign_in(client, world.biller.user)
    assert b'data-testid="amendment-queue-link"' not in client.get("/").content
