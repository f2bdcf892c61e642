"""The KAP course of care: stages, transitions, the dosing gate, deadlines. Pure Python.

A course moves inquiry -> intake -> referred -> medical evaluation -> eligible (or not
eligible, closed) -> consented -> preparation -> active [dosing -> integration]... ->
maintenance / completed / discharged / withdrawn (ARCHITECTURE.md; seeds 000-004).

Services build a `CourseFacts` snapshot from the database, ask `transition_reasons` or
`dosing_reasons`, and refuse with every returned Reason. Nothing here reads a clock: `now` is
passed in, and a date is `now` read in the course's practice zone (`clinical_today`,
decision 0027), never the UTC date of `now`. Thresholds come from `GatePolicy` (practice
configuration, DOMAIN.md section 2).
"""

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from kapflow.clinical.geography import DEFAULT_TIME_ZONE
from kapflow.clinical.overrides import practice_table, stamp
from kapflow.clinical.reasons import Reason


class Stage(StrEnum):
    INQUIRY = "inquiry"
    INTAKE = "intake"
    REFERRED = "referred"
    MEDICAL_EVALUATION = "medical_evaluation"
    ELIGIBLE = "eligible"
    NOT_ELIGIBLE = "not_eligible"
    CONSENTED = "consented"
    PREPARATION = "preparation"
    ACTIVE = "active"
    MAINTENANCE = "maintenance"
    COMPLETED = "completed"
    DISCHARGED = "discharged"
    WITHDRAWN = "withdrawn"


STAGE_LABELS = {
    Stage.INQUIRY: "Inquiry",
    Stage.INTAKE: "Intake assessment",
    Stage.REFERRED: "Referred to prescriber",
    Stage.MEDICAL_EVALUATION: "Medical evaluation",
    Stage.ELIGIBLE: "Eligible",
    Stage.NOT_ELIGIBLE: "Not eligible (closed)",
    Stage.CONSENTED: "Consented",
    Stage.PREPARATION: "Preparation",
    Stage.ACTIVE: "Active: dosing and integration",
    Stage.MAINTENANCE: "Maintenance",
    Stage.COMPLETED: "Completed",
    Stage.DISCHARGED: "Discharged",
    Stage.WITHDRAWN: "Withdrawn",
}

CLOSED_STAGES = frozenset({Stage.NOT_ELIGIBLE, Stage.COMPLETED, Stage.DISCHARGED, Stage.WITHDRAWN})
OPEN_STAGES = frozenset(Stage) - CLOSED_STAGES
DOSING_STAGES = frozenset({Stage.ACTIVE, Stage.MAINTENANCE})


class Pathway(StrEnum):
    """Seed 001: higher-dose sessions, or psycholytic low-dose."""

    HIGHER_DOSE = "higher_dose"
    LOW_DOSE = "low_dose"


class Delivery(StrEnum):
    """Seed 000: in the office, or at home by telehealth with a companion present."""

    IN_PERSON = "in_person"
    AT_HOME = "at_home"


class Side(StrEnum):
    """Whose decision a transition is: the therapist's or the prescriber's."""

    THERAPIST = "therapist"
    PRESCRIBER = "prescriber"


class Action(StrEnum):
    START_INTAKE = "start_intake"
    REFER = "refer"
    BEGIN_EVALUATION = "begin_evaluation"
    DECIDE_ELIGIBLE = "decide_eligible"
    DECIDE_NOT_ELIGIBLE = "decide_not_eligible"
    DECLINE_REFERRAL = "decline_referral"
    RECORD_CONSENT = "record_consent"
    START_PREPARATION = "start_preparation"
    ACTIVATE = "activate"
    ENTER_MAINTENANCE = "enter_maintenance"
    RESUME = "resume"
    COMPLETE = "complete"
    DISCHARGE = "discharge"
    WITHDRAW = "withdraw"


