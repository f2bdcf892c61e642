"""FHIR mapping of the clinical record: EpisodeOfCare (the course), Observation (a
questionnaire total, LOINC-coded from kapflow.clinical.instruments), MedicationRequest (a
prescription, RxNorm-coded), Consent (a signed consent form) and Appointment. Pure functions
from rows the selectors loaded to FHIR JSON dicts; nothing here queries or decides access.

Profiles: none claimed. US Core's screening-assessment Observation and MedicationRequest ask
for Must Support elements (e.g. reported/encounter links) kapflow does not hold in every row;
a profile is added here only once a row truly conforms (decision 0048).
"""

from kapflow.clinical import instruments

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# The course's stages (kapflow.clinical.course.Stage) as EpisodeOfCare.status.
EPISODE_STATUS = {
    "inquiry": "planned",
    "intake": "planned",
    "referred": "planned",
    "medical_evaluation": "planned",
    "eligible": "planned",
    "consented": "planned",
    "preparation": "active",
    "active": "active",
    "maintenance": "active",
    "not_eligible": "cancelled",
    "completed": "finished",
    "discharged": "finished",
    "withdrawn": "cancelled",
}

APPOINTMENT_STATUS = {
    "scheduled": "booked",
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "no_show": "noshow",
    "rescheduled": "cancelled",
}


def _ref(kind: str, pk) -> dict:
    return {"reference": f"{kind}/{pk}"}


def episode_of_care(course) -> dict:
    period = {"start": course.opened_at.isoformat()}
    if course.closed_at is not None:
        period["end"] = course.closed_at.isoformat()
    resource = {
        "resourceType": "EpisodeOfCare",
        "id": str(course.pk),
        "meta": {"lastUpdated": course.stage_changed_at.isoformat()},
        "status": EPISODE_STATUS.get(course.stage, "active"),
        "type": [{"text": f"Ketamine-assisted psychotherapy: {course.get_pathway_display()}"}],
        "patient": _ref("Patient", course.client_id),
        "managingOrganization": _ref("Organization", course.organisation_id),
        "period": period,
    }
    if course.therapist_id:
        resource["careManager"] = _ref("Practitioner", course.therapist_id)
    return resource


def observation(response) -> dict:
    """A questionnaire's total score. The response is `resp-<id>` so vital signs can share
    the Observation id space later."""
    try:
        instrument = instruments.get(response.instrument)
    except KeyError:
        instrument = None
    name = instrument.name if instrument is not None else response.instrument
    code: dict = {"text": f"{name} total score"}
    if instrument is not None and instrument.loinc_total:
        code["coding"] = [{"system": LOINC, "code": instrument.loinc_total}]
    resource = {
        "resourceType": "Observation",
        "id": f"resp-{response.pk}",
        "meta": {"lastUpdated": response.submitted_at.isoformat()},
        "status": "amended" if response.corrects_id else "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": code,
        "subject": _ref("Patient", response.client_id),
        "effectiveDateTime": response.submitted_at.isoformat(),
    }
    if response.total is not None:
        resource["valueInteger"] = response.total
    if response.band:
        resource["interpretation"] = [{"text": response.band}]
    return resource


def medication(prescription) -> dict:
    """The medicine of a prescription, RxNorm-coded where the catalogue coded it; its fills
    (MedicationDispense) and doses (MedicationAdministration) name it the same way."""
    concept: dict = {"text": f"{prescription.drug} {prescription.form}"}
    if prescription.rxcui:
        concept["coding"] = [
            {"system": RXNORM, "code": prescription.rxcui, "display": prescription.drug}
        ]
    return concept


