"""The public front door's rules: distance between ZIP centroids, open consultation slots,
and the 2-minute pre-screen. Pure Python, no Django import, no clock: `today` and `now` are
passed in.

The pre-screen is not a second eligibility rule: it turns a person's plain answers into an
`eligibility.EvaluationInput` and asks `eligibility.eligibility_screen` (the prescriber's
evaluation screen), then words the findings for the public. Findings about what a
questionnaire cannot know (blood pressure at evaluation, weight, the referral's diagnoses)
are dropped, never invented. Slots come from `scheduling.availability_reasons` and
`scheduling.overlaps`, the same functions that warn a staff booker.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from kapflow.clinical import eligibility
from kapflow.clinical import scheduling as sched

# ---- distance --------------------------------------------------------------------------------

EARTH_RADIUS_MILES = 3958.8
MILES_PER_DEGREE_LATITUDE = 69.09  # 2 * pi * 3958.8 / 360


def distance_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in statute miles (haversine, mean Earth radius 3,958.8 mi)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Box:
    """A latitude/longitude box that holds every point within `miles` of a centre: the
    database narrows by it (an index range), then the exact distance decides."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float


def bounding_box(lat: float, lon: float, miles: float) -> Box:
    """The box around (lat, lon) that contains the circle of radius `miles`. The longitude
    span widens with latitude (a degree of longitude is cos(lat) * 69.09 miles)."""
    dlat = miles / MILES_PER_DEGREE_LATITUDE
    cos_lat = max(math.cos(math.radians(lat)), 0.01)
    dlon = miles / (MILES_PER_DEGREE_LATITUDE * cos_lat)
    return Box(lat - dlat, lat + dlat, lon - dlon, lon + dlon)


RADIUS_CHOICES = (10, 25, 50, 100)
DEFAULT_RADIUS = 25
MAX_RADIUS = 250


# ---- consultation slots ----------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime


def open_slots(
    *,
    hours: Iterable[sched.WeeklyHours],
    exceptions: Iterable[sched.Exception_],
    busy: Iterable[tuple[datetime, datetime]],
    now: datetime,
    minutes: int = 30,
    notice: timedelta = timedelta(hours=24),
    days: int = 14,
    limit: int = 6,
) -> list[Slot]:
    """The first `limit` free slots of `minutes` in the next `days`, starting at least
    `notice` from `now`, on the half hour. A slot is free when availability_reasons has
    nothing to say about it (inside weekly or extra hours, no time off: the same check that
    warns a staff booker) and it overlaps nothing in `busy`. A clinician with no weekly hours
    offers no public slot (availability_reasons would not warn, but nothing is known)."""
    hours, exceptions = list(hours), list(exceptions)
    if not hours and not any(e.available for e in exceptions):
        return []
    busy = sorted(busy)
    length = timedelta(minutes=minutes)
    start = now + notice
    # The next half hour at or after the notice.
    start = start.replace(second=0, microsecond=0)
    if start.minute % 30:
        start += timedelta(minutes=30 - start.minute % 30)
    end = now + timedelta(days=days)
    windows = sched._windows(hours, start, end) + [
        (e.starts_at, e.ends_at) for e in exceptions if e.available
    ]
    found: list[Slot] = []
    for w_start, w_end in sorted(windows):
        cursor = max(w_start, start)
        if cursor.minute % 30 or cursor.second:
            cursor = cursor.replace(second=0, microsecond=0)
            cursor += timedelta(minutes=(30 - cursor.minute % 30) % 30)
        while cursor + length <= min(w_end, end):
            slot_end = cursor + length
            free = not sched.availability_reasons(
                cursor, slot_end, who="", hours=hours, exceptions=exceptions, zone_name="UTC"
            ) and not any(sched.overlaps(cursor, slot_end, b0, b1) for b0, b1 in busy)
            if free and (not found or found[-1].starts_at != cursor):
                found.append(Slot(cursor, slot_end))
                if len(found) >= limit:
                    return found
            cursor += timedelta(minutes=30)
    return sorted(set(found), key=lambda s: s.starts_at)[:limit]


def joint_slots(first: Iterable[Slot], second: Iterable[Slot], limit: int = 6) -> list[Slot]:
    """Slots both clinicians have free (a joint intake with therapist and prescriber)."""
    theirs = {(s.starts_at, s.ends_at) for s in second}
    return [s for s in first if (s.starts_at, s.ends_at) in theirs][:limit]