@dataclass(frozen=True)
class Transition:
    action: Action
    label: str
    sources: frozenset[Stage]
    target: Stage
    side: Side
    reason_required: bool = False


TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in [
        Transition(Action.START_INTAKE, "Start intake assessment", frozenset({Stage.INQUIRY}),
                   Stage.INTAKE, Side.THERAPIST),
        Transition(Action.REFER, "Refer to prescriber", frozenset({Stage.INTAKE}),
                   Stage.REFERRED, Side.THERAPIST),
        Transition(Action.BEGIN_EVALUATION, "Begin medical evaluation",
                   frozenset({Stage.REFERRED}), Stage.MEDICAL_EVALUATION, Side.PRESCRIBER),
        Transition(Action.DECIDE_ELIGIBLE, "Decide: eligible",
                   frozenset({Stage.MEDICAL_EVALUATION}), Stage.ELIGIBLE, Side.PRESCRIBER),
        Transition(Action.DECIDE_NOT_ELIGIBLE, "Decide: not eligible",
                   frozenset({Stage.MEDICAL_EVALUATION}), Stage.NOT_ELIGIBLE, Side.PRESCRIBER,
                   reason_required=True),
        Transition(Action.DECLINE_REFERRAL, "Referral declined or withdrawn",
                   frozenset({Stage.REFERRED, Stage.MEDICAL_EVALUATION}), Stage.INTAKE,
                   Side.PRESCRIBER, reason_required=True),
        Transition(Action.RECORD_CONSENT, "Confirm signed consent", frozenset({Stage.ELIGIBLE}),
                   Stage.CONSENTED, Side.THERAPIST),
        Transition(Action.START_PREPARATION, "Start preparation", frozenset({Stage.CONSENTED}),
                   Stage.PREPARATION, Side.THERAPIST),
        Transition(Action.ACTIVATE, "Ready to dose", frozenset({Stage.PREPARATION}),
                   Stage.ACTIVE, Side.THERAPIST),
        Transition(Action.ENTER_MAINTENANCE, "Move to maintenance", frozenset({Stage.ACTIVE}),
                   Stage.MAINTENANCE, Side.THERAPIST),
        Transition(Action.RESUME, "Resume active dosing", frozenset({Stage.MAINTENANCE}),
                   Stage.ACTIVE, Side.THERAPIST),
        Transition(Action.COMPLETE, "Complete the course",
                   frozenset({Stage.ACTIVE, Stage.MAINTENANCE}), Stage.COMPLETED, Side.THERAPIST,
                   reason_required=True),
        Transition(Action.DISCHARGE, "Discharge", OPEN_STAGES, Stage.DISCHARGED, Side.THERAPIST,
                   reason_required=True),
        Transition(Action.WITHDRAW, "Client withdraws", OPEN_STAGES, Stage.WITHDRAWN,
                   Side.THERAPIST, reason_required=True),
    ]
}  # fmt: skip


@dataclass(frozen=True)
class GatePolicy:
    """Practice-configurable thresholds. Defaults: DOMAIN.md section 2 and issue 3."""

    bp_systolic_max: int = 160  # pre-dose hold when systolic >= this (mmHg)
    bp_diastolic_max: int = 100  # pre-dose hold when diastolic >= this (mmHg)
    screen_valid_days: int = 7  # suicide-risk screen must be this recent before dosing
    integration_hours: int = 72  # integration session due within this after a dosing
    checkin_days: int = 7  # a second integration check-in within this after a dosing
    integration_missed_block: int = 2  # missed integration cycles in a row that block dosing
    followup_after_dosings: int = 2  # prescriber follow-up once this many dosings are done
    followup_grace_days: int = 14  # ... due this many days after that dosing
    followup_interval_days: int = 90  # then at least this often while dosing continues
    max_preparation_sessions: int = 3  # seed 001: one to three preparation sessions
    # The practice's stricter owners of gate reasons, (code, authority) pairs (decision 0029).
    override_authority: tuple[tuple[str, str], ...] = ()
    # Minimum time from the last dose to the next dosing (hours). No source in DOMAIN.md or
    # the seeds gives a number, so the default is conservative: a full day, the span every
    # after-dose rule there already uses (no alcohol for 24 h after dosing, seed 001 and
    # DOMAIN.md section 2; no driving until the next day after restful sleep, Spravato PI).
    dose_interval_hours: int = 24


