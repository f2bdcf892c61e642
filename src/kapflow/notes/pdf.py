"""Signed notes as PDF (fpdf2), for one note or a records-request bundle.

Drawn with kapflow.core.pdf_fonts.UnicodePdf, so names and notes in any script print as
written (Noto fonts, shaped; see that module for the fonts and what happens when one is
missing). Nothing here reads the database beyond the objects passed in (selectors load them,
with addenda prefetched) and nothing is audited here: the views and API endpoints call the
selectors that audit `note.export`.
"""

from django.utils import timezone
from fpdf import FPDF

from kapflow.clinical.notes import note_template
from kapflow.core import clock
from kapflow.core.pdf_fonts import BODY, UnicodePdf, isolate


def _full_name(client) -> str:
    return isolate(f"{client.legal_first_name} {client.legal_last_name}")


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z") if value else ""


class _Pdf(UnicodePdf):
    footer_text = ""

    def footer(self):
        self.set_y(-12)
        self.set_font(BODY, size=8)
        self.cell(0, 5, f"{self.footer_text}  Page {self.page_no()}/{{nb}}", align="C")


def _line(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font(BODY, style="B", size=10)
    pdf.cell(45, 6, label)
    pdf.set_font(BODY, size=10)
    pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")


def _body(pdf: UnicodePdf, text: str) -> None:
    pdf.set_font(BODY, size=10)
    pdf.direction = None  # free text: each paragraph reads in the direction it is written
    pdf.multi_cell(0, 5, text or "-", new_x="LMARGIN", new_y="NEXT")
    pdf.direction = "ltr"


def _note(pdf: FPDF, note) -> None:
    pdf.add_page()
    client = note.client
    template = note_template(note.session_type, note.format)
    pdf.set_font(BODY, style="B", size=14)
    pdf.multi_cell(0, 8, client.organisation.name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(BODY, style="B", size=12)
    pdf.multi_cell(0, 7, template.title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _line(pdf, "Client", _full_name(client))
    _line(pdf, "Date of birth", client.date_of_birth.isoformat())
    _line(pdf, "Session", f"{note.get_session_type_display()} on {note.session_date.isoformat()}")
    _line(pdf, "Note", f"{note.get_kind_display()}, #{note.pk}")
    _line(pdf, "Author", note.author.user.full_name or note.author.user.email)
    _line(pdf, "Signed", f"{isolate(note.signature_name)}, {_when(note.signed_at)}")
    if note.cosign_required:
        if note.cosigned_at:
            cosigned = f"{isolate(note.cosign_name)}, {_when(note.cosigned_at)} (supervisor)"
            _line(pdf, "Co-signed", cosigned)
        else:
            _line(pdf, "Co-signature", "Pending: not yet co-signed by the supervisor")
    _line(pdf, "SHA-256", note.content_sha256)
    pdf.ln(3)
    for section in template.sections:
        pdf.set_font(BODY, style="B", size=11)
        pdf.multi_cell(0, 7, section.label, new_x="LMARGIN", new_y="NEXT")
        _body(pdf, note.sections.get(section.key, ""))
        pdf.ln(2)
    addenda = list(note.addenda.all())
    if addenda:
        pdf.set_font(BODY, style="B", size=11)
        pdf.multi_cell(0, 7, "Addenda", new_x="LMARGIN", new_y="NEXT")
        for addendum in addenda:
            pdf.set_font(BODY, style="I", size=9)
            who = addendum.author_user.full_name or addendum.author_user.email
            pdf.multi_cell(
                0,
                5,
                f"{_when(addendum.created_at)}, {isolate(who)}",
                new_x="LMARGIN",
                new_y="NEXT",
            )
            _body(pdf, addendum.text)
            pdf.ln(2)
    _amendments(pdf, getattr(note, "record_amendments", []))


def _amendments(pdf: FPDF, rows) -> None:
    """What the client asked to amend and what was decided, with the note it concerns
    (45 CFR 164.526(c)(1), (d)(4), (d)(5)): an accepted amendment, or the denial with the
    request, the client's statement of disagreement and the rebuttal."""
    if not rows:
        return
    pdf.set_font(BODY, style="B", size=11)
    pdf.multi_cell(0, 7, "Amendments (45 CFR 164.526)", new_x="LMARGIN", new_y="NEXT")
    for row in rows:
        pdf.set_font(BODY, style="I", size=9)
        verdict = "Accepted" if row.status == "accepted" else "Denied"
        pdf.multi_cell(
            0, 5, f"{verdict} {_when(row.decided_at)}, {isolate(row.decided_by_name)}",
            new_x="LMARGIN", new_y="NEXT",
        )  # fmt: skip
        if row.status == "accepted":
            _body(pdf, row.amendment_text)
        else:
            _line(pdf, "Request", f"Filed by the client, {_when(row.requested_at)}")
            _body(pdf, f"What is wrong: {row.what_is_wrong}\nWhat it should say: {row.should_say}")
            _line(pdf, "Ground", f"{row.get_denial_basis_display()} ({row.denial_basis_source})")
            _body(pdf, row.explanation)
            if row.disagreement_at:
                _line(pdf, "Disagreement", f"Filed by the client, {_when(row.disagreement_at)}")
                _body(pdf, row.disagreement)
            if row.rebuttal_at:
                rebutted = f"{isolate(row.rebuttal_by_name)}, {_when(row.rebuttal_at)}"
                _line(pdf, "Rebuttal", rebutted)
                _body(pdf, row.rebuttal)
        pdf.ln(2)


def _cover(pdf: FPDF, client, notes, generated_at, generated_by: str) -> None:
    pdf.add_page()
    pdf.set_font(BODY, style="B", size=14)
    pdf.multi_cell(0, 8, client.organisation.name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(BODY, style="B", size=12)
    pdf.multi_cell(0, 7, "Clinical notes released for a records request", new_x="LMARGIN",
                   new_y="NEXT")  # fmt: skip
    pdf.ln(2)
    _line(pdf, "Client", _full_name(client))
    _line(pdf, "Date of birth", client.date_of_birth.isoformat())
    _line(pdf, "Notes", str(len(notes)))
    if notes:
        first, last = notes[0].session_date, notes[-1].session_date
        _line(pdf, "Sessions", f"{first.isoformat()} to {last.isoformat()}")
    _line(pdf, "Generated", f"{_when(generated_at)} by {isolate(generated_by)}")
    pdf.ln(3)
    _body(
        pdf,
        "Signed progress notes with their addenda. Drafts are not part of the record. "
        "Psychotherapy notes (45 CFR 164.501) are kept apart from the record and are not "
        "included (164.524(a)(1)(i)); releasing them needs the client's separate "
        "authorisation (164.508(a)(2)).",
    )


def render_records_bundle(client, notes, *, generated_by: str, compress: bool = True) -> bytes:
    """The records-request bundle: a cover page, then every note given (signed progress
    notes, oldest first, as selectors.records_bundle_notes returns them)."""
    return render_notes(
        notes,
        title=f"Records request, client #{client.pk}",
        compress=compress,
        cover=lambda pdf: _cover(pdf, client, notes, clock.now(), generated_by),
    )


def render_notes(notes, *, title: str, compress: bool = True, cover=None) -> bytes:
    """One page (or more) per note, in the order given, after the `cover` page if any.
    `compress=False` leaves the streams uncompressed (debugging; text is drawn as glyph ids,
    so read it back with pdftotext)."""
    pdf = _Pdf(format="Letter")
    pdf.direction = "ltr"  # our own lines, with names inside; _body lets free text choose
    pdf.set_compression(compress)
    pdf.alias_nb_pages()
    pdf.set_title(title)
    pdf.set_creator("kapflow")
    pdf.footer_text = "Confidential health information. " + isolate(title)
    pdf.set_auto_page_break(auto=True, margin=18)
    if cover is not None:
        cover(pdf)
    elif not notes:
        pdf.add_page()
        pdf.set_font(BODY, size=11)
        pdf.multi_cell(0, 6, "No signed progress notes.", new_x="LMARGIN", new_y="NEXT")
    for note in notes:
        _note(pdf, note)
    return bytes(pdf.output())
