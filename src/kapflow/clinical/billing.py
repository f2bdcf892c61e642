"""Money rules: what a completed encounter is charged, how an invoice adds up, ageing,
proration and the subscription's billing day. Pure Python: no Django, no clock (`today` is
passed in). Amounts are `Decimal` in the practice's currency, to the cent (ROUND_HALF_UP).

Sources (shared DOMAIN.md section 3; every rate and rule is practice configuration):
- Psychotherapy by time: 90832 16-37 min, 90834 38-52 min, 90837 >= 53 min (CPT time rule);
  90791 is the psychiatric diagnostic evaluation (intake).
- Dosing sessions: the insurer is billed one psychotherapy hour (90837, with modifier and place
  of service); the remaining time is private pay (99354/99355 were deleted and have no
  psychotherapy replacement, so the practice uses its own private line). Check the payer
  contract before charging an in-network client for the extra time (verify).
- Telehealth: modifier 95 (synchronous audio-video; GT is the legacy modifier some payers still
  ask for); place of service 10 in the patient's home, 02 elsewhere; 11 in the office.
- The session's minutes are split by kapflow.clinical.session.billing_split (first hour + the
  rest); this module prices the split, it does not split again.
"""

from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from kapflow.clinical.session import billing_split

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value) -> Decimal:
    """`value` as a Decimal to the cent (half up), e.g. money("12.345") == Decimal("12.35")."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


# ---- what a session is ----------------------------------------------------------------------


class EncounterKind(StrEnum):
    DOSING = "dosing"
    INTAKE = "intake"
    PREPARATION = "preparation"
    INTEGRATION = "integration"
    THERAPY = "therapy"


class CoverageKind(StrEnum):
    SELF_PAY = "self_pay"
    IN_NETWORK = "in_network"  # the practice bills the payer (claim-ready data)
    OUT_OF_NETWORK = "out_of_network"  # the client pays and claims with a superbill


class BillTo(StrEnum):
    PAYER = "payer"  # claim to the insurer
    CLIENT = "client"  # the client pays the practice
    PACKAGE = "package"  # drawn from a prepaid package: nothing charged


class Purpose(StrEnum):
    """Which fee-schedule service a line is priced from."""

    PSYCHOTHERAPY = "psychotherapy"  # 90832 / 90834 / 90837 by time
    INTAKE = "intake"  # 90791
    PRIVATE_TIME = "private_time"  # the practice's hourly private line
    PACKAGE = "package"  # a package draw-down


class Rounding(StrEnum):
    UP = "up"
    NEAREST = "nearest"  # half an increment or more goes up
    DOWN = "down"


POS_OFFICE = "11"
POS_TELEHEALTH_HOME = "10"
POS_TELEHEALTH_ELSEWHERE = "02"
MODIFIER_TELEHEALTH = "95"
MODIFIER_TELEHEALTH_LEGACY = "GT"

# CPT psychotherapy codes by the time actually spent (minutes, inclusive ranges).
PSYCHOTHERAPY_BY_TIME = (("90837", 53, None), ("90834", 38, 52), ("90832", 16, 37))
INTAKE_CODE = "90791"


def psychotherapy_code(minutes: int) -> str | None:
    """The psychotherapy CPT code for `minutes` of therapy time (90837 >= 53, 90834 38-52,
    90832 16-37), or None under 16 minutes (nothing billable)."""
    for code, low, high in PSYCHOTHERAPY_BY_TIME:
        if minutes >= low and (high is None or minutes <= high):
            return code
    return None


@dataclass(frozen=True)
class Service:
    """One fee-schedule row as the rule sees it: a code, what it is for, and the rate (per
    unit; for PRIVATE_TIME, per hour)."""

    code: str
    description: str
    rate: Decimal
    purpose: Purpose = Purpose.PSYCHOTHERAPY
    unit_minutes: int = 60


@dataclass(frozen=True)
class FeeSchedule:
    """The services in effect on the day of service, and the practice's rules."""

    services: tuple[Service, ...]
    rounding_minutes: int = 15
    rounding: Rounding = Rounding.NEAREST
    telehealth_modifier: str = MODIFIER_TELEHEALTH
    currency: str = "USD"

    def by_code(self, code: str) -> Service | None:
        return next((s for s in self.services if s.code == code), None)

    def private(self) -> Service | None:
        return next((s for s in self.services if s.purpose == Purpose.PRIVATE_TIME), None)


