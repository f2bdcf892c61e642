"""The accounting of disclosures as a PDF (fpdf2 on kapflow.core.pdf_fonts.UnicodePdf, so
names and recipients print as written in any script).

Builds from an Accounting (kapflow.audit.accounting) and reads nothing else; the view
audits the export with the file's digest (kapflow.audit.exports). A PDF cannot carry its
own digest, so the last lines say how to check a copy instead.
"""

from fpdf import FPDF

from kapflow.audit.accounting import Accounting, Line
from kapflow.core.pdf_fonts import BODY, UnicodePdf, isolate


class _Pdf(UnicodePdf):
    footer_text = ""

    def footer(self):
        self.set_y(-12)
        self.set_font(BODY, size=8)
        self.cell(0, 5, f"{self.footer_text}  Page {self.page_no()}/{{nb}}", align="C")


def _field(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font(BODY, style="B", size=9)
    pdf.cell(32, 5, label)
    pdf.set_font(BODY, size=9)
    pdf.multi_cell(0, 5, value or "-", new_x="LMARGIN", new_y="NEXT")


def when(line: Line) -> str:
    """The line's date, with its times in the zone of the accounting when kapflow knows
    them: '2026-03-02 09:14 PST', or '... 09:14 to 16:02 PST, 3 times'."""
    if line.first_at is None:
        return f"{line.on.isoformat()} (recorded by staff)"
    first = line.first_at.strftime("%H:%M")
    last = line.last_at.strftime("%H:%M %Z")
    if line.times == 1:
        return f"{line.on.isoformat()} {last}"
    return f"{line.on.isoformat()} {first} to {last}, {line.times} times"


def render_accounting(
    accounting: Accounting, *, generated_by: str, generated_at, compress: bool = True
) -> bytes:
    client = accounting.client
    pdf = _Pdf(format="Letter")
    pdf.direction = "ltr"
    pdf.set_compression(compress)
    pdf.alias_nb_pages()
    pdf.set_title(f"Accounting of disclosures, client #{client.pk}")
    pdf.set_creator("kapflow")
    pdf.footer_text = "Confidential health information. Accounting of disclosures."
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font(BODY, style="B", size=14)
    pdf.multi_cell(0, 8, client.organisation.name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(BODY, style="B", size=12)
    pdf.multi_cell(0, 7, "Accounting of disclosures", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _field(pdf, "Client", isolate(f"{client.legal_first_name} {client.legal_last_name}"))
    _field(pdf, "Date of birth", client.date_of_birth.isoformat())
    _field(pdf, "Period", f"{accounting.since.isoformat()} to {accounting.until.isoformat()}")
    _field(pdf, "Times in", accounting.zone_name)
    _field(
        pdf,
        "Generated",
        f"{generated_at.strftime('%Y-%m-%d %H:%M %Z')} by {isolate(generated_by)}",
    )
    pdf.ln(2)
    pdf.set_font(BODY, size=9)
    pdf.multi_cell(
        0,
        5,
        "Each disclosure of your health information outside the practice in the six years "
        "before this date (HIPAA 45 CFR 164.528): when, to whom, why and what. Lines marked "
        "'recorded by staff' are disclosures the practice made outside kapflow.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    if not accounting.lines:
        pdf.set_font(BODY, size=11)
        pdf.multi_cell(0, 6, "No disclosures in this period.", new_x="LMARGIN", new_y="NEXT")
    for number, line in enumerate(accounting.lines, start=1):
        pdf.set_font(BODY, style="B", size=10)
        pdf.multi_cell(0, 6, f"{number}. {when(line)}", new_x="LMARGIN", new_y="NEXT")
        _field(pdf, "Recipient", isolate(line.recipient))
        if line.recipient_address:
            _field(pdf, "Address", isolate(line.recipient_address))
        _field(pdf, "Purpose", line.purpose)
        _field(pdf, "What", line.what)
        if line.legal_basis:
            _field(pdf, "Legal basis", line.legal_basis)
        if line.recorded_by:
            _field(pdf, "Recorded by", isolate(line.recorded_by))
        pdf.ln(2)
    pdf.ln(2)
    pdf.set_font(BODY, style="I", size=8)
    pdf.multi_cell(
        0,
        4,
        "To check that a copy of this file is the one kapflow produced, the practice runs "
        "'kapflow export_verify' on it or uses the audit trail's 'Verify an export' page: "
        "the file's SHA-256 was recorded when it was made.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())
