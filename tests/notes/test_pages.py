"""Note pages: who sees a client's notes (404 for everyone else), starting a note from the
query string, the editor's htmx autosave (stale = 409 with the message) and its no-JS Save
button, signing with field errors, addenda, the co-sign queue, the PDFs (one note, and the
records-request bundle without psychotherapy notes), supervision, and pinned query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.audit.models import AuditEvent
from kapflow.notes import services
from kapflow.notes.models import Note, Supervision
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.notes.factories import draft, signed, supervise, text_for
from tests.pdftext import pdf_readable

HTMX = {"HTTP_HX_REQUEST": "true"}


def _as(client, membership):
    return sign_in(client, membership.user)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("therapist", 200), ("admin", 200), ("prescriber", 200), ("therapist2", 404),
        ("biller", 404), ("other_admin", 404), ("other_therapist", 404),
        ("client_member", 404), ("companion", 404),
    ],
)  # fmt: skip
def test_who_opens_a_clients_notes_page(client, world, who, status):
    signed(world.client, world.therapist, session_type="therapy")
    response = _as(client, getattr(world, who)).get(f"/notes/clients/{world.client.pk}/")
    assert response.status_code == status


def test_the_list_shows_only_what_the_reader_may_read(client, world):
    signed(world.client, world.therapist, session_type="therapy")
    signed(world.client, world.therapist, session_type="therapy", kind="psychotherapy")
    draft(world.client, world.therapist, session_type="dosing")
    mine = _as(client, world.therapist).get(f"/notes/clients/{world.client.pk}/").content.decode()
    assert mine.count('data-testid="note-row"') == 3 and "badge-psychotherapy" in mine
    assert 'data-testid="records-pdf"' in mine and 'data-testid="new-note"' in mine
    client.logout()
    admin = _as(client, world.admin).get(f"/notes/clients/{world.client.pk}/").content.decode()
    assert admin.count('data-testid="note-row"') == 1 and "badge-psychotherapy" not in admin
    assert 'data-testid="new-note"' not in admin
    assert AuditEvent.objects.filter(action="note.list", client_id=world.client.pk).count() == 2


def test_the_list_page_runs_the_same_queries_for_one_and_many_notes(client, world):
    _as(client, world.therapist)
    url = f"/notes/clients/{world.client.pk}/"

    def count():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return len(ctx.captured_queries), response.content.decode().count("note-row")

    signed(world.client, world.therapist, session_type="therapy")
    small, rows = count()
    assert rows == 1
    for n in range(6):
        signed(world.client, world.prescriber if n % 2 else world.therapist)
    large, rows = count()
    assert (rows, large) == (7, small)


def test_a_new_note_starts_from_the_query_string(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber)
    _as(client, world.therapist)
    page = client.get(f"/notes/new/?client={world.client.pk}&course={course.pk}&type=dosing")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="dosing" selected' in html and f'name="course" value="{course.pk}"' in html
    made = client.post(
        "/notes/new/",
        {"client": world.client.pk, "course": course.pk, "session_type": "dosing",
         "format": "dap", "kind": "progress"},
    )  # fmt: skip
    note = Note.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/notes/{note.pk}/"
    assert (note.course, note.format, note.session_type) == (course, "dap", "dosing")


@pytest.mark.parametrize("query", ["", "?client=abc", "?client=999999999"])
def test_a_new_note_without_a_visible_client_is_not_found(client, world, query):
    assert _as(client, world.therapist).get(f"/notes/new/{query}").status_code == 404


def test_an_admin_may_not_start_a_note(client, world):
    _as(client, world.admin)
    response = client.post(
        "/notes/new/", {"client": world.client.pk, "session_type": "dosing", "format": "dap",
                        "kind": "progress"},
    )  # fmt: skip
    assert response.status_code == 403 and not Note.objects.exists()


def test_a_partner_prescriber_is_offered_medical_sessions_only(client, world):
    _as(client, world.prescriber)
    html = client.get(f"/notes/new/?client={world.client.pk}").content.decode()
    assert 'value="dosing"' in html and 'value="followup"' in html
    assert 'value="integration"' not in html and 'value="psychotherapy"' not in html
    refused = client.post(
        "/notes/new/", {"client": world.client.pk, "session_type": "therapy", "format": "dap",
                        "kind": "progress"},
    )  # fmt: skip
    assert refused.status_code == 422 and not Note.objects.exists()


def test_the_editor_autosaves_over_htmx_and_swaps_in_the_new_version(client, world):
    note = draft(world.client, world.therapist, filled=False)
    _as(client, world.therapist)
    editor = client.get(f"/notes/{note.pk}/").content.decode()
    assert f'hx-post="/notes/{note.pk}/save/"' in editor and "kapflow/notes.js" in editor
    assert "Route and dose given" in editor  # the prompt of the dosing objective section
    response = client.post(
        f"/notes/{note.pk}/save/", {"version": 1, "section_plan": "Integration Thursday."}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="autosave-saved"' in html and 'hx-swap-oob="true"' in html
    assert 'value="2"' in html
    note.refresh_from_db()
    assert note.sections["plan"] == "Integration Thursday." and note.version == 2


def test_a_stale_autosave_answers_409_and_saves_nothing(client, world):
    note = draft(world.client, world.therapist, filled=False)
    services.note_autosave(actor=world.therapist, note_id=note.pk, version=1,
                           sections={"plan": "Other tab."})  # fmt: skip
    _as(client, world.therapist)
    response = client.post(
        f"/notes/{note.pk}/save/", {"version": 1, "section_plan": "This tab."}, **HTMX
    )
    assert response.status_code == 409
    assert "saved elsewhere" in response.content.decode()
    note.refresh_from_db()
    assert note.sections["plan"] == "Other tab."


def test_the_save_button_works_without_javascript(client, world):
    note = draft(world.client, world.therapist, filled=False)
    _as(client, world.therapist)
    response = client.post(f"/notes/{note.pk}/save/", {"version": 1, "section_plan": "Saved."})
    assert response.status_code == 302 and response["Location"] == f"/notes/{note.pk}/"
    stale = client.post(f"/notes/{note.pk}/save/", {"version": 1, "section_plan": "Again."})
    assert stale.status_code == 409 and "saved elsewhere" in stale.content.decode()
    assert "Again." in stale.content.decode()  # the typed text is kept on the page


def test_signing_from_the_editor_saves_then_signs(client, world):
    note = draft(world.client, world.therapist)
    _as(client, world.therapist)
    data = {f"section_{k}": v for k, v in note.sections.items()}
    data |= {"version": note.version, "section_plan": "Final plan.",
             "signature_name": "Wrong Name"}  # fmt: skip
    refused = client.post(f"/notes/{note.pk}/sign/", data)
    assert refused.status_code == 422
    assert "Type your full name" in refused.content.decode()
    note.refresh_from_db()
    assert note.status == "draft" and note.sections["plan"] == "Final plan."
    data |= {"version": note.version, "signature_name": world.therapist.user.full_name}
    done = client.post(f"/notes/{note.pk}/sign/", data)
    assert done.status_code == 302
    note.refresh_from_db()
    assert note.status == "signed"
    page = client.get(f"/notes/{note.pk}/").content.decode()
    assert 'data-testid="signature"' in page and "Final plan." in page
    assert 'data-testid="intact"' in page
    assert "note-editor" not in page


def test_signing_with_an_empty_section_names_it(client, world):
    note = draft(world.client, world.therapist)
    _as(client, world.therapist)
    data = {f"section_{k}": v for k, v in note.sections.items()}
    data |= {"version": note.version, "section_discharge": "",
             "signature_name": world.therapist.user.full_name}  # fmt: skip
    refused = client.post(f"/notes/{note.pk}/sign/", data)
    assert refused.status_code == 422
    assert "Discharge: Discharge is required before signing." in refused.content.decode()


def test_a_draft_is_deleted_after_confirmation(client, world):
    note = draft(world.client, world.therapist)
    _as(client, world.therapist)
    assert client.get(f"/notes/{note.pk}/delete/").status_code == 200
    assert client.post(f"/notes/{note.pk}/delete/").status_code == 302
    assert not Note.objects.exists()


def test_a_signed_note_cannot_be_deleted_from_the_page(client, world):
    note = signed(world.client, world.therapist)
    _as(client, world.therapist)
    assert client.get(f"/notes/{note.pk}/delete/").status_code == 404
    assert client.post(f"/notes/{note.pk}/delete/").status_code == 302
    assert Note.objects.filter(pk=note.pk).exists()


def test_an_addendum_is_added_from_the_note_page(client, world):
    note = signed(world.client, world.therapist)
    _as(client, world.therapist)
    assert client.post(f"/notes/{note.pk}/addenda/", {"text": "Called back."}).status_code == 302
    page = client.get(f"/notes/{note.pk}/").content.decode()
    assert "Called back." in page and 'data-testid="addendum"' in page
    assert client.post(f"/notes/{note.pk}/addenda/", {"text": ""}).status_code == 422


def test_the_admin_cannot_add_an_addendum(client, world):
    note = signed(world.client, world.therapist)
    _as(client, world.admin)
    assert client.post(f"/notes/{note.pk}/addenda/", {"text": "x"}).status_code == 403


def test_the_supervisor_cosigns_from_the_queue(client, world):
    supervise(world.therapist, world.therapist2)
    note = signed(world.client, world.therapist)
    _as(client, world.therapist2)
    queue = client.get("/notes/cosign/").content.decode()
    assert queue.count('data-testid="cosign-row"') == 1
    # The queue names the client: one audit row per note listed.
    from kapflow.audit.models import AuditEvent

    listed = AuditEvent.objects.filter(action="note.list", actor=world.therapist2.user)
    assert list(listed.values_list("client_id", flat=True)) == [world.client.pk]
    page = client.get(f"/notes/{note.pk}/").content.decode()
    assert 'data-testid="cosign"' in page
    bad = client.post(f"/notes/{note.pk}/cosign/", {"signature_name": "Nobody"})
    assert bad.status_code == 422
    done = client.post(
        f"/notes/{note.pk}/cosign/", {"signature_name": world.therapist2.user.full_name}
    )
    assert done.status_code == 302
    assert 'data-testid="cosign-empty"' in client.get("/notes/cosign/").content.decode()


def test_someone_else_cannot_cosign(client, world):
    supervise(world.therapist, world.therapist2)
    note = signed(world.client, world.therapist)
    _as(client, world.therapist)
    response = client.post(
        f"/notes/{note.pk}/cosign/", {"signature_name": world.therapist.user.full_name}
    )
    assert response.status_code == 403


def test_the_cosign_queue_pins_its_queries(client, world):
    supervise(world.therapist, world.therapist2)
    _as(client, world.therapist2)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/notes/cosign/")
        return len(ctx.captured_queries), response.content.decode().count("cosign-row")

    signed(world.client, world.therapist)
    small, rows = count()
    for _ in range(4):
        signed(world.client, world.therapist)
    large, more = count()
    assert (rows, more, large) == (1, 5, small)


@pytest.mark.parametrize(
    ("who", "status"),
    [("therapist", 200), ("admin", 200), ("prescriber", 404), ("biller", 404),
     ("other_admin", 404), ("client_member", 404)],
)  # fmt: skip
def test_who_downloads_a_signed_therapy_note(client, world, who, status):
    note = signed(world.client, world.therapist, session_type="therapy")
    response = _as(client, getattr(world, who)).get(f"/notes/{note.pk}.pdf")
    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
        assert f'filename="note-{note.pk}.pdf"' in response["Content-Disposition"]
        assert AuditEvent.objects.filter(action="note.export", target_id=note.pk).exists()


def test_a_draft_has_no_pdf(client, world):
    note = draft(world.client, world.therapist)
    assert _as(client, world.therapist).get(f"/notes/{note.pk}.pdf").status_code == 409


def test_the_records_bundle_has_signed_progress_notes_only(client, world, monkeypatch):
    from kapflow.notes import pdf, views

    progress = signed(world.client, world.therapist, session_type="therapy")
    signed(world.client, world.therapist, session_type="therapy", kind="psychotherapy")
    draft(world.client, world.therapist)
    rendered = {}

    def spy(client, notes, **kwargs):
        rendered["ids"] = [n.pk for n in notes]
        return pdf.render_records_bundle(client, notes, **kwargs)

    monkeypatch.setattr(views, "render_records_bundle", spy)
    response = _as(client, world.admin).get(f"/notes/clients/{world.client.pk}/records.pdf")
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    assert rendered["ids"] == [progress.pk]
    text = pdf_readable(response.content)
    assert text_for("plan") in text
    assert "Clinical notes released for a records request" in text  # cover
    assert world.admin.user.full_name in text
    exports = AuditEvent.objects.filter(action="note.export", client_id=world.client.pk)
    assert list(exports.values_list("target_id", flat=True)) == [progress.pk]


@pytest.mark.parametrize(
    ("who", "status"),
    [("therapist", 200), ("admin", 200), ("therapist2", 404), ("prescriber", 404),
     ("biller", 404), ("other_admin", 404), ("companion", 404)],
)  # fmt: skip
def test_who_downloads_the_records_bundle(client, world, who, status):
    url = f"/notes/clients/{world.client.pk}/records.pdf"
    assert _as(client, getattr(world, who)).get(url).status_code == status


@pytest.mark.parametrize(
    ("who", "status"), [("admin", 200), ("therapist", 404), ("biller", 404), ("prescriber", 404)]
)
def test_who_manages_supervision(client, world, who, status):
    assert _as(client, getattr(world, who)).get("/notes/supervision/").status_code == status


def test_the_admin_records_and_ends_a_supervision(client, world):
    _as(client, world.admin)
    response = client.post(
        "/notes/supervision/",
        {"supervisee": world.therapist.pk, "supervisor": world.therapist2.pk},
    )
    assert response.status_code == 302
    supervision = Supervision.objects.get()
    assert client.post("/notes/supervision/", {"end": supervision.pk}).status_code == 302
    supervision.refresh_from_db()
    assert not supervision.active
    again = client.post(
        "/notes/supervision/", {"supervisee": world.therapist.pk, "supervisor": world.therapist.pk}
    )
    assert again.status_code == 422


@pytest.mark.parametrize("path", ["/notes/{id}/", "/notes/{id}.pdf"])
def test_other_organisations_get_404_on_a_note(client, world, path):
    note = signed(world.client, world.therapist)
    response = _as(client, world.other_admin).get(path.format(id=note.pk))
    assert response.status_code == 404
