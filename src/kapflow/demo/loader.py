"""`load_demo`: load (or refresh) the demo practice, in the order its parts depend on each
other: organisations and sign-ins, clients and care teams, consents and courses, scores,
portal records, then the apps' own demo loaders (schedule, room, sessions, billing,
directory, notifications). Also whether a loaded demo is stale and may be rebuilt.

Every person here is fictional.
"""

import random
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from kapflow.core import clock
from kapflow.demo.consents import load_consent_documents
from kapflow.demo.courses import load_courses
from kapflow.demo.outcomes import load_outcomes
from kapflow.demo.people import (
    CITIES,
    DEMO_PASSWORD,
    FIRST,
    LAST,
    PARTNER,
    PRACTICE,
    PRONOUNS,
    SIGN_INS,
)
from kapflow.demo.portal import load_portal_records


def demo_stale_since() -> date | None:
    """The day a loaded demo was loaded on (its practice row's creation, in the practice's
    zone) when that is not today there; None when the demo is current or not loaded. Every
    demo time is relative to the load, so `manage.py demo` rebuilds a stale demo."""
    from kapflow.accounts.models import Organisation

    practice = Organisation.objects.filter(slug=PRACTICE["slug"]).first()
    if practice is None:
        return None
    loaded_on = clock.clinical_date(practice, practice.created_at)
    return loaded_on if loaded_on != clock.clinical_date(practice) else None


def only_demo_organisations() -> bool:
    """True when the database holds no organisation but the demo's (Harbor Light, Northstar
    and the directory's two practices): only then may `manage.py demo` empty it to rebuild
    the demo."""
    from kapflow.accounts.models import Organisation
    from kapflow.directory.demo import EXTRA_PRACTICES

    demo_slugs = [PRACTICE["slug"], PARTNER["slug"], *(p["org"]["slug"] for p in EXTRA_PRACTICES)]
    return not Organisation.objects.exclude(slug__in=demo_slugs).exists()


@transaction.atomic
def load_demo(*, clients: int = 40, seed: int = 7) -> dict:
    """Create (or refresh) the demo organisations, sign-ins, clients, their courses of care
    with referrals, evaluations, decisions and prescriptions, and questionnaire scores (each
    client's courses and scores are created once). Idempotent.

    The whole load runs with the practice's zone active, so every date it derives with
    `timezone.localdate` is the practice's clinical date (decision 0027)."""
    from kapflow.accounts.models import Organisation

    practice_zone = clock.clinical_zone(Organisation(state=PRACTICE["state"]))
    with timezone.override(practice_zone):
        return _load_demo(clients=clients, seed=seed)


def _load_demo(*, clients: int, seed: int) -> dict:
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
    from kapflow.outcomes.services import outcome_summaries_rebuild
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

    # The demo clients: every client but the sign-in's own record (clients who log daily
    # doses have a portal account too).
    client_user = members["client@harborlight.example"].user
    existing = Client.objects.for_org(practice).exclude(user=client_user).count()
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
    companion, _ = Companion.objects.get_or_create(
        organisation=practice, client=own, user=members["companion@harborlight.example"].user,
        defaults={"relationship": "Spouse"},
    )  # fmt: skip
    documents = load_consent_documents(practice=practice, admin=admin, now=timezone.now())
    made = load_courses(
        practice=practice, therapists=therapists, prescriber=prescriber, own=own,
        companion=companion, documents=documents, seed=seed,
    )  # fmt: skip
    scores = load_outcomes(practice=practice, own=own, seed=seed)
    # Loaded row by row above, not through the services: summarise them as the services would.
    outcome_summaries_rebuild(organisation_id=practice.pk)
    portal = load_portal_records(
        practice=practice, own=own, companion=companion, therapist=therapists[0],
        prescriber=prescriber,
    )  # fmt: skip
    from kapflow.demo.sessions import load_demo_sessions
    from kapflow.scheduling.demo import load_demo_schedule
    from kapflow.telehealth.demo import load_demo_room

    schedule = load_demo_schedule(practice=practice)
    # The at-home appointment first: today's session of the client sign-in is opened on it,
    # so the calendar and the session screen show one encounter (decision 0054).
    room = load_demo_room(practice=practice, own=own, therapist=therapists[0], companion=companion)
    sessions = load_demo_sessions(
        practice=practice, therapist=therapists[0], appointment_id=room["room_appointment"]
    )
    sessions |= room
    # Courses, events and sessions were loaded row by row: store their facts as the services
    # would have (decision 0042).
    from kapflow.courses.services import course_facts_refresh

    course_facts_refresh(organisation_id=practice.pk)
    from kapflow.billing.demo import load_demo_billing

    load_demo_billing(practice=practice)
    from kapflow.directory.demo import load_demo_directory

    directory = load_demo_directory(practice=practice, partner=partner, password=DEMO_PASSWORD)
    from kapflow.dashboard.demo import load_demo_notifications

    load_demo_notifications(practice=practice)
    return {
        "practice": practice,
        "partner": partner,
        "clients": Client.objects.count(),
        "courses_created": made["courses"],
        "created": made | {"scores": scores} | portal | schedule | sessions | directory,
    }
