"""Pages of the practice-partner collaboration. Thin: forms in, services and selectors out.
A refusal re-renders the page with every reason (409) or the field errors (422)."""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow import policy
from kapflow.accounts.models import Role
from kapflow.clinical import eligibility as screen
from kapflow.clinical.icd10 import diagnosis_search
from kapflow.core import clock
from kapflow.core.errors import DomainError, GateBlocked, NotFound
from kapflow.core.errors import PermissionDenied as ServicePermissionDenied
from kapflow.core.form_tokens import form_token_exempt
from kapflow.core.views import add_errors, staff_actor
from kapflow.courses import selectors as course_selectors
from kapflow.prescriptions import selectors, services
from kapflow.prescriptions.forms import (
    DecisionForm,
    DispenseForm,
    DoseAuthoriseForm,
    DoseLogForm,
    EvaluationForm,
    FollowupForm,
    PickupForm,
    PrescriptionForm,
    ReasonForm,
    ReferralForm,
    ScheduleForm,
    ShipForm,
)


def _fail(form, exc) -> int:
    """Put a refusal on the form: field errors (422) or every gate reason (409). "Not
    found" and "not yours to change" are not refusals to show: they become 404 and 403."""
    if isinstance(exc, NotFound):
        raise Http404() from exc
    if isinstance(exc, ServicePermissionDenied):
        raise PermissionDenied(exc.message) from exc
    if not form.is_bound:
        # A step with no input (accept): an empty bound form carries the refusal.
        form.data, form.is_bound = {}, True
        form.full_clean()
        form._errors.clear()
    if isinstance(exc, GateBlocked):
        for reason in exc.reasons:
            form.add_error(None, reason.message)
        return 409
    if isinstance(exc, ValidationError):
        add_errors(form, exc)
        return 422
    form.add_error(None, exc.message)
    return 409


# ---- referral ------------------------------------------------------------------------------


def _prescribers(actor, course):
    return list(
        policy.assignable_clinicians_queryset(actor, course.client)
        .filter(roles__role=Role.PRESCRIBER)
        .select_related("user", "organisation")
        .order_by("organisation__name", "user__full_name")
    )


@login_required
def referral_new(request, course_id: int):
    actor = staff_actor(request)
    course = course_selectors.course_get_for_actor(actor=actor, course_id=course_id)
    if not policy.can_refer(actor, course):
        raise Http404()
    form = ReferralForm(request.POST or None, prescribers=_prescribers(actor, course))
    chosen = []
    status = 200
    if request.method == "POST":
        # Picked codes arrive one per value; typed ones may be comma-separated.
        codes = [
            code
            for value in request.POST.getlist("diagnoses")[: services.MAX_DIAGNOSES + 5]
            for code in re.split(r"[,;\s]+", value)
            if code
        ]
        chosen = [d for code in codes if (d := _diagnosis(code))]
        if form.is_valid():
            d = form.cleaned_data
            try:
                referral = services.referral_send(
                    actor=actor, course_id=course.pk, prescriber_id=d["prescriber"],
                    reason=d["reason"], diagnoses=codes, medications=d["medications"],
                    history=d["history"], share_scores=d["share_scores"],
                    consent_to_share=d["consent_to_share"], consent_note=d["consent_note"],
                )  # fmt: skip
            except (ValidationError, DomainError) as exc:
                status = _fail(form, exc)
            else:
                messages.success(request, "Referral sent.")
                return redirect(referral)
        else:
            status = 422
    return render(
        request,
        "prescriptions/referral_new.html",
        {"course": course, "form": form, "chosen": chosen},
        status=status,
    )


def _diagnosis(code):
    from kapflow.clinical.icd10 import diagnosis_get

    return diagnosis_get(code)


@form_token_exempt  # a search inside the referral form: it must not spend its token
@login_required
@require_POST
def icd_search(request):
    """The diagnosis picker's results (htmx). Posted, so search words stay out of URLs."""
    staff_actor(request)
    query = (request.POST.get("q") or "").strip()[:80]
    results = diagnosis_search(query, limit=15) if len(query) >= 2 else []
    return render(request, "prescriptions/_icd_results.html", {"results": results, "q": query})


@login_required
def referral_list(request):
    actor = staff_actor(request)
    status = request.GET.get("status") or "open"
    try:
        page_number = int(request.GET.get("page") or 1)
    except ValueError:
        page_number = 1
    page = selectors.referral_list(actor=actor, status=status, page=page_number)
    return render(request, "prescriptions/referral_list.html", {"page": page, "status": status})


