"""The dosing session: in-session vitals thresholds, the recheck schedule, discharge criteria
and the billing split of the session's length. Pure Python: no Django, no clock (`now` is
passed in).

Sources (DOMAIN.md section 2; every threshold is practice configuration, `SessionPolicy`):
- In-session blood pressure: IV protocols often pause at >180/100 and heart rate >110
  (verify). We flag at systolic >= 180 or diastolic >= 100 mmHg, and heart rate > 110 bpm.
- Heart rate < 50 bpm and SpO2 < 92 % are practice defaults to verify with the prescriber;
  the Spravato label asks for pulse oximetry during observation but names no number.
- Rechecks: Spravato checks BP about 40 minutes after the dose and until stable; we remind at
  dose + 40 and + 120 minutes. At home the companion checks visually every 15 minutes
  (Journey Clinical model).
- Discharge: Spravato observes at least 2 hours on site; the client leaves with a driver (no
  driving until the next day) or, at home, with the companion present.
- The pre-dose hold is the course gate's (kapflow.clinical.course.GatePolicy), not this one.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kapflow.clinical.reasons import Reason


@dataclass(frozen=True)
class SessionPolicy:
    """Practice-configurable in-session thresholds (units in the names). Defaults: DOMAIN.md
    section 2, all marked "verify" there."""

    bp_systolic_flag: int = 180  # flag when systolic >= this (mmHg); IV pause >180 (verify)
    bp_diastolic_flag: int = 100  # flag when diastolic >= this (mmHg); IV pause >100 (verify)
    heart_rate_high: int = 110  # flag when heart rate > this (bpm); IV pause HR >110 (verify)
    heart_rate_low: int = 50  # flag when heart rate < this (bpm); practice default (verify)
    spo2_low: int = 92  # flag when SpO2 < this (%); practice default (verify)
    recheck_minutes: tuple[int, ...] = (40, 120)  # vitals due this long after the dose
    recheck_early_minutes: int = 5  # a reading this early still counts for a recheck
    companion_check_minutes: int = 15  # at home: the companion's visual check interval
    observation_minutes_in_person: int = 120  # Spravato: observe >= 2 h on site
    observation_minutes_at_home: int = 120  # practice default (verify)
    start_valid_minutes: int = 240  # the first dose must follow the start within this


@dataclass(frozen=True)
class Reading:
    """One set of vitals; any value may be missing."""

    bp_systolic: int | None = None  # mmHg
    bp_diastolic: int | None = None  # mmHg
    heart_rate: int | None = None  # beats per minute
    spo2: int | None = None  # percent


@dataclass(frozen=True)
class Flag:
    """A reading outside the thresholds: a stable `code`, the words shown, and the rule that
    fired (with its configured number), so the screen can say why."""

    code: str
    message: str
    rule: str


def vitals_flags(reading: Reading, policy: SessionPolicy | None = None) -> list[Flag]:
    """Every threshold the reading crosses (DOMAIN.md section 2). Empty: within range."""
    p = policy or SessionPolicy()
    flags: list[Flag] = []
    if reading.bp_systolic is not None and reading.bp_systolic >= p.bp_systolic_flag:
        flags.append(
            Flag(
                "vitals.systolic_high",
                f"Systolic {reading.bp_systolic} mmHg is high.",
                f"systolic >= {p.bp_systolic_flag} mmHg",
            )
        )
    if reading.bp_diastolic is not None and reading.bp_diastolic >= p.bp_diastolic_flag:
        flags.append(
            Flag(
                "vitals.diastolic_high",
                f"Diastolic {reading.bp_diastolic} mmHg is high.",
                f"diastolic >= {p.bp_diastolic_flag} mmHg",
            )
        )
    if reading.heart_rate is not None and reading.heart_rate > p.heart_rate_high:
        flags.append(
            Flag(
                "vitals.heart_rate_high",
                f"Heart rate {reading.heart_rate} bpm is high.",
                f"heart rate > {p.heart_rate_high} bpm",
            )
        )
    if reading.heart_rate is not None and reading.heart_rate < p.heart_rate_low:
        flags.append(
            Flag(
                "vitals.heart_rate_low",
                f"Heart rate {reading.heart_rate} bpm is low.",
                f"heart rate < {p.heart_rate_low} bpm",
            )
        )
    if reading.spo2 is not None and reading.spo2 < p.spo2_low:
        flags.append(
            Flag(
                "vitals.spo2_low",
                f"SpO2 {reading.spo2} % is low.",
                f"SpO2 < {p.spo2_low} %",
            )
        )
    return flags


# Each vitals parameter, in plain words, and the flags that belong to it: a parameter flagged
# in session is resolved only by a later in-range reading of that same parameter.
PARAMETERS = {"bp": "blood pressure", "heart_rate": "heart rate", "spo2": "SpO2"}
FLAG_PARAMETER = {
    "vitals.systolic_high": "bp",
    "vitals.diastolic_high": "bp",
    "vitals.heart_rate_high": "heart_rate",
    "vitals.heart_rate_low": "heart_rate",
    "vitals.spo2_low": "spo2",
}


def measured_parameters(reading: Reading) -> frozenset[str]:
    """The parameters a reading holds a value for."""
    measured = set()
    if reading.bp_systolic is not None or reading.bp_diastolic is not None:
        measured.add("bp")
    if reading.heart_rate is not None:
        measured.add("heart_rate")
    if reading.spo2 is not None:
        measured.add("spo2")
    return frozenset(measured)


def flagged_parameters(flag_codes) -> frozenset[str]:
    """The parameters the flag codes belong to."""
    return frozenset(FLAG_PARAMETER[c] for c in flag_codes if c in FLAG_PARAMETER)


@dataclass(frozen=True)
class TimedReading:
    """A vitals reading for discharge: when, which parameters it measured, and which of
    them were outside the thresholds."""

    taken_at: datetime
    measured: frozenset[str]
    flagged: frozenset[str] = frozenset()

    @classmethod
    def of(cls, taken_at: datetime, reading: Reading, policy: "SessionPolicy | None" = None):
        flags = vitals_flags(reading, policy)
        flagged = flagged_parameters(f.code for f in flags)
        return cls(taken_at, measured_parameters(reading), flagged)


def _timed(reading) -> TimedReading:
    """A (taken_at, flagged) pair counts as a full reading of every parameter."""
    if isinstance(reading, TimedReading):
        return reading
    taken_at, flagged = reading
    everything = frozenset(PARAMETERS)
    return TimedReading(taken_at, everything, everything if flagged else frozenset())


def unresolved_parameters(readings) -> list[str]:
    """The parameters flagged in a reading and not measured within range since (a reading at
    the same moment as the flag does not resolve it), in PARAMETERS order."""
    timed = [_timed(r) for r in readings]
    unresolved = []
    for name in PARAMETERS:
        flagged_at = max((r.taken_at for r in timed if name in r.flagged), default=None)
        if flagged_at is None:
            continue
        if not any(
            r.taken_at > flagged_at and name in r.measured and name not in r.flagged for r in timed
        ):
            unresolved.append(name)
    return unresolved


def _words(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ---- the recheck schedule -----------------------------------------------------------------


@dataclass(frozen=True)
class Recheck:
    minutes_after_dose: int
    due_at: datetime
    done_at: datetime | None  # the first reading that counts for it
    overdue: bool


@dataclass(frozen=True)
class VitalsSchedule:
    rechecks: list[Recheck] = field(default_factory=list)
    companion_check_due_at: datetime | None = None  # at home only
    companion_check_overdue: bool = False

    @property
    def next_due(self) -> Recheck | None:
        """The earliest recheck not yet done."""
        return next((r for r in self.rechecks if r.done_at is None), None)

    @property
    def overdue(self) -> bool:
        return any(r.overdue for r in self.rechecks) or self.companion_check_overdue


def vitals_due(
    dose_at: datetime | None,
    readings_at: list[datetime],
    now: datetime,
    policy: SessionPolicy | None = None,
    *,
    at_home: bool = False,
    companion_checks_at: list[datetime] | None = None,
) -> VitalsSchedule:
    """When vitals are due after the dose (`policy.recheck_minutes`) and whether each recheck
    is done: a reading taken no more than `recheck_early_minutes` before the due time counts
    (a late reading still counts, late). At home, the companion's next visual check is due
    `companion_check_minutes` after their last one (or after the dose). Before the dose
    nothing is due: the pre-dose vitals belong to the start of the session."""
    p = policy or SessionPolicy()
    if dose_at is None:
        return VitalsSchedule()
    early = timedelta(minutes=p.recheck_early_minutes)
    ordered = sorted(t for t in readings_at if t >= dose_at)
    rechecks = []
    for minutes in sorted(set(p.recheck_minutes)):
        due_at = dose_at + timedelta(minutes=minutes)
        done_at = next((t for t in ordered if t >= due_at - early), None)
        rechecks.append(Recheck(minutes, due_at, done_at, done_at is None and now > due_at))
    companion_due = None
    companion_overdue = False
    if at_home:
        checks = [t for t in (companion_checks_at or []) if t >= dose_at]
        last = max(checks, default=dose_at)
        companion_due = last + timedelta(minutes=p.companion_check_minutes)
        companion_overdue = now > companion_due
    return VitalsSchedule(rechecks, companion_due, companion_overdue)


# ---- discharge ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DischargeFacts:
    """What the discharge decision reads: the clinician's observations and the session's
    vitals after the dose, as TimedReading (which parameters were measured and flagged) or
    (taken_at, flagged) pairs for a full reading."""

    at_home: bool
    dose_at: datetime | None
    alert_oriented: bool = False
    walks_steadily: bool = False
    escort_present: bool = False  # at home: the companion; in person: the driver
    readings: list["TimedReading | tuple[datetime, bool]"] = field(default_factory=list)


def discharge_reasons(
    facts: DischargeFacts, *, now: datetime, policy: SessionPolicy | None = None
) -> list[Reason]:
    """Every discharge criterion not met (issue 6; DOMAIN.md section 2). None is overridable:
    the client cannot be marked discharged until each one is recorded."""
    p = policy or SessionPolicy()
    reasons: list[Reason] = []
    if facts.dose_at is None:
        reasons.append(
            Reason(
                "discharge.no_dose",
                "No dose was given in this session; end it as abandoned instead.",
            )
        )
    if not facts.alert_oriented:
        reasons.append(
            Reason("discharge.not_alert", "Record that the client is alert and oriented.")
        )
    if not facts.walks_steadily:
        reasons.append(Reason("discharge.not_walking", "Record that the client can walk steadily."))
    if not facts.escort_present:
        if facts.at_home:
            reasons.append(
                Reason("discharge.no_companion", "Record that the companion is present.")
            )
        else:
            reasons.append(
                Reason(
                    "discharge.no_driver", "Record that a driver is here to take the client home."
                )
            )
    after = [
        r
        for r in map(_timed, facts.readings)
        if facts.dose_at is None or r.taken_at >= facts.dose_at
    ]
    if not after:
        reasons.append(
            Reason("discharge.vitals_missing", "Record vitals after the dose before discharge.")
        )
    else:
        unresolved = [PARAMETERS[name] for name in unresolved_parameters(after)]
        if unresolved:
            words = _words(unresolved)
            reasons.append(
                Reason(
                    "discharge.vitals_flagged",
                    f"{words[0].upper()}{words[1:]} {'was' if len(unresolved) == 1 else 'were'} "
                    "outside the thresholds and not rechecked within range since; recheck "
                    f"{'it' if len(unresolved) == 1 else 'each'} until back within range.",
                )
            )
    if facts.dose_at is not None:
        minutes = (
            p.observation_minutes_at_home if facts.at_home else p.observation_minutes_in_person
        )
        until = facts.dose_at + timedelta(minutes=minutes)
        if now < until:
            left = int((until - now).total_seconds() // 60) + 1
            reasons.append(
                Reason(
                    "discharge.observation_short",
                    f"Observe at least {minutes} minutes after the dose ({left} min to go).",
                )
            )
    return reasons


# ---- billing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BillingSplit:
    minutes: int
    first_hour_minutes: int  # billed with the psychotherapy code (e.g. 90837)
    additional_minutes: int  # the rest: self-pay or 0820T-style per-hour (DOMAIN.md section 3)
    additional_hour_units: int  # whole units of the rest by the CPT midpoint rule (verify)


def session_minutes(started_at: datetime, ended_at: datetime) -> int:
    """Whole minutes from the start of the session to its end (never negative)."""
    return max(int((ended_at - started_at).total_seconds() // 60), 0)


def present_minutes(intervals, start: datetime, end: datetime) -> int:
    """Whole minutes of [start, end] covered by at least one (joined, left) interval, an
    overlap counted once: the clinician's time in a session room, for the billing split."""
    clipped = sorted(
        (max(joined, start), min(left, end))
        for joined, left in intervals
        if min(left, end) > max(joined, start)
    )
    total = timedelta(0)
    run_start = run_end = None
    for joined, left in clipped:
        if run_end is None or joined > run_end:
            if run_end is not None:
                total += run_end - run_start
            run_start, run_end = joined, left
        else:
            run_end = max(run_end, left)
    if run_end is not None:
        total += run_end - run_start
    return int(total.total_seconds() // 60)


def billing_split(minutes: int) -> BillingSplit:
    """Split a session's length into the first hour and the rest. A time-based unit counts
    once its midpoint is passed (CPT time rule: 31 minutes of an hour), so 90 minutes beyond
    the first hour are 2 units and 30 minutes are none (verify with the payer contract)."""
    minutes = max(minutes, 0)
    first = min(minutes, 60)
    rest = minutes - first
    units = rest // 60 + (1 if rest % 60 > 30 else 0)
    return BillingSplit(minutes, first, rest, units)


__all__ = [
    "PARAMETERS",
    "BillingSplit",
    "DischargeFacts",
    "Flag",
    "Reading",
    "Recheck",
    "SessionPolicy",
    "TimedReading",
    "VitalsSchedule",
    "billing_split",
    "discharge_reasons",
    "flagged_parameters",
    "measured_parameters",
    "present_minutes",
    "session_minutes",
    "unresolved_parameters",
    "vitals_due",
    "vitals_flags",
]
