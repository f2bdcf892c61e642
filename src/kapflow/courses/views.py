"""Caseload dashboard, prescriber queue, the course page and its actions.

Views stay thin: filters and forms in, services and selectors out. A refused step renders the
course page again with every reason as a checklist (HTTP 409).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from kapflow import policy
from kapflow.accounts.models import Membership, Role
from kapflow.assessments.selectors import urgent_tasks_open
from kapflow.audit.services import audit_batch
from kapflow.clinical import course as rules
from kapflow.clinical import overrides as ovr
from kapflow.core.errors import DomainError, GateBlocked, NotFound, PermissionDenied
from kapflow.core.form_tokens import form_token_exempt
from kapflow.core.views import add_errors, staff_actor
from kapflow.courses import selectors, services
from kapflow.courses.forms import (
    CourseFilterForm,
    CourseOpenForm,
    DosingStartForm,
    GateSettingsForm,
    RecordForm,
    StandingOverrideForm,
    TransitionForm,
    overrides_from,
)
from kapflow.courses.models import EventKind
from kapflow.courses.next_steps import RECORD_FOR_REASON, Viewer, course_next_steps
from kapflow.patients.selectors import client_get_for_actor


def _therapists(actor):
    if actor.organisation.kind != "practice":
        return []
    return list(
        Membership.objects.for_org(actor.organisation)
        .filter(is_active=True, roles__role=Role.THERAPIST)
        .select_related("user")
        .order_by("user__full_name")
    )


def _open_alerts(actor):
    from kapflow.alerts.selectors import open_alerts

    return open_alerts(actor=actor, limit=20)


# The caseload's filters, remembered per signed-in person in their session (never the name
# searched: that is posted and forgotten, decision 0052).
CASELOAD_FILTERS = "caseload.filters"
REMEMBERED = ("status", "stage", "pathway", "delivery", "therapist", "sort")


def _caseload_source(request):
    """Where this request's filters come from: the form posted, a query string (links,
    bookmarks and "Clear"; ids and codes only), else the remembered ones."""
    if request.method == "POST":
        return request.POST
    if any(key in request.GET for key in (*REMEMBERED, "page")):
        return request.GET
    return request.session.get(CASELOAD_FILTERS) or {}


@form_token_exempt  # a search, posted on every keystroke (decision 0038)
@login_required
@require_http_methods(["GET", "POST"])
def dashboard(request):
    actor = staff_actor(request)
    source = _caseload_source(request)
    form = CourseFilterForm(source or None, therapists=_therapists(actor))
    data = form.cleaned_data if form.is_valid() else {}
    remembered = {k: str(data[k]) for k in REMEMBERED if data.get(k) not in (None, "")}
    if request.session.get(CASELOAD_FILTERS, {}) != remembered:
        request.session[CASELOAD_FILTERS] = remembered
    filters = selectors.CourseFilters(
        stage=data.get("stage") or "",
        pathway=data.get("pathway") or "",
        delivery=data.get("delivery") or "",
        therapist=data.get("therapist"),
        status=data.get("status") or "open",
        sort=data.get("sort") or "stage",
        page=data.get("page") or 1,
        search=(data.get("q") or "").strip(),
    )
    # A search or filter change redraws the rows only: the tasks and alerts above them are
    # neither read nor audited for it.
    rows_only = bool(request.htmx) and request.htmx.target == "course-results"
    context = {
        "form": form,
        "filters": filters,
        "remembered": remembered and request.method == "GET" and source is not request.GET,
        # The therapist's column, for whoever sees every therapist's courses.
        "several_therapists": actor.has_role(Role.PRACTICE_ADMIN),
    }
    # The courses and the alerts shown are recorded in one audit INSERT (decision 0042).
    with audit_batch():
        context["page"] = selectors.course_list(actor=actor, filters=filters)
        if not rows_only:
            context["alerts"] = _open_alerts(actor)
    if rows_only:
        return render(request, "courses/_course_rows.html", context)
    context["due_items"] = selectors.open_due_items(actor=actor, limit=10)
    context["urgent"] = urgent_tasks_open(actor=actor, limit=20)
    return render(request, "courses/dashboard.html", context)


@login_required
def prescriber_dashboard(request):
    """The prescriber's queue moved to kapflow.prescriptions with the referral workflow."""
    actor = staff_actor(request)
    if not actor.has_role(Role.PRESCRIBER):
        raise Http404()
    return redirect("prescriptions:queue")


