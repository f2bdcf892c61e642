"""Demo directory (kapflow.demo.loader calls load_demo_directory after the schedule): Harbor
Light and two more fictional practices published in different states, one online only, and
one confirmed request from the public form (a joint intake) waiting on Harbor Light's
caseload. Everything goes through the directory's services; idempotent."""

from __future__ import annotations

from datetime import time

from django.db import transaction

from kapflow.core import clock

# Fictional practices beside Harbor Light: (organisation, admin, clinicians).
EXTRA_PRACTICES = [
    {
        "org": {"name": "Aspen Hollow Counseling", "slug": "aspen-hollow", "state": "CO",
                "phone": "(303) 555-0111", "address": "12 Sample Lane, Denver, CO 80218"},
        "profile": {"zip_code": "80218", "city": "Denver", "street": "12 Sample Lane",
                    "online_only": False,
                    "bio": "A small Denver team offering psycholytic and higher-dose KAP in a "
                           "quiet office near Cheesman Park, with integration groups on "
                           "Thursday evenings."},
        "admin": ("admin@aspenhollow.example", "Quinn Harrow"),
        "clinicians": [
            ("therapist@aspenhollow.example", "Sasha Delacroix", "LPC", [("LPC", "CO", "LPC-3301")],
             "Sasha works with adults living with long-standing depression and with trauma, "
             "pacing preparation carefully before any medicine session.",
             ["psycholytic", "higher_dose", "in_person", "group"], ["depression", "ptsd"],
             ["self_pay", "superbill", "sliding"], 160, 240),
        ],
    },
    {
        "org": {"name": "Tidewater Virtual KAP", "slug": "tidewater-virtual", "state": "NY",
                "phone": "(212) 555-0177", "address": ""},
        "profile": {"zip_code": "", "city": "", "street": "", "online_only": True,
                    "bio": "Telehealth-only ketamine-assisted psychotherapy for people at home "
                           "in New York and New Jersey, with a companion present for every "
                           "at-home session."},
        "admin": ("admin@tidewater.example", "Ellis Marchetti"),
        "clinicians": [
            ("therapist@tidewater.example", "Noor Castellanos", "LCSW",
             [("LCSW", "NY", "NY-88120"), ("LCSW", "NJ", "NJ-44019")],
             "Noor offers at-home KAP by video for anxiety and depression, in English and "
             "Spanish, and coordinates with each client's own prescriber.",
             ["at_home", "psycholytic"], ["anxiety", "depression"], ["self_pay", "aetna"],
             180, 260),
        ],
    },
]  # fmt: skip

HARBOR_PROFILE = {
    "zip_code": "97214",
    "city": "Portland",
    "street": "100 Example Quay",
    "online_only": False,
    "bio": "Harbor Light Therapy is a Portland practice for ketamine-assisted psychotherapy, "
    "in person and at home, working with the prescribers of Northstar Medical Group.",
}

HARBOR_CARDS = {
    "therapist@harborlight.example": (
        "Avery has guided KAP courses since the practice opened, with a focus on "
        "treatment-resistant depression and on integration that lasts.",
        ["higher_dose", "psycholytic", "in_person", "at_home"],
        ["depression", "ptsd", "anxiety"],
        ["self_pay", "superbill", "bcbs"],
        150,
        250,
    ),
    "therapist2@harborlight.example": (
        "Rowan works with trauma survivors and veterans, and leads the practice's group "
        "integration circle.",
        ["higher_dose", "in_person", "group"],
        ["ptsd", "depression", "substance"],
        ["self_pay", "superbill"],
        140,
        220,
    ),
}


def _actor(membership_id: int):
    from kapflow.accounts.models import Membership

    return (
        Membership.objects.select_related("organisation", "user")
        .prefetch_related("roles")
        .get(pk=membership_id)
    )


def _weekday_hours(*, actor, membership, zone_name: str) -> None:
    from kapflow.scheduling import services as scheduling
    from kapflow.scheduling.models import AvailabilityRule

    if AvailabilityRule.objects.filter(membership=membership).exists():
        return
    for day in range(5):
        scheduling.availability_rule_add(
            actor=actor, membership_id=membership.pk, weekday=day, start_time=time(9),
            end_time=time(17), time_zone=zone_name,
        )  # fmt: skip


