"""The course page's next steps: where each thing the course is waiting for is done, one
click away.

This module decides no rule. What stops the course comes from `kapflow.clinical.course`
(`blockers`: the dosing gate or the next transition's reasons, by stable code); what the
viewer may do comes from `kapflow.policy` (asked by the view). Here each reason code and
stage is only mapped to the page that answers it, for this viewer: a step they can take is
a link, a step someone else takes (the client signs, the prescriber decides) says who.
"""

from dataclasses import dataclass, field

from django.urls import reverse

from kapflow.clinical import course as rules
from kapflow.clinical import prescribing as rx


@dataclass(frozen=True)
class Step:
    label: str
    url: str = ""  # empty: someone else's step, shown as waiting
    why: str = ""  # the reason's own message, when a reason led here
    code: str = ""  # the reason code or stage it answers (data-code, for tests)
    waiting: bool = False  # someone else's step: the viewer can only look


@dataclass(frozen=True)
class Viewer:
    """What the viewer may do on this course, asked of kapflow.policy by the view."""

    can_refer: bool = False
    is_prescriber: bool = False  # the course's prescriber
    is_referral_prescriber: bool = False  # the open referral's prescriber
    can_assess: bool = False
    can_run_session: bool = False
    records: frozenset[str] = frozenset()  # event kinds the viewer may record here
    bookable_kinds: frozenset[str] = frozenset()
    actions: tuple[str, ...] = ()  # transitions the viewer may take, in the page's order


@dataclass
class NextSteps:
    primary: Step | None
    more: list[Step] = field(default_factory=list)  # other reasons still open
    links: list[Step] = field(default_factory=list)  # every step from the course, one click


# Reasons answered by a record on the course page itself: its form is drawn open.
RECORD_FOR_REASON = {"screen.missing": "risk_screen", "preparation.none": "preparation"}


def _book(course, kind: str) -> str:
    return f"{reverse('scheduling:book')}?course={course.pk}&kind={kind}"


def _action(action: str) -> str:
    return f"#action-{action}"


def _refer_step(course, viewer: Viewer, why: str, code: str) -> Step | None:
    if not viewer.can_refer:
        return None
    return Step(
        "Refer the client to a prescriber",
        reverse("prescriptions:refer", args=[course.pk]),
        why,
        code,
    )


def _referral_step(course, referral, viewer: Viewer, why: str, code: str) -> Step | None:
    """The prescriber's part: accept the referral, then evaluate and decide."""
    if referral is None or not referral.is_open:
        return _refer_step(course, viewer, why, code)
    if viewer.is_referral_prescriber:
        if referral.status == "sent":
            return Step(
                "Accept the referral and begin the evaluation",
                referral.get_absolute_url(),
                why,
                code,
            )
        return Step(
            "Evaluate and decide eligibility",
            reverse("prescriptions:evaluation", args=[referral.pk]),
            why,
            code,
        )
    return Step(
        f"Waiting for {referral.prescriber.user} to evaluate and decide",
        referral.get_absolute_url(),
        why,
        code,
        waiting=True,
    )


SUPPLY_LABELS = {
    # (the prescriber's step, what the others wait for)
    rx.SupplyStep.FILL: ("Record the pharmacy's fill", "the prescriber to record the fill"),
    rx.SupplyStep.REFILL: ("Record the next fill", "the prescriber to record the next fill"),
    rx.SupplyStep.PRESCRIBE: (
        "Write the prescription",
        "the prescriber to write the prescription",
    ),
}


def _supply_step(course, prescribing, viewer: Viewer, why: str, code: str) -> Step | None:
    """No dose to use: the prescription to write, or the fill to record on the one written
    (kapflow.clinical.prescribing.supply_step decides which)."""
    active = [p for p in (prescribing.prescriptions if prescribing else []) if p.status == "active"]
    step, index = rx.supply_step(
        [rx.Supply(dispensed=p.dispensed, used=p.used, fills=p.fills, refills=p.refills)
         for p in active]
    )  # fmt: skip
    if step is rx.SupplyStep.NONE:
        return None
    own, waiting = SUPPLY_LABELS[step]
    if not viewer.is_prescriber:
        return Step(f"Waiting for {waiting}", "", why, code, waiting=True)
    if index is None:
        return Step(own, reverse("prescriptions:prescribe", args=[course.pk]), why, code)
    return Step(own, active[index].get_absolute_url(), why, code)


def _for_reason(reason, *, course, referral, prescribing, viewer: Viewer) -> Step | None:
    code, why = reason.code, reason.message
    if code == "screen.missing":
        if "risk_screen" in viewer.records:
            return Step("Record the suicide-risk screen", "#record-risk_screen", why, code)
        return None
    if code in ("referral.no_prescriber",):
        return _refer_step(course, viewer, why, code)
    if code in ("eligibility.missing", "clearance.missing", "clearance.expired"):
        return _referral_step(course, referral, viewer, why, code)
    if code in ("prescription.missing", "prescription.no_doses_left"):
        return _supply_step(course, prescribing, viewer, why, code)
    if code.startswith("consent."):
        return Step(
            "Waiting for the client to sign in their portal",
            reverse("consents:client", args=[course.client_id]),
            why,
            code,
            waiting=True,
        )
    if code == "preparation.none" and "preparation" in viewer.bookable_kinds:
        return Step("Book a preparation session", _book(course, "preparation"), why, code)
    if code == "integration.overdue" and "integration" in viewer.bookable_kinds:
        return Step("Book an integration session", _book(course, "integration"), why, code)
    if code == "followup.overdue":
        if viewer.is_prescriber:
            return Step(
                "Record the follow-up",
                reverse("prescriptions:followup", args=[course.pk]),
                why,
                code,
            )
        if "followup" in viewer.bookable_kinds:
            return Step("Book a medical follow-up", _book(course, "followup"), why, code)
        return None
    if code == "companion.unconfirmed":
        return Step(
            "Confirm the companion on the client record",
            reverse("patients:detail", args=[course.client_id]),
            why,
            code,
        )
    if code == "dosing.session_open" and viewer.can_run_session:
        return Step(
            "Open the session in progress",
            f"{reverse('encounters:open')}?course_id={course.pk}",
            why,
            code,
        )
    return None


