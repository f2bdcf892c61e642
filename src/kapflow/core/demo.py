"""The demo practice: Harbor Light Therapy and its partner Northstar Medical Group.

Every person here is fictional. The sign-ins are a contract other work relies on: keep them.
"""

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from kapflow.core import clock

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


# ---- courses of care ------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoCourse:
    """One demo course. Times are days before the moment the demo is loaded.

    `stage` is where the course is now; `via` is the stage a closed course was at when it
    closed (discharged / withdrawn / completed). `dosings` are the dosing sessions (days ago);
    `ago` is when the latest stage change happened when no dosing pins it down.
    """

    therapist: int  # 0: therapist@, 1: therapist2@
    stage: str
    pathway: str = "higher_dose"
    delivery: str = "in_person"
    via: str = ""
    ago: float = 3.0
    dosings: tuple[float, ...] = ()
    doses: int | None = None  # doses authorised (default: 6 higher-dose, 8 low-dose)
    prescription: bool = True  # preparation stage: has the prescriber prescribed yet?
    prep: int | None = None  # preparation sessions done (default: the planned number)
    screen: str = "ok"  # ok / positive / stale / natural (the latest risk screen)
    integration_missed: bool = False  # no integration after the latest dosing
    followup_missed: bool = False  # no prescriber follow-up after the second dosing
    companion: bool = True  # at home: the companion has confirmed
    consent_withdrawn: float | None = None  # the KAP consent withdrawn (days ago)
    consent_outdated: bool = False  # signed KAP consent version 1 only, not the new version 2
    client_signed: bool = False  # eligible: the client signed, awaiting the therapist's check
    clearance_days: int = 365
    renewal: tuple[float, int] | None = None  # clearance renewed (days ago, valid days)
    maintenance: float | None = None  # entered maintenance (days ago)
    reason: str = ""  # why it closed
    previous: "DemoCourse | None" = None  # an earlier, closed course of the same client
    condition: str = ""  # what it mainly treats (default: CONDITIONS by position)
    exclusion: str = ""  # not eligible: what the evaluation found (a key of EXCLUSIONS)


HIGHER, LOW = "higher_dose", "low_dose"
OFFICE, HOME = "in_person", "at_home"

# Every stage, both pathways and deliveries, for both therapists; the active courses show each
# reason the dosing gate blocks for, and the deadlines that go overdue (issue 4).
DEMO_COURSES = [
    # therapist@harborlight.example (Avery Lindqvist)
    DemoCourse(0, "inquiry", HIGHER, OFFICE, ago=1),
    DemoCourse(0, "intake", LOW, HOME, ago=4),
    DemoCourse(0, "referred", HIGHER, HOME, ago=3),
    DemoCourse(0, "medical_evaluation", LOW, OFFICE, ago=6),
    DemoCourse(0, "eligible", HIGHER, OFFICE, ago=2, client_signed=True),
    DemoCourse(0, "not_eligible", HIGHER, OFFICE, ago=12, exclusion="hypertension",
               reason="Blood pressure 168/104 and 164/102 at two visits: uncontrolled "
                      "hypertension. Back to primary care; may be re-referred once controlled."),
    DemoCourse(0, "consented", LOW, HOME, ago=3),
    DemoCourse(0, "preparation", HIGHER, OFFICE, ago=9, prep=1),
    DemoCourse(0, "active", HIGHER, OFFICE, dosings=(16, 9, 2)),
    DemoCourse(0, "active", LOW, HOME, ago=3, companion=False),  # blocked: companion
    DemoCourse(0, "active", HIGHER, OFFICE, dosings=(10,), screen="positive"),  # blocked
    DemoCourse(0, "active", HIGHER, OFFICE, dosings=(11, 4.5), integration_missed=True),
    DemoCourse(0, "active", LOW, OFFICE, dosings=(180, 173, 166, 159, 145, 117, 89, 61, 33, 5),
               doses=12, clearance_days=180),  # blocked: clearance expired
    DemoCourse(0, "active", LOW, HOME, dosings=(13, 6)),
    DemoCourse(0, "maintenance", HIGHER, HOME, dosings=(120, 113, 106, 92, 78, 50, 21),
               maintenance=70, screen="natural"),
    DemoCourse(0, "completed", HIGHER, OFFICE, via="active", ago=95,
               dosings=(140, 133, 126, 119, 112, 105), doses=6,
               reason="Planned six-session course complete; goals met."),
    DemoCourse(0, "discharged", LOW, OFFICE, via="preparation", ago=30, prep=0,
               prescription=False,
               reason="Missed the planned preparation session; three contact attempts unanswered. "
                      "Discharged with a letter to the referring clinician."),
    DemoCourse(0, "withdrawn", HIGHER, OFFICE, via="active", ago=60, dosings=(70,),
               consent_withdrawn=62,
               reason="Client withdrew consent after the first session and chose to stop."),
    DemoCourse(0, "inquiry", LOW, HOME, ago=0.3),
    # therapist2@harborlight.example (Rowan Okafor)
    DemoCourse(1, "inquiry", LOW, HOME, ago=2),
    DemoCourse(1, "intake", HIGHER, OFFICE, ago=6),
    DemoCourse(1, "referred", LOW, OFFICE, ago=8),
    DemoCourse(1, "medical_evaluation", HIGHER, HOME, ago=3),
    DemoCourse(1, "eligible", LOW, HOME, ago=5),
    DemoCourse(1, "not_eligible", LOW, OFFICE, ago=20, exclusion="psychosis",
               reason="History of psychosis (schizoaffective disorder): ketamine is "
                      "contraindicated."),
    DemoCourse(1, "consented", HIGHER, OFFICE, ago=1),
    DemoCourse(1, "preparation", LOW, HOME, ago=2, prep=0, prescription=False),
    DemoCourse(1, "active", LOW, OFFICE, dosings=(8, 0.8)),
    DemoCourse(1, "active", HIGHER, OFFICE, dosings=(24, 10), screen="stale"),  # blocked
    DemoCourse(1, "active", HIGHER, HOME, dosings=(30, 18, 4), doses=3),  # blocked: no doses
    DemoCourse(1, "active", LOW, OFFICE, dosings=(15, 8), consent_withdrawn=1),  # blocked
    DemoCourse(1, "active", HIGHER, OFFICE, dosings=(35, 21), followup_missed=True),
    DemoCourse(1, "maintenance", LOW, OFFICE, dosings=(150, 143, 136, 129, 100, 45, 12),
               maintenance=110, clearance_days=120, renewal=(84, 90), screen="natural"),
    DemoCourse(1, "completed", LOW, HOME, via="maintenance", ago=20, maintenance=160,
               dosings=(200, 193, 186, 179, 150, 110, 70, 35), doses=8,
               reason="Maintenance ended by agreement; symptoms in remission."),
    DemoCourse(1, "discharged", HIGHER, OFFICE, via="active", ago=40, dosings=(60, 53),
               reason="Dissociation persisted between sessions; stepped down to weekly "
                      "psychotherapy without ketamine."),
    DemoCourse(1, "withdrawn", HIGHER, HOME, via="medical_evaluation", ago=25,
               reason="Client decided not to proceed for now: cost of the medical evaluation."),
    DemoCourse(1, "intake", HIGHER, HOME, ago=1,
               previous=DemoCourse(1, "withdrawn", LOW, OFFICE, via="intake", ago=400,
                                   reason="Relocated for work; will get in touch on return.")),
]  # fmt: skip

# The client sign-in's own course: at home, with the companion sign-in confirmed. Jordan
# signed the KAP consent before version 2 was published, so dosing waits for them to sign it
# in the portal (consent.outdated): the client sign-in has something to sign.
JORDAN_COURSE = DemoCourse(0, "active", HIGHER, HOME, dosings=(9, 2), condition="depression",
                           consent_outdated=True)  # fmt: skip

# What the demo courses mainly treat, by their position in DEMO_COURSES: mostly depression,
# as in KAP practice, with every other condition represented (outcomes group by it).
CONDITIONS = ["depression", "depression", "anxiety", "ptsd", "depression", "ocd", "depression",
              "substance_use", "anxiety", "depression", "ptsd", "other"]  # fmt: skip

PATH = [
    ("open", "", "inquiry"),
    ("start_intake", "inquiry", "intake"),
    ("refer", "intake", "referred"),
    ("begin_evaluation", "referred", "medical_evaluation"),
    ("decide_eligible", "medical_evaluation", "eligible"),
    ("record_consent", "eligible", "consented"),
    ("start_preparation", "consented", "preparation"),
    ("activate", "preparation", "active"),
]
REACHED = {to: i for i, (_a, _f, to) in enumerate(PATH)}
GAP_DAYS = {  # typical days from the previous step
    "start_intake": (1, 4), "refer": (4, 10), "begin_evaluation": (2, 6),
    "decide_eligible": (5, 12), "record_consent": (2, 6), "start_preparation": (1, 3),
    "activate": (7, 14),
}  # fmt: skip


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
    documents = _load_consent_documents(practice=practice, admin=admin, now=timezone.now())
    made = _load_courses(
        practice=practice, therapists=therapists, prescriber=prescriber, own=own,
        companion=companion, documents=documents, seed=seed,
    )  # fmt: skip
    scores = _load_outcomes(practice=practice, own=own, seed=seed)
    # Loaded row by row above, not through the services: summarise them as the services would.
    outcome_summaries_rebuild(organisation_id=practice.pk)
    portal = _load_portal_records(
        practice=practice, own=own, companion=companion, therapist=therapists[0],
        prescriber=prescriber,
    )  # fmt: skip
    from kapflow.core.demo_sessions import load_demo_sessions
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


PRESCRIBER_ACTIONS = {"begin_evaluation", "decide_eligible", "decide_not_eligible"}
TARGETS = {action: to for action, _from, to in PATH} | {
    "decide_not_eligible": "not_eligible",
    "enter_maintenance": "maintenance",
    "complete": "completed",
    "discharge": "discharged",
    "withdraw": "withdrawn",
}
CLOSED = {"not_eligible", "completed", "discharged", "withdrawn"}
# The reasons kapflow.prescriptions.services gives the workflow's stage changes.
WORKFLOW_REASONS = {"refer": "Referral sent.", "begin_evaluation": "Referral accepted."}


@dataclass
class _Plan:
    """What `_plan` decided for one course: the row's values, its timeline (each event the
    keyword arguments of a CourseEvent), the companion's confirmation, and the moments the
    referral and prescribing records hang on."""

    fields: dict
    events: list[dict]
    companion_at: datetime | bool | None
    steps: dict[str, dict]  # transition action -> its event
    dosings: list[dict]  # the dosing events, oldest first
    rx_at: datetime | None  # when the first prescription was written (None: not yet)
    closed_at: datetime | None
    withdrawn_at: datetime | None  # consent withdrawn