def _open_records(records, row, gate) -> set[str]:
    """The quick records a standing reason asks for, drawn open (issue 17): the next step's
    reasons, and from preparation on the dosing gate's too."""
    standing = list(row.blockers)
    if row.facts.stage is rules.Stage.PREPARATION or row.facts.stage in rules.DOSING_STAGES:
        standing += gate
    codes = {r.code for r in standing}
    return {kind for code, kind in RECORD_FOR_REASON.items() if kind in records and code in codes}


def _detail_context(actor, course, *, refused=None, forms=None):
    now = timezone.now()
    row = selectors.course_row(course, now=now)
    gate = rules.dosing_reasons(row.facts, now=now, policy=selectors.gate_policy(course))
    actions = []
    for action in rules.allowed_actions(row.facts):
        transition = rules.TRANSITIONS[action]
        if action in services.WORKFLOW_ACTIONS:
            continue  # taken on the referral pages (kapflow.prescriptions)
        if not policy.can_act_on_course(actor, course, transition.side.value):
            continue
        actions.append(
            {
                "transition": transition,
                "reasons": rules.transition_reasons(
                    action, row.facts, now=now, policy=selectors.gate_policy(course)
                ),
            }
        )
    records = [
        kind
        for kind, side in services.RECORDABLE.items()
        if not row.facts.closed and policy.can_act_on_course(actor, course, side.value)
    ]
    from kapflow.alerts.selectors import open_alerts_for_course
    from kapflow.consents.selectors import client_consents
    from kapflow.encounters.selectors import sessions_for_course
    from kapflow.journal.selectors import shared_entries_for_course
    from kapflow.patients.selectors import companion_checkins_for_course
    from kapflow.prescriptions.selectors import course_prescribing
    from kapflow.scheduling.selectors import upcoming_for_course

    prescribing = course_prescribing(actor=actor, course=course, now=now)
    bookable = policy.bookable_kinds(actor) if policy.can_schedule(actor) else frozenset()
    referral = prescribing.referral
    steps = course_next_steps(
        course=course, facts=row.facts, referral=referral, prescribing=prescribing,
        reasons=row.blockers,
        viewer=Viewer(
            can_refer=prescribing.can_refer, is_prescriber=prescribing.is_prescriber,
            is_referral_prescriber=referral is not None
            and policy.is_referral_prescriber(actor, referral),
            # The questionnaires page also asks to see scores (a partner's prescriber only
            # when the referral shared them): no link to a page that would be a 404.
            can_assess=policy.can_assess(actor, course.client)
            and policy.can_see_scores(actor, course.client),
            can_run_session=row.facts.stage in rules.DOSING_STAGES
            and policy.can_run_session(actor, course),
            records=frozenset(records), bookable_kinds=frozenset(bookable),
            actions=tuple(a["transition"].action.value for a in actions),
        ),
    )  # fmt: skip
    return {
        "course": course,
        "row": row,
        "gate": gate,
        "steps": steps,
        "actions": actions,
        "records": [(k, EventKind(k).label) for k in records],
        "open_records": _open_records(records, row, gate),
        "prescribing": prescribing,
        "consent": selectors.consent_status(course),
        # Every signature listed is an audited read (consent.view).
        "consents": client_consents(actor=actor, client=course.client, now=now),
        "can_withdraw_consent": policy.can_withdraw_consent_for(actor, course.client),
        "timeline": selectors.course_timeline(course=course),
        # Reactions and need-help-now alerts (the banner refreshes itself every 15 s).
        "alerts": open_alerts_for_course(actor=actor, course=course),
        # The client's shared journal: therapy content, so not for partner prescribers.
        "journal_entries": shared_entries_for_course(actor=actor, course=course)
        if policy.can_read_shared_journal(actor, course)
        else None,
        "checkins": companion_checkins_for_course(actor=actor, course=course),
        "can_schedule": policy.can_schedule(actor),
        "bookable_kinds": policy.bookable_kinds(actor),
        "sessions": sessions_for_course(actor=actor, course=course),
        "can_run_session": row.facts.stage in rules.DOSING_STAGES
        and policy.can_run_session(actor, course),
        "can_list_notes": policy.can_list_notes(actor, course.client),
        "can_write_note": policy.can_write_note(actor, course.client, "dosing", "progress"),
        "upcoming": upcoming_for_course(actor=actor, course=course, now=now),
        "refused": refused,
        "forms": forms or {},
        "can_dose": row.facts.stage in rules.DOSING_STAGES
        and policy.can_act_on_course(actor, course, "therapist"),
        "can_sign_override": row.facts.stage in rules.DOSING_STAGES
        and policy.can_act_on_course(actor, course, "prescriber"),
        "stage_label": rules.STAGE_LABELS[row.facts.stage],
    }