@dataclass(frozen=True)
class CourseFacts:
    """Everything the rules need to know about one course, read at one moment."""

    stage: Stage
    pathway: Pathway = Pathway.HIGHER_DOSE
    delivery: Delivery = Delivery.IN_PERSON
    client_state: str = ""
    client_birth_date: date | None = None
    prescriber_assigned: bool = False
    eligibility: str | None = None  # "eligible" / "not_eligible" / None
    clearance_on: date | None = None
    clearance_valid_days: int | None = None
    prescription_active: bool = False  # a prescription not cancelled (decision 0019)
    doses_authorised: int = 0  # doses dispensed under active prescriptions
    doses_used: int = 0  # doses used from them (sessions and logged daily doses)
    # Informed consent (kapflow.consents): the client's signature of the practice's current
    # KAP consent, not withdrawn; their latest signature withdrawn; or only an earlier
    # version signed. At home, also the current telehealth consent.
    consent_signed: bool = False
    consent_withdrawn: bool = False
    consent_outdated: bool = False
    telehealth_consent_signed: bool = False
    preparation_done: int = 0
    last_screen_at: datetime | None = None
    last_screen_positive: bool | None = None
    companion_confirmed: bool = False
    therapist_licensed: bool = False
    prescriber_licensed: bool = False
    dosing_count: int = 0
    last_dosing_at: datetime | None = None
    previous_dosing_at: datetime | None = None  # the dosing before the last one
    # One dosing at a time (decision 0030): the course's dosing session in progress (started,
    # not discharged or abandoned), and the instant of the last dose given (a session's first
    # dose, a booster, or a quick record).
    open_session_id: int | None = None
    last_dose_at: datetime | None = None
    followup_anchor_at: datetime | None = None  # the dosing that made follow-up due
    last_integration_at: datetime | None = None
    integrations_since_last_dosing: int = 0
    last_followup_at: datetime | None = None
    # The zone of the practice holding the record: clinical dates are read in it (0027).
    clinical_zone: str = DEFAULT_TIME_ZONE

    @property
    def closed(self) -> bool:
        return self.stage in CLOSED_STAGES

    @property
    def doses_left(self) -> int:
        return max(self.doses_authorised - self.doses_used, 0)


@dataclass(frozen=True)
class DoseDay:
    """What is known only on the day: read and attested when a dosing session starts."""

    bp_systolic: int | None = None
    bp_diastolic: int | None = None
    alcohol_free_24h: bool = False
    companion_present: bool = False  # at home: the companion is physically there
    driver_confirmed: bool = False  # in person: someone drives the client home
    # The dosing session this check is for: its own open session does not block it.
    session_id: int | None = None


def clinical_today(facts: CourseFacts, now: datetime) -> date:
    """The clinical date of `now` for this course: in its practice's zone (decision 0027)."""
    return now.astimezone(ZoneInfo(facts.clinical_zone)).date()


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


# ---- transitions --------------------------------------------------------------------------


