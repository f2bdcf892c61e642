"""Ketamine prescriptions: products, the Schedule III limits, dose ranges, refills and
low-dose adherence. Pure Python: dates are passed in, nothing here reads a clock.

Sources (DOMAIN.md sections 2, 3 and 5):
- ketamine and esketamine are DEA Schedule III; a CIII prescription may be refilled at most
  5 times within 6 months of the date written (21 CFR 1306.22);
- typical doses by route are off-label and prescriber-set, so they are ranges that warn,
  never limits that block (CTP lozenge method; Andrade 2019; Spravato PI);
- RxNorm: ketamine ingredient 6130; ketamine injection SCDs 238082 (10 mg/mL), 238083
  (50 mg/mL), 238084 (100 mg/mL) [openFDA NDC]; compounded rapid-dissolve tablets and
  lozenges have no RxNorm product, so they are coded at the ingredient.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from kapflow.clinical.reasons import Reason

DEA_SCHEDULE = "CIII"
MAX_REFILLS = 5  # 21 CFR 1306.22: CIII-IV, at most 5 refills
VALID_MONTHS = 6  # ... within 6 months of the date written
KETAMINE_RXCUI = "6130"


class Route(StrEnum):
    SUBLINGUAL = "sublingual"
    ORAL = "oral"
    INTRAMUSCULAR = "intramuscular"
    INTRAVENOUS = "intravenous"
    INTRANASAL = "intranasal"


class Frequency(StrEnum):
    PER_SESSION = "per_session"  # higher-dose pathway: one dose per dosing session
    DAILY = "daily"  # psycholytic low-dose pathway: a small dose each day


@dataclass(frozen=True)
class Product:
    code: str
    label: str
    drug: str
    form: str
    route: Route
    rxcui: str
    in_clinic: bool  # administered by clinic staff, never sent home
    strengths_mg: tuple[float, ...]  # usual strengths (per unit, or per mL for injections)
    typical_session_mg: tuple[float, float]  # range that does not warn, per session
    note: str = ""


PRODUCTS: dict[str, Product] = {
    p.code: p
    for p in [
        Product(
            "ketamine_sl_rdt", "Ketamine rapid-dissolve tablet (compounded)", "ketamine",
            "rapid-dissolve tablet", Route.SUBLINGUAL, KETAMINE_RXCUI, False, (50, 100),
            (100, 400), "Compounded: no RxNorm product; coded at the ingredient.",
        ),
        Product(
            "ketamine_sl_lozenge", "Ketamine lozenge / troche (compounded)", "ketamine",
            "lozenge", Route.SUBLINGUAL, KETAMINE_RXCUI, False, (50, 100, 150, 200),
            (100, 400), "Compounded: no RxNorm product; coded at the ingredient.",
        ),
        Product(
            "ketamine_inj_50", "Ketamine HCl injection 50 mg/mL (IM)", "ketamine",
            "injectable solution", Route.INTRAMUSCULAR, "238083", True, (50,), (25, 150),
            "In clinic only.",
        ),
        Product(
            "ketamine_inj_10", "Ketamine HCl injection 10 mg/mL (IV)", "ketamine",
            "injectable solution", Route.INTRAVENOUS, "238082", True, (10,), (20, 80),
            "In clinic only; usual antidepressant infusion 0.5 mg/kg over 40 minutes.",
        ),
        Product(
            "esketamine_nasal", "Esketamine nasal spray 28 mg/device (Spravato)", "esketamine",
            "nasal spray", Route.INTRANASAL, "", True, (28,), (56, 84),
            "REMS: in a certified setting only; look the RxNorm code up in RxNav.",
        ),
    ]
}  # fmt: skip

ROUTE_LABELS = {
    Route.SUBLINGUAL: "Sublingual",
    Route.ORAL: "Oral",
    Route.INTRAMUSCULAR: "Intramuscular (IM)",
    Route.INTRAVENOUS: "Intravenous (IV)",
    Route.INTRANASAL: "Intranasal",
}

# Psycholytic low-dose range per day (DOMAIN.md: low SL ~50-150 mg, verify).
LOW_DOSE_DAILY_MG = (25.0, 150.0)


def expires_on(written_on: date) -> date:
    """The last day the prescription may be filled or refilled: 6 months after it was
    written (21 CFR 1306.22), as the same day of the month, clamped to the month's end."""
    month = written_on.month - 1 + VALID_MONTHS
    year = written_on.year + month // 12
    month = month % 12 + 1
    for day in (written_on.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


_DEA = re.compile(r"^[A-Z][A-Z9][0-9]{7}$")


def dea_number_valid(value: str) -> bool:
    """The DEA registration number's shape and check digit: two letters, seven digits;
    (d1 + d3 + d5) + 2 * (d2 + d4 + d6) ends in d7 (DEA registrant format)."""
    value = (value or "").strip().upper()
    if not _DEA.match(value):
        return False
    d = [int(c) for c in value[2:]]
    total = d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])
    return total % 10 == d[6]