def _plan(spec: DemoCourse, *, rng: random.Random, now: datetime, therapist, prescriber) -> _Plan:
    """The course row's values, its timeline and its companion's confirmation time, as the
    services would have recorded them had the course really gone this way. Prescriptions,
    fills and doses used come from `_plan_supply`, the referral from `_plan_referral`."""

    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    def days(low: float, high: float) -> timedelta:
        return timedelta(days=rng.uniform(low, high))

    events: list[dict] = []
    steps: dict[str, dict] = {}
    dosing_events: list[dict] = []

    def add(kind: str, at: datetime, *, by=therapist, **fields) -> None:
        recorded = min(at + timedelta(minutes=rng.randint(2, 90)), now)
        events.append(
            {"kind": kind, "occurred_at": at, "recorded_at": recorded, "actor_id": by.user_id,
             "actor_membership": by, **fields}
        )  # fmt: skip

    stage = ""
    fields: dict = {}

    def transition(action: str, at: datetime, *, reason: str = "", data=None) -> None:
        nonlocal stage
        by = prescriber if action in PRESCRIBER_ACTIONS else therapist
        reason = reason or WORKFLOW_REASONS.get(action, "")
        add(
            "transition", at, by=by, from_stage=stage, to_stage=TARGETS[action], action=action,
            reason=reason or ("Course opened." if action == "open" else ""), data=data or {},
        )  # fmt: skip
        steps[action] = events[-1]
        stage = TARGETS[action]
        fields["stage_changed_at"] = at

    base = spec.via or spec.stage
    if spec.stage == "not_eligible":
        base = "medical_evaluation"
    if base == "maintenance":
        base = "active"
    actions = [action for action, _from, _to in PATH[: REACHED[base] + 1]]
    dosings = [ago(d) for d in sorted(spec.dosings, reverse=True)]  # oldest first
    closed_at = ago(spec.ago) if spec.stage in CLOSED else None
    end = closed_at or now

    # The last step of the path, then every earlier step a typical gap before the next.
    if dosings:
        times = [dosings[0] - days(3, 8)]
    elif closed_at is not None:
        times = [closed_at - days(4, 15)]
    else:
        times = [ago(spec.ago)]
    for action in reversed(actions[1:]):
        times.append(times[-1] - days(*GAP_DAYS[action]))
    at = dict(zip(actions, reversed(times), strict=True))

    planned = rng.randint(1, 3) if spec.prep is None else max(spec.prep, 1)
    fields.update(
        stage=spec.stage, pathway=spec.pathway, delivery=spec.delivery, opened_at=at["open"],
        closed_at=closed_at, preparation_planned=planned,
    )  # fmt: skip
    for action in actions:
        data: dict = {}
        if action == "refer":
            fields["prescriber"] = prescriber
            data["prescriber_membership_id"] = prescriber.pk
        if action == "decide_eligible":
            clearance_on = timezone.localdate(at[action] - timedelta(days=rng.randint(1, 5)))
            fields.update(
                eligibility="eligible",
                clearance_on=clearance_on,
                clearance_valid_days=spec.clearance_days,
            )
            data.update(clearance_on=clearance_on.isoformat(), valid_days=spec.clearance_days)
        if action == "start_preparation":
            data["preparation_planned"] = planned
        transition(action, at[action], data=data)

    rx_at = None
    if "start_preparation" in at:
        start = at["start_preparation"]
        done = planned if spec.prep is None else spec.prep
        span = (at.get("activate", end) - start) / (done + 1)
        if spec.prescription:
            rx_at = start + span * 0.5
        for n in range(done):
            add("preparation", start + span * (n + 1), reason="")

    if spec.stage == "not_eligible":
        transition("decide_not_eligible", closed_at, reason=spec.reason)
        fields["eligibility"] = "not_eligible"

    if "activate" in at:
        for n, dosed in enumerate(dosings):
            add("risk_screen", dosed - timedelta(minutes=rng.randint(60, 120)), positive=False,
                data={"instrument": "C-SSRS screener"})  # fmt: skip
            day = {"bp_systolic": rng.randint(112, 146), "bp_diastolic": rng.randint(68, 92),
                   "alcohol_free_24h": True, "companion_present": spec.delivery == HOME,
                   "driver_confirmed": spec.delivery == OFFICE}  # fmt: skip
            add("dosing", dosed, data=day)
            dosing_events.append(events[-1])
            integrated = dosed + timedelta(hours=rng.uniform(20, 44))
            latest = n == len(dosings) - 1
            if integrated < end - timedelta(hours=1) and not (latest and spec.integration_missed):
                add("integration", integrated)
                # The week-after check-in (decision 0023), five days on, before the next dose.
                checkin = dosed + timedelta(days=5)
                following = dosings[n + 1] if not latest else None
                if checkin < end - timedelta(hours=1) and (
                    following is None or checkin < following
                ):
                    add("integration", checkin, reason="Check-in call.")
        if len(dosings) >= 2 and not spec.followup_missed:
            followup = dosings[1] + days(6, 12)
            while followup < end - timedelta(hours=12):
                add("followup", followup, by=prescriber)
                followup += days(55, 85)
        if spec.renewal:
            renewed_ago, valid = spec.renewal
            renewed = ago(renewed_ago)
            fields.update(clearance_on=timezone.localdate(renewed), clearance_valid_days=valid)
            renewed_on = timezone.localdate(renewed).isoformat()
            add("clearance", renewed, by=prescriber,
                data={"clearance_on": renewed_on, "valid_days": valid})  # fmt: skip
        screens = [e["occurred_at"] for e in events if e["kind"] == "risk_screen"]
        if spec.screen == "positive":
            add("risk_screen", ago(rng.uniform(0.5, 1.5)), positive=True,
                reason="Passive ideation endorsed at the check-in; safety plan reviewed.",
                data={"instrument": "C-SSRS screener"})  # fmt: skip
        elif spec.screen == "ok" and closed_at is None and (not screens or max(screens) < ago(5)):
            add("risk_screen", ago(rng.uniform(1, 2.5)), positive=False,
                data={"instrument": "C-SSRS screener"})  # fmt: skip
        if spec.maintenance is not None:
            transition("enter_maintenance", ago(spec.maintenance))
        if spec.stage == "completed":
            transition("complete", closed_at, reason=spec.reason)

    withdrawn_at = None
    if spec.consent_withdrawn is not None:
        withdrawn_at = ago(spec.consent_withdrawn)
        add("consent_withdrawn", withdrawn_at,
            reason="Client asked to stop dosing while they think it over.")  # fmt: skip
    if spec.stage in {"discharged", "withdrawn"}:
        transition("discharge" if spec.stage == "discharged" else "withdraw", closed_at,
                   reason=spec.reason)  # fmt: skip

    companion_at = None
    if spec.delivery == HOME and "record_consent" in at:
        companion_at = at["record_consent"] + days(1, 3) if spec.companion else False
        if companion_at and companion_at > now:
            companion_at = now - timedelta(hours=1)
    events.sort(key=lambda e: e["occurred_at"])
    return _Plan(
        fields=fields, events=events, companion_at=companion_at, steps=steps,
        dosings=dosing_events, rx_at=rx_at, closed_at=closed_at, withdrawn_at=withdrawn_at,
    )  # fmt: skip


# ---- referral, medical evaluation, eligibility decision ------------------------------------

# ICD-10-CM codes by what the course mainly treats: one primary code drawn from the first
# tuple, sometimes one from the second (kapflow.clinical.icd10 supplies the descriptions).
DIAGNOSES = {
    "depression": (("F33.1", "F33.2", "F32.A", "F32.1"), ("F41.1",)),
    "anxiety": (("F41.1",), ("F33.1", "F41.0")),
    "ptsd": (("F43.10", "F43.12"), ("F33.1",)),
    "ocd": (("F42.2",), ("F32.A",)),
    # Eligible clients' alcohol use disorder is in remission (nothing active in 3 months).
    "substance_use": (("F10.21",), ("F32.A",)),
    "other": (("F43.81",), ("F33.1",)),
}
REFERRAL_REASONS = {
    "depression": [
        "Recurrent depression with a partial response to two SSRI trials and 18 months of "
        "weekly psychotherapy. The client asks about ketamine-assisted psychotherapy as an "
        "adjunct, and we think they are a good candidate.",
        "Moderate depression that persists despite medication and therapy; low energy and "
        "loss of interest are the main complaints. Requesting a medical evaluation for KAP.",
        "Treatment-resistant depression after three antidepressant trials. Stable housing, "
        "good support, engaged in weekly therapy. Please evaluate for KAP.",
    ],
    "anxiety": [
        "Generalised anxiety with persistent worry and poor sleep; partial response to an SSRI "
        "and CBT. Requesting an evaluation for ketamine-assisted psychotherapy.",
        "Chronic anxiety that limits work and social life; motivated for an adjunct to "
        "therapy. Please evaluate for KAP.",
    ],
    "ptsd": [
        "PTSD after a road traffic collision; trauma-focused therapy has stalled around "
        "avoidance. Requesting an evaluation for KAP to support processing.",
        "Chronic PTSD with co-occurring depression; prolonged exposure helped in part. The "
        "client wants to explore KAP; please evaluate.",
    ],
    "ocd": [
        "OCD with contamination obsessions; partial response to exposure and response "
        "prevention and a high-dose SSRI. Requesting an evaluation for KAP alongside ERP.",
    ],
    "substance_use": [
        "Alcohol use disorder in early remission (sober eight months) with persistent low "
        "mood. Requesting an evaluation for KAP to support relapse-prevention work in therapy.",
    ],
    "other": [
        "Prolonged grief two years after a bereavement, with little change from grief-focused "
        "therapy alone. Please evaluate for KAP as an adjunct to our weekly sessions.",
    ],
}
REFERRAL_HISTORY = [
    "Weekly psychotherapy with us since {since}. No psychiatric hospitalisations.",
    "In therapy with us since {since}; previously with a counsellor for two years. No "
    "hospitalisations or suicide attempts.",
    "Seen weekly since {since}. One brief crisis contact years ago; none since.",
]
CONSENT_NOTES = [
    "Signed release of information for Northstar Medical Group, scanned to the record on {on}.",
    "The client signed the practice's release (ROI) at the intake session on {on}.",
    "Verbal consent at the intake session, then a signed release returned by e-mail on {on}.",
]
# (ingredient in kapflow.clinical.medications, dose as written, mg a day)
ANTIDEPRESSANTS = [
    ("sertraline", "100 mg once daily", 100.0),
    ("sertraline", "50 mg once daily", 50.0),
    ("escitalopram", "10 mg once daily", 10.0),
    ("escitalopram", "20 mg once daily", 20.0),
    ("fluoxetine", "20 mg once daily", 20.0),
    ("bupropion", "150 mg XL once daily", 150.0),
    ("venlafaxine", "75 mg ER once daily", 75.0),
]
OTHER_MEDICATIONS = [
    ("levothyroxine", "75 mcg once daily", 0.075),
    ("lisinopril", "10 mg once daily", 10.0),
    ("trazodone", "50 mg at bedtime", 50.0),
]
ALLERGIES = ["No known drug allergies.", "No known drug allergies.", "Penicillin (hives).",
             "Sulfa drugs (rash)."]  # fmt: skip