@login_required
def referral_detail(request, referral_id: int, *, forms=None, status=200):
    actor = staff_actor(request)
    referral = selectors.referral_get_for_actor(actor=actor, referral_id=referral_id)
    is_prescriber = policy.is_referral_prescriber(actor, referral)
    # The practice may withdraw; the partner may read a closed referral without its course.
    course = (
        course_selectors.course_get_for_actor(
            actor=actor, course_id=referral.course_id, audit_action=""
        )
        if actor.organisation_id == referral.organisation_id
        else None
    )
    forms = forms or {}
    return render(
        request,
        "prescriptions/referral_detail.html",
        {
            "referral": referral,
            "is_prescriber": is_prescriber,
            "can_withdraw": course is not None
            and referral.is_open
            and policy.can_refer(actor, course),
            "schedule_form": forms.get("schedule") or ScheduleForm(),
            "close_form": forms.get("close") or ReasonForm(),
            "has_evaluation": hasattr(referral, "evaluation")
            and referral.status not in ("sent", "withdrawn", "declined"),
            "shows_content": is_prescriber is False or referral.status != "withdrawn",
        },
        status=status,
    )


def _referral_action(
    request, referral_id, run, form=None, key=None, done="Saved.", then="prescriptions:referral"
):
    actor = staff_actor(request)
    try:
        run(actor)
    except (ValidationError, DomainError) as exc:
        form = form or ReasonForm()
        status = _fail(form, exc)
        return referral_detail(
            request, referral_id=referral_id, forms={key or "close": form}, status=status
        )
    messages.success(request, done)
    return redirect(then, referral_id=referral_id)


@login_required
@require_POST
def referral_accept(request, referral_id: int):
    return _referral_action(
        request, referral_id,
        lambda actor: services.referral_accept(actor=actor, referral_id=referral_id),
        done="Referral accepted; the evaluation is open.",
        # Straight on to the evaluation, started from what the referral sent.
        then="prescriptions:evaluation",
    )  # fmt: skip


@login_required
@require_POST
def referral_schedule(request, referral_id: int):
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        return referral_detail(
            request, referral_id=referral_id, forms={"schedule": form}, status=422
        )
    return _referral_action(
        request, referral_id,
        lambda actor: services.referral_schedule(
            actor=actor, referral_id=referral_id,
            scheduled_for=form.cleaned_data["scheduled_for"],
        ),
        form=form, key="schedule", done="Evaluation scheduled.",
    )  # fmt: skip


@login_required
@require_POST
def referral_close(request, referral_id: int):
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return referral_detail(request, referral_id=referral_id, forms={"close": form}, status=422)
    return _referral_action(
        request, referral_id,
        lambda actor: services.referral_close(
            actor=actor, referral_id=referral_id, reason=form.cleaned_data["reason"]
        ),
        form=form, done="Referral closed; the course is back at intake.",
    )  # fmt: skip


# ---- evaluation and decision ---------------------------------------------------------------


@login_required
def evaluation(request, referral_id: int):
    actor = staff_actor(request)
    view = selectors.evaluation_get_for_actor(actor=actor, referral_id=referral_id)
    ev = view.evaluation
    med_rows = len(ev.medications) + 2
    form = EvaluationForm(initial=EvaluationForm.initial_for(ev), med_rows=med_rows)
    to_review = screen.medications_to_review(view.findings)
    signer = actor.user.full_name
    decision_form = DecisionForm(
        initial={"findings_digest": view.digest}, to_review=to_review, signer=signer
    )
    status = 200
    if request.method == "POST":
        if not view.editable:
            raise Http404()
        if request.POST.get("intent") == "decide":
            decision_form = DecisionForm(request.POST, to_review=to_review, signer=signer)
            if decision_form.is_valid():
                d = decision_form.cleaned_data
                try:
                    services.eligibility_decide(
                        actor=actor, evaluation_id=ev.pk, decision=d["decision"],
                        reason=d["reason"], signature=d["signature"],
                        findings_digest_seen=d["findings_digest"],
                        acknowledge_exclusions=d["acknowledge_exclusions"],
                        medications_reviewed=d.get("medications_reviewed") or [],
                        clearance_valid_days=d["clearance_valid_days"],
                    )  # fmt: skip
                except (ValidationError, DomainError) as exc:
                    status = _fail(decision_form, exc)
                else:
                    messages.success(request, "Decision signed and shared with the practice.")
                    # Eligible: the prescriber goes straight on to the prescription.
                    if d["decision"] == "eligible" and policy.can_prescribe(actor, ev.course):
                        return redirect("prescriptions:prescribe", course_id=ev.course_id)
                    return redirect("prescriptions:evaluation", referral_id=referral_id)
            else:
                status = 422
        else:
            form = EvaluationForm(request.POST, med_rows=med_rows)
            if form.is_valid():
                d = form.cleaned_data
                try:
                    services.evaluation_save(
                        actor=actor, evaluation_id=ev.pk,
                        data={f: d[f] for f in services.EVALUATION_FIELDS},
                        medications=form.medications(), checklist=form.checklist(),
                        version=d["version"],
                    )  # fmt: skip
                except (ValidationError, DomainError) as exc:
                    status = _fail(form, exc)
                else:
                    messages.success(request, "Evaluation saved; the findings are updated.")
                    return redirect("prescriptions:evaluation", referral_id=referral_id)
            else:
                status = 422
        if status != 200:
            view = selectors.evaluation_get_for_actor(actor=actor, referral_id=referral_id)
            if request.POST.get("intent") == "decide":
                # Keep what was typed; sign against the findings as they are shown now.
                decision_form.data = decision_form.data.copy()
                decision_form.data["findings_digest"] = view.digest
    by_severity = {
        severity: [f for f in view.findings if f.severity is severity]
        for severity in screen.SEVERITY_ORDER
    }
    referral = view.evaluation.referral
    # Signed eligible, and nothing prescribed yet: the prescriber's way on.
    continue_to_prescription = (
        not view.editable
        and bool(view.decisions)
        and view.decisions[0].decision == "eligible"
        and policy.can_prescribe(actor, view.evaluation.course)
        and not course_selectors.course_facts(view.evaluation.course).prescription_active
    )
    return render(
        request,
        "prescriptions/evaluation.html",
        {
            "view": view,
            "referral": referral,
            "continue_to_prescription": continue_to_prescription,
            "prefilled": view.editable and bool(referral.history or referral.medications),
            "form": form,
            "decision_form": decision_form,
            "by_severity": by_severity,
            "severity_labels": screen.SEVERITY_LABELS,
            "checklist": screen.CHECKLIST,
            "medication_names": _medication_names(),
        },
        status=status,
    )


