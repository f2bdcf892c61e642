"""FHIR mapping of who and where: Patient (a client), Practitioner (a staff membership) and
Organization. Pure functions from rows the selectors loaded to FHIR JSON dicts; nothing here
queries or decides access.

No US Core profile is claimed: US Core Patient requires an administrative gender and kapflow
does not hold one; US Core Practitioner requires an identifier (NPI) that not every member has.
"""

NPI = "http://hl7.org/fhir/sid/us-npi"


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
