"""The demo's questionnaire scores: PHQ-9 (and the other instruments) trajectories for
courses from preparation on.
"""

import random
from datetime import datetime, timedelta

from django.utils import timezone

# ---- questionnaire scores -------------------------------------------------------------------

# How a demo client's PHQ-9 ends up, relative to the baseline (weights of 20): most improve,
# some respond (>= 50 % drop), some remit (<= 4), a few do not change.
OUTCOME_PATHS = [("remits", 6), ("responds", 6), ("partial", 5), ("unchanged", 3)]
MAX_SCORES = 12
# Courses whose clients have questionnaire scores: from preparation (the baseline) on.
SCORED_STAGES = ["preparation", "active", "maintenance", "completed", "discharged", "withdrawn"]


def _answers(instrument, total: int, rng: random.Random, fixed: dict | None = None) -> dict:
    """Item answers that add up to `total`, spread at random over the scored items; `fixed`
    pins some items (PHQ-9 item 9 stays 0 unless pinned)."""
    fixed = dict(fixed or {})
    scored = [item for item in instrument.items if item.scored]
    answers = {item.id: 0 for item in scored} | fixed
    free = [item.id for item in scored if item.id not in fixed and item.id != "phq9_9"]
    remaining = max(0, min(total - sum(answers.values()), 3 * len(free)))
    while remaining:
        item_id = rng.choice([i for i in free if answers[i] < 3])
        answers[item_id] += 1
        remaining -= 1
    if instrument.code == "phq9":
        answers["phq9_difficulty"] = min(3, sum(answers.values()) // 7)
    return answers


def _trajectory(rng: random.Random, before: int, after: int, baseline: int, cap: int) -> list[int]:
    """Totals for `before` scores up to the first dosing session (close to `baseline`, the last
    of them exactly it) and `after` scores drifting towards an end point drawn from
    OUTCOME_PATHS."""
    path = rng.choices([p for p, _ in OUTCOME_PATHS], [w for _, w in OUTCOME_PATHS])[0]
    end = {
        "remits": rng.randint(1, 4),
        "responds": round(baseline * rng.uniform(0.3, 0.5)),
        "partial": round(baseline * rng.uniform(0.6, 0.85)),
        "unchanged": baseline + rng.randint(-2, 2),
    }[path]
    totals = [baseline + rng.randint(-2, 2) for _ in range(before - 1)] + [baseline] * (before > 0)
    for k in range(1, after + 1):
        value = baseline + (end - baseline) * (k / after) ** 0.8 + rng.uniform(-1.5, 1.5)
        totals.append(end if k == after else round(value))
    return [min(cap, max(0, t)) for t in totals]


def _score_times(rng, *, dosings, prepared_at, end, now) -> list[datetime]:
    """A baseline before the first dosing session (sometimes a screening score before it),
    then a score a day or three after each dosing session, none after `end`."""
    if not dosings:
        return [prepared_at]
    times = [dosings[0] - timedelta(days=rng.uniform(2, 5))]
    if rng.random() < 0.5:
        times.insert(0, times[0] - timedelta(days=rng.uniform(8, 14)))
    for dosed in dosings:
        at = dosed + timedelta(days=rng.uniform(1, 3))
        if at < min(end, now - timedelta(hours=2)):
            times.append(at)
    return times[: MAX_SCORES - 1] + times[-1:] if len(times) > MAX_SCORES else times


def load_outcomes(*, practice, own, seed: int) -> int:
    """PHQ-9 histories (and GAD-7 for about a third, and for anxiety) for the demo clients
    whose course has reached preparation: a baseline before the first dosing session and a
    score after each one, scored from item answers by kapflow.clinical.instruments. The client
    whose latest risk screen is positive answered PHQ-9 item 9 above "Not at all" shortly
    before it: that response has an open urgent task and its own positive risk screen on the
    timeline, as assessments.services would have recorded. Clients with any response already
    are left alone, so loading twice changes nothing. Returns the number of responses made."""
    from kapflow.assessments.models import Response, Source, UrgentTask
    from kapflow.clinical import instruments
    from kapflow.courses.models import Course, CourseEvent

    now = timezone.now()
    has_scores = set(Response.objects.for_org(practice).values_list("client_id", flat=True))
    courses = (
        Course.objects.for_org(practice)
        .filter(stage__in=SCORED_STAGES)
        .exclude(client_id__in=has_scores)
        .select_related("client", "therapist__user")
        .prefetch_related("events")
        .order_by("client_id", "-opened_at")
    )
    made = 0
    seen: set[int] = set()
    for course in courses:
        if course.client_id in seen:  # only the client's most recent course
            continue
        seen.add(course.client_id)
        events = sorted(course.events.all(), key=lambda e: e.occurred_at)
        dosings = [e.occurred_at for e in events if e.kind == "dosing"]
        preparations = [e.occurred_at for e in events if e.kind == "preparation"]
        if course.stage != "preparation" and not dosings:
            continue  # closed before dosing: no measurement plan ran
        screens = [e for e in events if e.kind == "risk_screen"]
        flagged = bool(screens) and screens[-1].positive and course.closed_at is None
        rng = random.Random(f"{seed}:outcomes:{course.client.email}")
        times = _score_times(
            rng, dosings=dosings, end=course.closed_at or now, now=now,
            prepared_at=preparations[0] if preparations else now - timedelta(days=2),
        )  # fmt: skip
        if flagged:
            # Worse again, and item 9 answered "several days", hours before the screen.
            times = [t for t in times if t < screens[-1].occurred_at - timedelta(hours=4)]
            times.append(screens[-1].occurred_at - timedelta(hours=3))
        portal = course.client_id == own.pk
        by = course.client.user if portal else course.therapist.user
        wanted = [("phq9", rng.randint(13, 22))]
        if course.condition == "anxiety" or rng.random() < 0.33:
            wanted.append(("gad7", rng.randint(10, 17)))
        for code, baseline in wanted:
            inst = instruments.get(code)
            cap = 3 * (len([i for i in inst.items if i.scored]) - (code == "phq9"))
            before = sum(1 for t in times if not dosings or t < dosings[0])
            totals = _trajectory(rng, before, len(times) - before, baseline, cap)
            if flagged and code == "phq9" and len(totals) > 1:
                totals[-1] = max(totals[-2] + 3, 12)
            for n, (at, total) in enumerate(zip(times, totals, strict=True)):
                item9 = {"phq9_9": 1} if flagged and code == "phq9" and n == len(totals) - 1 else {}
                answers = _answers(inst, total, rng, item9)
                result = inst.score(answers)
                flags = inst.safety(answers)
                response = Response.objects.create(
                    organisation=practice, client=course.client, course=course,
                    instrument=code, answers=answers, total=result.total,
                    band=result.band.label, severity=result.band.severity,
                    detail=dict(result.detail),
                    safety_flags=[{"code": f.code, "message": f.message, "level": f.level}
                                  for f in flags],
                    source=Source.PORTAL if portal else Source.STAFF, entered_by=by,
                    started_at=at - timedelta(minutes=rng.randint(3, 12)), submitted_at=at,
                )  # fmt: skip
                made += 1
                if flags:
                    UrgentTask.objects.create(
                        organisation=practice, client=course.client, course=course,
                        response=response, codes=[f.code for f in flags],
                        level="high" if any(f.level == "high" for f in flags) else "moderate",
                        created_at=at,
                    )  # fmt: skip
                    CourseEvent.objects.create(
                        organisation=practice, course=course, kind="risk_screen",
                        occurred_at=at, recorded_at=at, actor=by,
                        actor_membership=None if portal else course.therapist, positive=True,
                        data={"response_id": response.pk, "instrument": code},
                    )  # fmt: skip
    return made