def _consent_reasons(facts: CourseFacts) -> list[Reason]:
    """Signed informed consent (DOMAIN.md section 4, off-label consent elements) is hard: no
    clinician can dose a client who has not consented, or who took consent back. At-home
    dosing also needs the telehealth consent (companion, vitals, storage, emergency plan)."""
    reasons: list[Reason] = []
    if facts.consent_withdrawn:
        reasons.append(
            Reason(
                "consent.withdrawn",
                "The client has withdrawn consent; dosing stops until they sign again.",
            )
        )
    elif facts.consent_outdated:
        reasons.append(
            Reason(
                "consent.outdated",
                "A new version of the consent was published; the client must sign it again.",
            )
        )
    elif not facts.consent_signed:
        reasons.append(Reason("consent.missing", "No current signed informed consent is on file."))
    if facts.delivery is Delivery.AT_HOME and not facts.telehealth_consent_signed:
        reasons.append(
            Reason(
                "consent.telehealth_missing",
                "At-home dosing needs the client's signature on the current telehealth consent.",
            )
        )
    return reasons


def _eligibility_reasons(facts: CourseFacts) -> list[Reason]:
    if facts.eligibility == "not_eligible":
        return [Reason("eligibility.not_eligible", "The prescriber decided: not eligible.")]
    if facts.eligibility != "eligible":
        return [Reason("eligibility.missing", "No eligibility decision from the prescriber.")]
    return []


# The stages a prescription may be written in: after a signed eligible decision, while the
# course is open (kapflow.prescriptions).
PRESCRIBING_STAGES = frozenset(
    {Stage.ELIGIBLE, Stage.CONSENTED, Stage.PREPARATION, Stage.ACTIVE, Stage.MAINTENANCE}
)


def prescribing_reasons(facts: CourseFacts) -> list[Reason]:
    """Why the course's prescriber may not write a prescription now (both hard): no signed
    eligible decision on an open course, or no current licence in the client's state."""
    reasons = []
    if facts.stage not in PRESCRIBING_STAGES or facts.eligibility != "eligible":
        reasons.append(
            Reason("eligibility.missing", "Prescribe only after a signed eligible decision.")
        )
    if not facts.prescriber_licensed:
        reasons.append(
            Reason(
                "licence.state_mismatch",
                "You hold no current licence in the state where the client is.",
            )
        )
    return reasons


def transition_reasons(
    action: Action, facts: CourseFacts, *, now: datetime, policy: GatePolicy | None = None
) -> list[Reason]:
    """Every reason `action` may not happen now. Empty means allowed. None are overridable:
    stage moves need their facts; only the dosing gate has soft reasons."""
    policy = policy or GatePolicy()
    transition = TRANSITIONS[action]
    if facts.stage not in transition.sources:
        return [
            Reason(
                "stage.not_allowed",
                f"“{transition.label}” is not possible while the course is at "
                f"“{STAGE_LABELS[facts.stage]}”.",
            )
        ]
    reasons: list[Reason] = []
    if action is Action.REFER and not facts.prescriber_assigned:
        reasons.append(
            Reason("referral.no_prescriber", "Choose the prescriber the client is referred to.")
        )
    if action is Action.DECIDE_ELIGIBLE:
        if (
            facts.client_birth_date
            and age_on(facts.client_birth_date, clinical_today(facts, now)) < 18
        ):
            reasons.append(Reason("eligibility.age_under_18", "The client is under 18."))
        if facts.clearance_on is None or not facts.clearance_valid_days:
            reasons.append(
                Reason(
                    "clearance.missing",
                    "Record the medical clearance date and how many days it stays valid.",
                )
            )
    if action is Action.RECORD_CONSENT:
        reasons += _eligibility_reasons(facts)
        reasons += _consent_reasons(facts)
    if action is Action.ACTIVATE:
        reasons += _eligibility_reasons(facts)
        reasons += _consent_reasons(facts)
        if facts.preparation_done < 1:
            reasons.append(Reason("preparation.none", "No preparation session has been completed."))
        if not facts.prescription_active:
            reasons.append(Reason("prescription.missing", "No active prescription."))
    if action is Action.COMPLETE and facts.dosing_count < 1:
        reasons.append(Reason("dosing.none", "No dosing session has taken place."))
    return reasons


# ---- the dosing gate ----------------------------------------------------------------------


