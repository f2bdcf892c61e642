"""FHIR mapping of the care around a course: Condition (a billing ICD-10-CM diagnosis, or one
named in a referral),
Encounter (a dosing session), Questionnaire (an instrument of kapflow.clinical.instruments) and
QuestionnaireResponse (the answers), CareTeam, Flag (a reaction report or "need help now"),
DocumentReference (a signed progress note, its PDF a Binary), Provenance (who signed or
decided what), MedicationDispense (a fill) and MedicationAdministration (a dose used).

Pure functions from rows the selectors loaded to FHIR JSON dicts; nothing here queries or
decides access. A profile is claimed only where every row has what the profile requires:
a Condition carries US Core's Problems and Health Concerns profile when it has the category,
an ICD-10-CM code (a member of US Core's condition codes), the subject and a clinical status
(`_us_core_condition` checks each resource it is given); the others claim none (decision
0048).
"""

from kapflow.clinical import instruments
from kapflow.fhir.mapping_clinical import LOINC, medication

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
US_CORE_CONDITION = (
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-condition-problems-health-concerns"
)
QUESTIONNAIRE_URL = "urn:kapflow:questionnaire:"

ENCOUNTER_STATUS = {
    "checklist": "arrived",
    "in_progress": "in-progress",
    "discharged": "finished",
    "abandoned": "cancelled",
}
# In person at the practice is ambulatory care; at home it is a telehealth (virtual) visit.
ENCOUNTER_CLASS = {
    "in_person": ("AMB", "ambulatory"),
    "at_home": ("VR", "virtual"),
}


def _ref(kind: str, pk) -> dict:
    return {"reference": f"{kind}/{pk}"}