def _extra_practice(spec: dict, password: str) -> None:
    from kapflow.accounts.models import (
        ClinicianLicence,
        Membership,
        MembershipRole,
        Organisation,
        OrganisationKind,
        TrainingCertificate,
        User,
    )
    from kapflow.core.timezones import organisation_zone
    from kapflow.directory import services

    org, _ = Organisation.objects.update_or_create(
        slug=spec["org"]["slug"], defaults={**spec["org"], "kind": OrganisationKind.PRACTICE}
    )

    def ensure(email, name, roles, title=""):
        user = User.objects.filter(email=email).first() or User.objects.create_user(
            email, password, full_name=name
        )
        membership, _ = Membership.objects.get_or_create(
            organisation=org, user=user, defaults={"title": title}
        )
        for role in roles:
            MembershipRole.objects.get_or_create(membership=membership, role=role)
        return membership

    admin = _actor(ensure(*spec["admin"], ["practice_admin"], "Practice manager").pk)
    services.practice_profile_save(
        actor=admin,
        data={"display_name": org.name, "state": org.state, "phone": org.phone,
              "published": True, **spec["profile"]},
    )  # fmt: skip
    for email, name, title, licences, bio, modalities, conditions, insurance, lo, hi in spec[
        "clinicians"
    ]:
        m = ensure(email, name, ["therapist"], title)
        for kind, state, number in licences:
            ClinicianLicence.objects.get_or_create(
                user=m.user, state=state, defaults={"licence_type": kind, "number": number}
            )
        TrainingCertificate.objects.get_or_create(
            user=m.user,
            name="Ketamine-assisted psychotherapy training",
            defaults={"issuer": "Example KAP Institute", "issued_on": clock.clinical_date(org)},
        )
        _weekday_hours(actor=admin, membership=m, zone_name=organisation_zone(org))
        services.clinician_profile_save(
            actor=admin,
            membership_id=m.pk,
            data={"bio": bio, "credentials": title, "modalities": modalities,
                  "conditions": conditions, "insurance": insurance, "price_min": lo,
                  "price_max": hi, "languages": ["en", "es"] if "Spanish" in bio else ["en"],
                  "accepting_new": True, "in_person": not spec["profile"]["online_only"],
                  "telehealth": True, "published": True},
        )  # fmt: skip


@transaction.atomic
def load_demo_directory(*, practice, partner, password: str) -> dict:
    """Publish Harbor Light (its two therapists, Northstar's prescriber as partner) and two
    more practices, and leave one confirmed joint-intake request on Harbor Light's caseload."""
    from kapflow.accounts.models import Membership, Role
    from kapflow.core.timezones import organisation_zone
    from kapflow.directory import selectors, services
    from kapflow.directory.models import ClinicianProfile, Inquiry

    if Inquiry.objects.for_org(practice).exists():
        return {"directory_inquiries": 0}
    admin = _actor(
        Membership.objects.filter(organisation=practice, roles__role=Role.PRACTICE_ADMIN)
        .order_by("pk")
        .first()
        .pk
    )
    services.practice_profile_save(
        actor=admin,
        data={"display_name": practice.name, "state": practice.state, "phone": practice.phone,
              "partner_id": partner.pk, "published": True, **HARBOR_PROFILE},
    )  # fmt: skip
    prescriber = _actor(
        Membership.objects.filter(organisation=partner, roles__role=Role.PRESCRIBER)
        .order_by("pk")
        .first()
        .pk
    )
    _weekday_hours(actor=prescriber, membership=prescriber, zone_name=organisation_zone(practice))
    first = None
    for email, (bio, modalities, conditions, insurance, lo, hi) in HARBOR_CARDS.items():
        m = Membership.objects.get(organisation=practice, user__email=email)
        card = services.clinician_profile_save(
            actor=admin,
            membership_id=m.pk,
            data={"bio": bio, "modalities": modalities, "conditions": conditions,
                  "insurance": insurance, "price_min": lo, "price_max": hi,
                  "languages": ["en"], "partner_prescriber_id": prescriber.pk,
                  "accepting_new": True, "in_person": True, "telehealth": True,
                  "published": True},
        )  # fmt: skip
        first = first or card
    for spec in EXTRA_PRACTICES:
        _extra_practice(spec, password)

    clinician = ClinicianProfile.objects.select_related("practice__organisation").get(pk=first.pk)
    slots = selectors.slots_for(clinician)
    slot = (slots.joint or slots.own or [None])[0]
    inquiry = services.inquiry_submit(
        clinician_slug=clinician.slug,
        data={"first_name": "Dana", "last_name": "Whitlock", "email": "dana@example.test",
              "phone": "(503) 555-0199", "date_of_birth": "1986-04-12", "client_state": "OR",
              "message": "I have tried two antidepressants and would like to talk about KAP."},
        prescreen={"fit": "discuss", "topics": ["your benzodiazepine (it is often reduced "
                   "before a session)"], "finding_codes": ["interaction.benzodiazepine"]},
        slot_starts_at=slot.starts_at if slot else None,
        joint=bool(slots.joint),
        address="demo",
    )  # fmt: skip
    services._confirm(Inquiry.objects.select_related("clinician").get(pk=inquiry.pk))
    return {"directory_practices": 1 + len(EXTRA_PRACTICES), "directory_inquiries": 1}