@dataclass(frozen=True)
class Encounter:
    kind: EncounterKind
    minutes: int
    on: date
    telehealth: bool = False
    at_home: bool = False  # telehealth in the client's home (POS 10), else POS 02


@dataclass(frozen=True)
class Coverage:
    kind: CoverageKind = CoverageKind.SELF_PAY
    payer: str = ""


@dataclass(frozen=True)
class Package:
    """A prepaid package with sessions left, and the encounter kinds it pays for."""

    name: str
    sessions_left: int
    covers: tuple[EncounterKind, ...] = (EncounterKind.DOSING,)


@dataclass(frozen=True)
class Line:
    """One invoice line. `amount` = `unit_price` x `units` (to the cent); `why` says in words
    why the line is what it is (the client and the biller read it)."""

    purpose: Purpose
    code: str
    description: str
    bill_to: BillTo
    units: Decimal
    unit_price: Decimal
    amount: Decimal
    minutes: int
    pos: str = ""
    modifiers: tuple[str, ...] = ()
    why: str = ""


class NoPrice(Exception):
    """The fee schedule has no service to price this encounter (the caller names the field)."""


def round_minutes(minutes: int, *, increment: int, rule: Rounding) -> int:
    """`minutes` rounded to a multiple of `increment` by the practice's rule."""
    if increment <= 1 or minutes <= 0:
        return max(minutes, 0)
    whole, part = divmod(minutes, increment)
    if part == 0 or rule == Rounding.DOWN:
        return whole * increment
    if rule == Rounding.UP or part * 2 >= increment:
        return (whole + 1) * increment
    return whole * increment


def place_of_service(encounter: Encounter) -> str:
    if not encounter.telehealth:
        return POS_OFFICE
    return POS_TELEHEALTH_HOME if encounter.at_home else POS_TELEHEALTH_ELSEWHERE


def _modifiers(encounter: Encounter, schedule: FeeSchedule) -> tuple[str, ...]:
    return (schedule.telehealth_modifier,) if encounter.telehealth else ()


