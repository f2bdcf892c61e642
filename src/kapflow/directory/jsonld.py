"""schema.org JSON-LD for the public profiles (MedicalClinic, Physician): what search
engines index. Only published fields; no opening hours or reviews we do not hold."""

from django.urls import reverse

from kapflow.directory.models import Condition, Language

CONDITIONS = dict(Condition.choices)
LANGUAGES = dict(Language.choices)


def _address(practice) -> dict | None:
    if practice.online_only or not practice.city:
        return None
    return {
        "@type": "PostalAddress",
        "streetAddress": practice.street or None,
        "addressLocality": practice.city,
        "addressRegion": practice.state,
        "postalCode": practice.zip_code or None,
        "addressCountry": "US",
    }


def _clean(data: dict) -> dict:
    return {k: v for k, v in data.items() if v not in (None, "", [])}


def practice(practice, request) -> dict:
    data = {
        "@context": "https://schema.org",
        "@type": "MedicalClinic",
        "name": practice.display_name,
        "description": practice.bio,
        "url": request.build_absolute_uri(reverse("directory:practice", args=[practice.slug])),
        "telephone": practice.phone,
        "address": _address(practice),
        "medicalSpecialty": "Psychiatric",
        "isAcceptingNewPatients": any(c.accepting_new for c in practice.shown_clinicians),
        "availableService": {"@type": "MedicalTherapy", "name": "Ketamine-assisted psychotherapy"},
        "employee": [
            {
                "@type": "Physician",
                "name": c.display_name,
                "url": request.build_absolute_uri(reverse("directory:clinician", args=[c.slug])),
            }
            for c in practice.shown_clinicians
        ],
    }
    if practice.latitude is not None and not practice.online_only:
        data["geo"] = {
            "@type": "GeoCoordinates",
            "latitude": round(practice.latitude, 4),
            "longitude": round(practice.longitude, 4),
        }
    return _clean(data)


def clinician(clinician, request) -> dict:
    practice = clinician.practice
    data = {
        "@context": "https://schema.org",
        "@type": "Physician",
        "name": clinician.display_name,
        "description": clinician.bio,
        "url": request.build_absolute_uri(reverse("directory:clinician", args=[clinician.slug])),
        "medicalSpecialty": "Psychiatric",
        "isAcceptingNewPatients": clinician.accepting_new,
        "knowsLanguage": [LANGUAGES.get(c, c) for c in clinician.language_list()],
        "address": _address(practice) if clinician.in_person else None,
        "areaServed": [{"@type": "State", "name": s} for s in clinician.licensed_states],
        "hasCredential": [
            {
                "@type": "EducationalOccupationalCredential",
                "name": c.name,
                "recognizedBy": {"@type": "Organization", "name": c.issuer},
            }
            for c in clinician.certificates
        ],
        "memberOf": {
            "@type": "MedicalClinic",
            "name": practice.display_name,
            "url": request.build_absolute_uri(reverse("directory:practice", args=[practice.slug])),
        },
        "availableService": [
            {"@type": "MedicalTherapy", "name": CONDITIONS.get(c, c)}
            for c in clinician.condition_list()
        ],
    }
    return _clean(data)