SUBSTANCE_USE = [
    "Alcohol one or two drinks a week; agrees to none for 24 hours either side of dosing. "
    "No other substances.",
    "No alcohol or drug use.",
    "Cannabis occasionally in the past; none in the last year. Alcohol rarely.",
]
EVALUATION_HISTORY = [
    "Referral history reviewed with the client. No cardiac, neurological or liver disease; no "
    "seizures. No personal or family history of psychosis or bipolar disorder.",
    "History taken by video and records from primary care reviewed. Generally well; no "
    "cardiovascular disease. No history of psychosis, mania or ketamine misuse.",
]
ELIGIBLE_REASONS = [
    "Evaluation complete: no contraindications on the checklist, blood pressure {bp} and "
    "heart rate normal, in ongoing therapy. Cleared for {pathway}.",
    "No exclusions or relative contraindications found. Current medicines reviewed: no "
    "interaction of concern with ketamine. Cleared for {pathway}; blood pressure to be "
    "checked before each session.",
    "Medically appropriate for KAP. Vitals normal ({bp}); no cardiovascular, psychotic or "
    "substance exclusions. Cleared for {pathway}.",
]
PATHWAY_WORDS = {HIGHER: "higher-dose sessions", LOW: "the psycholytic low-dose plan"}
# Not-eligible evaluations (DemoCourse.exclusion): what the prescriber found.
EXCLUSIONS = {
    "hypertension": {
        "medications": [("phenelzine", "15 mg three times daily", 45.0),
                        ("amlodipine", "5 mg once daily", 5.0)],
        "bp": (168, 104, 88),
        "checklist": {"contra.uncontrolled_hypertension": True},
        "history": "Hypertension for six years, treated with amlodipine; home readings "
                   "165-170/100-105 this month. On phenelzine since two SSRI trials did not "
                   "help.",
    },
    "psychosis": {
        "medications": [("phenelzine", "15 mg twice daily", 30.0),
                        ("quetiapine", "100 mg at bedtime", 100.0)],
        "bp": (124, 78, 72),
        "checklist": {"contra.psychotic_disorder": True},
        "history": "Records from the client's psychiatrist show schizoaffective disorder "
                   "diagnosed in 2019, with two hospital admissions for psychosis.",
    },
}  # fmt: skip


def _medication_rows(picks) -> list[dict]:
    """Evaluation medication rows as prescriptions.services.medications_clean stores them."""
    from kapflow.clinical.medications import medications_named

    rows = []
    for name, dose, daily in picks:
        (medication,) = medications_named(name)
        rows.append(
            {"name": medication.name, "rxcui": medication.rxcui, "dose": dose,
             "daily_dose_mg": daily}
        )  # fmt: skip
    return rows


def _plan_referral(spec: DemoCourse, plan: _Plan, *, course, rng, now, therapist, prescriber):
    """The referral of a course past "refer", its medical evaluation once accepted, and the
    signed eligibility decision once decided, as kapflow.prescriptions.services would have
    written them (unsaved; the decision's evaluation is the unsaved evaluation). Returns None
    before referral, else (referral, evaluation or None, decision or None)."""
    from kapflow.clinical import eligibility as screen
    from kapflow.clinical.icd10 import diagnosis_get
    from kapflow.prescriptions.models import (
        EligibilityDecision,
        MedicalEvaluation,
        Referral,
        ReferralStatus,
    )
    from kapflow.prescriptions.services import (
        EVALUATION_FIELDS,
        evaluation_input,
        findings_digest,
    )

    steps = plan.steps
    if "refer" not in steps:
        return None
    sent_at = steps["refer"]["occurred_at"]
    primary, secondary = DIAGNOSES[course.condition]
    codes = [rng.choice(primary)]
    if secondary and rng.random() < 0.4:
        codes.append(rng.choice(secondary))
    diagnoses = [{"code": d.code, "description": d.description} for d in map(diagnosis_get, codes)]
    exclusion = EXCLUSIONS.get(spec.exclusion)
    picks = [rng.choice(ANTIDEPRESSANTS)]
    if rng.random() < 0.5:
        picks.append(rng.choice(OTHER_MEDICATIONS))
    medications = _medication_rows(exclusion["medications"] if exclusion else picks)
    decided_at = None
    if "decide_eligible" in steps:
        decided_at = steps["decide_eligible"]["occurred_at"]
    elif "decide_not_eligible" in steps:
        decided_at = steps["decide_not_eligible"]["occurred_at"]

    referral = Referral(
        organisation=course.organisation, partner=prescriber.organisation, course=course,
        client=course.client, prescriber=prescriber, status=ReferralStatus.SENT,
        reason=rng.choice(REFERRAL_REASONS[course.condition]), diagnoses=diagnoses,
        medications="; ".join(f"{m['name'].capitalize()} {m['dose']}" for m in medications),
        history=rng.choice(REFERRAL_HISTORY).format(
            since=(plan.fields["opened_at"] - timedelta(days=rng.randint(90, 700))).strftime(
                "%B %Y"
            )
        ),
        share_scores=rng.random() < 0.8, scores=[], consent_to_share=True,
        consent_note=rng.choice(CONSENT_NOTES).format(
            on=timezone.localdate(steps["start_intake"]["occurred_at"]).isoformat()
        ),
        sent_by_id=therapist.user_id, sent_at=sent_at, status_changed_at=sent_at,
    )  # fmt: skip
    if "begin_evaluation" not in steps:
        if spec.stage in {"discharged", "withdrawn"}:  # closed while the referral was open
            referral.status, referral.status_reason = ReferralStatus.WITHDRAWN, spec.reason
            referral.status_changed_at, referral.responded_by_id = plan.closed_at, therapist.user_id
        return referral, None, None

    accepted_at = steps["begin_evaluation"]["occurred_at"]
    referral.status, referral.status_changed_at = ReferralStatus.ACCEPTED, accepted_at
    referral.responded_by_id = prescriber.user_id
    if decided_at is not None:
        referral.status, referral.status_changed_at = ReferralStatus.EVALUATED, decided_at
    elif spec.stage in {"discharged", "withdrawn"}:
        referral.status, referral.status_reason = ReferralStatus.WITHDRAWN, spec.reason
        referral.status_changed_at, referral.responded_by_id = plan.closed_at, therapist.user_id

    pronouns = course.client.pronouns
    pregnancy = {"she/her": "not_pregnant", "he/him": "not_applicable"}.get(
        pronouns, rng.choice(["not_pregnant", "not_applicable"])
    )
    height = rng.uniform(155, 190)
    weight = rng.uniform(19.5, 31) * (height / 100) ** 2
    evaluation = MedicalEvaluation(
        organisation=course.organisation, referral=referral, course=course,
        prescriber=prescriber, modality="video" if spec.delivery == HOME else rng.choice(
            ["video", "in_person"]
        ),
        history=exclusion["history"] if exclusion else rng.choice(EVALUATION_HISTORY),
        allergies=rng.choice(ALLERGIES), medications=medications,
        bp_systolic=rng.randint(108, 134), bp_diastolic=rng.randint(66, 84),
        heart_rate=rng.randint(58, 86), weight_kg=Decimal(f"{weight:.1f}"),
        height_cm=Decimal(f"{height:.1f}"), pregnancy=pregnancy, ongoing_therapy=True,
        checklist={item.code: False for item in screen.CHECKLIST},
        created_at=accepted_at, version=rng.randint(2, 4),
    )  # fmt: skip
    evaluation.substance_use = (
        "Alcohol use disorder, in remission for eight months; attends a peer support group "
        "weekly. No other substances."
        if course.condition == "substance_use"
        else rng.choice(SUBSTANCE_USE)
    )
    if exclusion:
        systolic, diastolic, pulse = exclusion["bp"]
        evaluation.bp_systolic, evaluation.bp_diastolic, evaluation.heart_rate = (
            systolic, diastolic, pulse,
        )  # fmt: skip
        evaluation.checklist |= exclusion["checklist"]
    if decided_at is None:
        # Begun, not finished: half the checklist answered, pregnancy and ongoing therapy not
        # yet asked, so the screen shows what is still missing.
        answered = rng.randint(5, len(screen.CHECKLIST) - 3)
        evaluation.checklist = {item.code: False for item in screen.CHECKLIST[:answered]}
        evaluation.pregnancy, evaluation.ongoing_therapy = "unknown", None
        evaluation.substance_use, evaluation.version = "", 2
        if rng.random() < 0.5:
            evaluation.bp_systolic = evaluation.bp_diastolic = evaluation.heart_rate = None
            evaluation.weight_kg = evaluation.height_cm = None
        seen = min(accepted_at + timedelta(days=rng.uniform(1, 3)), now - timedelta(hours=2))
        evaluation.evaluated_on, evaluation.updated_at = timezone.localdate(seen), seen
        return referral, evaluation, None

    if "decide_eligible" in steps:  # the clearance date is the evaluation's
        evaluated_on = date.fromisoformat(steps["decide_eligible"]["data"]["clearance_on"])
    else:
        evaluated_on = max(
            timezone.localdate(decided_at - timedelta(days=rng.uniform(1, 4))),
            timezone.localdate(accepted_at),
        )
    evaluation.evaluated_on = evaluated_on
    evaluation.updated_at = decided_at - timedelta(minutes=rng.randint(10, 240))
    findings = screen.eligibility_screen(
        evaluation_input(evaluation, on_date=timezone.localdate(decided_at))
    )
    eligible = spec.stage != "not_eligible"
    if eligible:
        bp = f"{evaluation.bp_systolic}/{evaluation.bp_diastolic}"
        reason = rng.choice(ELIGIBLE_REASONS).format(bp=bp, pathway=PATHWAY_WORDS[spec.pathway])
        if any(f.code == "diagnosis.substance_use" for f in findings):
            reason += (
                " Alcohol use disorder in sustained remission by history and collateral; the "
                "relative risk is weighed and acceptable with monitoring."
            )
        steps["decide_eligible"]["reason"] = reason
    snapshot = {
        name: str(v) if isinstance(v, date | Decimal) else v
        for name in EVALUATION_FIELDS
        for v in [getattr(evaluation, name)]
    }
    snapshot.update(
        medications=evaluation.medications, checklist=evaluation.checklist,
        diagnoses=referral.diagnoses, version=evaluation.version,
    )  # fmt: skip
    decision = EligibilityDecision(
        organisation=course.organisation, evaluation=evaluation, course=course,
        decision="eligible" if eligible else "not_eligible",
        reason=reason if eligible else spec.reason,
        findings=[f.as_dict() for f in findings], findings_digest=findings_digest(findings),
        evaluation_snapshot=snapshot,
        clearance_valid_days=spec.clearance_days if eligible else None,
        signature=prescriber.user.full_name, decided_by_id=prescriber.user_id,
        decided_by_membership=prescriber, decided_at=decided_at,
    )  # fmt: skip
    return referral, evaluation, decision