def _coding(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
# What a FHIR id may hold (an ICD-10-CM code is letters, digits and a dot).
_ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
# A referral declined or withdrawn says nothing about whether its diagnoses are still active.
_REFERRAL_STATUS_UNKNOWN = frozenset({"declined", "withdrawn"})


def _us_core_condition(resource: dict) -> dict:
    """Claim US Core Problems and Health Concerns only when this resource has each element the
    profile requires: a problem-list-item or health-concern category, an ICD-10-CM code, the
    subject and (for a problem-list item) a clinical status."""
    categories = {
        c.get("code") for cat in resource.get("category", []) for c in cat.get("coding", [])
    }
    codes = [c for c in resource.get("code", {}).get("coding", []) if c.get("system") == ICD10CM]
    if (
        categories & {"problem-list-item", "health-concern"}
        and codes
        and all(c.get("code") for c in codes)
        and resource.get("subject", {}).get("reference", "").startswith("Patient/")
        and resource.get("clinicalStatus")
    ):
        meta = {**resource.get("meta", {}), "profile": [US_CORE_CONDITION]}
        head = {"resourceType": resource["resourceType"], "id": resource["id"], "meta": meta}
        return {**head, **{k: v for k, v in resource.items() if k not in head}}
    return resource


def referral_conditions(referral) -> list[dict]:
    """The ICD-10-CM diagnoses a referral named, one Condition each (id
    "referral-<referral>-<code>"): active while the referral stands, recorded when sent."""
    resources = []
    for diagnosis in referral.diagnoses:
        code = str(diagnosis.get("code") or "")
        if not code or len(code) > 10 or not set(code) <= _ID_CHARACTERS:
            continue
        description = diagnosis.get("description") or ""
        coding = {"system": ICD10CM, "code": code}
        if description:
            coding["display"] = description
        resource = {
            "resourceType": "Condition",
            "id": f"referral-{referral.pk}-{code}",
            "category": [_coding(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
            "code": {"coding": [coding], "text": description or code},
            "subject": _ref("Patient", referral.client_id),
            "recordedDate": referral.sent_at.isoformat(),
            "note": [{"text": f"Named in referral #{referral.pk} for a medical evaluation"}],
        }
        if referral.status not in _REFERRAL_STATUS_UNKNOWN:
            resource["clinicalStatus"] = _coding(CONDITION_CLINICAL, "active", "Active")
        resources.append(_us_core_condition(resource))
    return resources


def condition(diagnosis) -> dict:
    """A diagnosis the practice bills under, in pointer order (`rank`)."""
    return _us_core_condition(
        {
            "resourceType": "Condition",
            "id": str(diagnosis.pk),
            "clinicalStatus": _coding(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
            ),
            "verificationStatus": _coding(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "confirmed",
                "Confirmed",
            ),
            "category": [
                _coding(
                    "http://terminology.hl7.org/CodeSystem/condition-category",
                    "problem-list-item",
                    "Problem List Item",
                )
            ],
            "code": {
                "coding": [
                    {"system": ICD10CM, "code": diagnosis.code, "display": diagnosis.description}
                ],
                "text": diagnosis.description,
            },
            "subject": _ref("Patient", diagnosis.client_id),
            "recordedDate": diagnosis.added_at.isoformat(),
            "note": [{"text": f"Claim diagnosis pointer {diagnosis.rank}"}],
        }
    )


def group(membership) -> dict:
    """A clinician's caseload: their active care-team clients that the reader may see (the
    selector loaded them, one entry per client however many roles), managed by them."""
    members, seen = [], set()
    for row in membership.fhir_members:
        if row.client_id in seen:
            continue
        seen.add(row.client_id)
        members.append(
            {
                "entity": _ref("Patient", row.client_id),
                "period": {"start": row.added_at.isoformat()},
            }
        )
    resource = {
        "resourceType": "Group",
        "id": str(membership.pk),
        "active": membership.is_active,
        "type": "person",
        "actual": True,
        "code": {"text": "Caseload"},
        "name": f"Caseload of {membership.user.full_name or 'an unnamed member'}",
        "managingEntity": _ref("Practitioner", membership.pk),
        "quantity": len(members),
    }
    if members:
        resource["member"] = members
    return resource


def encounter(session) -> dict:
    """A dosing session: opened, started, and discharged or abandoned."""
    code, display = ENCOUNTER_CLASS.get(session.delivery, ENCOUNTER_CLASS["in_person"])
    period = {"start": (session.started_at or session.opened_at).isoformat()}
    if session.ended_at is not None:
        period["end"] = session.ended_at.isoformat()
    resource = {
        "resourceType": "Encounter",
        "id": str(session.pk),
        "status": ENCOUNTER_STATUS.get(session.state, "unknown"),
        "class": {"system": ACT_CODE, "code": code, "display": display},
        "type": [{"text": f"Ketamine dosing session ({session.get_delivery_display()})"}],
        "subject": _ref("Patient", session.client_id),
        "episodeOfCare": [_ref("EpisodeOfCare", session.course_id)],
        "period": period,
        "serviceProvider": _ref("Organization", session.organisation_id),
    }
    if session.appointment_id:
        resource["appointment"] = [_ref("Appointment", session.appointment_id)]
    if session.minutes is not None:
        resource["length"] = {
            "value": session.minutes,
            "unit": "min",
            "system": "http://unitsofmeasure.org",
            "code": "min",
        }
    return resource


def questionnaire(instrument) -> dict:
    """An instrument as a Questionnaire. Item wording ships only where its licence allows
    (kapflow.clinical.instruments); elsewhere the item's short label stands in."""
    items = []
    for item in instrument.items:
        entry: dict = {
            "linkId": item.id,
            "text": item.text or item.label,
            "type": "choice",
            "required": item.required,
            "answerOption": [
                {"valueCoding": {"code": str(option.value), "display": option.label}}
                for option in item.options
            ],
        }
        if item.loinc:
            entry["code"] = [{"system": LOINC, "code": item.loinc}]
        items.append(entry)
    resource = {
        "resourceType": "Questionnaire",
        "id": instrument.code,
        "url": QUESTIONNAIRE_URL + instrument.code,
        "name": instrument.code.upper(),
        "title": instrument.name,
        "status": "active",
        "subjectType": ["Patient"],
        "copyright": instrument.licence,
        "item": items,
    }
    if instrument.loinc_panel:
        resource["code"] = [{"system": LOINC, "code": instrument.loinc_panel}]
    return resource


def _answer(item, value) -> dict | None:
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        labels = {option.value: option.label for option in item.options} if item else {}
        coding = {"code": str(value)}
        if value in labels:
            coding["display"] = labels[value]
        return {"valueCoding": coding}
    if isinstance(value, str) and value.strip():
        return {"valueString": value}
    return None


def questionnaire_response(response) -> dict:
    """The answers of one submitted questionnaire, item by item (the total is the
    Observation `resp-<id>`)."""
    try:
        instrument = instruments.get(response.instrument)
    except KeyError:
        instrument = None
    known = {item.id: item for item in instrument.items} if instrument is not None else {}
    order = list(known) + sorted(k for k in response.answers if k not in known)
    items = []
    for link_id in order:
        if link_id not in response.answers:
            continue
        answer = _answer(known.get(link_id), response.answers[link_id])
        if answer is None:
            continue
        entry = {"linkId": str(link_id), "answer": [answer]}
        if link_id in known:
            entry["text"] = known[link_id].text or known[link_id].label
        items.append(entry)
    resource = {
        "resourceType": "QuestionnaireResponse",
        "id": str(response.pk),
        "meta": {"lastUpdated": response.submitted_at.isoformat()},
        "questionnaire": QUESTIONNAIRE_URL + response.instrument,
        "status": "amended" if response.corrects_id else "completed",
        "subject": _ref("Patient", response.client_id),
        "authored": response.submitted_at.isoformat(),
    }
    if response.source == "client":
        resource["source"] = _ref("Patient", response.client_id)
    if items:
        resource["item"] = items
    return resource


def care_team(client) -> dict:
    """The client's care team (one per client, the same id): every clinician ever on it,
    those who left with the end of their period."""
    participants = []
    for member in client.care_team.all():
        period = {"start": member.added_at.isoformat()}
        if member.ended_at is not None:
            period["end"] = member.ended_at.isoformat()
        participants.append(
            {
                "role": [{"text": member.get_role_display()}],
                "member": _ref("Practitioner", member.membership_id),
                "period": period,
            }
        )
    active = any(member.ended_at is None for member in client.care_team.all())
    resource = {
        "resourceType": "CareTeam",
        "id": str(client.pk),
        "status": "active" if active else "inactive",
        "name": "Care team",
        "subject": _ref("Patient", client.pk),
        "managingOrganization": [_ref("Organization", client.organisation_id)],
    }
    if participants:
        resource["participant"] = participants
    return resource


def flag(alert) -> dict:
    """A safety alert (a reaction report or "need help now"), active until a clinician
    acknowledges it. The reporter's words stay on the alert page."""
    period = {"start": alert.raised_at.isoformat()}
    if alert.acknowledged_at is not None:
        period["end"] = alert.acknowledged_at.isoformat()
    resource = {
        "resourceType": "Flag",
        "id": str(alert.pk),
        "status": "active" if alert.acknowledged_at is None else "inactive",
        "category": [
            _coding("http://terminology.hl7.org/CodeSystem/flag-category", "safety", "Safety")
        ],
        "code": {
            "text": f"{alert.get_kind_display()} ({alert.get_severity_display().lower()}), "
            f"raised by {alert.get_raised_by_role_display().lower()}"
        },
        "subject": _ref("Patient", alert.client_id),
        "period": period,
    }
    if alert.raised_by_role == "client":
        resource["author"] = _ref("Patient", alert.client_id)
    return resource


def note_binary_id(note) -> str:
    return f"note-{note.pk}"


def document_reference(note) -> dict:
    """A signed progress note; its content is the note's PDF, read from Binary/note-<id>
    under the same policy as the note's PDF page."""
    resource = {
        "resourceType": "DocumentReference",
        "id": str(note.pk),
        "status": "current",
        "docStatus": "final" if note.is_final else "preliminary",
        "type": _coding(LOINC, "11506-3", "Progress note"),
        "category": [
            _coding(
                "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                "clinical-note",
                "Clinical Note",
            )
        ],
        "subject": _ref("Patient", note.client_id),
        "date": note.signed_at.isoformat(),
        "author": [_ref("Practitioner", note.author_id)],
        "description": f"{note.get_session_type_display()} note, {note.session_date.isoformat()}",
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "url": f"Binary/{note_binary_id(note)}",
                    "title": f"note-{note.pk}.pdf",
                    "creation": note.signed_at.isoformat(),
                }
            }
        ],
        "context": {"period": {"start": note.session_date.isoformat()}},
    }
    if note.cosigned_by_id:
        resource["authenticator"] = _ref("Practitioner", note.cosigned_by_id)
    return resource