def _medication_names():
    from kapflow.clinical.medications import CATALOGUE

    return sorted({m.name for m in CATALOGUE} | {b for m in CATALOGUE for b in m.brands})


# ---- prescriptions -------------------------------------------------------------------------


@login_required
def prescription_new(request, course_id: int):
    actor = staff_actor(request)
    course = course_selectors.course_get_for_actor(actor=actor, course_id=course_id)
    if not policy.can_prescribe(actor, course):
        raise Http404()
    form = PrescriptionForm(
        request.POST or None, initial=selectors.prescription_prefill(actor=actor, course=course)
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            d = form.cleaned_data
            try:
                prescription = services.prescription_issue(actor=actor, course_id=course.pk, **d)
            except (ValidationError, DomainError) as exc:
                status = _fail(form, exc)
            else:
                messages.success(request, "Prescription written.")
                return redirect(prescription)
        else:
            status = 422
    prescribing = selectors.course_prescribing(actor=actor, course=course, now=timezone.now())
    return render(
        request,
        "prescriptions/prescription_new.html",
        {"course": course, "form": form, "decision": prescribing.decision},
        status=status,
    )


@login_required
def prescription_detail(request, prescription_id: int, *, forms=None, status=200):
    actor = staff_actor(request)
    view = selectors.prescription_get_for_actor(actor=actor, prescription_id=prescription_id)
    course = course_selectors.course_get_for_actor(
        actor=actor, course_id=view.prescription.course_id, audit_action=""
    )
    forms = forms or {}
    return render(
        request,
        "prescriptions/prescription_detail.html",
        {
            "view": view,
            "rx": view.prescription,
            "doses_left": selectors.doses_left(view.prescription),
            "fills_left": selectors.fills_left(view.prescription),
            "can_prescribe": policy.can_prescribe(actor, course),
            # The pharmacy's fill is what an issued prescription waits for: dated today (the
            # practice's day) and, before the first fill, open (issue 17).
            "dispense_form": forms.get("dispense")
            or DispenseForm(
                initial={
                    "quantity": view.prescription.quantity,
                    "dispensed_on": clock.clinical_date(view.prescription.course.organisation),
                }
            ),
            "dispense_open": "dispense" in forms or not view.dispenses,
            "cancel_form": forms.get("cancel") or ReasonForm(),
            "ship_form": ShipForm(),
            "pickup_form": PickupForm(),
            # A refused shipping or pick-up update shows its errors on its own row.
            "ship_failed": forms.get("ship"),
            "ship_failed_for": forms.get("ship_for"),
            "decline_form": forms.get("decline") or ReasonForm(),
            "authorise_form": forms.get("authorise") or DoseAuthoriseForm(),
        },
        status=status,
    )


def _rx_action(request, prescription_id, form, key, run, done, extra=None):
    actor = staff_actor(request)
    if not form.is_valid():
        return prescription_detail(
            request, prescription_id=prescription_id, forms={key: form, **(extra or {})},
            status=422,
        )  # fmt: skip
    try:
        run(actor, form.cleaned_data)
    except (ValidationError, DomainError) as exc:
        status = _fail(form, exc)
        return prescription_detail(
            request, prescription_id=prescription_id, forms={key: form, **(extra or {})},
            status=status,
        )  # fmt: skip
    messages.success(request, done)
    return redirect("prescriptions:prescription", prescription_id=prescription_id)


@login_required
@require_POST
def dispense_new(request, prescription_id: int):
    return _rx_action(
        request, prescription_id, DispenseForm(request.POST), "dispense",
        lambda actor, d: services.dispense_record(
            actor=actor, prescription_id=prescription_id, **d
        ),
        "Fill recorded.",
    )  # fmt: skip


@login_required
@require_POST
def dispense_ship(request, prescription_id: int, dispense_id: int):
    # The form only chooses which fields to read; the service checks the fill's own handover.
    pickup = request.POST.get("handover") == "pickup"
    form = PickupForm(request.POST) if pickup else ShipForm(request.POST)
    return _rx_action(
        request, prescription_id, form, "ship",
        lambda actor, d: services.dispense_ship(
            actor=actor, dispense_id=dispense_id, shipped_on=d.get("shipped_on"),
            tracking=d.get("tracking") or "", received_on=d.get("received_on"),
        ),
        "Pick-up recorded." if pickup else "Shipping recorded.",
        extra={"ship_for": dispense_id},
    )  # fmt: skip


@login_required
@require_POST
def prescription_cancel(request, prescription_id: int):
    return _rx_action(
        request, prescription_id, ReasonForm(request.POST), "cancel",
        lambda actor, d: services.prescription_cancel(
            actor=actor, prescription_id=prescription_id, reason=d["reason"]
        ),
        "Prescription cancelled.",
    )  # fmt: skip


@login_required
@require_POST
def dose_authorise(request, prescription_id: int):
    return _rx_action(
        request, prescription_id, DoseAuthoriseForm(request.POST), "authorise",
        lambda actor, d: services.dose_authorise(
            actor=actor, prescription_id=prescription_id, amount_mg=d["amount_mg"],
            reason=d["reason"],
        ),
        "The next session may have the amount you authorised.",
    )  # fmt: skip


@login_required
@require_POST
def refill_decline(request, prescription_id: int, request_id: int):
    return _rx_action(
        request, prescription_id, ReasonForm(request.POST), "decline",
        lambda actor, d: services.refill_request_decline(
            actor=actor, request_id=request_id, note=d["reason"]
        ),
        "Refill request declined.",
    )  # fmt: skip


@login_required
def followup_new(request, course_id: int):
    actor = staff_actor(request)
    course = course_selectors.course_get_for_actor(actor=actor, course_id=course_id)
    if not policy.can_prescribe(actor, course):
        raise Http404()
    form = FollowupForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.followup_record(actor=actor, course_id=course.pk, **form.cleaned_data)
            except (ValidationError, DomainError) as exc:
                status = _fail(form, exc)
            else:
                messages.success(request, "Follow-up recorded.")
                return redirect(course)
        else:
            status = 422
    row = course_selectors.course_row(course, now=timezone.now())
    return render(
        request,
        "prescriptions/followup_new.html",
        {"course": course, "row": row, "form": form},
        status=status,
    )


@login_required
def queue(request):
    actor = staff_actor(request)
    if not actor.has_role(Role.PRESCRIBER):
        raise Http404()
    return render(
        request, "prescriptions/queue.html", {"queue": selectors.prescriber_queue(actor=actor)}
    )


# ---- the client's daily low-dose log -------------------------------------------------------


@login_required
def dose_log(request):
    actor = getattr(request, "actor", None)
    if not policy.is_client_actor(actor):
        raise Http404()
    view = selectors.dose_log_for_client(actor=actor)
    form = DoseLogForm(
        request.POST or None, initial={"taken_on": clock.clinical_date(actor.organisation)}
    )
    status = 200
    if request.method == "POST" and view is not None:
        if form.is_valid():
            d = form.cleaned_data
            try:
                services.dose_log(
                    actor=actor, course_id=view.course.pk, taken_on=d["taken_on"],
                    amount_mg=d["amount_mg"], note=d["note"],
                )  # fmt: skip
            except (ValidationError, DomainError) as exc:
                status = _fail(form, exc)
            else:
                messages.success(request, "Dose logged. Thank you.")
                return redirect("prescriptions:dose_log")
        else:
            status = 422
        view = selectors.dose_log_for_client(actor=actor)
    return render(
        request, "prescriptions/dose_log.html", {"view": view, "form": form}, status=status
    )
