"""The demo practice: Harbor Light Therapy and its partner Northstar Medical Group.

Every person here is fictional. The sign-ins are a contract other work relies on: keep them.
"""

import random
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

DEMO_PASSWORD = "kapflow-demo"

PRACTICE = {
    "name": "Harbor Light Therapy",
    "slug": "harbor-light",
    "state": "OR",
    "phone": "(503) 555-0140",
    "address": "100 Example Quay, Portland, OR 97201",
}
PARTNER = {
    "name": "Northstar Medical Group",
    "slug": "northstar",
    "state": "OR",
    "phone": "(503) 555-0190",
    "address": "200 Sample Avenue, Portland, OR 97205",
}

# email, full name, organisation slug, roles, title, licences [(type, state, number)], npi
SIGN_INS = [
    ("admin@harborlight.example", "Morgan Ashby", "harbor-light", ["practice_admin"],
     "Practice manager", [], ""),
    ("therapist@harborlight.example", "Avery Lindqvist", "harbor-light", ["therapist"],
     "LMFT", [("LMFT", "OR", "T-10041"), ("LMFT", "WA", "LF-60022")], "1000000004"),
    ("therapist2@harborlight.example", "Rowan Okafor", "harbor-light", ["therapist"],
     "LPC", [("LPC", "OR", "C-20077")], "1000000012"),
    ("billing@harborlight.example", "Casey Brennan", "harbor-light", ["biller"],
     "Billing", [], ""),
    ("prescriber@northstar.example", "Dr. Sam Whitfield", "northstar", ["prescriber"],
     "PMHNP", [("NP", "OR", "NP-5531"), ("NP", "WA", "ARNP-8812"), ("NP", "CA", "NP-77120")],
     "1000000020"),
    ("client@harborlight.example", "Jordan Vale", "harbor-light", ["client"], "", [], ""),
    ("companion@harborlight.example", "Riley Vale", "harbor-light", ["companion"], "", [], ""),
]  # fmt: skip

FIRST = [
    "Alex",
    "Blair",
    "Cameron",
    "Dana",
    "Emerson",
    "Finley",
    "Gray",
    "Harper",
    "Indigo",
    "Jules",
    "Kai",
    "Logan",
    "Marlow",
    "Noel",
    "Oakley",
    "Parker",
    "Quinn",
    "Reese",
    "Sage",
    "Tatum",
]
LAST = [
    "Ambrose",
    "Birchwood",
    "Calloway",
    "Delacroix",
    "Eastwick",
    "Fairbanks",
    "Greenleaf",
    "Holloway",
    "Ivers",
    "Juniper",
    "Kettering",
    "Larkspur",
    "Merriweather",
    "Northcott",
    "Oakhurst",
    "Pemberton",
    "Quillon",
    "Redfern",
    "Silverton",
    "Thornbury",
]
PRONOUNS = ["she/her", "he/him", "they/them", ""]
CITIES = {"OR": [("Portland", "972"), ("Eugene", "974"), ("Salem", "973")],
          "WA": [("Vancouver", "986"), ("Seattle", "981")],
          "CA": [("Sacramento", "958")]}  # fmt: skip


