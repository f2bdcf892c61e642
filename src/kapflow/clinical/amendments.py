"""A client's right to amend their record: the deadline and the grounds for a denial.

Source: HIPAA Privacy Rule, 45 CFR 164.526. Pure rules: dates in, dates out. `today` is the
clinical date of the practice holding the record (decision 0027), given by the caller.
"""

from dataclasses import dataclass
from datetime import date, timedelta

# 164.526(b)(2)(i): act on the request no later than 60 days after receiving it.
ACT_WITHIN_DAYS = 60
# 164.526(b)(2)(ii): one extension of at most 30 days, if the individual is given, within
# the first 60 days, a written statement of the reasons and the date action will be taken.
EXTENSION_DAYS = 30


@dataclass(frozen=True)
class DenialBasis:
    code: str
    label: str
    source: str
    # What the ground means, in words a client can read in the decision they receive.
    plain: str


# 164.526(a)(2): the only grounds on which a request may be denied.
DENIAL_BASES = (
    DenialBasis(
        "not_created_here",
        "Not created by this practice",
        "45 CFR 164.526(a)(2)(i)",
        "This practice did not create this information, and the person or organisation that "
        "did can still be asked to correct it.",
    ),
    DenialBasis(
        "not_in_record_set",
        "Not part of the designated record set",
        "45 CFR 164.526(a)(2)(ii)",
        "This information is not part of the records the practice uses to make decisions "
        "about your care.",
    ),
    DenialBasis(
        "not_available_for_inspection",
        "Not available for inspection",
        "45 CFR 164.526(a)(2)(iii)",
        "This information is not part of what you have a right to inspect (for example a "
        "therapist's separate psychotherapy notes).",
    ),
    DenialBasis(
        "accurate_and_complete",
        "Accurate and complete",
        "45 CFR 164.526(a)(2)(iv)",
        "The clinician reviewed this part of your record and found it accurate and complete.",
    ),
)

DENIAL_BASIS_BY_CODE = {basis.code: basis for basis in DENIAL_BASES}


def due_date(received_on: date, *, extended: bool) -> date:
    """The day by which the practice must accept or deny: 60 days after receipt, 90 with
    the one extension."""
    days = ACT_WITHIN_DAYS + (EXTENSION_DAYS if extended else 0)
    return received_on + timedelta(days=days)


def extension_refusal(received_on: date, *, extended: bool, today: date) -> str | None:
    """Why the deadline cannot be extended today, or None when it can: only once, and only
    while the first 60 days are still running (164.526(b)(2)(ii))."""
    if extended:
        return "The deadline has already been extended once; it cannot be extended again."
    if today > due_date(received_on, extended=False):
        return "The 60 days have passed: an extension had to be given within them."
    return None


def is_overdue(due_on: date, *, today: date) -> bool:
    """An undecided request is overdue from the day after its due date."""
    return today > due_on


def days_left(due_on: date, *, today: date) -> int:
    """Days until the due date (0 on the day, negative once overdue)."""
    return (due_on - today).days