# ---- prescriptions, fills, doses used, refill requests -------------------------------------

DEA_NUMBER = "BW1234563"  # fictional; passes clinical.prescribing.dea_number_valid
PHARMACY = {
    "pharmacy_name": "Cascade Compounding Pharmacy",
    "pharmacy_phone": "(503) 555-0175",
    "pharmacy_address": "300 Placeholder Road, Portland, OR 97214",
}
SESSION_DOSES = [(100, 200), (100, 300), (50, 150), (50, 250)]  # (mg per tablet, mg a session)
LOW_DOSE = (50, 50, 30)  # mg per lozenge, mg a day, doses per fill (a month)
SELF_LOG_DAYS = 21  # low-dose clients log their daily dose in the portal for about 3 weeks
CANCEL_REASONS = {
    "completed": "Course completed; no further fills needed.",
    "discharged": "Client discharged from the programme; no further fills.",
    "withdrawn": "Client withdrew from the course; prescription stopped.",
}
INSTRUCTIONS = {
    HIGHER: "Dissolve {n} x {strength} mg tablet{s} under the tongue at the start of each "
    "dosing session, as the clinician directs. Hold for 15 minutes; do not swallow.",
    LOW: "Dissolve one 50 mg lozenge under the tongue once a day; hold for 15 minutes, then "
    "spit. On a supervised session day the session dose replaces the daily dose.",
}


@dataclass
class _Rx:
    """One planned prescription: when written, its timeline event, fills and doses used."""

    written_at: datetime
    event: dict
    fills: list[dict] = field(default_factory=list)  # at, quantity, received_on, recorded_at
    uses: list[dict] = field(default_factory=list)  # at, source, event, amount, note
    refills: int = 0
    cancelled_at: datetime | None = None
    cancel_reason: str = ""
    saved: object = None  # the Prescription row, once created

    @property
    def left(self) -> int:
        return sum(f["quantity"] for f in self.fills) - len(self.uses)


@dataclass
class _Supply:
    product: str
    strength: int
    dose: int
    frequency: str
    quantity: int
    prescriptions: list[_Rx] = field(default_factory=list)
    # rx, raised_at, doses_left, fills (used when raised), status, resolved_at, note
    requests: list[dict] = field(default_factory=list)

    @property
    def left(self) -> int:
        return sum(rx.left for rx in self.prescriptions)

    @property
    def self_logs(self) -> bool:
        return any(u["source"] == "self_log" for rx in self.prescriptions for u in rx.uses)