@transaction.atomic
def load_demo(*, clients: int = 40, seed: int = 7) -> dict:
    """Create (or refresh) the demo organisations, sign-ins and clients. Idempotent."""
    from kapflow.accounts.models import (
        ClinicianLicence,
        Membership,
        MembershipRole,
        Organisation,
        OrganisationKind,
        Partnership,
        TrainingCertificate,
        User,
    )
    from kapflow.patients.models import CareTeamMember, Client, Companion

    rng = random.Random(seed)
    practice, _ = Organisation.objects.update_or_create(
        slug=PRACTICE["slug"], defaults={**PRACTICE, "kind": OrganisationKind.PRACTICE}
    )
    partner, _ = Organisation.objects.update_or_create(
        slug=PARTNER["slug"], defaults={**PARTNER, "kind": OrganisationKind.PARTNER}
    )
    Partnership.objects.get_or_create(practice=practice, partner=partner)
    orgs = {practice.slug: practice, partner.slug: partner}

    members = {}
    for email, name, org_slug, roles, title, licences, npi in SIGN_INS:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, DEMO_PASSWORD, full_name=name, npi=npi)
        else:
            user.set_password(DEMO_PASSWORD)
            user.full_name, user.npi, user.is_active = name, npi, True
            user.save()
        membership, _ = Membership.objects.update_or_create(
            organisation=orgs[org_slug], user=user, defaults={"title": title, "is_active": True}
        )
        for role in roles:
            MembershipRole.objects.get_or_create(membership=membership, role=role)
        for licence_type, state, number in licences:
            ClinicianLicence.objects.get_or_create(
                user=user, licence_type=licence_type, state=state, number=number,
                defaults={"expires_on": date(2028, 6, 30)},
            )  # fmt: skip
        if licences and not user.certificates.exists():
            TrainingCertificate.objects.create(
                user=user,
                name="Ketamine-Assisted Psychotherapy clinician certificate",
                issuer="Example KAP Training Institute",
                issued_on=date(2024, 3, 15),
            )
        members[email] = membership

    admin = members["admin@harborlight.example"]
    therapists = [
        members["therapist@harborlight.example"],
        members["therapist2@harborlight.example"],
    ]
    prescriber = members["prescriber@northstar.example"]

    existing = Client.objects.for_org(practice).exclude(user__isnull=False).count()
    today = timezone.localdate()
    for i in range(existing, clients):
        state = "OR" if i % 8 not in (3, 6) else ("WA" if i % 8 == 3 else "CA")
        city, zip3 = rng.choice(CITIES[state])
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7 + i // len(FIRST)) % len(LAST)]
        client = Client.objects.create(
            organisation=practice,
            legal_first_name=first,
            legal_last_name=last,
            preferred_name=rng.choice(["", "", first[:3]]),
            pronouns=rng.choice(PRONOUNS),
            date_of_birth=today - timedelta(days=rng.randint(20 * 365, 70 * 365)),
            email=f"{first}.{last}.{i}@client.example".lower(),
            phone=f"(503) 555-{1000 + i:04d}",
            address_line1=f"{10 + i} Fictional Lane",
            city=city,
            state=state,
            postal_code=f"{zip3}{rng.randint(10, 99)}",
            emergency_contact_name=f"{rng.choice(FIRST)} {last}",
            emergency_contact_relationship=rng.choice(["Partner", "Sibling", "Parent", "Friend"]),
            emergency_contact_phone=f"(503) 555-{2000 + i:04d}",
        )
        therapist = therapists[i % 2]
        warning = ""
        if state not in {lic.state for lic in therapist.user.licences.all()}:
            warning = "They hold no licence in this client's state."
        CareTeamMember.objects.create(
            organisation=practice, client=client, membership=therapist, role="therapist",
            is_primary=True, added_by=admin.user, licence_warning=warning,
        )  # fmt: skip
        if i % 3 == 0:
            CareTeamMember.objects.create(
                organisation=practice, client=client, membership=prescriber, role="prescriber",
                is_primary=True, added_by=therapist.user,
            )  # fmt: skip

    client_user = members["client@harborlight.example"].user
    own = Client.objects.filter(user=client_user).first()
    if own is None:
        own = Client.objects.create(
            organisation=practice, user=client_user, legal_first_name="Jordan",
            legal_last_name="Vale", pronouns="they/them", date_of_birth=date(1988, 4, 12),
            email="client@harborlight.example", phone="(503) 555-0101",
            address_line1="12 Example Street", city="Portland", state="OR", postal_code="97202",
            emergency_contact_name="Riley Vale", emergency_contact_relationship="Spouse",
            emergency_contact_phone="(503) 555-0102",
        )  # fmt: skip
        CareTeamMember.objects.create(
            organisation=practice, client=own, membership=therapists[0], role="therapist",
            is_primary=True, added_by=admin.user,
        )  # fmt: skip
        CareTeamMember.objects.create(
            organisation=practice, client=own, membership=prescriber, role="prescriber",
            is_primary=True, added_by=therapists[0].user,
        )  # fmt: skip
    Companion.objects.get_or_create(
        organisation=practice, client=own, user=members["companion@harborlight.example"].user,
        defaults={"relationship": "Spouse"},
    )  # fmt: skip
    return {"practice": practice, "partner": partner, "clients": Client.objects.count()}