def _for_stage(facts, *, course, referral, prescribing, viewer: Viewer) -> Step | None:
    """The stage's forward step, when no reason stands in its way."""
    stage = facts.stage
    code = f"stage.{stage.value}"
    if stage is rules.Stage.INQUIRY and "start_intake" in viewer.actions:
        return Step("Start the intake", _action("start_intake"), code=code)
    if stage is rules.Stage.INTAKE:
        return _referral_step(course, referral, viewer, "", code)
    if stage in (rules.Stage.REFERRED, rules.Stage.MEDICAL_EVALUATION):
        return _referral_step(course, referral, viewer, "", code)
    if stage is rules.Stage.ELIGIBLE:
        if viewer.is_prescriber and (supply := _supply_step(course, prescribing, viewer, "", code)):
            return supply
        if "record_consent" in viewer.actions:
            return Step("Confirm the client's consent", _action("record_consent"), code=code)
    if stage is rules.Stage.CONSENTED and "start_preparation" in viewer.actions:
        return Step("Start preparation", _action("start_preparation"), code=code)
    if stage is rules.Stage.PREPARATION:
        if "activate" in viewer.actions and facts.preparation_done >= 1:
            return Step("Mark the client ready to dose", _action("activate"), code=code)
        if "preparation" in viewer.bookable_kinds:
            return Step("Book a preparation session", _book(course, "preparation"), code=code)
    if stage in rules.DOSING_STAGES:
        if viewer.can_run_session:
            return Step(
                "Open a dosing session",
                f"{reverse('encounters:open')}?course_id={course.pk}",
                code=code,
            )
        if "dosing" in viewer.bookable_kinds:
            return Step("Book the next dosing session", _book(course, "dosing"), code=code)
    return None


def _links(course, *, referral, prescribing, viewer: Viewer, facts) -> list[Step]:
    """Every step reachable from the course, whatever the stage (each one click)."""
    links: list[Step] = []
    if viewer.can_assess:
        links.append(
            Step(
                "Questionnaires: send or enter",
                f"{reverse('assessments:client', args=[course.client_id])}?course={course.pk}",
                code="questionnaires",
            )
        )
    if (
        viewer.can_refer
        and facts.stage is rules.Stage.INTAKE
        and not (referral and referral.is_open)
    ):
        links.append(Step("Refer", reverse("prescriptions:refer", args=[course.pk]), code="refer"))
    if referral is not None:
        if viewer.is_referral_prescriber and referral.status in ("accepted", "scheduled"):
            links.append(
                Step(
                    "Evaluate",
                    reverse("prescriptions:evaluation", args=[referral.pk]),
                    code="evaluate",
                )
            )
        else:
            links.append(Step("Referral", referral.get_absolute_url(), code="referral"))
    if viewer.is_prescriber and course.eligibility == "eligible" and not facts.closed:
        links.append(
            Step(
                "Prescribe", reverse("prescriptions:prescribe", args=[course.pk]), code="prescribe"
            )
        )
    links.append(
        Step("Consent", reverse("consents:client", args=[course.client_id]), code="consent")
    )
    for kind, label in (
        ("preparation", "Book preparation"),
        ("dosing", "Book dosing"),
        ("integration", "Book integration"),
    ):
        if kind in viewer.bookable_kinds and not facts.closed:
            links.append(Step(label, _book(course, kind), code=f"book.{kind}"))
    return links


def course_next_steps(
    *, course, facts, reasons, referral, prescribing, viewer: Viewer
) -> NextSteps:
    """The first step this viewer can take or is waiting for, the other open reasons, and
    every step's link. `reasons`: `rules.blockers` for the course, in their order."""
    mapped = [
        step
        for reason in reasons
        if (
            step := _for_reason(
                reason, course=course, referral=referral, prescribing=prescribing, viewer=viewer
            )
        )
    ]
    # One step per destination: four consent reasons are one trip to the consent record.
    seen: set[str] = set()
    unique = []
    for step in mapped:
        key = step.url or step.label
        if key not in seen:
            seen.add(key)
            unique.append(step)
    # The viewer's own step leads; a step someone else takes (the client signs, the
    # prescriber decides) leads only when the viewer has none.
    own = [s for s in unique if not s.waiting]
    forward = _for_stage(
        facts, course=course, referral=referral, prescribing=prescribing, viewer=viewer
    )
    if facts.closed:
        primary = None
    elif own:
        primary = own[0]
    elif (
        forward is not None
        and not forward.waiting
        and not (
            # A transition on this page is what the reasons block: they lead instead.
            unique and forward.url.startswith("#action-")
        )
    ):
        primary = forward
    elif unique:
        primary = unique[0]
    else:
        primary = forward
    return NextSteps(
        primary=primary,
        more=[s for s in unique if s is not primary],
        links=_links(
            course, referral=referral, prescribing=prescribing, viewer=viewer, facts=facts
        ),
    )
