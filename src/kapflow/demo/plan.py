"""The demo's courses of care: the fixed course specs (Jordan's and the others), the
workflow path they walk, and `plan_course`, which turns one spec into the row values and
timeline the services would have recorded. It writes nothing.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

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
class Plan:
    """What `plan_course` decided for one course: the row's values, its timeline (each event the
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


def plan_course(
    spec: DemoCourse, *, rng: random.Random, now: datetime, therapist, prescriber
) -> Plan:
    """The course row's values, its timeline and its companion's confirmation time, as the
    services would have recorded them had the course really gone this way. Prescriptions,
    fills and doses used come from `plan_supply`, the referral from `plan_referral`."""

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
    return Plan(
        fields=fields, events=events, companion_at=companion_at, steps=steps,
        dosings=dosing_events, rx_at=rx_at, closed_at=closed_at, withdrawn_at=withdrawn_at,
    )  # fmt: skip