@dataclass(frozen=True)
class PrescriptionDraft:
    product: str
    frequency: Frequency
    strength_mg: float
    dose_mg: float
    quantity: int  # doses per fill
    refills: int
    written_on: date
    pathway: str  # "higher_dose" / "low_dose"
    at_home: bool  # the course's delivery


def prescription_reasons(draft: PrescriptionDraft, *, today: date) -> list[Reason]:
    """Every problem with a prescription. Hard reasons block; soft ones (doses outside the
    usual range) need the prescriber to confirm with a reason."""
    reasons: list[Reason] = []
    product = PRODUCTS.get(draft.product)
    if product is None:
        return [Reason("prescription.product_unknown", "Choose a product from the list.")]
    if draft.refills > MAX_REFILLS:
        reasons.append(
            Reason(
                "prescription.too_many_refills",
                f"A Schedule III prescription allows at most {MAX_REFILLS} refills.",
            )
        )
    if draft.written_on > today:
        reasons.append(Reason("prescription.future_date", "The date written cannot be later."))
    if product.in_clinic and draft.at_home:
        reasons.append(
            Reason(
                "prescription.in_clinic_only",
                f"{product.label} is given in the clinic only; this course doses at home.",
            )
        )
    if draft.pathway == "low_dose" and draft.frequency is not Frequency.DAILY:
        reasons.append(
            Reason(
                "prescription.frequency_pathway",
                "The psycholytic low-dose pathway is prescribed as a daily dose.",
            )
        )
    if draft.pathway == "higher_dose" and draft.frequency is not Frequency.PER_SESSION:
        reasons.append(
            Reason(
                "prescription.frequency_pathway",
                "The higher-dose pathway is prescribed per dosing session.",
            )
        )
    if product.route is Route.SUBLINGUAL and draft.dose_mg < draft.strength_mg:
        reasons.append(
            Reason(
                "prescription.dose_below_strength",
                "The dose is smaller than one unit of this strength.",
                overridable=True,
            )
        )
    low, high = (
        LOW_DOSE_DAILY_MG if draft.frequency is Frequency.DAILY else product.typical_session_mg
    )
    if not low <= draft.dose_mg <= high:
        reasons.append(
            Reason(
                "prescription.dose_unusual",
                f"{draft.dose_mg:g} mg is outside the usual {low:g}-{high:g} mg for "
                f"{'a daily low dose' if draft.frequency is Frequency.DAILY else 'a session'} "
                "by this route.",
                overridable=True,
            )
        )
    return reasons


