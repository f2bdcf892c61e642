"""Note PDFs (fpdf2): one signed note with its header, signature, co-signature and addenda;
the records-request bundle; names and notes in every script print as written (read back with
pdftotext)."""

import re

from kapflow.notes import selectors, services
from kapflow.notes.pdf import render_notes, render_records_bundle
from tests.notes.factories import draft, signed, supervise
from tests.pdftext import SCRIPTS, pdf_readable, readable


def _loaded(world, note):
    return selectors.note_get_for_actor(actor=world.therapist, note_id=note.pk, audit=False)


def test_a_signed_note_renders_with_header_sections_signature_and_addenda(world):
    supervise(world.therapist, world.therapist2)
    note = signed(world.client, world.therapist)
    services.note_cosign(actor=world.therapist2, note_id=note.pk,
                         signature_name=world.therapist2.user.full_name)  # fmt: skip
    services.addendum_add(actor=world.therapist, note_id=note.pk, text="First addendum.")
    services.addendum_add(actor=world.therapist, note_id=note.pk, text="Second addendum.")
    pdf = render_notes([_loaded(world, note)], title="Note")
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    text = pdf_readable(pdf)
    for expected in (
        world.practice.name, world.client.legal_last_name, "1985-06-01", "Dosing session",
        world.therapist.user.full_name, note.signature_name, "Co-signed",
        world.therapist2.user.full_name, "Fictional discharge text.", note.content_sha256,
        "Page 1/1",
    ):  # fmt: skip
        assert expected in text, expected
    assert text.index("First addendum.") < text.index("Second addendum.")


def test_the_compressed_pdf_is_valid_and_smaller(world):
    note = _loaded(world, signed(world.client, world.therapist))
    packed = render_notes([note], title="Note")
    assert packed.startswith(b"%PDF-") and b"FlateDecode" in packed
    assert len(packed) < len(render_notes([note], title="Note", compress=False))
    assert note.signature_name in pdf_readable(packed)


def _every_script(world):
    """A note whose every field a PDF prints holds a name or phrase in another script."""
    world.practice.name = SCRIPTS["Greek"]
    world.practice.save()
    world.client.legal_first_name, world.client.legal_last_name = "Łukasz", "Nguyễn"
    world.client.save()
    world.therapist.user.full_name = SCRIPTS["Cyrillic"]
    world.therapist.user.save()
    world.therapist2.user.full_name = SCRIPTS["Arabic"]
    world.therapist2.user.save()
    supervise(world.therapist, world.therapist2)
    note = draft(world.client, world.therapist, filled=False)
    sections = dict.fromkeys(note.sections, "\n".join(SCRIPTS.values()))
    services.note_autosave(actor=world.therapist, note_id=note.pk, version=1, sections=sections)
    services.note_sign(actor=world.therapist, note_id=note.pk,
                       signature_name=SCRIPTS["Cyrillic"])  # fmt: skip
    services.note_cosign(actor=world.therapist2, note_id=note.pk,
                         signature_name=SCRIPTS["Arabic"])  # fmt: skip
    services.addendum_add(actor=world.therapist, note_id=note.pk,
                          text=f"{SCRIPTS['Korean']} {SCRIPTS['Japanese']}")  # fmt: skip
    return _loaded(world, note)


def _assert_every_script(text: str) -> None:
    for script, sample in SCRIPTS.items():
        assert readable(sample) in text, script
    assert "Łukasz Nguyễn" in text  # the client line
    assert "?" not in text and "\ufffd" not in text


def test_a_note_prints_every_script_as_written(world):
    pdf = render_notes([_every_script(world)], title=f"Note {SCRIPTS['Chinese']}")
    text = pdf_readable(pdf)
    _assert_every_script(text)
    # The date after an Arabic name keeps its order (bidi would otherwise print 07-12-2026).
    assert re.search(rf"{SCRIPTS['Arabic']}, \d{{4}}-\d\d-\d\d \d\d:\d\d .* \(supervisor\)", text)


def test_the_records_bundle_prints_every_script_as_written(world):
    note = _every_script(world)
    pdf = render_records_bundle(world.client, [note], generated_by=SCRIPTS["Arabic"])
    text = pdf_readable(pdf)
    _assert_every_script(text)
    assert re.search(rf"\d\d:\d\d \S+ by {SCRIPTS['Arabic']} ", text)  # the cover page


def test_an_empty_bundle_still_renders(world):
    pdf = render_notes([], title="Records request")
    assert pdf.startswith(b"%PDF-") and "No signed progress notes." in pdf_readable(pdf)


def test_long_unbroken_text_and_many_lines_render_over_several_pages(world):
    note = draft(world.client, world.therapist, filled=False)
    sections = dict.fromkeys(note.sections, "y" * 20_000)
    sections["plan"] = "line\n" * 3000
    services.note_autosave(actor=world.therapist, note_id=note.pk, version=1, sections=sections)
    note = services.note_sign(actor=world.therapist, note_id=note.pk,
                              signature_name=world.therapist.user.full_name)  # fmt: skip
    pdf = render_notes([_loaded(world, note)], title="Note", compress=False)
    assert pdf.startswith(b"%PDF-") and pdf.count(b"/Type /Page\n") > 10