@login_required
def course_detail(request, course_id: int):
    actor = staff_actor(request)
    course = selectors.course_get_for_actor(actor=actor, course_id=course_id)
    return render(request, "courses/detail.html", _detail_context(actor, course))


def _refused(request, actor, course_id, exc, forms=None):
    """Re-render the course page with every reason a step was refused: the gate's reasons
    (409), or the input errors by field (422)."""
    course = selectors.course_get_for_actor(actor=actor, course_id=course_id, audit_action="")
    if isinstance(exc, GateBlocked):
        context = _detail_context(actor, course, refused=exc.reasons, forms=forms)
        return render(request, "courses/detail.html", context, status=409)
    context = _detail_context(actor, course, forms=forms)
    context["input_errors"] = [exc.message]
    return render(request, "courses/detail.html", context, status=422)


@login_required
@require_POST
def course_open(request, client_id: int):
    actor = staff_actor(request)
    client = client_get_for_actor(actor=actor, client_id=client_id, audit_action="")
    form = CourseOpenForm(request.POST)
    if form.is_valid():
        try:
            course = services.course_open(
                actor=actor,
                client_id=client.pk,
                pathway=form.cleaned_data["pathway"],
                delivery=form.cleaned_data["delivery"],
                condition=form.cleaned_data["condition"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            if request.POST.get("then") != rules.Action.START_INTAKE.value:
                messages.success(request, "Course opened at inquiry.")
                return redirect(course.get_absolute_url())
            # The first contact is often the intake itself: its step too, in the same press
            # (issue 17). A refusal leaves the course at inquiry and says why.
            try:
                services.course_transition(
                    actor=actor, course_id=course.pk, action=rules.Action.START_INTAKE.value
                )
            except GateBlocked as exc:
                reasons = "; ".join(r.message for r in exc.reasons)
                messages.error(
                    request, f"Course opened at inquiry; the intake was not started: {reasons}"
                )
            except (ValidationError, DomainError) as exc:
                message = (
                    " ".join(exc.messages) if isinstance(exc, ValidationError) else exc.message
                )
                messages.error(
                    request, f"Course opened at inquiry; the intake was not started: {message}"
                )
            else:
                messages.success(request, "Course opened; intake started.")
            return redirect(course.get_absolute_url())
    else:
        messages.error(request, "Choose a pathway and a delivery.")
    return redirect(client.get_absolute_url())


def _form_error(form) -> DomainError:
    """A form's field errors as one refusal, each prefixed with its field's label."""
    return DomainError(
        # A hidden field (the step's action, the record's kind) has no label: its name, then.
        " ".join(
            f"{form.fields[f].label or f}: {e}" for f, errs in form.errors.items() for e in errs
        ),
        code="invalid",
    )


@login_required
@require_POST
def course_transition(request, course_id: int):
    actor = staff_actor(request)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        exc = _form_error(form)
        return _refused(request, actor, course_id, exc, forms={"transition": form})
    data = form.cleaned_data
    try:
        services.course_transition(
            actor=actor,
            course_id=course_id,
            action=data["action"],
            reason=data["reason"],
            prescriber_id=data["prescriber"],
            clearance_on=data["clearance_on"],
            clearance_valid_days=data["clearance_valid_days"],
            preparation_planned=data["preparation_planned"],
        )
    except ValidationError as exc:
        add_errors(form, exc)
        return _refused(
            request, actor, course_id, DomainError(" ".join(exc.messages), code="invalid"),
            forms={"transition": form},
        )  # fmt: skip
    except GateBlocked as exc:
        return _refused(request, actor, course_id, exc)
    except (NotFound, PermissionDenied):
        raise
    except DomainError as exc:
        # A step this page does not take (the referral's own steps): said, not a 500.
        return _refused(request, actor, course_id, exc, forms={"transition": form})
    messages.success(
        request, "Done: " + rules.TRANSITIONS[rules.Action(data["action"])].label + "."
    )
    return redirect("courses:detail", course_id=course_id)


@login_required
@require_POST
def course_record(request, course_id: int):
    actor = staff_actor(request)
    form = RecordForm(request.POST)
    if not form.is_valid():
        exc = _form_error(form)
        return _refused(request, actor, course_id, exc)
    data = form.cleaned_data
    try:
        services.course_record(
            actor=actor,
            course_id=course_id,
            kind=data["kind"],
            occurred_at=data["occurred_at"],
            note=data["note"],
            positive=data["positive"],
        )
    except ValidationError as exc:
        return _refused(
            request, actor, course_id, DomainError(" ".join(exc.messages), code="invalid")
        )
    except GateBlocked as exc:
        return _refused(request, actor, course_id, exc)
    messages.success(request, "Recorded.")
    return redirect("courses:detail", course_id=course_id)


@login_required
def dosing_start(request, course_id: int):
    actor = staff_actor(request)
    course = selectors.course_get_for_actor(actor=actor, course_id=course_id, audit_action="")
    from kapflow.prescriptions.selectors import session_allowance

    # The amount is filled in from the prescription (decision 0030); the service checks it.
    allowance = session_allowance(course=course)
    form = DosingStartForm(
        request.POST or None,
        initial={"amount_mg": allowance.per_session_mg} if allowance else None,
    )
    refused = None
    status = 200
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        day = rules.DoseDay(
            bp_systolic=d["bp_systolic"],
            bp_diastolic=d["bp_diastolic"],
            alcohol_free_24h=d["alcohol_free_24h"],
            companion_present=d["companion_present"],
            driver_confirmed=d["driver_confirmed"],
        )
        try:
            services.dosing_start(
                actor=actor, course_id=course.pk, day=day, overrides=form.overrides(),
                amount_mg=d["amount_mg"],
            )  # fmt: skip
        except GateBlocked as exc:
            refused, status = exc.explained(), 409
        else:
            messages.success(request, "Dosing session started; one dose used.")
            return redirect("courses:detail", course_id=course.pk)
    row = selectors.course_row(course, now=timezone.now())
    return render(
        request,
        "courses/dosing_start.html",
        {"course": course, "row": row, "form": form, "refused": refused, "allowance": allowance},
        status=status,
    )


@login_required
def override_sign(request, course_id: int):
    """Sign an override ahead of the start (the prescriber's blood-pressure or clearance
    decision, usually), through the same table as the start (decision 0029)."""
    actor = staff_actor(request)
    course = selectors.course_get_for_actor(actor=actor, course_id=course_id, audit_action="")
    form = StandingOverrideForm(request.POST or None)
    refused, status = None, 200
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        day = rules.DoseDay(bp_systolic=d["bp_systolic"], bp_diastolic=d["bp_diastolic"])
        try:
            decision = services.gate_override_sign(
                actor=actor, course_id=course.pk, overrides=overrides_from(d), day=day
            )
        except GateBlocked as exc:
            refused, status = exc.explained(), 409
        except ValidationError as exc:
            add_errors(form, exc)
        except PermissionDenied as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request, f"Override signed for {', '.join(map(ovr.reason_label, decision.codes))}; "
                f"it covers a start "
                f"within {ovr.STANDING_DECISION_HOURS} hours."
            )  # fmt: skip
            return redirect("courses:detail", course_id=course.pk)
    row = selectors.course_row(course, now=timezone.now())
    return render(
        request,
        "courses/override_sign.html",
        {"course": course, "row": row, "form": form, "refused": refused},
        status=status,
    )


@login_required
def override_report(request):
    """The practice's report of gate overrides (practice admins): each signed decision with
    its signer, licence, date (zone named), reasons and justification."""
    actor = staff_actor(request)
    page = selectors.override_list(actor=actor, page=request.GET.get("page") or 1)
    return render(request, "courses/overrides.html", {"page": page})


@login_required
def gate_settings(request):
    """The practice's dosing-gate thresholds (DOMAIN.md section 2), for practice admins."""
    actor = staff_actor(request)
    if not policy.can_manage_practice_settings(actor):
        raise Http404()
    from kapflow.courses.models import GateSettings

    current = GateSettings.objects.filter(organisation=actor.organisation).first()
    form = GateSettingsForm(request.POST or None, instance=current or GateSettings())
    if request.method == "POST" and form.is_valid():
        try:
            services.gate_settings_update(actor=actor, data=form.cleaned_data)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "Gate settings saved; they apply to every course now.")
            return redirect("courses:settings")
    return render(request, "courses/settings.html", {"form": form})
