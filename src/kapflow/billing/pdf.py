"""Superbills, receipts and statements as PDF, drawn with the notes' machinery
(kapflow.core.pdf_fonts.UnicodePdf: Noto fonts, shaped, so names in any script print as
written). The superbill carries the fields of the NUCC 1500 claim a payer needs for an
out-of-network claim (shared DOMAIN.md section 3): practice and rendering clinician with NPI,
tax id and licence; client and date of birth; insurance; ICD-10-CM diagnoses with pointers;
each service's date, place of service, CPT/HCPCS, modifiers, units and fee; totals, amount
paid; the signature line.

Nothing here reads the database beyond the objects passed in, and nothing is audited here:
the views and API endpoints send each file through audit.exports.export_response.
"""

from kapflow.core.pdf_fonts import BODY, UnicodePdf, isolate

POINTERS = "ABCDEFGHIJKL"


class _Pdf(UnicodePdf):
    footer_text = ""

    def footer(self):
        self.set_y(-12)
        self.set_font(BODY, size=8)
        self.cell(0, 5, f"{self.footer_text}  Page {self.page_no()}/{{nb}}", align="C")


def _new(title: str, compress: bool) -> _Pdf:
    pdf = _Pdf(format="Letter")
    pdf.direction = "ltr"
    pdf.set_compression(compress)
    pdf.alias_nb_pages()
    pdf.set_title(title)
    pdf.set_creator("kapflow")
    pdf.footer_text = "Confidential health information. " + isolate(title)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    return pdf


def _line(pdf, label: str, value: str) -> None:
    pdf.set_font(BODY, style="B", size=10)
    pdf.cell(50, 6, label)
    pdf.set_font(BODY, size=10)
    pdf.multi_cell(0, 6, value or "-", new_x="LMARGIN", new_y="NEXT")


def _heading(pdf, text: str, size: int = 12) -> None:
    pdf.set_font(BODY, style="B", size=size)
    pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")


def _name(client) -> str:
    return isolate(f"{client.legal_first_name} {client.legal_last_name}")


def _practice(pdf, practice, settings) -> None:
    _heading(pdf, isolate(practice.name), 14)
    pdf.set_font(BODY, size=10)
    pdf.multi_cell(0, 5, isolate(f"{practice.address}  {practice.phone}"), new_x="LMARGIN",
                   new_y="NEXT")  # fmt: skip
    _line(pdf, "Tax id (EIN)", settings.tax_id)
    _line(pdf, "Group NPI", practice.npi)