def _provenance(pk: str, target: dict, recorded, agents: list[dict], activity: str) -> dict:
    return {
        "resourceType": "Provenance",
        "id": pk,
        "meta": {"lastUpdated": recorded.isoformat()},
        "target": [target],
        "recorded": recorded.isoformat(),
        "activity": {"text": activity},
        "agent": agents,
    }


def _agent(code: str, display: str, who: dict) -> dict:
    return {
        "type": _coding(
            "http://terminology.hl7.org/CodeSystem/provenance-participant-type", code, display
        ),
        "who": who,
    }


def provenance_note(note) -> dict:
    """Who signed a progress note, and who co-signed it under supervision."""
    agents = [_agent("author", "Author", _ref("Practitioner", note.author_id))]
    if note.cosigned_by_id:
        agents.append(_agent("verifier", "Verifier", _ref("Practitioner", note.cosigned_by_id)))
    return _provenance(
        f"note-{note.pk}",
        _ref("DocumentReference", note.pk),
        note.signed_at,
        agents,
        "Signed progress note" + (" (co-signed)" if note.cosigned_by_id else ""),
    )


def provenance_decision(decision) -> dict:
    """The prescriber who signed an eligibility decision on the course."""
    return _provenance(
        f"decision-{decision.pk}",
        _ref("EpisodeOfCare", decision.course_id),
        decision.decided_at,
        [_agent("author", "Author", _ref("Practitioner", decision.decided_by_membership_id))],
        f"Eligibility decision signed: {decision.get_decision_display()}",
    )


