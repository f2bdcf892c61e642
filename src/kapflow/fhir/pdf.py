"""The client's own record as a readable PDF, drawn from the same FHIR resources as their
FHIR download (kapflow.fhir.selectors.own_record), so the two files cannot disagree.

Drawn with kapflow.core.pdf_fonts.UnicodePdf: names and text in any script print as written.
Nothing here reads the database or audits; the view does both.
"""

from kapflow.core import clock
from kapflow.core.pdf_fonts import BODY, UnicodePdf, isolate

# Every kind of record the download holds, but the cover's (Patient, Organization) and the
# questionnaire answers (their totals are the scores): tests/fhir/test_portal_download.py
# fails if a kind the FHIR download gains is missing here.
SECTIONS = (
    ("EpisodeOfCare", "Courses of care"),
    ("Condition", "Diagnoses"),
    ("CareTeam", "Care team"),
    ("Encounter", "Dosing sessions"),
    ("Observation", "Questionnaire scores and vital signs"),
    ("MedicationRequest", "Prescriptions"),
    ("MedicationDispense", "Prescriptions filled"),
    ("MedicationAdministration", "Doses taken"),
    ("DocumentReference", "Clinical notes"),
    ("Flag", "Reports and safety alerts"),
    ("Provenance", "Signatures"),
    ("Consent", "Consents"),
    ("Appointment", "Appointments"),
)
NOT_LISTED = frozenset({"Patient", "Organization", "QuestionnaireResponse"})


class _Pdf(UnicodePdf):
    def footer(self):
        self.set_y(-12)
        self.set_font(BODY, size=8)
        self.cell(0, 5, f"Your health record.  Page {self.page_no()}/{{nb}}", align="C")


def _day(value: str) -> str:
    return (value or "")[:10]


def _code_text(concept: dict) -> str:
    coded = concept.get("coding") or [{}]
    text = concept.get("text") or coded[0].get("display") or ""
    code = coded[0].get("code")
    return f"{text} ({code})" if code and text else text or (code or "")


def _describe(resource: dict) -> str:
    kind = resource["resourceType"]
    if kind == "EpisodeOfCare":
        period = resource.get("period", {})
        end = _day(period.get("end")) or "ongoing"
        label = resource["type"][0]["text"]
        return f"{label}: {_day(period.get('start'))} to {end} ({resource['status']})"
    if kind == "Observation":
        when = _day(resource.get("effectiveDateTime"))
        if "component" in resource:
            parts = [
                f"{_code_text(c['code'])}: {c['valueQuantity']['value']} "
                f"{c['valueQuantity']['unit']}"
                for c in resource["component"]
            ]
            return f"{when} Vital signs. " + "; ".join(parts)
        value = resource.get("valueInteger", "")
        band = (resource.get("interpretation") or [{}])[0].get("text", "")
        return f"{when} {_code_text(resource['code'])}: {value} {band}".strip()
    if kind == "MedicationRequest":
        medicine = _code_text(resource["medicationCodeableConcept"])
        dose = resource["dosageInstruction"][0]["text"]
        return f"{resource['authoredOn']} {medicine}, {dose} ({resource['status']})"
    if kind == "Consent":
        return (
            f"{_day(resource['dateTime'])} {resource['category'][0]['text']}: "
            f"{resource['policyRule']['text']} ({resource['status']})"
        )
    if kind == "Appointment":
        return (
            f"{_day(resource['start'])} {resource['appointmentType']['text']} "
            f"({resource['status']})"
        )
    return _describe_more(kind, resource)


def _status(concept: dict | None) -> str:
    coded = (concept or {}).get("coding") or [{}]
    return coded[0].get("code", "")


def _describe_more(kind: str, resource: dict) -> str:
    """The kinds added after the first five: each read with .get, so a field the mapping
    leaves out prints as blank instead of failing the download."""
    if kind == "Condition":
        when = _day(resource.get("recordedDate") or resource.get("onsetDateTime"))
        status = _status(resource.get("clinicalStatus"))
        text = f"{when} {_code_text(resource.get('code', {}))}"
        return f"{text} ({status})" if status else text
    if kind == "CareTeam":
        members = [
            f"{(p.get('role') or [{}])[0].get('text', 'Member')}: from "
            f"{_day(p.get('period', {}).get('start'))}"
            + (f" to {_day(p['period']['end'])}" if p.get("period", {}).get("end") else "")
            for p in resource.get("participant", [])
        ]
        return "; ".join(members) or "No one named."
    if kind == "Encounter":
        period = resource.get("period", {})
        label = (resource.get("type") or [{}])[0].get("text", "Session")
        return f"{_day(period.get('start'))} {label} ({resource.get('status', '')})"
    if kind == "MedicationDispense":
        medicine = _code_text(resource.get("medicationCodeableConcept", {}))
        quantity = resource.get("quantity", {}).get("value", "")
        return f"{_day(resource.get('whenPrepared'))} {medicine}, quantity {quantity}"
    if kind == "MedicationAdministration":
        medicine = _code_text(resource.get("medicationCodeableConcept", {}))
        dose = resource.get("dosage", {}).get("dose", {})
        amount = f", {dose['value']:g} {dose.get('unit', '')}" if "value" in dose else ""
        return f"{_day(resource.get('effectiveDateTime'))} {medicine}{amount}"
    if kind == "DocumentReference":
        return f"{_day(resource.get('date'))} {resource.get('description', 'Note')}"
    if kind == "Provenance":
        roles = ", ".join(
            (a.get("type", {}).get("coding") or [{}])[0].get("display", "")
            for a in resource.get("agent", [])
        )
        activity = resource.get("activity", {}).get("text", "")
        return f"{_day(resource.get('recorded'))} {activity} ({roles})" if roles else activity
    if kind == "Flag":
        period = resource.get("period", {})
        text = resource.get("code", {}).get("text", "")
        return f"{_day(period.get('start'))} {text} ({resource.get('status', '')})"
    return kind


def render_record(resources: list[dict], *, compress: bool = True) -> bytes:
    """A cover with who and where, then one section per kind of record, oldest first."""
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    practice = next((r for r in resources if r["resourceType"] == "Organization"), None)
    pdf = _Pdf(format="Letter")
    pdf.direction = "ltr"
    pdf.set_compression(compress)
    pdf.alias_nb_pages()
    pdf.set_title("Your health record")
    pdf.set_creator("kapflow")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font(BODY, style="B", size=14)
    pdf.multi_cell(0, 8, "Your health record", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(BODY, size=10)
    official = patient["name"][0]
    name = " ".join([*official.get("given", []), official.get("family", "")])
    lines = [("Name", isolate(name)), ("Date of birth", patient["birthDate"])]
    for other in patient["name"][1:]:
        lines.append(("Also known as", isolate(" ".join(other.get("given", [])))))
    if practice is not None:
        lines.append(("Practice", isolate(practice["name"])))
    lines.append(("Produced", clock.now().strftime("%Y-%m-%d %H:%M UTC")))
    for label, value in lines:
        pdf.set_font(BODY, style="B", size=10)
        pdf.cell(40, 6, label)
        pdf.set_font(BODY, size=10)
        pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
    for kind, heading in SECTIONS:
        rows = [r for r in resources if r["resourceType"] == kind]
        pdf.ln(3)
        pdf.set_font(BODY, style="B", size=12)
        pdf.multi_cell(0, 7, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(BODY, size=10)
        pdf.direction = None  # free text: each line reads in the direction it is written
        for row in rows or [None]:
            text = _describe(row) if row is not None else "None recorded."
            pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.direction = "ltr"
    return bytes(pdf.output())