def session_amount_reasons(
    *,
    total_mg: Decimal,
    per_session_mg: Decimal,
    authorised_mg: Decimal | None = None,
    unit: str = "mg",
    booster: bool = False,
) -> list[Reason]:
    """Hard: a session's doses (the first dose and every booster, in mg) may not add up to
    more than the prescription's per-session amount, or the higher amount the course's
    prescriber authorised for this session (decision 0030). Boosters are allowed (CTP
    lozenge method, DOMAIN.md section 2) but within the prescribed total: a dose is the
    prescriber's decision, never the session's. A dose recorded in mg/kg cannot be checked
    against a prescription written in mg, so it is refused too."""
    if unit != "mg":
        return [
            Reason(
                "dose.unit_not_mg",
                "Record the amount in mg: the prescription's per-session amount is in mg, so "
                "a dose in mg/kg cannot be checked against it.",
            )
        ]
    limit = max(per_session_mg, authorised_mg or per_session_mg)
    if total_mg <= limit:
        return []
    allowed = (
        f"the {_mg(limit)} mg the prescriber authorised for this session"
        if limit > per_session_mg
        else f"the prescription's {_mg(per_session_mg)} mg per session"
    )
    what = (
        f"This booster would bring the session's total to {_mg(total_mg)} mg, above"
        if booster
        else f"A dose of {_mg(total_mg)} mg is above"
    )
    return [
        Reason(
            "dose.above_prescription",
            f"{what} {allowed}. Only the course's prescriber can authorise a higher "
            "amount, before it is given.",
        )
    ]


def _mg(amount: Decimal) -> str:
    return format(Decimal(amount).normalize(), "f")


def refill_due(doses_left: int, *, threshold: int, fills_left: int) -> bool:
    """A refill request is raised when doses left fall to the practice's threshold (default
    1, issue 5). With no fills left it asks for a new prescription instead."""
    del fills_left  # the request is raised either way; its wording differs
    return doses_left <= threshold


class SupplyStep(StrEnum):
    """What the course's supply of doses waits for next (issue 17)."""

    NONE = "none"  # a dispensed dose is left to use
    FILL = "fill"  # an active prescription not filled yet: the pharmacy's first fill
    REFILL = "refill"  # every dispensed dose used; the prescription allows another fill
    PRESCRIBE = "prescribe"  # no active prescription, or every fill it allows is used


@dataclass(frozen=True)
class Supply:
    """One active prescription's supply: doses dispensed and used, fills made and the
    refills it allows (the first fill is not a refill)."""

    dispensed: int
    used: int
    fills: int
    refills: int

    @property
    def doses_left(self) -> int:
        return max(self.dispensed - self.used, 0)

    @property
    def fills_left(self) -> int:
        return max(self.refills + 1 - self.fills, 0)


def supply_step(active: list[Supply]) -> tuple[SupplyStep, int | None]:
    """The next step for the course's doses, and the index in `active` (the course's active
    prescriptions, the one to act on first) of the prescription it is taken on. A dose left
    anywhere: nothing to do. Otherwise the first prescription that may still be filled is
    filled (its first fill, or a refill); with none, a new prescription is written."""
    if any(s.doses_left > 0 for s in active):
        return SupplyStep.NONE, None
    for index, supply in enumerate(active):
        if supply.fills_left > 0:
            return (SupplyStep.FILL if supply.fills == 0 else SupplyStep.REFILL), index
    return SupplyStep.PRESCRIBE, None


@dataclass(frozen=True)
class Adherence:
    start: date
    end: date
    expected: int
    taken: int
    missed: tuple[date, ...]

    @property
    def rate(self) -> float | None:
        return None if self.expected == 0 else self.taken / self.expected


def daily_adherence(taken_on: set[date], *, start: date, today: date, window_days: int = 28):
    """Adherence to a daily low-dose plan over the last `window_days` (or since `start`):
    days expected, days with a logged dose, and the days missed. Today counts only once a
    dose is logged, so the day is not called missed before it ends."""
    begin = max(start, today - timedelta(days=window_days - 1))
    if begin > today:
        return Adherence(begin, today, 0, 0, ())
    days = [begin + timedelta(days=i) for i in range((today - begin).days + 1)]
    if today not in taken_on:
        days = days[:-1]
    taken = sum(1 for d in days if d in taken_on)
    missed = tuple(d for d in days if d not in taken_on)
    return Adherence(begin, today, len(days), taken, missed)
