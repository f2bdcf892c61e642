"""The demo practice: Harbor Light Therapy and its partner Northstar Medical Group.

Every person here is fictional. The sign-ins are a contract other work relies on: keep them.
"""

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

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
    consent_withdrawn: float | None = None
    clearance_days: int = 365
    renewal: tuple[float, int] | None = None  # clearance renewed (days ago, valid days)
    maintenance: float | None = None  # entered maintenance (days ago)
    reason: str = ""  # why it closed
    previous: "DemoCourse | None" = None  # an earlier, closed course of the same client
    condition: str = ""  # what it mainly treats (default: CONDITIONS by position)


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
    DemoCourse(0, "eligible", HIGHER, OFFICE, ago=2),
    DemoCourse(0, "not_eligible", HIGHER, OFFICE, ago=12,
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
    DemoCourse(1, "not_eligible", LOW, OFFICE, ago=20,
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

# The client sign-in's own course: at home, with the companion sign-in confirmed.
JORDAN_COURSE = DemoCourse(0, "active", HIGHER, HOME, dosings=(9, 2), condition="depression")

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


@transaction.atomic
def load_demo(*, clients: int = 40, seed: int = 7) -> dict:
    """Create (or refresh) the demo organisations, sign-ins, clients, their courses of care
    and questionnaire scores (each client's courses and scores are created once). Idempotent."""
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
    companion, _ = Companion.objects.get_or_create(
        organisation=practice, client=own, user=members["companion@harborlight.example"].user,
        defaults={"relationship": "Spouse"},
    )  # fmt: skip
    courses = _load_courses(
        practice=practice, therapists=therapists, prescriber=prescriber, own=own,
        companion=companion, seed=seed,
    )  # fmt: skip
    _load_outcomes(practice=practice, own=own, seed=seed)
    return {
        "practice": practice,
        "partner": partner,
        "clients": Client.objects.count(),
        "courses_created": courses,
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


def _plan(spec: DemoCourse, *, rng: random.Random, now: datetime, therapist, prescriber):
    """The course row's values, its timeline and its companion's confirmation time, as the
    services would have recorded them had the course really gone this way."""

    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    def days(low: float, high: float) -> timedelta:
        return timedelta(days=rng.uniform(low, high))

    events: list[dict] = []

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
        add(
            "transition", at, by=by, from_stage=stage, to_stage=TARGETS[action], action=action,
            reason=reason or ("Course opened." if action == "open" else ""), data=data or {},
        )  # fmt: skip
        stage = TARGETS[action]
        fields["stage_changed_at"] = at

    base = spec.via or spec.stage
    if spec.stage == "not_eligible":
        base = "medical_evaluation"
    if base == "maintenance":
        base = "active"
    steps = [action for action, _from, _to in PATH[: REACHED[base] + 1]]
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
    for action in reversed(steps[1:]):
        times.append(times[-1] - days(*GAP_DAYS[action]))
    at = dict(zip(steps, reversed(times), strict=True))

    doses = spec.doses or max(6 if spec.pathway == HIGHER else 8, len(dosings) + 2)
    planned = rng.randint(1, 3) if spec.prep is None else max(spec.prep, 1)
    fields.update(
        stage=spec.stage, pathway=spec.pathway, delivery=spec.delivery, opened_at=at["open"],
        closed_at=closed_at, preparation_planned=planned, doses_used=len(dosings),
    )  # fmt: skip
    for action in steps:
        data: dict = {}
        if action == "refer":
            fields["prescriber"] = prescriber
            data["prescriber_membership_id"] = prescriber.pk
        if action == "decide_eligible":
            clearance_on = (at[action] - timedelta(days=rng.randint(1, 5))).date()
            fields.update(
                eligibility="eligible",
                clearance_on=clearance_on,
                clearance_valid_days=spec.clearance_days,
            )
            data.update(clearance_on=clearance_on.isoformat(), valid_days=spec.clearance_days)
        if action == "record_consent":
            fields.update(consent_signed_at=at[action], consent_version="v1")
            data["consent_version"] = "v1"
        if action == "start_preparation":
            data["preparation_planned"] = planned
        transition(action, at[action], data=data)

    initial = 0
    if "start_preparation" in at:
        start = at["start_preparation"]
        done = planned if spec.prep is None else spec.prep
        span = (at.get("activate", end) - start) / (done + 1)
        if spec.prescription:
            initial = doses if len(dosings) < 6 else min(doses, 6)
            add("prescription", start + span * 0.5, by=prescriber, data={"from": 0, "to": initial})
        for n in range(done):
            add("preparation", start + span * (n + 1), reason="")
    fields["doses_authorised"] = initial

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
            integrated = dosed + timedelta(hours=rng.uniform(20, 44))
            latest = n == len(dosings) - 1
            if integrated < end - timedelta(hours=1) and not (latest and spec.integration_missed):
                add("integration", integrated)
            if initial < doses and n == initial - 1:
                add("prescription", dosed + days(1, 2), by=prescriber,
                    data={"from": initial, "to": doses})  # fmt: skip
                fields["doses_authorised"] = doses
        if len(dosings) >= 2 and not spec.followup_missed:
            followup = dosings[1] + days(6, 12)
            while followup < end - timedelta(hours=12):
                add("followup", followup, by=prescriber)
                followup += days(55, 85)
        if spec.renewal:
            renewed_ago, valid = spec.renewal
            renewed = ago(renewed_ago)
            fields.update(clearance_on=renewed.date(), clearance_valid_days=valid)
            add("clearance", renewed, by=prescriber,
                data={"clearance_on": renewed.date().isoformat(), "valid_days": valid})  # fmt: skip
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

    if spec.consent_withdrawn is not None:
        withdrawn = ago(spec.consent_withdrawn)
        fields["consent_withdrawn_at"] = withdrawn
        add("consent_withdrawn", withdrawn,
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
    return fields, events, companion_at


def _load_courses(*, practice, therapists, prescriber, own, companion, seed: int) -> int:
    """One course (or a closed one and a current one) for each demo client, per
    DEMO_COURSES, once: clients that have any course already are left alone."""
    from kapflow.accounts.models import User
    from kapflow.courses.models import Course, CourseEvent, GateSettings
    from kapflow.patients.models import CareTeamMember, Client, Companion

    GateSettings.objects.get_or_create(organisation=practice)
    now = timezone.now()
    licensed = {m.pk: set(m.user.licences.values_list("state", flat=True)) for m in therapists}
    index = {m.pk: n for n, m in enumerate(therapists)}
    clients = list(
        Client.objects.for_org(practice)
        .filter(user__isnull=True)
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

    courses, timelines, companions, referred = [], [], [], {}
    for client, key, spec in plans:
        if client.pk in has_course:
            continue
        therapist = therapists[spec.therapist]
        for item in filter(None, [spec.previous, spec]):
            rng = random.Random(f"{seed}:{key}:{item.stage}")
            fields, events, companion_at = _plan(
                item, rng=rng, now=now, therapist=therapist, prescriber=prescriber
            )
            condition = (
                item.condition or CONDITIONS[(key if isinstance(key, int) else 0) % len(CONDITIONS)]
            )
            courses.append(
                Course(organisation=practice, client=client, therapist=therapist,
                       condition=condition, **fields)
            )  # fmt: skip
            timelines.append(events)
            for event in events:
                if event.get("action") == "refer":
                    referred.setdefault(client.pk, (event["occurred_at"], therapist.user_id))
            if companion_at is not None:
                companions.append((client, companion_at))
    created = Course.objects.bulk_create(courses)
    CourseEvent.objects.bulk_create(
        [
            CourseEvent(organisation=practice, course=course, **event)
            for course, events in zip(created, timelines, strict=True)
            for event in events
        ]
    )

    # The referral is the partner prescriber's access grant (decision 0005).
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
            )
            for pk, (when, by) in referred.items()
            if pk not in on_team
        ]
    )

    # At-home courses past consent have a named companion; the client sign-in's is Riley.
    for client, confirmed_at in companions:
        if client.pk == own.pk:
            companion.confirmed_at = companion.confirmed_at or confirmed_at or None
            companion.save(update_fields=["confirmed_at"])
            continue
        user = User.objects.filter(email=f"companion.{client.email}").first()
        if user is None:
            user = User.objects.create_user(
                f"companion.{client.email}", None, full_name=client.emergency_contact_name
            )
        Companion.objects.get_or_create(
            organisation=practice, client=client, user=user,
            defaults={"relationship": client.emergency_contact_relationship,
                      "confirmed_at": confirmed_at or None},
        )  # fmt: skip
    if companion.confirmed_at is None:
        companion.confirmed_at = now - timedelta(days=20)
        companion.save(update_fields=["confirmed_at"])
    return len(created)


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
