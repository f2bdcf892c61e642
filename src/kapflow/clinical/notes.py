"""Clinical note templates and the rules for signing a note (issue 6). Pure: no Django.

A template is the ordered list of sections a note of one session type has in one format:
DAP (Data, Assessment, Plan) or SOAP (Subjective, Objective, Assessment, Plan). Each
session type adds its own prompts (what a KAP clinician should record in that section) and,
for some types, one extra section (the risk screen at intake, discharge at dosing).

The prompts are our own wording for ketamine-assisted psychotherapy; they guide, they do
not limit what the clinician writes. A note can be signed once every required section has
text (`missing_sections`), and the typed signature matches the author's name
(`signature_matches`). `content_digest` is the SHA-256 stored at signing, so a later change
of the signed content (which the database refuses anyway) would be detectable.
"""

import hashlib
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

SECTION_MAX = 20_000

SESSION_TYPES: dict[str, str] = {
    "intake": "Intake assessment",
    "preparation": "Preparation session",
    "dosing": "Dosing session",
    "integration": "Integration session",
    "followup": "Medical follow-up",
    "therapy": "Therapy session",
}

# Sessions a prescriber runs or needs for safe prescribing (dose, vitals, side effects).
MEDICAL_SESSION_TYPES = frozenset({"dosing", "followup"})

FORMATS: dict[str, str] = {
    "dap": "DAP (Data, Assessment, Plan)",
    "soap": "SOAP (Subjective, Objective, Assessment, Plan)",
}


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    prompt: str
    required: bool = True


@dataclass(frozen=True)
class NoteTemplate:
    session_type: str
    format: str
    title: str
    sections: tuple[Section, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.sections)

    @property
    def required_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.sections if s.required)


# ---- prompts per session type and section ---------------------------------------------------
# Keys: "subjective", "objective" (SOAP), "data" (DAP), "assessment", "plan".

_PROMPTS: dict[str, dict[str, str]] = {
    "intake": {
        "subjective": (
            "Presenting concerns in the client's words, history of the problem, prior "
            "treatments and response, substance use, what they hope KAP will change."
        ),
        "objective": (
            "Mental status examination, baseline measures (PHQ-9, GAD-7, PCL-5 scores "
            "and dates), relevant medical history and current medications as reported."
        ),
        "data": (
            "Presenting concerns, history, prior treatments, substance use, baseline "
            "measures and mental status as observed in the session."
        ),
        "assessment": (
            "Working diagnosis (ICD-10-CM), suitability for KAP, contraindications to "
            "rule out with the prescriber (psychosis, uncontrolled hypertension, pregnancy, "
            "active substance use), readiness and supports."
        ),
        "plan": (
            "Referral for medical evaluation, consent discussion, number of preparation "
            "sessions, measures to repeat, what happens if KAP is not a fit."
        ),
    },
    "preparation": {
        "subjective": (
            "Intentions the client brings, fears or expectations about the medicine, "
            "changes since last session."
        ),
        "objective": (
            "Affect and presentation, current measures, safety plan reviewed, set and "
            "setting readiness (companion, ride home, fasting instructions understood)."
        ),
        "data": (
            "Intentions, expectations and concerns discussed; psychoeducation given on "
            "dissociation, nausea, blood pressure; setting, companion and ride home confirmed."
        ),
        "assessment": (
            "Readiness for the first or next dosing session, risks to hold in mind, how the "
            "client copes with loss of control."
        ),
        "plan": "Dosing date, pre-session checklist, grounding practices to use during dosing.",
    },
    "dosing": {
        "subjective": (
            "Intention for the session, state on arrival, pre-session checklist answers "
            "(fasting, no alcohol in 24 h, ride home or companion), client's account after."
        ),
        "objective": (
            "Route and dose given with times (e.g. sublingual lozenge, IM), vitals before, "
            "during and after (BP, heart rate, SpO2) with any reading out of range, "
            "observed dissociation, events (nausea, anxiety, elevated BP) and interventions."
        ),
        "data": (
            "Route, dose and times; vitals before, during and after with any flagged "
            "reading; events and interventions; the client's account of the experience."
        ),
        "assessment": (
            "Tolerance and response to this dose, therapeutic themes that emerged, "
            "adverse effects and their severity."
        ),
        "plan": (
            "Integration session within 72 hours, dose change to discuss with the prescriber, "
            "after-care instructions given (no driving until the next day)."
        ),
        "discharge": (
            "Discharge criteria: alert and oriented, vitals back within range, walks "
            "steadily, companion or driver present; time of discharge and who took the client."
        ),
    },
    "integration": {
        "subjective": (
            "Insights, images and emotions the client carries from the dosing session, "
            "sleep, mood and cravings since, journal themes they chose to share."
        ),
        "objective": "Affect and presentation, measures repeated, any delayed adverse effects.",
        "data": (
            "Insights and themes from the dosing session, changes noticed in mood, "
            "relationships and habits, delayed effects reported."
        ),
        "assessment": (
            "How the experience links to treatment goals, progress on measures, risk "
            "(suicidality, misuse) and whether to continue the course."
        ),
        "plan": (
            "Integration practices until the next session, behaviour commitments, next "
            "dosing or end of course, second check-in within the week."
        ),
    },
    "followup": {
        "subjective": (
            "Side effects since the last dose (nausea, headache, dizziness, urinary "
            "symptoms), adherence for at-home doses, storage and use as prescribed."
        ),
        "objective": "Vitals (BP, heart rate), weight if relevant, doses dispensed and used.",
        "data": "Side effects, adherence, vitals and doses used since the last contact.",
        "assessment": "Tolerability, signs of misuse or bladder toxicity, response so far.",
        "plan": "Continue, adjust or stop; refills; labs; next follow-up date.",
    },
    "therapy": {
        "subjective": "What the client brought today, events since last session.",
        "objective": "Affect, presentation, interventions used, measures repeated.",
        "data": "Content of the session, interventions used and the client's response.",
        "assessment": "Progress toward goals, risk, clinical impressions.",
        "plan": "Homework, focus of the next session, referrals.",
    },
}