def _self_logs(plan: _Plan, *, rng: random.Random, now: datetime) -> list[dict]:
    """The daily low doses a client logged over the last SELF_LOG_DAYS: every day after the
    first (supervised) dosing session except session days, the days after consent was
    withdrawn, and a few missed days."""
    today = timezone.localdate(now)
    sessions = {timezone.localdate(e["occurred_at"]) for e in plan.dosings}
    first = timezone.localdate(plan.dosings[0]["occurred_at"])
    stop = timezone.localdate(plan.withdrawn_at) if plan.withdrawn_at else None
    days = [today - timedelta(days=k) for k in range(SELF_LOG_DAYS - 1, -1, -1)]
    days = [d for d in days if d > first and d not in sessions and (stop is None or d < stop)]
    missed = set(rng.sample(days, min(len(days) // 5, rng.randint(2, 4))))
    logs = []
    for day in days:
        at = timezone.make_aware(datetime.combine(day, time(7, 30)))
        at += timedelta(minutes=rng.randint(0, 150))
        if day in missed or at > now - timedelta(minutes=5):
            continue
        half = rng.random() < 0.1
        logs.append(
            {"at": at, "source": "self_log", "event": None,
             "amount": Decimal("25") if half else None,
             "note": "Half a lozenge: felt drowsy after yesterday's." if half else ""}
        )  # fmt: skip
    return logs


def _plan_supply(spec: DemoCourse, plan: _Plan, *, rng, now, prescriber, threshold: int):
    """The course's prescriptions, fills, doses used and refill requests, as the prescribing
    services would have recorded them, or None before the first prescription.

    The first prescription is written during preparation and filled a day or two later.
    Higher-dose sessions: the fill quantity is the old demo's initial doses (the planned
    number, or 6 for longer courses) and a top-up follows when they run out, as a refill, or
    as a new prescription once the 6 months or the refills of a Schedule III prescription are
    used up. Low dose: a daily prescription of a month per fill, sessions and self-logged daily
    doses drawing on it. A dose comes from the oldest prescription with doses left; a refill
    request is raised when doses left fall to `threshold`. Closed courses' prescriptions are
    cancelled. Adds each prescription's timeline event to plan.events."""
    from kapflow.clinical import prescribing as rx_rules

    if plan.rx_at is None:
        return None
    low = spec.pathway == LOW
    n = len(plan.dosings)
    if low:
        product, frequency = "ketamine_sl_lozenge", rx_rules.Frequency.DAILY.value
        strength, dose, quantity = LOW_DOSE
        target = None
    else:
        product, frequency = "ketamine_sl_rdt", rx_rules.Frequency.PER_SESSION.value
        strength, dose = rng.choice(SESSION_DOSES)
        target = spec.doses or max(6, n + 2)  # doses dispensed in all
        quantity = target if n < 6 else min(target, 6)
    supply = _Supply(product, strength, dose, frequency, quantity)
    given = Decimal(dose)  # a session records the amount given: the prescription's (0030)
    uses = [
        {"at": e["occurred_at"], "source": "session", "event": e, "amount": given, "note": ""}
        for e in plan.dosings
    ]
    if low and plan.closed_at is None and plan.dosings:
        uses = sorted(uses + _self_logs(plan, rng=rng, now=now), key=lambda u: u["at"])

    def write(at: datetime) -> _Rx:
        event = {
            "kind": "prescription", "occurred_at": at,
            "recorded_at": min(at + timedelta(minutes=rng.randint(2, 30)), now),
            "actor_id": prescriber.user_id, "actor_membership": prescriber, "data": {},
        }  # fmt: skip
        plan.events.append(event)
        supply.prescriptions.append(_Rx(at, event))
        return supply.prescriptions[-1]

    def resolve(at: datetime, note: str, status: str = "fulfilled") -> None:
        for request in supply.requests:
            if request["status"] == "open":
                request.update(status=status, resolved_at=at, note=note)

    def fill(at: datetime, *, after: datetime, before: datetime | None) -> None:
        dispensed = sum(f["quantity"] for p in supply.prescriptions for f in p.fills)
        amount = quantity if target is None else min(quantity, target - dispensed)
        if amount < 1:
            return
        current = supply.prescriptions[-1]
        day = timezone.localdate(at)
        written_on = timezone.localdate(current.written_at)
        if current.fills and (
            len(current.fills) > rx_rules.MAX_REFILLS or day > rx_rules.expires_on(written_on)
        ):
            current = write(max(at - timedelta(hours=rng.uniform(3, 20)), after))
            resolve(current.written_at, "New prescription written.")
        received = min(
            day + timedelta(days=rng.choice([0, 1, 1, 2])),
            timezone.localdate(before or now),
            timezone.localdate(now),
        )
        recorded = min(at + timedelta(hours=rng.uniform(1, 6)), now)
        current.fills.append(
            {"at": at, "quantity": amount, "received_on": max(received, day),
             "recorded_at": recorded, "tracking": f"1Z999AA1{rng.randint(10**9, 10**10 - 1)}"}
        )  # fmt: skip
        resolve(recorded, f"Fill {len(current.fills) - 1} recorded.")

    write(plan.rx_at)
    first = plan.rx_at + timedelta(days=rng.uniform(1, 2))
    if uses:
        first = min(first, uses[0]["at"] - timedelta(hours=2))
    if first < now - timedelta(hours=1):
        fill(first, after=plan.rx_at, before=uses[0]["at"] if uses else None)
    previous = first
    for use in uses:
        if supply.left < 1:
            at = min(previous + timedelta(days=rng.uniform(1, 2)), use["at"] - timedelta(hours=2))
            fill(at, after=previous, before=use["at"])
        source = next(p for p in supply.prescriptions if p.left > 0)  # the oldest with doses
        source.uses.append(use)
        left = supply.left
        if left <= threshold and not any(r["status"] == "open" for r in supply.requests):
            supply.requests.append(
                {"rx": source, "raised_at": use["at"], "doses_left": left,
                 "fills": len(source.fills), "status": "open", "resolved_at": None, "note": ""}
            )  # fmt: skip
        previous = use["at"]
    if low and plan.closed_at is None and uses and supply.left < 2:
        # An open low-dose course keeps a few days in hand: the next month's fill came.
        at = min(previous + timedelta(hours=rng.uniform(4, 20)), now - timedelta(hours=1))
        fill(max(at, previous), after=previous, before=None)
    for p in supply.prescriptions:
        p.refills = max(len(p.fills) - 1, 0)
        if low:
            p.refills = max(p.refills, rng.choice([2, 3, 5]))
    if plan.closed_at is not None:
        at = min(plan.closed_at + timedelta(days=rng.uniform(0.2, 2)), now - timedelta(hours=1))
        for p in supply.prescriptions:
            p.cancelled_at, p.cancel_reason = at, CANCEL_REASONS[spec.stage]
        resolve(at, "Prescription cancelled.", status="declined")
    return supply


# ---- informed consent -----------------------------------------------------------------------

# Harbor Light Therapy's consent documents, in plain words, covering the off-label consent
# elements of DOMAIN.md section 4. Version 1 of each was published long before any course;
# version 2 of the KAP consent was published days ago, so clients must sign it again.
CONSENT_V1_DAYS = 730
CONSENT_V2_DAYS = 6

KAP_CONSENT_V1 = """\
This document explains ketamine-assisted psychotherapy (KAP) at Harbor Light Therapy so that \
you can decide whether to take part. Please read all of it and ask us about anything unclear \
before you sign.

1. What KAP is
KAP combines psychotherapy with a medicine, ketamine, taken under the care of a prescriber from \
our partner, Northstar Medical Group. Your therapist prepares you before any session, stays \
with you (in the office or by video) while the medicine acts, and meets you afterwards to make \
sense of the experience. The medicine is one part of the treatment; the therapy is the other.

2. Ketamine is used "off label"
Ketamine is approved by the FDA as an anaesthetic. Using it for depression, anxiety, PTSD or \
other mental-health conditions is "off label": your prescriber may lawfully prescribe it, but \
the FDA has not approved it for this use, and the doses and schedules we use come from research \
and clinical experience rather than an approved label. The FDA has also warned about ketamine \
that is compounded or taken at home without monitoring. An FDA-approved alternative exists: \
esketamine (Spravato), a nasal spray given in a certified clinic for treatment-resistant \
depression. You may ask your prescriber about it, or about other treatments, at any time.

3. What you may feel
During a session you may feel detached from your body or surroundings (dissociation), see or \
hear things differently, lose track of time, feel dreamy or sleepy, or feel sick or dizzy. \
Blood pressure and heart rate usually rise for a while. These effects normally fade within one \
to two hours. Some people find the experience unpleasant or frightening; your therapist is \
there to help you through it.

4. Risks
- Ketamine can be misused and can lead to dependence. Take it only as prescribed.
- Frequent or heavy use can damage the bladder. Tell us at once about pain when passing urine, \
needing to go very often, or blood in the urine.
- Memory and attention can be affected around the time of dosing, and heavy long-term use has \
been linked to lasting problems with thinking.
- Mood can get worse, and suicidal thoughts can appear or increase. Tell your care team \
straight away if this happens.
- The long-term effects of repeated KAP are not fully known.
- Ketamine should not be used in pregnancy or while breastfeeding. Tell us if you are or may \
become pregnant.
- Ketamine can interact with other medicines, alcohol and drugs. Tell your prescriber about \
everything you take.

5. Safety rules
Before every dosing session we check your blood pressure and ask you to confirm you have had no \
alcohol in the previous 24 hours. After a session you must not drive, operate machinery or make \
important decisions until the next day. After an in-office session someone must take you home.

6. Touch, recording and confidentiality
Your therapist will not touch you during a session except for supportive touch you agreed to \
beforehand (for example a hand on the shoulder), or in an emergency. Sessions are not recorded \
unless you agree in writing. What you share is confidential, with the limits the law sets: we \
must act if there is a serious risk of harm to you or others, or suspected abuse of a child or \
vulnerable adult, or if a court orders us to.

7. Emergencies
In an emergency call 911. In a mental-health crisis call or text 988, the Suicide & Crisis \
Lifeline. Our phone is not answered around the clock.

8. Your right to withdraw
Taking part is your choice. You may stop at any time, without giving a reason, by telling your \
therapist or by withdrawing this consent in your portal. Stopping does not affect the rest of \
your care at Harbor Light Therapy. Once you withdraw, no dosing session takes place unless you \
consent again.
"""

# Version 2: touch agreed in writing beforehand, and bladder symptoms asked at each session.
KAP_CONSENT_V2 = KAP_CONSENT_V1.replace(
    "6. Touch, recording and confidentiality\n",
    "6. Touch, recording and confidentiality\n"
    "Before your first session you and your therapist write down which supportive touch, if "
    "any, you agree to; you may change your mind at any time, including during a session. ",
).replace(
    "or blood in the urine.",
    "or blood in the urine. We ask about these symptoms before each session.",
)

TELEHEALTH_CONSENT = """\
This consent covers therapy sessions by video and dosing sessions at home. It adds to your \
consent to ketamine-assisted psychotherapy.

1. Sessions by video
Sessions by video use a secure service that does not record. Join from a private place in the \
state where you told us you live: your clinicians are licensed there. If the connection fails \
during a session, your therapist calls you on the phone number on your record.

2. Before an at-home dosing session
- A trusted adult (your companion) is with you in person for the whole session and for a while \
afterwards. Your companion has agreed to this and knows how to reach us.
- You measure your blood pressure and share it with your therapist before you take the \
medicine; if it is too high, the session does not go ahead.
- You confirm you have had no alcohol in the last 24 hours.
- You take the dose only when your therapist is with you on video and says to begin.

3. After the session
Do not drive, cycle, operate machinery or make important decisions until the next day. Rest in \
a safe place with your companion nearby.

4. Your medicine at home
Keep the medicine locked away, out of reach of children, pets and visitors. Never share it or \
give it to anyone else. Take it only as prescribed. Count your doses and tell us if any are \
missing. Ask the pharmacy or your prescriber how to dispose of medicine you no longer need.

5. Emergencies
At the start of each session your therapist confirms your address and your companion's phone \
number, so that help can be sent if needed. In an emergency call 911. In a mental-health crisis \
call or text 988.

6. Withdrawing
You may stop at-home sessions at any time and continue in the office, or withdraw this consent \
in your portal.
"""

RELEASE_OF_INFORMATION = """\
I authorise Harbor Light Therapy to share information about me with Northstar Medical Group, \
the medical practice whose prescriber evaluates me for ketamine treatment and, if I am \
eligible, prescribes and monitors it.

What may be shared: my contact details and date of birth; the reason for the referral and my \
diagnoses; my current medicines, allergies and relevant medical history; questionnaire scores \
if my therapist chooses to share them; and the dates and outcomes of dosing sessions. \
Psychotherapy notes are never shared.

Why: to evaluate whether ketamine is safe and suitable for me, to prescribe it, and to monitor \
my treatment.

Northstar Medical Group may share with Harbor Light Therapy what my therapist needs to provide \
my care: the eligibility decision, prescriptions and follow-up findings.

This authorisation lasts until my course of care ends, or for one year, whichever is sooner. I \
may revoke it at any time by withdrawing it in my portal or telling my therapist in writing; \
revoking does not undo what was already shared. My treatment does not depend on signing it, \
but without it the prescriber cannot evaluate me for ketamine. Information shared may no longer \
be protected by federal privacy law once the recipient holds it, although Northstar Medical \
Group is itself bound by HIPAA.
"""

FINANCIAL_POLICY = """\
This policy explains what you pay at Harbor Light Therapy.

Fees: our current fees for assessment, therapy, preparation, dosing and integration sessions are \
listed on the fee sheet you received. A dosing session usually lasts longer than a standard \
therapy hour; the extra time is charged at the hourly rate shown.

Insurance: many plans pay for psychotherapy but not for the extra time of a dosing session, and \
ketamine for mental-health conditions is off label, so it is rarely covered. The medical \
evaluation, prescriptions and pharmacy costs are billed by Northstar Medical Group and the \
pharmacy, not by us. On request we give you a superbill to claim from your insurer. If you pay \
for yourself, you are entitled to a Good Faith Estimate of the expected charges before care \
begins.

Payment is due at each session. Sessions cancelled with less than 48 hours' notice are charged \
in full unless the cancellation was for illness or an emergency.

If cost becomes a problem, talk to us: we can pause, change the plan or refer you to lower-cost \
options. Withdrawing consent or stopping treatment does not cancel fees for sessions that took \
place.
"""

CONSENT_DOCUMENTS = [
    # kind, version, title, body, days ago published, what changed
    ("kap", 1, "Consent to ketamine-assisted psychotherapy", KAP_CONSENT_V1, CONSENT_V1_DAYS, ""),
    ("telehealth", 1, "Telehealth and at-home dosing consent", TELEHEALTH_CONSENT,
     CONSENT_V1_DAYS, ""),
    ("release_of_information", 1, "Release of information to Northstar Medical Group",
     RELEASE_OF_INFORMATION, CONSENT_V1_DAYS, ""),
    ("financial_policy", 1, "Financial policy", FINANCIAL_POLICY, CONSENT_V1_DAYS, ""),
    ("kap", 2, "Consent to ketamine-assisted psychotherapy", KAP_CONSENT_V2, CONSENT_V2_DAYS,
     "You now agree in writing, before your first session, which supportive touch (if any) is "
     "welcome, and we ask about bladder symptoms before each session."),
]  # fmt: skip
WITHDRAWAL_REASON = "The client asked, in session, to stop dosing while they think it over."


def _load_consent_documents(*, practice, admin, now: datetime) -> dict:
    """Harbor Light Therapy's consent documents, created once: {(kind, version): document}."""
    from kapflow.consents.models import ConsentDocument

    documents = {}
    for kind, version, title, body, days_ago, change in CONSENT_DOCUMENTS:
        document, _ = ConsentDocument.objects.get_or_create(
            organisation=practice, kind=kind, version=version,
            defaults={"title": title, "body": body, "change_summary": change,
                      "published_at": now - timedelta(days=days_ago),
                      "published_by": admin.user},
        )  # fmt: skip
        documents[(kind, version)] = document
    return documents


def _plan_consents(spec: DemoCourse, plan: _Plan, *, course, rng, now, documents, signed: set):
    """The client's signatures (and a withdrawal) that go with this course, as
    kapflow.consents.services would have written them: the financial policy at intake, the
    release of information before the referral, the KAP consent (and at home the telehealth
    consent) before the therapist confirmed it, version 2 of the KAP consent signed again
    since it was published (not by an outdated course), the withdrawal the timeline records.
    `signed` holds (kind, version) already signed by this client (an earlier course). Adds
    each signature's timeline event to plan.events. Returns [(signature, withdrawal)]."""
    from kapflow.consents.models import ConsentSignature, ConsentWithdrawal

    steps, client = plan.steps, course.client
    v2_at = documents[("kap", 2)].published_at
    end = min(filter(None, [plan.closed_at, plan.withdrawn_at, now])) - timedelta(hours=1)
    made: list[tuple] = []

    def sign(kind: str, at: datetime, version: int = 1) -> None:
        if (kind, version) in signed:
            return
        signed.add((kind, version))
        document = documents[(kind, version)]
        at = min(at, now - timedelta(minutes=30))
        signature = ConsentSignature(
            organisation=course.organisation, document=document, client=client,
            signed_by=client.user, typed_name=f"{client.legal_first_name} {client.legal_last_name}",
            signed_on=clock.clinical_date(course.organisation, at), signed_at=at, request_id="",
            content_sha256=document.content_sha256,
        )  # fmt: skip
        made.append([signature, None])
        plan.events.append(
            {"kind": "consent_signed", "occurred_at": at, "recorded_at": at,
             "actor_id": client.user_id, "actor_membership": None,
             "data": {"document_kind": kind, "document_label": document.get_kind_display(),
                      "version": version}}
        )  # fmt: skip

    def hours(low: float, high: float) -> timedelta:
        return timedelta(hours=rng.uniform(low, high))

    if "start_intake" in steps:
        sign("financial_policy", steps["start_intake"]["occurred_at"] - hours(1, 20))
    if "refer" in steps:
        sign("release_of_information", steps["refer"]["occurred_at"] - hours(2, 20))
    consented = steps.get("record_consent")
    at = None
    if consented is not None:
        at = consented["occurred_at"] - hours(2, 30)
    elif spec.client_signed and "decide_eligible" in steps:
        at = steps["decide_eligible"]["occurred_at"] + hours(2, 20)
    if at is not None:
        version = 2 if at >= v2_at else 1
        sign("kap", at, version)
        if spec.delivery == HOME:
            sign("telehealth", at + timedelta(minutes=rng.randint(2, 15)))
        if version == 1 and plan.closed_at is None and not spec.consent_outdated:
            sign("kap", v2_at + (end - v2_at) * rng.uniform(0.1, 0.9), 2)
        if consented is not None:  # the version the therapist confirmed
            consented["data"].update(consent_version=version, consent_signed_at=at.isoformat())
    if plan.withdrawn_at is not None:
        kap = [pair for pair in made if pair[0].document.kind == "kap"]
        signature = kap[-1][0]
        kap[-1][1] = ConsentWithdrawal(
            organisation=course.organisation, signature=signature,
            withdrawn_at=plan.withdrawn_at, withdrawn_by_id=course.therapist.user_id,
            on_behalf=True, reason=WITHDRAWAL_REASON,
        )  # fmt: skip
        for event in plan.events:
            if event["kind"] == "consent_withdrawn":
                event["reason"] = WITHDRAWAL_REASON
                event["data"] = {
                    "document_kind": "kap",
                    "document_label": signature.document.get_kind_display(),
                    "version": signature.document.version, "on_behalf": True,
                }  # fmt: skip
    return made


def _portal_account(
    *, client, email: str, full_name: str, roles: list[str], invited_by, relationship: str = ""
):
    """A demo client's or companion's portal account, made the way a real one is: an
    invitation for `client` accepted through accounts.services.invitation_accept, which
    creates the account (with the demo password), its membership and role in the practice,
    and links the record (role client) or adds the companion row (role companion). The
    invitation's token is minted here because nothing is e-mailed. Returns the membership."""
    import secrets

    from django.conf import settings

    from kapflow.accounts.models import Invitation, User, hash_secret
    from kapflow.accounts.services import invitation_accept

    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        organisation=client.organisation, email=email, roles=roles, client=client,
        companion_relationship=relationship, token_hash=hash_secret(token),
        invited_by=invited_by,
        expires_at=timezone.now() + timedelta(days=settings.KAPFLOW_INVITATION_DAYS),
    )  # fmt: skip
    invitation.full_clean()
    invitation.save()
    return invitation_accept(
        token=token, user=User.objects.filter(email__iexact=email).first(),
        full_name=full_name, password=DEMO_PASSWORD,
    )  # fmt: skip


def _client_user(client, *, invited_by):
    """The portal account of a client who logs daily doses: invited by their therapist and
    accepted once, so it signs in (password DEMO_PASSWORD) to a client membership."""
    if client.user_id is None:
        _portal_account(
            client=client, email=client.email.lower(), roles=["client"], invited_by=invited_by,
            full_name=f"{client.legal_first_name} {client.legal_last_name}",
        )  # fmt: skip
        client.refresh_from_db(fields=["user"])
    return client.user


def _load_courses(
    *, practice, therapists, prescriber, own, companion, documents, seed: int
) -> dict:
    """One course (or a closed one and a current one) for each demo client, per
    DEMO_COURSES, once: clients that have any course already are left alone. With each
    course, its referral, medical evaluation, eligibility decision, prescriptions, fills,
    doses used and refill requests (kapflow.prescriptions), and the client's consent
    signatures (kapflow.consents). Returns what it created."""
    from kapflow.clinical import prescribing as rx_rules
    from kapflow.consents.models import ConsentSignature, ConsentWithdrawal
    from kapflow.courses.models import Course, CourseEvent, GateSettings
    from kapflow.patients.models import CareTeamMember, Client, Companion
    from kapflow.prescriptions.models import (
        Dispense,
        DoseUse,
        EligibilityDecision,
        MedicalEvaluation,
        Prescription,
        Referral,
        RefillRequest,
    )

    gate, _ = GateSettings.objects.get_or_create(organisation=practice)
    now = timezone.now()
    licensed = {m.pk: set(m.user.licences.values_list("state", flat=True)) for m in therapists}
    index = {m.pk: n for n, m in enumerate(therapists)}
    clients = list(
        Client.objects.for_org(practice)
        .exclude(pk=own.pk)
        .prefetch_related("care_team")
        .order_by("pk")
    )

    def therapist_of(client):
        for member in client.care_team.all():
            if member.role == "therapist" and member.is_primary and member.ended_at is None:
                return member.membership_id
        return None

    # Courses that dose need a therapist licensed in the client's state: those pick first.
    def doses(spec: DemoCourse) -> bool:
        return REACHED.get(spec.via or spec.stage, REACHED["active"]) >= REACHED["active"]

    assigned: dict[int, tuple[int, DemoCourse]] = {}
    order = sorted(range(len(DEMO_COURSES)), key=lambda n: not doses(DEMO_COURSES[n]))
    for n in order:
        spec = DEMO_COURSES[n]
        for client in clients:
            member = therapist_of(client)
            if client.pk in assigned or index.get(member) != spec.therapist:
                continue
            if doses(spec) and client.state not in licensed[member]:
                continue
            assigned[client.pk] = (n, spec)
            break
    plans = [(client, *assigned[client.pk]) for client in clients if client.pk in assigned]
    plans.append((own, "own", JORDAN_COURSE))
    has_course = set(
        Course.objects.filter(client__in=[c for c, *_ in plans]).values_list("client_id", flat=True)
    )

    courses, planned, companions, referred = [], [], [], {}
    for client, key, spec in plans:
        if client.pk in has_course:
            continue
        therapist = therapists[spec.therapist]
        for item in filter(None, [spec.previous, spec]):
            rng = random.Random(f"{seed}:{key}:{item.stage}")
            plan = _plan(item, rng=rng, now=now, therapist=therapist, prescriber=prescriber)
            condition = (
                item.condition or CONDITIONS[(key if isinstance(key, int) else 0) % len(CONDITIONS)]
            )
            courses.append(
                Course(organisation=practice, client=client, therapist=therapist,
                       condition=condition, **plan.fields)
            )  # fmt: skip
            planned.append((item, plan, therapist, f"{seed}:{key}:{item.stage}"))
            for event in plan.events:
                if event.get("action") == "refer":
                    referred.setdefault(client.pk, (event["occurred_at"], therapist.user_id))
            if plan.companion_at is not None:
                companions.append((client, plan.companion_at, therapist))
    created = Course.objects.bulk_create(courses)

    # The referral workflow, then the prescriptions (which add their timeline events).
    workflow, supplies = [], []
    for course, (item, plan, therapist, key) in zip(created, planned, strict=True):
        referral = _plan_referral(
            item, plan, course=course, rng=random.Random(f"{key}:referral"), now=now,
            therapist=therapist, prescriber=prescriber,
        )  # fmt: skip
        if referral is not None:
            workflow.append(referral)
        supply = _plan_supply(
            item, plan, rng=random.Random(f"{key}:supply"), now=now, prescriber=prescriber,
            threshold=gate.refill_threshold,
        )  # fmt: skip
        if supply is not None:
            supplies.append((course, therapist, supply))
    Referral.objects.bulk_create([referral for referral, _e, _d in workflow])
    MedicalEvaluation.objects.bulk_create([e for _r, e, _d in workflow if e is not None])
    EligibilityDecision.objects.bulk_create([d for _r, _e, d in workflow if d is not None])

    prescriptions = []
    for course, _therapist, supply in supplies:
        item = rx_rules.PRODUCTS[supply.product]
        n = supply.dose // supply.strength
        for p in supply.prescriptions:
            written_on = timezone.localdate(p.written_at)
            prescriptions.append(
                Prescription(
                    organisation=practice, course=course, prescriber=prescriber,
                    product=supply.product, drug=item.drug, rxcui=item.rxcui, form=item.form,
                    route=item.route.value, strength_mg=Decimal(supply.strength),
                    dose_mg=Decimal(supply.dose), frequency=supply.frequency,
                    pathway=course.pathway, quantity=supply.quantity, refills=p.refills,
                    instructions=INSTRUCTIONS[course.pathway].format(
                        n=n, strength=supply.strength, s="s" if n > 1 else ""
                    ),
                    dea_number=DEA_NUMBER, written_on=written_on,
                    expires_on=rx_rules.expires_on(written_on), created_at=p.written_at,
                    status="cancelled" if p.cancelled_at else "active",
                    cancelled_at=p.cancelled_at,
                    cancelled_by_id=prescriber.user_id if p.cancelled_at else None,
                    cancel_reason=p.cancel_reason, **PHARMACY,
                )
            )  # fmt: skip
    Prescription.objects.bulk_create(prescriptions)
    saved = iter(prescriptions)
    dispenses, requests = [], []
    for course, _therapist, supply in supplies:
        for p in supply.prescriptions:
            p.saved = next(saved)
            p.event["data"] = {
                "prescription_id": p.saved.pk, "product": supply.product,
                "dose_mg": str(supply.dose), "quantity": supply.quantity, "refills": p.refills,
            }  # fmt: skip
            for number, f in enumerate(p.fills):
                day = timezone.localdate(f["at"])
                dispenses.append(
                    Dispense(
                        organisation=practice, prescription=p.saved, fill_number=number,
                        quantity=f["quantity"], dispensed_on=day, shipped_on=day,
                        tracking=f["tracking"], received_on=f["received_on"],
                        recorded_by_id=prescriber.user_id, recorded_at=f["recorded_at"],
                    )
                )  # fmt: skip
        for r in supply.requests:
            requests.append(
                RefillRequest(
                    organisation=practice, course=course, prescription=r["rx"].saved,
                    prescriber=prescriber, doses_left=r["doses_left"],
                    fills_left=max(r["rx"].refills + 1 - r["fills"], 0), status=r["status"],
                    raised_at=r["raised_at"], resolved_at=r["resolved_at"],
                    resolved_by_id=prescriber.user_id if r["resolved_at"] else None,
                    note=r["note"],
                )
            )  # fmt: skip
    Dispense.objects.bulk_create(dispenses)
    RefillRequest.objects.bulk_create(requests)

    # The client's signatures, planned before the timeline is saved (they add its events).
    consents, signed_by_client = [], {}
    for course, (item, plan, _therapist, key) in zip(created, planned, strict=True):
        consents += _plan_consents(
            item, plan, course=course, rng=random.Random(f"{key}:consent"), now=now,
            documents=documents, signed=signed_by_client.setdefault(course.client_id, set()),
        )  # fmt: skip
    ConsentSignature.objects.bulk_create([signature for signature, _w in consents])
    ConsentWithdrawal.objects.bulk_create([w for _s, w in consents if w is not None])

    rows: dict[int, CourseEvent] = {}  # id() of each planned event -> its row
    for course, (_item, plan, _therapist, _key) in zip(created, planned, strict=True):
        for event in sorted(plan.events, key=lambda e: e["occurred_at"]):
            rows[id(event)] = CourseEvent(organisation=practice, course=course, **event)
    CourseEvent.objects.bulk_create(list(rows.values()))

    uses = []
    for course, therapist, supply in supplies:
        client_user = (
            _client_user(course.client, invited_by=therapist.user) if supply.self_logs else None
        )
        for p in supply.prescriptions:
            for use in p.uses:
                session = use["source"] == "session"
                uses.append(
                    DoseUse(
                        organisation=practice, course=course, prescription=p.saved,
                        source=use["source"], used_at=use["at"],
                        taken_on=timezone.localdate(use["at"]), amount_mg=use["amount"],
                        note=use["note"],
                        dosing_event=rows[id(use["event"])] if session else None,
                        recorded_by_id=therapist.user_id if session else client_user.pk,
                        recorded_at=use["event"]["recorded_at"] if session else use["at"],
                    )
                )  # fmt: skip
    DoseUse.objects.bulk_create(uses)

    # The referral is the partner prescriber's access grant (decision 0005); withdrawing it
    # ended the grant.
    withdrawn = {
        r.client_id: r.status_changed_at for r, _e, _d in workflow if r.status == "withdrawn"
    }
    on_team = set(
        CareTeamMember.objects.filter(
            client_id__in=referred, membership=prescriber, ended_at__isnull=True
        ).values_list("client_id", flat=True)
    )
    CareTeamMember.objects.bulk_create(
        [
            CareTeamMember(
                organisation=practice,
                client_id=pk,
                membership=prescriber,
                role="prescriber",
                is_primary=True,
                added_by_id=by,
                added_at=when,
                ended_at=withdrawn.get(pk),
            )
            for pk, (when, by) in referred.items()
            if pk not in on_team
        ]
    )

    # At-home courses past consent have a named companion; the client sign-in's is Riley.
    # Each other companion has an account with a companion membership, as if the client had
    # named them and they had accepted.
    for client, confirmed_at, therapist in companions:
        if client.pk == own.pk:
            companion.confirmed_at = companion.confirmed_at or confirmed_at or None
            companion.save(update_fields=["confirmed_at"])
            continue
        email = f"companion.{client.email}".lower()
        if not Companion.objects.filter(client=client, user__email__iexact=email).exists():
            account = _portal_account(
                client=client, email=email, roles=["companion"],
                full_name=client.emergency_contact_name,
                relationship=client.emergency_contact_relationship,
                invited_by=client.user if client.user_id else therapist.user,
            ).user  # fmt: skip
            Companion.objects.filter(client=client, user=account).update(
                confirmed_at=confirmed_at or None
            )
    if companion.confirmed_at is None:
        companion.confirmed_at = now - timedelta(days=20)
        companion.save(update_fields=["confirmed_at"])
    return {
        "courses": len(created),
        "referrals": len(workflow),
        "evaluations": sum(1 for _r, e, _d in workflow if e is not None),
        "decisions": sum(1 for _r, _e, d in workflow if d is not None),
        "prescriptions": len(prescriptions),
        "dispenses": len(dispenses),
        "dose_uses": len(uses),
        "refill_requests": len(requests),
        "consent_signatures": len(consents),
        "events": len(rows),
    }


# ---- questionnaire scores -------------------------------------------------------------------

# How a demo client's PHQ-9 ends up, relative to the baseline (weights of 20): most improve,
# some respond (>= 50 % drop), some remit (<= 4), a few do not change.
OUTCOME_PATHS = [("remits", 6), ("responds", 6), ("partial", 5), ("unchanged", 3)]
MAX_SCORES = 12
# Courses whose clients have questionnaire scores: from preparation (the baseline) on.
SCORED_STAGES = ["preparation", "active", "maintenance", "completed", "discharged", "withdrawn"]


def _answers(instrument, total: int, rng: random.Random, fixed: dict | None = None) -> dict:
    """Item answers that add up to `total`, spread at random over the scored items; `fixed`
    pins some items (PHQ-9 item 9 stays 0 unless pinned)."""
    fixed = dict(fixed or {})
    scored = [item for item in instrument.items if item.scored]
    answers = {item.id: 0 for item in scored} | fixed
    free = [item.id for item in scored if item.id not in fixed and item.id != "phq9_9"]
    remaining = max(0, min(total - sum(answers.values()), 3 * len(free)))
    while remaining:
        item_id = rng.choice([i for i in free if answers[i] < 3])
        answers[item_id] += 1
        remaining -= 1
    if instrument.code == "phq9":
        answers["phq9_difficulty"] = min(3, sum(answers.values()) // 7)
    return answers


def _trajectory(rng: random.Random, before: int, after: int, baseline: int, cap: int) -> list[int]:
    """Totals for `before` scores up to the first dosing session (close to `baseline`, the last
    of them exactly it) and `after` scores drifting towards an end point drawn from
    OUTCOME_PATHS."""
    path = rng.choices([p for p, _ in OUTCOME_PATHS], [w for _, w in OUTCOME_PATHS])[0]
    end = {
        "remits": rng.randint(1, 4),
        "responds": round(baseline * rng.uniform(0.3, 0.5)),
        "partial": round(baseline * rng.uniform(0.6, 0.85)),
        "unchanged": baseline + rng.randint(-2, 2),
    }[path]
    totals = [baseline + rng.randint(-2, 2) for _ in range(before - 1)] + [baseline] * (before > 0)
    for k in range(1, after + 1):
        value = baseline + (end - baseline) * (k / after) ** 0.8 + rng.uniform(-1.5, 1.5)
        totals.append(end if k == after else round(value))
    return [min(cap, max(0, t)) for t in totals]


def _score_times(rng, *, dosings, prepared_at, end, now) -> list[datetime]:
    """A baseline before the first dosing session (sometimes a screening score before it),
    then a score a day or three after each dosing session, none after `end`."""
    if not dosings:
        return [prepared_at]
    times = [dosings[0] - timedelta(days=rng.uniform(2, 5))]
    if rng.random() < 0.5:
        times.insert(0, times[0] - timedelta(days=rng.uniform(8, 14)))
    for dosed in dosings:
        at = dosed + timedelta(days=rng.uniform(1, 3))
        if at < min(end, now - timedelta(hours=2)):
            times.append(at)
    return times[: MAX_SCORES - 1] + times[-1:] if len(times) > MAX_SCORES else times


def _load_outcomes(*, practice, own, seed: int) -> int:
    """PHQ-9 histories (and GAD-7 for about a third, and for anxiety) for the demo clients
    whose course has reached preparation: a baseline before the first dosing session and a
    score after each one, scored from item answers by kapflow.clinical.instruments. The client
    whose latest risk screen is positive answered PHQ-9 item 9 above "Not at all" shortly
    before it: that response has an open urgent task and its own positive risk screen on the
    timeline, as assessments.services would have recorded. Clients with any response already
    are left alone, so loading twice changes nothing. Returns the number of responses made."""
    from kapflow.assessments.models import Response, Source, UrgentTask
    from kapflow.clinical import instruments
    from kapflow.courses.models import Course, CourseEvent

    now = timezone.now()
    has_scores = set(Response.objects.for_org(practice).values_list("client_id", flat=True))
    courses = (
        Course.objects.for_org(practice)
        .filter(stage__in=SCORED_STAGES)
        .exclude(client_id__in=has_scores)
        .select_related("client", "therapist__user")
        .prefetch_related("events")
        .order_by("client_id", "-opened_at")
    )
    made = 0
    seen: set[int] = set()
    for course in courses:
        if course.client_id in seen:  # only the client's most recent course
            continue
        seen.add(course.client_id)
        events = sorted(course.events.all(), key=lambda e: e.occurred_at)
        dosings = [e.occurred_at for e in events if e.kind == "dosing"]
        preparations = [e.occurred_at for e in events if e.kind == "preparation"]
        if course.stage != "preparation" and not dosings:
            continue  # closed before dosing: no measurement plan ran
        screens = [e for e in events if e.kind == "risk_screen"]
        flagged = bool(screens) and screens[-1].positive and course.closed_at is None
        rng = random.Random(f"{seed}:outcomes:{course.client.email}")
        times = _score_times(
            rng, dosings=dosings, end=course.closed_at or now, now=now,
            prepared_at=preparations[0] if preparations else now - timedelta(days=2),
        )  # fmt: skip
        if flagged:
            # Worse again, and item 9 answered "several days", hours before the screen.
            times = [t for t in times if t < screens[-1].occurred_at - timedelta(hours=4)]
            times.append(screens[-1].occurred_at - timedelta(hours=3))
        portal = course.client_id == own.pk
        by = course.client.user if portal else course.therapist.user
        wanted = [("phq9", rng.randint(13, 22))]
        if course.condition == "anxiety" or rng.random() < 0.33:
            wanted.append(("gad7", rng.randint(10, 17)))
        for code, baseline in wanted:
            inst = instruments.get(code)
            cap = 3 * (len([i for i in inst.items if i.scored]) - (code == "phq9"))
            before = sum(1 for t in times if not dosings or t < dosings[0])
            totals = _trajectory(rng, before, len(times) - before, baseline, cap)
            if flagged and code == "phq9" and len(totals) > 1:
                totals[-1] = max(totals[-2] + 3, 12)
            for n, (at, total) in enumerate(zip(times, totals, strict=True)):
                item9 = {"phq9_9": 1} if flagged and code == "phq9" and n == len(totals) - 1 else {}
                answers = _answers(inst, total, rng, item9)
                result = inst.score(answers)
                flags = inst.safety(answers)
                response = Response.objects.create(
                    organisation=practice, client=course.client, course=course,
                    instrument=code, answers=answers, total=result.total,
                    band=result.band.label, severity=result.band.severity,
                    detail=dict(result.detail),
                    safety_flags=[{"code": f.code, "message": f.message, "level": f.level}
                                  for f in flags],
                    source=Source.PORTAL if portal else Source.STAFF, entered_by=by,
                    started_at=at - timedelta(minutes=rng.randint(3, 12)), submitted_at=at,
                )  # fmt: skip
                made += 1
                if flags:
                    UrgentTask.objects.create(
                        organisation=practice, client=course.client, course=course,
                        response=response, codes=[f.code for f in flags],
                        level="high" if any(f.level == "high" for f in flags) else "moderate",
                        created_at=at,
                    )  # fmt: skip
                    CourseEvent.objects.create(
                        organisation=practice, course=course, kind="risk_screen",
                        occurred_at=at, recorded_at=at, actor=by,
                        actor_membership=None if portal else course.therapist, positive=True,
                        data={"response_id": response.pk, "instrument": code},
                    )  # fmt: skip
    return made


# ---- journal, messages, alerts and companion check-ins --------------------------------------

JORDAN_JOURNAL = [
    # (kind, shared, hours from the latest dosing session, text)
    ("intention", True, -20,
     "Tomorrow I want to go in with curiosity rather than a goal. If the heaviness shows up I "
     "will try to stay with it for a breath or two before I reach for the eye mask."),
    ("integration", True, 22,
     "Still a bit foggy this morning. What stayed with me was the picture of the harbour at "
     "dusk, and the sense that the tiredness is not all of me. I'd like to talk about that."),
    ("reflection", False, 40,
     "Walked to the bakery without checking my phone once. Small, but it felt like mine."),
]  # fmt: skip
OTHER_JOURNAL = [
    "Calmer than I expected afterwards. I noticed how much I brace my shoulders at work; "
    "I want to practise letting them drop.",
    "Hard in the middle, then a long stretch of quiet. I keep coming back to the word "
    "'enough'. Slept well for the first time in a week.",
    "Mostly colours and music this time. Less insight than last session, but I felt kinder "
    "towards myself on the drive home.",
]
CARE_MESSAGES = [
    # (a reply from the other side?, minutes after the first message, text)
    (False, 0,
     "Hi Avery, is there anything I should do differently to prepare for my next session? "
     "Last time I felt a bit queasy at the start."),
    (True, 95,
     "Thanks for letting me know, Jordan. Keep to a light meal at least four hours before, and "
     "we can talk about the nausea with Dr. Whitfield before the session."),
    (True, 110,
     "Also: bring your journal if you like. We can look at your intention together first."),
]  # fmt: skip
PARTNER_MESSAGES = [
    (False, 0,
     "Dr. Whitfield, after the second session the client reported strong dissociation that "
     "lasted about an hour. Would you consider keeping the next dose the same rather than "
     "stepping it up?"),
    (True, 180,
     "Agreed, let's hold the current dose for the next session and review after it. I'll note "
     "it on the prescription record; please send me the post-session vitals."),
]  # fmt: skip


def _load_portal_records(*, practice, own, companion, therapist, prescriber) -> dict:
    """What the client, companion and clinicians wrote in the portal: journal entries,
    secure messages, alerts and companion check-ins. Each block is skipped when its records
    exist already, so loading twice adds nothing. Returns the counts made."""
    from kapflow.courses.models import Course, CourseEvent

    now = timezone.now()
    course = (
        Course.objects.for_org(practice)
        .filter(client=own, closed_at__isnull=True)
        .order_by("-opened_at")
        .first()
    )
    dosing = (
        CourseEvent.objects.filter(course=course, kind="dosing").order_by("-occurred_at").first()
        if course
        else None
    )
    if course is None or dosing is None:
        return {}
    return {
        "journal_entries": _load_journal(
            practice=practice, own=own, course=course, dosing=dosing, now=now
        ),
        **_load_threads(
            practice=practice, own=own, therapist=therapist, prescriber=prescriber, now=now
        ),
        "alerts": _load_alerts(
            practice=practice, own=own, course=course, dosing=dosing, companion=companion,
            therapist=therapist, now=now,
        ),
        "companion_checkins": _load_checkins(
            practice=practice, own=own, course=course, dosing=dosing, companion=companion
        ),
    }  # fmt: skip


def _load_journal(*, practice, own, course, dosing, now) -> int:
    """Jordan's intention, integration and private reflection around the latest dosing
    session; one shared integration entry on three other active courses."""
    from kapflow.courses.models import Course, CourseEvent
    from kapflow.journal.models import JournalEntry

    written = set(JournalEntry.objects.for_org(practice).values_list("client_id", flat=True))
    entries = []

    def entry(client, course, kind, shared, at, body, event):
        at = min(at, now - timedelta(hours=1))
        entries.append(
            JournalEntry(
                organisation=practice, client=client, course=course, kind=kind,
                dosing_event=event if kind != "reflection" else None, body=body, shared=shared,
                created_at=at, updated_at=at, shared_at=at if shared else None,
            )
        )  # fmt: skip

    if own.pk not in written:
        for kind, shared, hours, body in JORDAN_JOURNAL:
            at = dosing.occurred_at + timedelta(hours=hours)
            entry(own, course, kind, shared, at, body, dosing)
    others = (
        Course.objects.for_org(practice)
        .filter(stage="active", events__kind="dosing")
        .exclude(client=own)
        .distinct()
        .select_related("client")
        .order_by("pk")[: len(OTHER_JOURNAL)]
    )
    for other, body in zip(others, OTHER_JOURNAL, strict=False):
        if other.client_id in written:
            continue
        latest = (
            CourseEvent.objects.filter(course=other, kind="dosing").order_by("-occurred_at").first()
        )
        entry(
            other.client, other, "integration", True,
            latest.occurred_at + timedelta(hours=26), body, latest,
        )  # fmt: skip
    for row in entries:
        row.full_clean()
    JournalEntry.objects.bulk_create(entries)
    return len(entries)


def _thread(*, practice, client, kind, subject, starter, messages, reader, now) -> int:
    """A thread as kapflow.messaging.services.thread_start makes it (the participants are the
    candidates it picks, without the admins, plus the starter), its messages, and a receipt
    for the first message by `reader` (who read it before replying). Messages are (from the
    replier?, minutes after the first, body); the first is `starter`'s."""
    from kapflow import policy
    from kapflow.messaging.models import Message, MessageReceipt, Thread, ThreadParticipant

    first = now - timedelta(days=1, hours=3)
    times = [first + timedelta(minutes=m) for _r, m, _b in messages]
    thread = Thread(
        organisation=practice, client=client, kind=kind, subject=subject,
        created_by_id=starter.user_id, created_at=first, last_message_at=times[-1],
    )  # fmt: skip
    thread.full_clean()
    thread.save()
    members = {
        m.user_id: m for m in policy.thread_candidates_queryset(thread, include_admins=False)
    }
    members[starter.user_id] = starter
    authors = [reader if replied else starter for replied, _m, _b in messages]
    last_read = {a.user_id: t for a, t in zip(authors, times, strict=True)}  # their own last
    ThreadParticipant.objects.bulk_create(
        [
            ThreadParticipant(
                organisation=practice, thread=thread, user_id=user_id, membership=membership,
                joined_at=first, added_by_id=starter.user_id, last_read_at=last_read.get(user_id),
            )
            for user_id, membership in sorted(members.items())
        ]
    )  # fmt: skip
    rows = [
        Message(organisation=practice, thread=thread, author_id=a.user_id, body=body, created_at=t)
        for a, t, (_r, _m, body) in zip(authors, times, messages, strict=True)
    ]
    for row in rows:
        row.full_clean()
    Message.objects.bulk_create(rows)
    opened = next(t for t, (replied, _m, _b) in zip(times, messages, strict=True) if replied)
    MessageReceipt.objects.create(
        organisation=practice, message=rows[0], user_id=reader.user_id,
        read_at=opened - timedelta(minutes=5),
    )  # fmt: skip
    return len(rows)


def _load_threads(*, practice, own, therapist, prescriber, now) -> dict:
    """Jordan's care thread with the care team, and a partner thread between therapist@ and
    the prescriber about one other referred client of therapist@."""
    from kapflow.accounts.models import Membership
    from kapflow.messaging.models import Thread
    from kapflow.patients.models import CareTeamMember, Client

    threads = Thread.objects.for_org(practice)
    made = {"message_threads": 0, "messages": 0}
    if not threads.filter(client=own, kind="care").exists():
        (jordan,) = Membership.objects.filter(
            organisation=practice, user_id=own.user_id, roles__role="client"
        )
        made["messages"] += _thread(
            practice=practice, client=own, kind="care", subject="Preparing for my next session",
            starter=jordan, messages=CARE_MESSAGES, reader=therapist, now=now,
        )  # fmt: skip
        made["message_threads"] += 1
    if not threads.filter(kind="partner").exists():
        on_team = CareTeamMember.objects.filter(ended_at__isnull=True)
        client = (
            Client.objects.for_org(practice)
            .exclude(pk=own.pk)
            .filter(
                pk__in=on_team.filter(membership=therapist).values("client_id"),
                courses__stage="active",
            )
            .filter(pk__in=on_team.filter(membership=prescriber).values("client_id"))
            .order_by("pk")
            .first()
        )
        if client is not None:
            made["messages"] += _thread(
                practice=practice, client=client, kind="partner",
                subject="Dose question before the next session", starter=therapist,
                messages=PARTNER_MESSAGES, reader=prescriber, now=now,
            )  # fmt: skip
            made["message_threads"] += 1
    return made


def _load_alerts(*, practice, own, course, dosing, companion, therapist, now) -> int:
    """An open routine reaction report from the client of an active at-home course (Jordan's
    when that client has no portal account), and the companion's acknowledged "need help now"
    during Jordan's latest dosing session."""
    from kapflow.alerts.models import Alert
    from kapflow.clinical import reactions
    from kapflow.courses.models import Course

    alerts = Alert.objects.for_org(practice)
    rows = []
    if not alerts.filter(kind="reaction").exists():
        home = (
            Course.objects.for_org(practice)
            .filter(stage="active", delivery="at_home", client__user__isnull=False)
            .exclude(client=own)
            .select_related("client")
            .distinct()
            .order_by("pk")
            .first()
        )
        if home is None:  # no other at-home client has a portal account
            home = course
        answers = reactions.ReactionAnswers(symptoms=frozenset({"nausea", "dizziness"}))
        triage = reactions.reaction_triage(answers)
        rows.append(
            Alert(
                organisation=practice, client=home.client, course=home, kind="reaction",
                raised_by_id=home.client.user_id, raised_by_role="client",
                raised_at=now - timedelta(hours=3),
                answers={"symptoms": [s.code for s in reactions.SYMPTOMS
                                      if s.code in answers.symptoms],
                         "bp_systolic": None, "bp_diastolic": None},
                note="Felt sick and a bit unsteady after this morning's dose. Lying down now.",
                severity=triage.severity.value, reasons=triage.codes,
            )
        )  # fmt: skip
    if not alerts.filter(client=own, kind="help_now").exists():
        triage = reactions.help_now_triage()
        raised = dosing.occurred_at + timedelta(minutes=80)
        rows.append(
            Alert(
                organisation=practice, client=own, course=course, kind="help_now",
                raised_by_id=companion.user_id, raised_by_role="companion", raised_at=raised,
                severity=triage.severity.value, reasons=triage.codes,
                acknowledged_by=therapist, acknowledged_at=raised + timedelta(minutes=6),
                acknowledgement_note="Phoned Riley at once. Jordan was restless but responsive "
                "and breathing normally, BP 138/86. Talked them through it; settled within "
                "15 minutes. Will review at integration.",
            )
        )  # fmt: skip
    for row in rows:
        row.full_clean()
    Alert.objects.bulk_create(rows)
    return len(rows)


def _load_checkins(*, practice, own, course, dosing, companion) -> int:
    """Riley's two check-ins during Jordan's latest dosing session."""
    from kapflow.patients.models import CompanionCheckin

    if CompanionCheckin.objects.for_org(practice).filter(client=own).exists():
        return 0
    start = dosing.occurred_at
    rows = [
        CompanionCheckin(
            organisation=practice, companion=companion, client=own, course=course,
            recorded_at=start + timedelta(minutes=30), state="settled",
            note="Resting with the eye mask on, music playing.",
        ),
        CompanionCheckin(
            organisation=practice, companion=companion, client=own, course=course,
            recorded_at=start + timedelta(minutes=75), state="restless", bp_systolic=138,
            bp_diastolic=86, heart_rate=88, note="Shifting about and says they feel uneasy.",
        ),
    ]  # fmt: skip
    for row in rows:
        row.full_clean()
    CompanionCheckin.objects.bulk_create(rows)
    return len(rows)