def clearance_expires_on(facts: CourseFacts) -> date | None:
    if facts.clearance_on is None or not facts.clearance_valid_days:
        return None
    return facts.clearance_on + timedelta(days=facts.clearance_valid_days)


def dosing_reasons(
    facts: CourseFacts,
    *,
    now: datetime,
    policy: GatePolicy | None = None,
    day: DoseDay | None = None,
) -> list[Reason]:
    """Every reason a dosing session may not start. Without `day`, only what can be known in
    advance (for the dashboard and for scheduling); with it, the day's vitals and
    attestations too. Each reason's `overridable` comes from the override table
    (kapflow.clinical.overrides, with the practice's stricter settings): who may override it,
    and how, is that module's answer (decision 0029)."""
    policy = policy or GatePolicy()
    reasons: list[Reason] = []
    if facts.stage not in DOSING_STAGES:
        reasons.append(
            Reason(
                "stage.not_active",
                f"The course is at “{STAGE_LABELS[facts.stage]}”, not ready to dose.",
            )
        )
    reasons += one_at_a_time_reasons(facts, now=now, policy=policy, day=day)
    reasons += _eligibility_reasons(facts)
    expires = clearance_expires_on(facts)
    if facts.eligibility == "eligible" and (
        expires is None or expires < clinical_today(facts, now)
    ):
        reasons.append(
            Reason(
                "clearance.expired",
                "The medical clearance has expired; the prescriber must renew it.",
            )
        )
    if not facts.prescription_active:
        reasons.append(Reason("prescription.missing", "No active prescription."))
    elif facts.doses_left < 1:
        reasons.append(
            Reason(
                "prescription.no_doses_left",
                f"No doses left: {facts.doses_authorised} dispensed, {facts.doses_used} used.",
            )
        )
    reasons += _consent_reasons(facts)
    if facts.preparation_done < 1:
        reasons.append(
            Reason(
                "preparation.none",
                "No preparation session has been completed.",
            )
        )
    if facts.last_screen_at is None or facts.last_screen_at < now - timedelta(
        days=policy.screen_valid_days
    ):
        reasons.append(
            Reason(
                "screen.missing",
                f"No suicide-risk screen in the last {policy.screen_valid_days} days.",
            )
        )
    elif facts.last_screen_positive:
        reasons.append(
            Reason(
                "screen.suicide_risk_positive",
                "The latest suicide-risk screen is positive: a clinician must assess risk "
                "and record a decision.",
            )
        )
    if facts.delivery is Delivery.AT_HOME and not facts.companion_confirmed:
        reasons.append(
            Reason(
                "companion.unconfirmed",
                "At-home dosing needs a companion who has confirmed they will be present.",
            )
        )
    if not facts.therapist_licensed:
        reasons.append(
            Reason(
                "licence.state_mismatch",
                "The therapist holds no current licence in the state where the client is.",
            )
        )
    if not facts.prescriber_assigned:
        reasons.append(Reason("referral.no_prescriber", "No prescriber is assigned to the course."))
    elif not facts.prescriber_licensed:
        reasons.append(
            Reason(
                "licence.state_mismatch",
                "The prescriber holds no current licence in the state where the client is.",
            )
        )
    missed = integration_missed_cycles(facts, now=now, policy=policy)
    if missed >= policy.integration_missed_block:
        reasons.append(
            Reason(
                "integration.overdue",
                f"No integration session followed the last {missed} dosing sessions; "
                "record an integration session before the next dosing.",
            )
        )
    if followup_overdue(facts, now=now, policy=policy):
        reasons.append(
            Reason(
                "followup.overdue",
                "The medical follow-up with the prescriber is overdue; only the prescriber's "
                "follow-up clears it.",
            )
        )
    if day is not None:
        reasons += _dose_day_reasons(facts, day, policy)
    # Who may override each reason is the override table's answer, not the rule's.
    return stamp(reasons, practice_table(policy.override_authority))