# ---- the pre-screen --------------------------------------------------------------------------


class Fit(StrEnum):
    LIKELY = "likely"  # nothing in the answers stands in the way
    DISCUSS = "discuss"  # talk to a clinician about the topics listed
    NOT_A_FIT = "not_a_fit"  # KAP is not a fit here; alternatives are listed
    CRISIS = "crisis"  # thoughts of self-harm: crisis resources at once, nothing else


# Plain categories a person can answer without knowing drug names; each maps to a catalogue
# medicine of that class, so the evaluation screen's class rules apply unchanged.
MEDICINE_CATEGORIES: dict[str, tuple[str, str]] = {
    "antidepressant": ("An antidepressant (SSRI, SNRI, bupropion...)", "sertraline"),
    "maoi": ("An MAOI antidepressant (phenelzine, tranylcypromine...)", "phenelzine"),
    "benzodiazepine": ("A benzodiazepine (lorazepam, alprazolam, clonazepam...)", "lorazepam"),
    "stimulant": ("A stimulant for ADHD (Adderall, Ritalin...)", "methylphenidate"),
    "opioid": ("An opioid pain medicine", "oxycodone"),
    "lamotrigine": ("Lamotrigine (Lamictal)", "lamotrigine"),
    "lithium": ("Lithium or another mood stabiliser", "lithium"),
    "antipsychotic": ("An antipsychotic (quetiapine, aripiprazole...)", "quetiapine"),
    "blood_pressure": ("A blood-pressure medicine", "lisinopril"),
    "naltrexone": ("Naltrexone or buprenorphine", "naltrexone"),
}

SEEKING = {
    "depression": "Depression",
    "ptsd": "PTSD or trauma",
    "anxiety": "Anxiety",
    "ocd": "OCD",
    "substance": "Alcohol or substance use",
    "pain": "Chronic pain",
    "growth": "Personal growth",
    "other": "Something else",
}

PRIOR_TREATMENTS = {
    "0": "None yet",
    "1": "One medicine or one course of therapy",
    "2": "Two or more antidepressants",
    "therapy": "Therapy only",
}

PREGNANCY = {
    "no": eligibility.Pregnancy.NOT_PREGNANT,
    "na": eligibility.Pregnancy.NOT_APPLICABLE,
    "pregnant": eligibility.Pregnancy.PREGNANT,
    "breastfeeding": eligibility.Pregnancy.BREASTFEEDING,
    "unsure": eligibility.Pregnancy.UNKNOWN,
}

# Yes/no questions and the evaluation checklist codes a "yes" answers.
YES_NO: dict[str, tuple[str, tuple[str, ...]]] = {
    "psychosis": (
        "Have you ever been diagnosed with schizophrenia or had psychosis (hearing or seeing "
        "things others do not, or beliefs others could not shake you from)?",
        ("contra.psychotic_disorder",),
    ),
    "mania": (
        "Have you ever had mania or been diagnosed with bipolar I disorder?",
        ("contra.bipolar_i",),
    ),
    "heart": (
        "Do you have a heart condition that is not under control (recent heart attack, "
        "chest pain on effort, an irregular heartbeat)?",
        ("contra.unstable_cardiovascular",),
    ),
    "blood_pressure": (
        "Is your blood pressure high and not under control?",
        ("contra.uncontrolled_hypertension",),
    ),
    "substance": (
        "In the past 3 months, has alcohol or drug use (including ketamine) caused you problems?",
        ("contra.substance_use",),
    ),
    "self_harm": (
        "In the past month, have you had thoughts of ending your life or of harming yourself?",
        ("contra.suicidal_intent",),
    ),
}

