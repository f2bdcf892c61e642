"""FHIR mapping of who and where: Patient (a client), Practitioner (a staff membership, its
person's licences as qualifications), PractitionerRole (the roles of that membership in its
organisation) and Organization. Pure functions from rows the selectors loaded to FHIR JSON
dicts; nothing here queries or decides access.

No US Core profile is claimed: US Core Patient requires an administrative gender and kapflow
does not hold one; US Core Practitioner requires an identifier (NPI) that not every member
has; US Core PractitionerRole requires contact details or an endpoint, which a membership
does not carry.

R4 puts licences on Practitioner.qualification (PractitionerRole has no such element): each is
coded in HL7 v2 table 0360 where the table has the degree, and always in kapflow's own list,
with the licence number as its identifier and the licensing state as its issuer.
"""

from kapflow.accounts.models import STAFF_ROLES, LicenceType, Role

NPI = "http://hl7.org/fhir/sid/us-npi"
DEGREE = "http://terminology.hl7.org/CodeSystem/v2-0360"
LICENCE_TYPE = "urn:kapflow:licence-type"
ROLE = "urn:kapflow:role"
# kapflow's licence types that HL7 v2 table 0360 (degree/license/certificate) also names.
DEGREE_CODES = {
    "MD": ("MD", "Doctor of Medicine"),
    "DO": ("DO", "Doctor of Osteopathy"),
    "NP": ("NP", "Nurse Practitioner"),
    "PA": ("PA", "Physician Assistant"),
    "RN": ("RN", "Registered Nurse"),
    "PhD": ("PHD", "Doctor of Philosophy"),
}


def _meta(updated) -> dict:
    return {"lastUpdated": updated.isoformat()} if updated is not None else {}


def patient(client) -> dict:
    name = {"use": "official", "family": client.legal_last_name, "given": [client.legal_first_name]}
    names = [name]
    if client.preferred_name:
        names.append({"use": "usual", "given": [client.preferred_name]})
    telecom = []
    if client.phone:
        telecom.append({"system": "phone", "value": client.phone})
    if client.email:
        telecom.append({"system": "email", "value": client.email})
    resource = {
        "resourceType": "Patient",
        "id": str(client.pk),
        "meta": _meta(client.updated_at),
        "identifier": [
            {"system": f"urn:kapflow:{client.organisation.slug}:client", "value": str(client.pk)}
        ],
        "active": True,
        "name": names,
        "birthDate": client.date_of_birth.isoformat(),
        "managingOrganization": {"reference": f"Organization/{client.organisation_id}"},
    }
    if telecom:
        resource["telecom"] = telecom
    lines = [line for line in (client.address_line1, client.address_line2) if line]
    if lines or client.city or client.state or client.postal_code:
        address = {"use": "home", "country": "US"}
        if lines:
            address["line"] = lines
        for key, value in (
            ("city", client.city),
            ("state", client.state),
            ("postalCode", client.postal_code),
        ):
            if value:
                address[key] = value
        resource["address"] = [address]
    return resource


def practitioner(membership) -> dict:
    user = membership.user
    resource = {
        "resourceType": "Practitioner",
        "id": str(membership.pk),
        "active": membership.is_active,
        "name": [{"text": user.full_name or "Unnamed member"}],
    }
    if user.npi:
        resource["identifier"] = [{"system": NPI, "value": user.npi}]
    qualifications = [_qualification(licence) for licence in user.licences.all()]
    if qualifications:
        resource["qualification"] = qualifications
    return resource


def _qualification(licence) -> dict:
    label = (
        LicenceType(licence.licence_type).label
        if licence.licence_type in LicenceType.values
        else licence.licence_type
    )
    codings = []
    if licence.licence_type in DEGREE_CODES:
        code, display = DEGREE_CODES[licence.licence_type]
        codings.append({"system": DEGREE, "code": code, "display": display})
    codings.append({"system": LICENCE_TYPE, "code": licence.licence_type, "display": label})
    qualification = {
        "identifier": [{"system": f"urn:kapflow:licence:{licence.state}", "value": licence.number}],
        "code": {"coding": codings, "text": f"{label}, {licence.state}"},
        "issuer": {"display": f"{licence.state} state licensing board"},
    }
    if licence.expires_on is not None:
        qualification["period"] = {"end": licence.expires_on.isoformat()}
    return qualification


def practitioner_role(membership) -> dict:
    """The staff roles one membership holds in its organisation (roles prefetched, ordered)."""
    roles = [r.role for r in membership.roles.all() if r.role in STAFF_ROLES]
    resource = {
        "resourceType": "PractitionerRole",
        "id": str(membership.pk),
        "active": membership.is_active,
        "period": {"start": membership.created_at.isoformat()},
        "practitioner": {"reference": f"Practitioner/{membership.pk}"},
        "organization": {"reference": f"Organization/{membership.organisation_id}"},
    }
    if roles:
        resource["code"] = [
            {
                "coding": [{"system": ROLE, "code": role, "display": Role(role).label}],
                "text": Role(role).label,
            }
            for role in roles
        ]
    return resource


def organization(organisation) -> dict:
    resource = {
        "resourceType": "Organization",
        "id": str(organisation.pk),
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    }
                ]
            }
        ],
        "name": organisation.name,
    }
    if organisation.npi:
        resource["identifier"] = [{"system": NPI, "value": organisation.npi}]
    if organisation.phone:
        resource["telecom"] = [{"system": "phone", "value": organisation.phone}]
    if organisation.address or organisation.state:
        address = {"country": "US"}
        if organisation.address:
            address["text"] = organisation.address
        if organisation.state:
            address["state"] = organisation.state
        resource["address"] = [address]
    return resource