def next_dose_from(facts: CourseFacts, policy: GatePolicy) -> datetime | None:
    """The earliest instant the next dosing may happen: `dose_interval_hours` after the last
    dose given (decision 0030). None when no dose has been given."""
    if facts.last_dose_at is None:
        return None
    return facts.last_dose_at + timedelta(hours=policy.dose_interval_hours)


def _local(at: datetime, facts: CourseFacts) -> str:
    """An instant as the practice reads it, naming its zone (decisions 0022, 0027)."""
    return at.astimezone(ZoneInfo(facts.clinical_zone)).strftime("%Y-%m-%d %H:%M %Z")


def one_at_a_time_reasons(
    facts: CourseFacts, *, now: datetime, policy: GatePolicy, day: DoseDay | None = None
) -> list[Reason]:
    """Hard: no new dosing while the course's dosing session is in progress (a second
    session, or a quick record, would use a second dose on the same client at the same
    time), nor within `dose_interval_hours` of the last dose given (decision 0030). A check
    made for the open session itself (`day.session_id`) is not blocked by that session."""
    reasons: list[Reason] = []
    if facts.open_session_id is not None and (
        day is None or day.session_id != facts.open_session_id
    ):
        reasons.append(
            Reason(
                "dosing.session_open",
                "A dosing session is in progress for this client: discharge them or end it as "
                "abandoned before another dosing.",
            )
        )
    next_at = next_dose_from(facts, policy)
    if next_at is not None and now < next_at:
        reasons.append(
            Reason(
                "dosing.too_soon",
                f"The last dose was given at {_local(facts.last_dose_at, facts)}; the practice "
                f"allows a dosing at least {policy.dose_interval_hours} hours after the last "
                f"dose, so the next may be given from {_local(next_at, facts)}.",
            )
        )
    return reasons


def _dose_day_reasons(facts: CourseFacts, day: DoseDay, policy: GatePolicy) -> list[Reason]:
    reasons: list[Reason] = []
    if day.bp_systolic is None or day.bp_diastolic is None:
        reasons.append(Reason("vitals.bp_missing", "Record the pre-dose blood pressure."))
    elif day.bp_systolic >= policy.bp_systolic_max or day.bp_diastolic >= policy.bp_diastolic_max:
        reasons.append(
            Reason(
                "vitals.bp_high",
                f"Pre-dose blood pressure {day.bp_systolic}/{day.bp_diastolic} is at or above "
                f"the practice's limit of {policy.bp_systolic_max}/{policy.bp_diastolic_max}.",
            )
        )
    if not day.alcohol_free_24h:
        reasons.append(
            Reason(
                "alcohol.not_attested",
                "The client has not confirmed no alcohol in the last 24 hours.",
            )
        )
    if facts.delivery is Delivery.AT_HOME and not day.companion_present:
        reasons.append(
            Reason(
                "companion.absent",
                "The companion is not confirmed present for this at-home session.",
            )
        )
    if facts.delivery is Delivery.IN_PERSON and not day.driver_confirmed:
        reasons.append(
            Reason(
                "driver.unconfirmed",
                "No one is confirmed to drive the client home.",
            )
        )
    return reasons


def split_hard(reasons: list[Reason]) -> tuple[list[Reason], list[Reason]]:
    """(hard, soft): hard reasons can never be overridden; soft ones only by their owner."""
    return [r for r in reasons if not r.overridable], [r for r in reasons if r.overridable]


# ---- deadlines ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    code: str
    label: str
    due_at: datetime | None  # None: due before the next dosing, with no fixed date
    overdue: bool = False


def integration_due_at(facts: CourseFacts, policy: GatePolicy) -> datetime | None:
    """Integration within `integration_hours` of the latest dosing, unless one has happened
    since (seeds 000, 002; DOMAIN.md timing)."""
    if facts.last_dosing_at is None:
        return None
    if facts.last_integration_at is not None and facts.last_integration_at >= facts.last_dosing_at:
        return None
    return facts.last_dosing_at + timedelta(hours=policy.integration_hours)