def render_superbill(bill, *, compress: bool = True) -> bytes:
    """The superbill for `bill` (kapflow.billing.selectors.Superbill)."""
    pdf = _new(f"Superbill, client #{bill.client.pk}", compress)
    _practice(pdf, bill.practice, bill.settings)
    _heading(pdf, f"Superbill for {bill.start.isoformat()} to {bill.end.isoformat()}")
    pdf.ln(1)
    user = bill.clinician.user if bill.clinician else None
    _line(pdf, "Rendering clinician", isolate(user.full_name or user.email) if user else "")
    _line(pdf, "Clinician NPI", user.npi if user else "")
    _line(
        pdf,
        "Licence",
        "; ".join(f"{lic.licence_type} {lic.state} {lic.number}" for lic in bill.licences),
    )
    pdf.ln(1)
    _line(pdf, "Client", _name(bill.client))
    _line(pdf, "Date of birth", bill.client.date_of_birth.isoformat())
    address = ", ".join(
        p for p in (bill.client.address_line1, bill.client.city, bill.client.state,
                    bill.client.postal_code) if p
    )  # fmt: skip
    _line(pdf, "Address", isolate(address))
    cov = bill.coverage
    if cov and cov.kind != "self_pay":
        _line(pdf, "Insurance", isolate(f"{cov.payer} ({cov.get_kind_display()})"))
        _line(pdf, "Member id", isolate(cov.member_id))
        _line(pdf, "Group", isolate(cov.group_number))
        _line(
            pdf, "Subscriber", isolate(f"{cov.subscriber_name} ({cov.get_relationship_display()})")
        )
    else:
        _line(pdf, "Insurance", "Self-pay")
    pdf.ln(1)
    _heading(pdf, "Diagnoses (ICD-10-CM)", 11)
    pdf.set_font(BODY, size=10)
    for pointer, dx in zip(POINTERS, bill.diagnoses, strict=False):
        pdf.multi_cell(0, 5, f"{pointer}. {dx.code}  {dx.description}", new_x="LMARGIN",
                       new_y="NEXT")  # fmt: skip
    if not bill.diagnoses:
        pdf.multi_cell(0, 5, "None on file.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _heading(pdf, "Services", 11)
    pointer = "".join(POINTERS[: min(len(bill.diagnoses), 4)])
    widths = (24, 12, 18, 18, 16, 12, 22, 74)
    head = ("Date", "POS", "CPT", "Modifiers", "Units", "Dx", "Fee", "Description")
    pdf.set_font(BODY, style="B", size=9)
    for w, h in zip(widths, head, strict=True):
        pdf.cell(w, 6, h, border="B")
    pdf.ln()
    pdf.set_font(BODY, size=9)
    for ln in bill.lines:
        cells = (ln.service_date.isoformat(), ln.place_of_service, ln.code,
                 ln.modifiers.replace(",", " ") or "-", format(ln.units.normalize(), "f"),
                 pointer or "-", f"{ln.amount}", ln.description[:48])  # fmt: skip
        for w, c in zip(widths, cells, strict=True):
            pdf.cell(w, 6, c)
        pdf.ln()
    pdf.ln(2)
    currency = bill.settings.currency
    _line(pdf, "Total charges", f"{bill.charged} {currency}")
    _line(pdf, "Amount paid", f"{bill.paid} {currency}")
    _line(pdf, "Balance", f"{bill.charged - bill.paid} {currency}")
    pdf.ln(10)
    pdf.set_font(BODY, size=10)
    pdf.cell(110, 6, "Signature: ________________________________")
    pdf.cell(0, 6, "Date: ______________", new_x="LMARGIN", new_y="NEXT")
    signer = isolate(user.full_name or user.email) if user else ""
    pdf.multi_cell(0, 6, f"Rendering provider {signer}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(BODY, size=8)
    pdf.multi_cell(
        0, 4, f"Generated {bill.generated_on.isoformat()} by kapflow. Submit to your insurer "
        "for out-of-network reimbursement.", new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    return bytes(pdf.output())


def render_receipt(invoice, settings, *, compress: bool = True) -> bytes:
    """An HSA/FSA-ready receipt: the practice, the client, each service with its date and
    code, and every payment with its method and reference."""
    pdf = _new(f"Receipt {invoice.label}", compress)
    _practice(pdf, invoice.client.organisation, settings)
    _heading(pdf, f"Receipt for invoice {invoice.label}")
    _line(pdf, "Client", _name(invoice.client))
    _line(pdf, "Date of birth", invoice.client.date_of_birth.isoformat())
    _line(pdf, "Issued", invoice.issued_on.isoformat() if invoice.issued_on else "")
    pdf.ln(1)
    _heading(pdf, "Services (qualified medical care)", 11)
    pdf.set_font(BODY, size=9)
    for ln in invoice.lines.all():
        pdf.multi_cell(
            0, 5, f"{ln.service_date.isoformat()}  {ln.code or '-'}  {ln.description}  "
            f"{ln.amount} {invoice.currency}", new_x="LMARGIN", new_y="NEXT",
        )  # fmt: skip
    pdf.ln(1)
    _heading(pdf, "Payments", 11)
    pdf.set_font(BODY, size=9)
    for p in invoice.payments.all():
        pdf.multi_cell(
            0, 5, f"{p.received_on.isoformat()}  {p.get_method_display()}  "
            f"{isolate(p.reference) or '-'}  {p.amount} {p.currency}", new_x="LMARGIN",
            new_y="NEXT",
        )  # fmt: skip
    pdf.ln(1)
    _line(pdf, "Total", f"{invoice.total} {invoice.currency}")
    _line(pdf, "Paid", f"{invoice.paid} {invoice.currency}")
    _line(pdf, "Balance", f"{invoice.balance} {invoice.currency}")
    return bytes(pdf.output())


def render_statement(statement, invoices, *, compress: bool = True) -> bytes:
    """A monthly statement: the month's charges and payments and the balance owed."""
    pdf = _new(f"Statement {statement.period_start:%Y-%m}", compress)
    client = statement.client
    _heading(pdf, isolate(client.organisation.name), 14)
    _heading(pdf, f"Statement for {statement.period_start.isoformat()} to "
                  f"{statement.period_end.isoformat()}")  # fmt: skip
    _line(pdf, "Client", _name(client))
    _line(pdf, "Charged this month", f"{statement.charged} {statement.currency}")
    _line(pdf, "Received this month", f"{statement.paid} {statement.currency}")
    _line(pdf, "Balance owed", f"{statement.balance} {statement.currency}")
    pdf.ln(1)
    _heading(pdf, "Open invoices", 11)
    pdf.set_font(BODY, size=9)
    for invoice in invoices:
        pdf.multi_cell(0, 5, f"{invoice.label}  issued {invoice.issued_on}  balance "
                             f"{invoice.balance} {invoice.currency}", new_x="LMARGIN",
                       new_y="NEXT")  # fmt: skip
    return bytes(pdf.output())