# How each finding reads to the public, as a topic to raise with a clinician.
PUBLIC_TOPICS: dict[str, str] = {
    "age.under_18": "KAP is offered to adults (18 and over)",
    "contra.psychotic_disorder": "a history of psychosis",
    "contra.bipolar_i": "a history of mania or bipolar disorder",
    "contra.unstable_cardiovascular": "your heart health",
    "contra.uncontrolled_hypertension": "your blood pressure",
    "contra.substance_use": "recent alcohol or drug use",
    "contra.suicidal_intent": "thoughts of self-harm",
    "pregnancy.pregnant": "pregnancy (KAP is not offered during pregnancy)",
    "pregnancy.breastfeeding": "breastfeeding (KAP is not offered while breastfeeding)",
    "missing.pregnancy": "whether you may be pregnant",
    "interaction.maoi": "your MAOI medicine and blood pressure",
    "interaction.stimulant": "your stimulant medicine and blood pressure",
    "interaction.benzodiazepine": "your benzodiazepine (it is often reduced before a session)",
    "interaction.benzodiazepine_high_dose": "your benzodiazepine dose",
    "interaction.mood_stabiliser": "your mood stabiliser",
    "interaction.antipsychotic": "your antipsychotic medicine",
    "interaction.lamotrigine": "lamotrigine (it can weaken ketamine's effect)",
    "interaction.cns_depressant": "sedating medicines",
    "interaction.opioid_antagonist": "naltrexone or a similar medicine",
    "interaction.addiction_treatment": "medicines for substance use",
    "programme.no_ongoing_therapy": "finding a therapist (KAP here is part of ongoing therapy)",
}

ALTERNATIVES = (
    "talk therapy with a licensed therapist",
    "a psychiatrist's review of your current medicines",
    "your primary-care clinician",
)

# Findings about what the pre-screen does not ask: never shown, never invented.
_NOT_ASKED = {"missing.bp", "missing.checklist", "missing.birth_date", "medication.unrecognised"}


@dataclass(frozen=True)
class PrescreenAnswers:
    age: int
    state: str
    seeking: tuple[str, ...] = ()
    prior_treatments: str = ""
    medicines: tuple[str, ...] = ()  # MEDICINE_CATEGORIES keys
    yes: Mapping[str, bool] = field(default_factory=dict)  # YES_NO keys
    pregnancy: str = "unsure"  # PREGNANCY keys
    in_therapy: bool | None = None


@dataclass(frozen=True)
class Guidance:
    fit: Fit
    topics: tuple[str, ...]
    finding_codes: tuple[str, ...]
    alternatives: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {
            "fit": self.fit.value,
            "topics": list(self.topics),
            "finding_codes": list(self.finding_codes),
        }


def birth_date_for_age(age: int, today: date) -> date:
    """A birth date that makes a person exactly `age` on `today` (29 February → 28th)."""
    try:
        return today.replace(year=today.year - age)
    except ValueError:
        return today.replace(year=today.year - age, day=28)


def evaluation_input(answers: PrescreenAnswers, *, today: date) -> eligibility.EvaluationInput:
    """The answers as the evaluation screen's input: the one rule reads them."""
    checklist: dict[str, bool | None] = {}
    for key, (_question, codes) in YES_NO.items():
        if key in answers.yes:
            for code in codes:
                checklist[code] = bool(answers.yes[key])
    medicines = tuple(
        eligibility.MedicationEntry(name=MEDICINE_CATEGORIES[key][1])
        for key in answers.medicines
        if key in MEDICINE_CATEGORIES
    )
    return eligibility.EvaluationInput(
        on_date=today,
        birth_date=birth_date_for_age(answers.age, today),
        checklist=checklist,
        medications=medicines,
        pregnancy=PREGNANCY.get(answers.pregnancy, eligibility.Pregnancy.UNKNOWN),
        ongoing_therapy=answers.in_therapy,
        suicide_screen_positive=bool(answers.yes.get("self_harm")),
    )


def prescreen(answers: PrescreenAnswers, *, today: date) -> Guidance:
    """Plain guidance from the evaluation screen (`eligibility.eligibility_screen`): any
    thought of self-harm → CRISIS (crisis resources only); an exclusion → NOT_A_FIT with
    alternatives; a relative contraindication, interaction or missing answer → DISCUSS with
    the topics; else LIKELY. It is not a diagnosis and decides nothing: a clinician does."""
    findings = [
        f
        for f in eligibility.eligibility_screen(evaluation_input(answers, today=today))
        if f.code not in _NOT_ASKED
    ]
    codes = tuple(f.code for f in findings)
    if answers.yes.get("self_harm"):
        return Guidance(Fit.CRISIS, (), codes)
    topics = tuple(
        dict.fromkeys(PUBLIC_TOPICS.get(f.code, "something in your answers") for f in findings)
    )
    if any(f.severity is eligibility.Severity.EXCLUDE for f in findings):
        return Guidance(Fit.NOT_A_FIT, topics, codes, ALTERNATIVES)
    if findings:
        return Guidance(Fit.DISCUSS, topics, codes)
    return Guidance(Fit.LIKELY, (), codes)