_LABELS = {
    "subjective": "Subjective",
    "objective": "Objective",
    "data": "Data",
    "assessment": "Assessment",
    "plan": "Plan",
}

_FORMAT_KEYS = {
    "dap": ("data", "assessment", "plan"),
    "soap": ("subjective", "objective", "assessment", "plan"),
}

# Extra sections some session types carry after the format's own.
_EXTRA: dict[str, tuple[Section, ...]] = {
    "intake": (
        Section(
            "risk",
            "Risk and safety screen",
            "Suicidal ideation and behaviour (C-SSRS), self-harm, history of psychosis or "
            "mania, substance use disorder; safety plan made or not needed, and why.",
        ),
    ),
    "dosing": (Section("discharge", "Discharge", _PROMPTS["dosing"]["discharge"]),),
}


def _build(session_type: str, fmt: str) -> NoteTemplate:
    prompts = _PROMPTS[session_type]
    sections = tuple(
        Section(key, _LABELS[key], prompts[key]) for key in _FORMAT_KEYS[fmt]
    ) + _EXTRA.get(session_type, ())
    title = f"{SESSION_TYPES[session_type]} note ({fmt.upper()})"
    return NoteTemplate(session_type=session_type, format=fmt, title=title, sections=sections)


TEMPLATES: dict[tuple[str, str], NoteTemplate] = {
    (session_type, fmt): _build(session_type, fmt)
    for session_type in SESSION_TYPES
    for fmt in FORMATS
}


def note_template(session_type: str, fmt: str) -> NoteTemplate:
    """The template for a session type and format; KeyError for an unknown pair."""
    return TEMPLATES[(session_type, fmt)]


def missing_sections(template: NoteTemplate, sections: Mapping[str, str]) -> list[Section]:
    """The required sections still empty (blank or whitespace), in template order: what
    stops the note being signed."""
    return [
        s for s in template.sections if s.required and not str(sections.get(s.key) or "").strip()
    ]


def _normalise_name(name: str) -> str:
    name = unicodedata.normalize("NFKC", name or "")
    return " ".join(name.split()).casefold()


def signature_matches(typed: str, full_name: str) -> bool:
    """The typed signature is the author's full name: case, spacing and Unicode form aside.
    An author without a recorded name can never sign (nothing to match)."""
    expected = _normalise_name(full_name)
    return bool(expected) and _normalise_name(typed) == expected


def content_digest(
    *, session_type: str, fmt: str, kind: str, sections: Mapping[str, str], signed_by: str
) -> str:
    """SHA-256 (hex) of what was signed: type, format, kind, the sections in key order and
    the typed signature, as canonical JSON in UTF-8."""
    payload = {
        "session_type": session_type,
        "format": fmt,
        "kind": kind,
        "sections": {k: sections[k] for k in sorted(sections)},
        "signed_by": signed_by,
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