def integration_missed_cycles(facts: CourseFacts, *, now: datetime, policy: GatePolicy) -> int:
    """How many dosing cycles in a row, counting back from the latest, passed their
    integration window with no integration session (0, 1 or 2; issue 6).

    The latest cycle is missed when no integration followed the latest dosing and its
    `integration_hours` have passed. The one before is missed too when no integration at all
    has been recorded since the previous dosing."""
    if facts.last_dosing_at is None:
        return 0
    last_integration = facts.last_integration_at
    if last_integration is not None and last_integration >= facts.last_dosing_at:
        return 0
    if now <= facts.last_dosing_at + timedelta(hours=policy.integration_hours):
        return 0
    if facts.previous_dosing_at is not None and (
        last_integration is None or last_integration < facts.previous_dosing_at
    ):
        return 2
    return 1


def checkin_due_at(facts: CourseFacts, policy: GatePolicy) -> datetime | None:
    """The week-after integration check-in: a second integration contact within
    `checkin_days` of the latest dosing (seed 002: integration continues the week after)."""
    if facts.last_dosing_at is None or facts.integrations_since_last_dosing >= 2:
        return None
    return facts.last_dosing_at + timedelta(days=policy.checkin_days)


def followup_due_at(facts: CourseFacts, policy: GatePolicy) -> datetime | None:
    """The prescriber follow-up: `followup_grace_days` after the second dosing, then every
    `followup_interval_days` after the last follow-up while dosing continues."""
    if facts.dosing_count < policy.followup_after_dosings or facts.followup_anchor_at is None:
        return None
    if facts.last_followup_at is None or facts.last_followup_at < facts.followup_anchor_at:
        return facts.followup_anchor_at + timedelta(days=policy.followup_grace_days)
    return facts.last_followup_at + timedelta(days=policy.followup_interval_days)


def followup_overdue(facts: CourseFacts, *, now: datetime, policy: GatePolicy) -> bool:
    due = followup_due_at(facts, policy)
    return due is not None and due < now and facts.stage in DOSING_STAGES


def deadlines(
    facts: CourseFacts, *, now: datetime, policy: GatePolicy | None = None
) -> list[Deadline]:
    """What is due or overdue for this course now, soonest first."""
    policy = policy or GatePolicy()
    if facts.closed:
        return []
    items: list[Deadline] = []
    integration = integration_due_at(facts, policy)
    if integration is not None:
        items.append(
            Deadline("integration.due", "Integration session", integration, integration < now)
        )
    checkin = checkin_due_at(facts, policy)
    if checkin is not None:
        items.append(
            Deadline("integration.checkin", "Integration check-in", checkin, checkin < now)
        )
    if facts.stage in DOSING_STAGES:
        followup = followup_due_at(facts, policy)
        if followup is not None:
            items.append(Deadline("followup.due", "Medical follow-up", followup, followup < now))
        screen_until = (
            facts.last_screen_at + timedelta(days=policy.screen_valid_days)
            if facts.last_screen_at
            else None
        )
        if screen_until is None or screen_until < now:
            items.append(Deadline("screen.due", "Suicide-risk re-screen before dosing", None))
        expires = clearance_expires_on(facts)
        if expires is not None:
            at = datetime.combine(expires, datetime.min.time(), tzinfo=now.tzinfo)
            if at - now < timedelta(days=14):
                items.append(
                    Deadline("clearance.renewal", "Medical clearance renewal", at, at < now)
                )
    if facts.stage in {Stage.CONSENTED, Stage.PREPARATION} and facts.preparation_done < 1:
        items.append(Deadline("preparation.due", "Preparation before the first dosing", None))
    return sorted(items, key=lambda d: (d.due_at is None, d.due_at or now))


