"""When a measurement plan asks the client to fill in a questionnaire again. Pure.

The KAP measurement schedule (issue 4): a baseline before the first dosing, again before
each further dosing, one week after each dosing, then monthly while the course is open.
Each occasion has a stable key, so materialising the schedule twice asks nothing twice.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

PRE_DOSING_DELAY = timedelta(days=1)  # the next pre-dose questionnaire opens the day after
WEEK_AFTER = timedelta(days=7)
MONTH = timedelta(days=30)


@dataclass(frozen=True)
class Occasion:
    key: str  # stable, e.g. "baseline", "pre:2", "week:1", "month:3"
    schedule: str  # "baseline" / "pre_dosing" / "week_after" / "monthly"
    opens_at: datetime


def plan_occasions(
    *, started_at: datetime, dosing_times: list[datetime], now: datetime
) -> list[Occasion]:
    """Every occasion that has opened by `now`, oldest first."""
    dosings = sorted(dosing_times)
    occasions: list[Occasion] = []
    if not dosings or started_at <= dosings[0]:
        occasions.append(Occasion("baseline", "baseline", started_at))
    for n, dosed_at in enumerate(dosings, start=1):
        if dosed_at < started_at:
            continue
        occasions.append(Occasion(f"pre:{n + 1}", "pre_dosing", dosed_at + PRE_DOSING_DELAY))
        occasions.append(Occasion(f"week:{n}", "week_after", dosed_at + WEEK_AFTER))
    anchor = (dosings[-1] if dosings else started_at) + WEEK_AFTER
    k = 1
    while anchor + k * MONTH <= now:
        occasions.append(Occasion(f"month:{k}", "monthly", anchor + k * MONTH))
        k += 1
    return sorted((o for o in occasions if o.opens_at <= now), key=lambda o: o.opens_at)