def provenance_consent(signature) -> dict:
    """The client who signed a consent form."""
    return _provenance(
        f"consent-{signature.pk}",
        _ref("Consent", signature.pk),
        signature.signed_at,
        [_agent("author", "Author", _ref("Patient", signature.client_id))],
        "Consent signed",
    )


def medication_dispense(fill) -> dict:
    """One fill of a prescription: the first fill or a refill, shipped and received."""
    prescription = fill.prescription
    resource = {
        "resourceType": "MedicationDispense",
        "id": str(fill.pk),
        "status": "completed",
        "type": _coding(ACT_CODE, "FF", "First Fill")
        if fill.fill_number == 0
        else _coding(ACT_CODE, "RF", "Refill"),
        "medicationCodeableConcept": medication(prescription),
        "subject": _ref("Patient", prescription.course.client_id),
        "authorizingPrescription": [_ref("MedicationRequest", prescription.pk)],
        "quantity": {"value": fill.quantity},
        "whenPrepared": fill.dispensed_on.isoformat(),
    }
    if fill.received_on is not None:
        resource["whenHandedOver"] = fill.received_on.isoformat()
    if fill.tracking:
        resource["note"] = [{"text": f"Shipped {fill.shipped_on or ''} ({fill.tracking})".strip()}]
    return resource


def medication_administration(dose) -> dict:
    """One dose used: given in a dosing session (outpatient), or a daily low dose the client
    took and logged at home (community, the client as performer)."""
    prescription = dose.prescription
    in_session = dose.source == "session"
    resource = {
        "resourceType": "MedicationAdministration",
        "id": str(dose.pk),
        "meta": {"lastUpdated": dose.recorded_at.isoformat()},
        "status": "completed",
        "category": _coding(
            "http://terminology.hl7.org/CodeSystem/medication-admin-category",
            "outpatient" if in_session else "community",
            "Outpatient" if in_session else "Community",
        ),
        "medicationCodeableConcept": medication(prescription),
        "subject": _ref("Patient", dose.course.client_id),
        "effectiveDateTime": dose.used_at.isoformat(),
        "request": _ref("MedicationRequest", prescription.pk),
    }
    session = getattr(dose, "fhir_session_id", None)
    if session:
        resource["context"] = _ref("Encounter", session)
    if not in_session:
        resource["performer"] = [{"actor": _ref("Patient", dose.course.client_id)}]
    if dose.amount_mg is not None:
        resource["dosage"] = {
            "dose": {
                "value": float(dose.amount_mg),
                "unit": "mg",
                "system": "http://unitsofmeasure.org",
                "code": "mg",
            }
        }
    return resource