def medication_request(prescription) -> dict:
    resource = {
        "resourceType": "MedicationRequest",
        "id": str(prescription.pk),
        "status": "active" if prescription.status == "active" else "cancelled",
        "intent": "order",
        "medicationCodeableConcept": medication(prescription),
        "subject": _ref("Patient", prescription.course.client_id),
        "authoredOn": prescription.written_on.isoformat(),
        "requester": _ref("Practitioner", prescription.prescriber_id),
        "dosageInstruction": [
            {
                "text": (
                    f"{prescription.dose_mg} mg, {prescription.get_route_display()}, "
                    f"{prescription.get_frequency_display()}"
                ),
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": float(prescription.dose_mg),
                            "unit": "mg",
                            "system": "http://unitsofmeasure.org",
                            "code": "mg",
                        }
                    }
                ],
            }
        ],
        "dispenseRequest": {
            "numberOfRepeatsAllowed": prescription.refills,
            "quantity": {"value": prescription.quantity},
            "validityPeriod": {
                "start": prescription.written_on.isoformat(),
                "end": prescription.expires_on.isoformat(),
            },
        },
    }
    return resource


def consent(signature) -> dict:
    withdrawn = getattr(signature, "withdrawal", None) is not None
    document = signature.document
    return {
        "resourceType": "Consent",
        "id": str(signature.pk),
        "meta": {"lastUpdated": signature.signed_at.isoformat()},
        "status": "inactive" if withdrawn else "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "treatment",
                }
            ]
        },
        "category": [{"text": document.get_kind_display()}],
        "patient": _ref("Patient", signature.client_id),
        "dateTime": signature.signed_at.isoformat(),
        "organization": [_ref("Organization", signature.organisation_id)],
        "policyRule": {"text": f"{document.title}, version {document.version}"},
    }


def appointment(row) -> dict:
    participants = []
    for person in row.participants.all():
        if person.client_id:
            actor = _ref("Patient", person.client_id)
        elif person.membership_id and person.role != "companion":
            actor = _ref("Practitioner", person.membership_id)
        else:
            continue
        participants.append({"actor": actor, "status": "accepted"})
    if not participants:
        participants.append({"status": "accepted", "type": [{"text": "No participant named"}]})
    return {
        "resourceType": "Appointment",
        "id": str(row.pk),
        "status": APPOINTMENT_STATUS.get(row.status, "booked"),
        "appointmentType": {"text": row.get_kind_display()},
        "start": row.starts_at.isoformat(),
        "end": row.ends_at.isoformat(),
        "participant": participants,
    }


UCUM = "http://unitsofmeasure.org"
# The vital signs a dosing session records (encounters' timeline, kind "vitals"), by LOINC.
VITAL_COMPONENTS = (
    ("bp_systolic", "8480-6", "Systolic blood pressure", "mm[Hg]", "mmHg"),
    ("bp_diastolic", "8462-4", "Diastolic blood pressure", "mm[Hg]", "mmHg"),
    ("heart_rate", "8867-4", "Heart rate", "/min", "beats/minute"),
    ("spo2", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "%"),
)


def vital_signs(entry) -> dict:
    """One vitals entry of a dosing session's timeline as a vital-signs panel (LOINC 85353-1)
    with one component per value recorded. `vit-<id>`."""
    components = []
    for key, code, display, ucum, unit in VITAL_COMPONENTS:
        value = entry.data.get(key)
        if value is None or value == "":
            continue
        components.append(
            {
                "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": ucum},
            }
        )
    resource = {
        "resourceType": "Observation",
        "id": f"vit-{entry.pk}",
        "meta": {"lastUpdated": entry.recorded_at.isoformat()},
        "status": "amended" if entry.corrects_id else "final",
        "category": [
            {
                "coding": [
                    {
                        "system": OBSERVATION_CATEGORY,
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": LOINC, "code": "85353-1", "display": "Vital signs panel"}],
            "text": "Vital signs",
        },
        "subject": _ref("Patient", entry.session.client_id),
        "effectiveDateTime": entry.occurred_at.isoformat(),
    }
    if components:
        resource["component"] = components
    else:
        resource["dataAbsentReason"] = {"text": "No value recorded"}
    return resource