def _hm(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h" if hours else f"{rest} min"


def _coded_line(
    service: Service, encounter: Encounter, schedule: FeeSchedule, *, bill_to: BillTo,
    minutes: int, why: str,
) -> Line:  # fmt: skip
    price = money(service.rate)
    return Line(
        purpose=service.purpose, code=service.code, description=service.description,
        bill_to=bill_to, units=Decimal(1), unit_price=price, amount=price, minutes=minutes,
        pos=place_of_service(encounter), modifiers=_modifiers(encounter, schedule), why=why,
    )  # fmt: skip


def _private_line(encounter: Encounter, schedule: FeeSchedule, minutes: int, why: str) -> Line:
    service = schedule.private()
    if service is None:
        raise NoPrice("The fee schedule has no private hourly rate.")
    billed = round_minutes(minutes, increment=schedule.rounding_minutes, rule=schedule.rounding)
    hours = (Decimal(billed) / Decimal(60)).quantize(Decimal("0.0001"))
    price = money(service.rate)
    rounded = (
        f" rounded {schedule.rounding.value} to {schedule.rounding_minutes}-minute steps: "
        f"{_hm(billed)}"
        if billed != minutes
        else ""
    )
    return Line(
        purpose=Purpose.PRIVATE_TIME, code=service.code, description=service.description,
        bill_to=BillTo.CLIENT, units=hours, unit_price=price,
        amount=money(price * Decimal(billed) / Decimal(60)), minutes=minutes,
        pos=place_of_service(encounter), modifiers=(),
        why=f"{why} {_hm(minutes)}{rounded}, at the private hourly rate of {price} "
        f"{schedule.currency}.",
    )  # fmt: skip


def charge_lines(
    encounter: Encounter,
    schedule: FeeSchedule,
    coverage: Coverage | None = None,
    package: Package | None = None,
) -> list[Line]:
    """The invoice lines for one completed encounter.

    - A package with sessions left that covers the kind draws one session down: one line of
      nothing charged, instead of any other line.
    - A dosing session with insurance: the first hour (billing_split) with its psychotherapy
      code (90837 for 53 minutes or more) to the payer (in network) or to the client with a
      superbill (out of network); the rest private at the hourly rate, rounded by the
      practice's rule. Self-pay or no coverage: the whole session private.
    - Intake is 90791; preparation, integration and therapy are psychotherapy by time; in
      network they go to the payer, otherwise the client pays the scheduled fee.
    - Telehealth adds the modifier (95) and place of service 10 (home) or 02; else 11.
    Raises NoPrice when the schedule lacks the service needed."""
    on_file = coverage is not None
    coverage = coverage or Coverage()
    minutes = max(encounter.minutes, 0)
    label = encounter.kind.value.replace("_", " ")
    if package is not None and package.sessions_left > 0 and encounter.kind in package.covers:
        return [
            Line(
                purpose=Purpose.PACKAGE,
                code="",
                description=f"{package.name} (one session)",
                bill_to=BillTo.PACKAGE,
                units=Decimal(1),
                unit_price=ZERO,
                amount=ZERO,
                minutes=minutes,
                pos=place_of_service(encounter),
                why=f"Drawn from the prepaid package \u201c{package.name}\u201d "
                f"({package.sessions_left - 1} session(s) left after this one); "
                "nothing charged.",
            )
        ]
    insured = coverage.kind in (CoverageKind.IN_NETWORK, CoverageKind.OUT_OF_NETWORK)
    payer = coverage.payer or "the payer"
    bill_to = BillTo.PAYER if coverage.kind == CoverageKind.IN_NETWORK else BillTo.CLIENT

    if encounter.kind == EncounterKind.DOSING:
        if not insured:
            why = "Self-pay: the whole" if on_file else "No coverage on file: the whole"
            return [_private_line(encounter, schedule, minutes, f"{why} {label} session,")]
        split = billing_split(minutes)
        code = psychotherapy_code(split.first_hour_minutes)
        service = schedule.by_code(code) if code else None
        if service is None:
            return [_private_line(
                encounter, schedule, minutes,
                f"The first hour is not billable as psychotherapy ({_hm(split.first_hour_minutes)}"
                "); the whole session, private,",
            )]  # fmt: skip
        whom = (
            f"billed to {payer} (in network)"
            if bill_to == BillTo.PAYER
            else f"paid by the client, claimable from {payer} with the superbill (out of network)"
        )
        lines = [
            _coded_line(
                service,
                encounter,
                schedule,
                bill_to=bill_to,
                minutes=split.first_hour_minutes,
                why=f"First {_hm(split.first_hour_minutes)} of the {_hm(minutes)} dosing session "
                f"as psychotherapy {service.code} (53 minutes or more), {whom}.",
            )
        ]
        if split.additional_minutes > 0:
            lines.append(_private_line(
                encounter, schedule, split.additional_minutes,
                "Time beyond the psychotherapy hour is not covered by a psychotherapy code; "
                "the remaining",
            ))  # fmt: skip
        return lines

    code = INTAKE_CODE if encounter.kind == EncounterKind.INTAKE else psychotherapy_code(minutes)
    service = schedule.by_code(code) if code else None
    if service is None:
        return [
            _private_line(
                encounter, schedule, minutes, f"No scheduled code for this {label} session:"
            )
        ]
    if insured:
        whom = (
            f"billed to {payer} (in network)"
            if bill_to == BillTo.PAYER
            else f"paid by the client, claimable from {payer} with the superbill (out of network)"
        )
    else:
        whom = "paid by the client at the practice's fee (self-pay)"
    return [
        _coded_line(
            service,
            encounter,
            schedule,
            bill_to=bill_to if insured else BillTo.CLIENT,
            minutes=minutes,
            why=f"{label.capitalize()} session of {_hm(minutes)} as {service.code}, {whom}.",
        )
    ]


# ---- how an invoice adds up -----------------------------------------------------------------


class InvoiceState(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PARTLY_PAID = "partly_paid"
    PAID = "paid"
    VOID = "void"


@dataclass(frozen=True)
class Totals:
    total: Decimal  # every line
    client_total: Decimal  # lines the client pays
    payer_total: Decimal  # lines claimed from the payer
    package_total: Decimal  # always 0: draw-downs charge nothing
    paid: Decimal  # payments less refunds
    credited: Decimal
    written_off: Decimal
    balance: Decimal  # client_total + payer_total - paid - credited - written_off
    by_bill_to: dict = field(default_factory=dict)


def totals(
    amounts: list[tuple[str, Decimal]],
    *,
    payments: list[Decimal] = (),  # type: ignore[assignment]
    refunds: list[Decimal] = (),  # type: ignore[assignment]
    credits: list[Decimal] = (),  # type: ignore[assignment]
    write_offs: list[Decimal] = (),  # type: ignore[assignment]
) -> Totals:
    """An invoice's totals from its lines' (bill_to, amount) and its money movements."""
    by: dict[str, Decimal] = {b.value: ZERO for b in BillTo}
    for bill_to, amount in amounts:
        by[str(bill_to)] = by.get(str(bill_to), ZERO) + money(amount)
    total = sum(by.values(), ZERO)
    paid = sum((money(p) for p in payments), ZERO) - sum((money(r) for r in refunds), ZERO)
    credited = sum((money(c) for c in credits), ZERO)
    written_off = sum((money(w) for w in write_offs), ZERO)
    return Totals(
        total=total, client_total=by[BillTo.CLIENT], payer_total=by[BillTo.PAYER],
        package_total=by[BillTo.PACKAGE], paid=paid, credited=credited,
        written_off=written_off, balance=total - paid - credited - written_off, by_bill_to=by,
    )  # fmt: skip


def paid_state(t: Totals) -> InvoiceState:
    """The state of an issued invoice from its totals: paid when nothing is left to pay,
    partly paid once anything has come in, else issued."""
    if t.balance <= ZERO:
        return InvoiceState.PAID
    if t.paid > ZERO or t.credited > ZERO or t.written_off > ZERO:
        return InvoiceState.PARTLY_PAID
    return InvoiceState.ISSUED


AGEING_BUCKETS = ("current", "31-60", "61-90", "over 90")


def ageing_bucket(issued_on: date, *, today: date) -> str:
    """The ageing column of an unpaid invoice: 0-30 days since issue is current, then 31-60,
    61-90 and over 90."""
    days = (today - issued_on).days
    if days <= 30:
        return AGEING_BUCKETS[0]
    if days <= 60:
        return AGEING_BUCKETS[1]
    if days <= 90:
        return AGEING_BUCKETS[2]
    return AGEING_BUCKETS[3]


# ---- subscriptions --------------------------------------------------------------------------


def billing_date(year: int, month: int, billing_day: int) -> date:
    """The billing day in a month; a day past the month's end is its last day (the 31st
    bills on 30 April and 28/29 February)."""
    return date(year, month, min(billing_day, monthrange(year, month)[1]))


def next_billing_date(after: date, billing_day: int) -> date:
    """The first billing date strictly after `after`."""
    this = billing_date(after.year, after.month, billing_day)
    if this > after:
        return this
    year, month = (after.year + 1, 1) if after.month == 12 else (after.year, after.month + 1)
    return billing_date(year, month, billing_day)


def period_of(on: date, billing_day: int) -> tuple[date, date]:
    """The billing period holding `on`: from the last billing date on or before it to the
    day before the next."""
    start = billing_date(on.year, on.month, billing_day)
    if start > on:
        year, month = (on.year - 1, 12) if on.month == 1 else (on.year, on.month - 1)
        start = billing_date(year, month, billing_day)
    return start, next_billing_date(start, billing_day) - timedelta(days=1)


def prorate(amount: Decimal, *, start: date, end: date, period: tuple[date, date]) -> Decimal:
    """`amount` for the days `start`..`end` (inclusive) of a billing `period`, to the cent."""
    first, last = period
    days = (min(end, last) - max(start, first)).days + 1
    whole = (last - first).days + 1
    if days <= 0:
        return ZERO
    return money(Decimal(amount) * Decimal(days) / Decimal(whole))


__all__ = [
    "AGEING_BUCKETS",
    "BillTo",
    "Coverage",
    "CoverageKind",
    "Encounter",
    "EncounterKind",
    "FeeSchedule",
    "InvoiceState",
    "Line",
    "NoPrice",
    "Package",
    "Purpose",
    "Rounding",
    "Service",
    "Totals",
    "ageing_bucket",
    "billing_date",
    "charge_lines",
    "money",
    "next_billing_date",
    "paid_state",
    "period_of",
    "place_of_service",
    "prorate",
    "psychotherapy_code",
    "round_minutes",
    "totals",
]
