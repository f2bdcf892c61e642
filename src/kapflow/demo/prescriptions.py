"""The demo's prescriptions, fills, doses used and refill requests, planned for one course
at a time.
"""

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from kapflow.demo.plan import HIGHER, LOW, DemoCourse, Plan

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


def _self_logs(plan: Plan, *, rng: random.Random, now: datetime) -> list[dict]:
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


def plan_supply(spec: DemoCourse, plan: Plan, *, rng, now, prescriber, threshold: int):
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