# ---- what to do next ----------------------------------------------------------------------

NEXT_STEP = {
    Stage.INQUIRY: "Start the intake assessment.",
    Stage.INTAKE: "Complete the assessment and refer to a prescriber.",
    Stage.REFERRED: "Waiting for the prescriber to begin the medical evaluation.",
    Stage.MEDICAL_EVALUATION: "Waiting for the prescriber's eligibility decision.",
    Stage.ELIGIBLE: "The client signs the informed consent in the portal; then confirm it.",
    Stage.CONSENTED: "Start preparation sessions.",
    Stage.PREPARATION: "Complete preparation, then mark the client ready to dose.",
    Stage.ACTIVE: "Dosing and integration sessions.",
    Stage.MAINTENANCE: "Maintenance: occasional dosing and follow-up.",
}


def next_step(facts: CourseFacts, *, now: datetime, policy: GatePolicy | None = None) -> str:
    if facts.closed:
        return "Closed."
    overdue = [d for d in deadlines(facts, now=now, policy=policy) if d.overdue]
    if overdue:
        return f"{overdue[0].label} is overdue."
    if facts.stage is Stage.PREPARATION and facts.preparation_done >= 1:
        return "Preparation done: mark the client ready to dose."
    return NEXT_STEP[facts.stage]


def blockers(
    facts: CourseFacts, *, now: datetime, policy: GatePolicy | None = None
) -> list[Reason]:
    """What stops the course's next step, for the dashboard: the dosing gate (advance part)
    once dosing is near, otherwise the next forward transition's reasons."""
    if facts.closed:
        return []
    if facts.stage in DOSING_STAGES:
        return dosing_reasons(facts, now=now, policy=policy)
    forward = FORWARD.get(facts.stage)
    if forward is None:
        return []
    return transition_reasons(forward, facts, now=now, policy=policy)


FORWARD = {
    Stage.INQUIRY: Action.START_INTAKE,
    Stage.INTAKE: Action.REFER,
    Stage.REFERRED: Action.BEGIN_EVALUATION,
    Stage.MEDICAL_EVALUATION: Action.DECIDE_ELIGIBLE,
    Stage.ELIGIBLE: Action.RECORD_CONSENT,
    Stage.CONSENTED: Action.START_PREPARATION,
    Stage.PREPARATION: Action.ACTIVATE,
}


def allowed_actions(facts: CourseFacts) -> list[Action]:
    """Transitions whose source stage matches; their other reasons may still refuse."""
    return [a for a, t in TRANSITIONS.items() if facts.stage in t.sources]


def apply(facts: CourseFacts, action: Action) -> CourseFacts:
    """The facts after an allowed transition: the new stage and the decision it records
    (the service writes the same changes to the course row)."""
    changes: dict = {"stage": TRANSITIONS[action].target}
    if action is Action.DECIDE_ELIGIBLE:
        changes["eligibility"] = "eligible"
    if action is Action.DECIDE_NOT_ELIGIBLE:
        changes["eligibility"] = "not_eligible"
    if action is Action.DECLINE_REFERRAL:
        changes["prescriber_assigned"] = False
    # RECORD_CONSENT changes no consent fact: the client's signature is the fact, and the
    # transition only confirms it.
    return replace(facts, **changes)


__all__ = [
    "CLOSED_STAGES",
    "TRANSITIONS",
    "Action",
    "CourseFacts",
    "Deadline",
    "Delivery",
    "DoseDay",
    "GatePolicy",
    "Pathway",
    "Reason",
    "Side",
    "Stage",
    "allowed_actions",
    "apply",
    "blockers",
    "deadlines",
    "dosing_reasons",
    "integration_missed_cycles",
    "next_dose_from",
    "next_step",
    "one_at_a_time_reasons",
    "prescribing_reasons",
    "transition_reasons",
]
