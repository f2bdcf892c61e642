"""Note PDFs (fpdf2): one signed note with its header, signature, co-signature and addenda;
the records-request bundle; Unicode that Latin-1 core fonts cannot draw does not crash."""

import pytest

from kapflow.notes import selectors, services
from kapflow.notes.pdf import latin1, render_notes
from tests.notes.factories import draft, signed, supervise


def _loaded(world, note):
    return selectors.note_get_for_actor(actor=world.therapist, note_id=note.pk, audit=False)


def test_a_signed_note_renders_with_header_sections_signature_and_addenda(world):
    supervise(world.therapist, world.therapist2)
    note = signed(world.client, world.therapist)
    services.note_cosign(actor=world.therapist2, note_id=note.pk,
                         signature_name=world.therapist2.user.full_name)  # fmt: skip
    services.addendum_add(actor=world.therapist, note_id=note.pk, text="First addendum.")
    services.addendum_add(actor=world.therapist, note_id=note.pk, text="Second addendum.")
    pdf = render_notes([_loaded(world, note)], title="Note", compress=False)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    for expected in (
        world.practice.name, world.client.legal_last_name, "1985-06-01", "Dosing session",
        world.therapist.user.full_name, note.signature_name, "Co-signed",
        world.therapist2.user.full_name, "Fictional discharge text.", note.content_sha256,
    ):  # fmt: skip
        assert expected.encode("latin-1") in pdf, expected
    assert pdf.index(b"First addendum.") < pdf.index(b"Second addendum.")


def test_the_compressed_pdf_is_valid_and_smaller(world):
    note = _loaded(world, signed(world.client, world.therapist))
    packed = render_notes([note], title="Note")
    assert packed.startswith(b"%PDF-") and b"FlateDecode" in packed
    assert len(packed) < len(render_notes([note], title="Note", compress=False))
    assert note.signature_name.encode() not in packed  # the text streams are deflated


def test_unicode_in_a_note_never_breaks_the_pdf(world):
    note = draft(world.client, world.therapist, filled=False)
    text = "“Quotes” — em dash, emoji 🌿, Chinese 中文, Greek Δ, NUL-free\ttab, café"
    sections = dict.fromkeys(note.sections, text)
    services.note_autosave(actor=world.therapist, note_id=note.pk, version=1, sections=sections)
    note = services.note_sign(actor=world.therapist, note_id=note.pk,
                              signature_name=world.therapist.user.full_name)  # fmt: skip
    pdf = render_notes([_loaded(world, note)], title="Note", compress=False)
    assert pdf.startswith(b"%PDF-")
    assert b'"Quotes" - em dash, emoji ?, Chinese ??, Greek ?' in pdf
    assert "café".encode("latin-1") in pdf


@pytest.mark.parametrize(
    ("raw", "drawn"),
    [("‘a’ “b” – —", "'a' \"b\" - -"), ("日本", "??"), ("ü\u0000x", "ü x"), (None, "")],
)
def test_latin1_sanitises_text(raw, drawn):
    assert latin1(raw) == drawn


def test_an_empty_bundle_still_renders(world):
    pdf = render_notes([], title="Records request", compress=False)
    assert pdf.startswith(b"%PDF-") and b"No signed progress notes." in pdf


def test_long_unbroken_text_and_many_lines_render_over_several_pages(world):
    note = draft(world.client, world.therapist, filled=False)
    sections = dict.fromkeys(note.sections, "y" * 20_000)
    sections["plan"] = "line\n" * 3000
    services.note_autosave(actor=world.therapist, note_id=note.pk, version=1, sections=sections)
    note = services.note_sign(actor=world.therapist, note_id=note.pk,
                              signature_name=world.therapist.user.full_name)  # fmt: skip
    pdf = render_notes([_loaded(world, note)], title="Note", compress=False)
    assert pdf.startswith(b"%PDF-") and pdf.count(b"/Type /Page\n") > 10
