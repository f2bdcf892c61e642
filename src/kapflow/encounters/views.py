"""The dosing-session screen, the group screen, and the client's and companion's pages.

Thin: forms in, one service or selector call, a template out. The screen's live region
(status, flags, due vitals, discharge criteria, timeline) is a partial that htmx polls every
10 seconds and that every entry form swaps in after posting, so two staff stay in step. A
refusal renders the same partial with every reason at its top (409 rule, 422 input); a stale
version is a 409 showing the fresh state.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from kapflow import policy
from kapflow.audit.services import (
    audit_not_found,
    audit_record,
    audit_record_many,
    audit_route_not_found,
)
from kapflow.core.errors import DomainError, GateBlocked, PermissionDenied
from kapflow.core.views import add_errors, staff_actor
from kapflow.encounters import forms, selectors, services
from kapflow.encounters.models import (
    OPEN_STATES,
    EntryKind,
    SessionSettings,
    SessionState,
    TimelineEntry,
)

PARTIAL = "encounters/_live_response.html"


# ---- the session screen -------------------------------------------------------------------


def _screen_context(actor, session, *, now=None, problems=None, refused=None, stale=False):
    now = now or timezone.now()
    state = selectors.session_state(session=session, now=now)
    course = session.course
    return {
        "session": session,
        "state": state,
        "now": now,
        "can_run": policy.can_run_session(actor, course),
        "can_record": policy.can_record_in_session(actor, course),
        "can_write_note": policy.can_write_note(actor, session.client, "dosing", "progress"),
        "problems": problems or [],
        "refused": refused,
        "stale": stale,
        "entry_kinds": EntryKind,
        # The companion's "Need help now" and check-ins reach the screen with each poll.
        "alarms": selectors.session_alarms(actor=actor, session=session),
    }


def _forms(session, bound=None, bound_name=""):
    names = {
        "start": forms.StartForm, "discharge": forms.DischargeForm,
        "abandon": forms.AbandonForm,
        **{f"entry_{k}": f for k, f in forms.ENTRY_FORMS.items()},
    }  # fmt: skip
    out = {}
    for name, cls in names.items():
        if name == bound_name and bound is not None:
            out[name] = bound
        elif name in ("start", "discharge", "abandon"):
            out[name] = cls(initial={"version": session.version}, auto_id=f"id_{name}_%s")
        else:
            out[name] = cls(auto_id=f"id_{name}_%s")
    if session.state == SessionState.IN_PROGRESS and bound_name != "entry_dose":
        _dose_form_from_prescription(session, out["entry_dose"])
    return out


def _dose_form_from_prescription(session, form) -> None:
    """The first dose is filled in from the prescription's per-session amount and route; the
    form says what the session may have in all, boosters included (decision 0030)."""
    from kapflow.prescriptions.selectors import session_allowance

    allowance = session_allowance(course=session.course, dosing_event_id=session.dose_event_id)
    if allowance is None:
        return
    if not session.dose_event_id:
        form.initial = {"amount": allowance.per_session_mg, "route": allowance.route}
        # session.js clears it once the dose is recorded: boosters are typed in.
        form.fields["amount"].widget.attrs["data-prefilled"] = ""
    most = format(allowance.most_mg.normalize(), "f")
    form.fields["amount"].help_text = (
        f"The prescription allows {format(allowance.per_session_mg.normalize(), 'f')} mg per "
        "session, boosters included"
        + (f"; the prescriber authorised up to {most} mg" if allowance.authorised_mg else "")
        + "."
    )


def _problems(exc, form=None) -> list[str]:
    """Plain messages, each named by its field's label (the field name when no form)."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            fields = form.fields if form is not None else {}
            return [
                f"{fields[name].label if name in fields else name}: {m}"
                for name, msgs in exc.message_dict.items()
                for m in msgs
            ]
        return list(exc.messages)
    return [exc.message]


def _refusal(request, actor, session_id, exc, *, form=None, form_name=""):
    """Every reason the request was refused, with the fresh state: the live partial for htmx
    (and a full page without it). 409 for rules and stale versions, 422 for input."""
    # The re-rendered screen shows the client: audited like the screen itself.
    session = selectors.session_get_for_actor(actor=actor, session_id=session_id)
    status = 422 if isinstance(exc, ValidationError) else 409
    refused = exc.explained() if isinstance(exc, GateBlocked) else None
    stale = getattr(exc, "code", "") == "session.stale"
    problems = [] if refused else _problems(exc, form)
    if form is not None and isinstance(exc, ValidationError) and not form.errors:
        add_errors(form, exc)
    context = _screen_context(actor, session, problems=problems, refused=refused, stale=stale)
    response_template = PARTIAL if request.htmx else "encounters/session.html"
    if not request.htmx:
        context["forms"] = _forms(session, form, form_name)
        context["client_context"] = selectors.session_context(session=session)
    return render(request, response_template, context, status=status)


def _done(request, session_id, *, reload=False):
    """After a write: htmx gets the fresh live region (or a full reload when the session
    changed state); a plain form post is redirected to the screen."""
    url = reverse("encounters:detail", args=[session_id])
    if not request.htmx:
        return redirect(url)
    if reload:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    actor = request.actor
    session = selectors.session_get_for_actor(actor=actor, session_id=session_id, audit_action="")
    return render(request, PARTIAL, _screen_context(actor, session))


@login_required
def session_detail(request, session_id: int):
    actor = staff_actor(request)
    session = selectors.session_get_for_actor(actor=actor, session_id=session_id)
    context = _screen_context(actor, session)
    context["forms"] = _forms(session)
    context["client_context"] = selectors.session_context(session=session)
    # The video room's link only for someone with a seat in it (the room tells anyone else
    # "not found"): an admin reading the screen of a session opened on a telehealth dosing
    # appointment has none.
    appointment = session.appointment if session.appointment_id else None
    context["room_seat"] = bool(
        appointment is not None
        and appointment.telehealth
        and policy.room_seat_role(
            actor,
            appointment,
            list(appointment.participants.select_related("client", "companion")),
        )
    )
    return render(request, "encounters/session.html", context)


@login_required
def session_live(request, session_id: int):
    """The polled live region. When the session changed state since the page was drawn
    (another clinician started or closed it), the whole page reloads."""
    actor = staff_actor(request)
    session = selectors.session_get_for_actor(
        actor=actor, session_id=session_id, audit_action="dosing_session.poll"
    )
    drawn = request.GET.get("state", "")
    if request.htmx and drawn and drawn != session.state:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, PARTIAL, _screen_context(actor, session))


@login_required
@require_http_methods(["GET", "POST"])
def session_open(request):
    """Open a session from a course (and optionally its booked appointment): GET shows a
    confirmation with the same form, POST opens and goes to the screen. When the course
    already has an open session, both go straight to it."""
    actor = staff_actor(request)
    form = forms.OpenForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        raise Http404()
    data = form.cleaned_data
    from kapflow.courses.selectors import course_get_for_actor

    course = course_get_for_actor(actor=actor, course_id=data["course_id"], audit_action="")
    existing = course.dosing_sessions.filter(state__in=OPEN_STATES).order_by("-pk").first()
    if existing is not None:
        # One open session per course: the course page's button continues it.
        return redirect("encounters:detail", session_id=existing.pk)
    if not policy.can_run_session(actor, course):
        raise Http404()
    problems = []
    if request.method == "POST":
        try:
            session = services.session_open(
                actor=actor, course_id=course.pk, appointment_id=data["appointment_id"]
            )
        except PermissionDenied:
            raise
        except (ValidationError, DomainError) as exc:
            problems = _problems(exc)
        else:
            return redirect("encounters:detail", session_id=session.pk)
    # The confirmation names the client.
    audit_record(
        actor=actor, action="dosing_session.open_view", target=course, client_id=course.client_id
    )
    return render(
        request,
        "encounters/open.html",
        {"course": course, "form": form, "problems": problems},
        status=409 if problems else 200,
    )


def _session_step(request, session_id: int, form_class, form_name: str, service, done: str):
    """Start, discharge or abandon: the form, the service, and on refusal the screen again
    with every reason (PermissionDenied stays a 403)."""
    actor = staff_actor(request)
    form = form_class(request.POST, auto_id=f"id_{form_name}_%s")
    try:
        if not form.is_valid():
            raise ValidationError(dict(form.errors.items()))
        service(actor=actor, session_id=session_id, **form.cleaned_data)
    except PermissionDenied:
        raise
    except (ValidationError, DomainError) as exc:
        return _refusal(request, actor, session_id, exc, form=form, form_name=form_name)
    messages.success(request, done)
    return _done(request, session_id, reload=True)


@login_required
@require_POST
def session_start(request, session_id: int):
    return _session_step(
        request, session_id, forms.StartForm, "start", services.session_start,
        "Session started. Record the dose when it is given.",
    )  # fmt: skip


@login_required
@require_POST
def entry_add(request, session_id: int, kind: str):
    actor = staff_actor(request)
    if kind not in forms.ENTRY_FORMS:
        raise Http404()
    form = forms.ENTRY_FORMS[kind](request.POST, auto_id=f"id_entry_{kind}_%s")
    if not form.is_valid():
        exc = ValidationError(dict(form.errors.items()))
        return _refusal(request, actor, session_id, exc, form=form, form_name=f"entry_{kind}")
    data = dict(form.cleaned_data)
    occurred_at = forms.when(data.pop("time", None))
    try:
        services.entry_add(
            actor=actor, session_id=session_id, kind=kind, occurred_at=occurred_at, **data
        )
    except PermissionDenied:
        raise
    except (ValidationError, DomainError) as exc:
        return _refusal(request, actor, session_id, exc, form=form, form_name=f"entry_{kind}")
    return _done(request, session_id)


@login_required
@require_http_methods(["GET", "POST"])
def entry_correct(request, session_id: int, entry_id: int):
    """A correction page for one entry: the replacement values, or a strike-through; the
    old entry stays on the timeline, marked as corrected."""
    actor = staff_actor(request)
    session = selectors.session_get_for_actor(actor=actor, session_id=session_id)
    entry = session.entries.filter(pk=entry_id).select_related("recorded_by").first()
    if entry is None:
        raise audit_not_found(actor=actor, model=TimelineEntry, object_id=entry_id)
    initial = {"version": session.version, **dict(entry.data.items())}
    if entry.kind == EntryKind.EVENT:
        initial["event_type"] = entry.data.get("type")
    initial["time"] = timezone.localtime(entry.occurred_at).time().replace(second=0, microsecond=0)
    form = forms.CorrectForm(request.POST or None, initial=initial)
    problems: list[str] = []
    status = 200
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        time = data.pop("time", None)
        occurred_at = forms.when(time) if "time" in form.changed_data else None
        fields = {k: v for k, v in data.items() if v not in (None, "")}
        fields.pop("reason", None)
        fields.pop("strike", None)
        fields.pop("version", None)
        try:
            services.entry_correct(
                actor=actor, session_id=session.pk, entry_id=entry.pk,
                version=data["version"], reason=data["reason"], strike=data["strike"],
                occurred_at=occurred_at, **fields,
            )  # fmt: skip
        except ValidationError as exc:
            add_errors(form, exc)
            status = 422
        except PermissionDenied:
            raise
        except DomainError as exc:
            problems, status = [exc.message], 409
        else:
            messages.success(request, "Corrected; the original stays on the timeline.")
            return redirect("encounters:detail", session_id=session.pk)
    elif request.method == "POST":
        status = 422
    return render(
        request,
        "encounters/correct.html",
        {"session": session, "entry": entry, "form": form, "problems": problems},
        status=status,
    )


@login_required
@require_POST
def session_discharge(request, session_id: int):
    return _session_step(
        request, session_id, forms.DischargeForm, "discharge", services.session_discharge,
        "Client discharged; the session is closed.",
    )  # fmt: skip


@login_required
@require_POST
def session_abandon(request, session_id: int):
    return _session_step(
        request, session_id, forms.AbandonForm, "abandon", services.session_abandon,
        "Session ended without discharge.",
    )  # fmt: skip


# ---- the client's and companion's pages ---------------------------------------------------


def _party(request):
    """The client or companion; anyone else is told "not found"."""
    actor = getattr(request, "actor", None)
    if not (policy.is_client_actor(actor) or policy.is_companion_actor(actor)):
        raise audit_route_not_found(request)
    return actor


@login_required
def my_sessions(request):
    """The client's (or companion's) open sessions: where the portal links. One session
    goes straight to its checklist (or, for a companion during the session, the read-out)."""
    actor = _party(request)
    sessions = selectors.open_sessions_for_party(actor=actor)
    if len(sessions) == 1:
        only = sessions[0]
        if policy.is_companion_actor(actor) and only.state == "in_progress":
            return redirect("encounters:readout", session_id=only.pk)
        return redirect("encounters:checklist", session_id=only.pk)
    return render(request, "encounters/mine.html", {"sessions": sessions})


@login_required
@require_http_methods(["GET", "POST"])
def checklist(request, session_id: int):
    actor = _party(request)
    session, respondent = selectors.session_for_party(actor=actor, session_id=session_id)
    form = forms.ChecklistForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.checklist_submit(actor=actor, session_id=session.pk, answers=form.cleaned_data)
        except PermissionDenied:
            raise
        except (ValidationError, DomainError) as exc:
            form.add_error(None, _problems(exc))
            status = 409
        else:
            messages.success(request, "Thank you: your checklist was sent to your therapist.")
            return redirect("encounters:checklist", session_id=session.pk)
    return render(
        request,
        "encounters/checklist.html",
        {"session": session, "respondent": respondent, "form": form},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def readout(request, session_id: int):
    """The companion's page during an at-home session: a visual check, or a reading off the
    home monitor. Shown to the therapist's screen at once."""
    actor = getattr(request, "actor", None)
    if not policy.is_companion_actor(actor):
        raise audit_route_not_found(request)
    session, _ = selectors.session_for_party(actor=actor, session_id=session_id)
    check_form = forms.CheckForm(request.POST if request.POST.get("kind") == "check" else None)
    vitals_form = forms.ReadoutForm(request.POST if request.POST.get("kind") == "vitals" else None)
    status = 200
    if request.method == "POST":
        form = check_form if request.POST.get("kind") == "check" else vitals_form
        if form.is_valid():
            try:
                services.companion_reading_add(
                    actor=actor, session_id=session.pk,
                    kind="check" if form is check_form else "vitals", **form.cleaned_data,
                )  # fmt: skip
            except ValidationError as exc:
                add_errors(form, exc)
                status = 422
            except PermissionDenied:
                raise
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = 409
            else:
                messages.success(request, "Sent to the therapist.")
                return redirect("encounters:readout", session_id=session.pk)
        else:
            status = 422
    return render(
        request,
        "encounters/readout.html",
        {"session": session, "check_form": check_form, "vitals_form": vitals_form},
        status=status,
    )


# ---- groups -------------------------------------------------------------------------------


def _group_choices(actor, kind: str = "dosing"):
    from kapflow.accounts.models import Membership, Role
    from kapflow.clinical.course import DOSING_STAGES
    from kapflow.scheduling.models import Room

    courses = [
        c
        for c in policy.courses_queryset(actor)
        .filter(stage__in=[s.value for s in DOSING_STAGES], closed_at__isnull=True)
        .exclude(
            **(
                {"dosing_sessions__state__in": ["checklist", "in_progress"]}
                if kind == "dosing"
                else {}
            )
        )
        .select_related("client", "client__organisation")
        .prefetch_related("client__care_team")
        .order_by("client__legal_last_name", "client__legal_first_name", "id")
        if policy.can_run_session(actor, c)
    ]
    clinicians = list(
        Membership.objects.for_org(actor.organisation)
        .filter(is_active=True, roles__role__in=[Role.THERAPIST, Role.PRESCRIBER])
        .exclude(pk=actor.pk)
        .select_related("user")
        .distinct()
        .order_by("user__full_name")
    )
    rooms = list(Room.objects.for_org(actor.organisation).filter(is_active=True).order_by("name"))
    return courses, clinicians, rooms


@login_required
@require_http_methods(["GET", "POST"])
def group_new(request):
    actor = staff_actor(request)
    if not policy.can_lead_group(actor):
        raise Http404()
    courses, clinicians, rooms = _group_choices(actor)
    # The form lists the clients who may join: one audit row per client listed.
    audit_record_many(
        actor=actor, action="group_session.candidates", targets=courses, client_attr="client_id"
    )
    form = forms.GroupForm(
        request.POST or None, courses=courses, clinicians=clinicians, rooms=rooms
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            group = services.group_create(
                actor=actor, course_ids=[int(c) for c in data["courses"]], kind=data["kind"],
                co_clinician_id=data["co_clinician"], room_id=data["room"],
            )  # fmt: skip
        except ValidationError as exc:
            add_errors(form, exc)
            status = 422
        except PermissionDenied:
            raise
        except DomainError as exc:
            form.add_error(None, exc.message)
            status = 409
        else:
            return redirect(group.get_absolute_url())
    elif request.method == "POST":
        status = 422
    return render(request, "encounters/group_new.html", {"form": form}, status=status)


def _group_context(actor, group, *, audit_action: str = "group_session.view"):
    """The group screen's rows; one audit row per client shown (`audit_action`)."""
    now = timezone.now()
    integration = group.kind == "integration"
    rows = [] if integration else selectors.group_rows(actor=actor, group=group, now=now)
    attendees = selectors.group_attendees(actor=actor, group=group) if integration else []
    selectors.group_audit(
        actor=actor,
        action=audit_action,
        targets=[r.session for r in rows] + attendees,
    )
    return {
        "group": group,
        "rows": rows,
        "attendees": attendees,
        "clinicians": selectors.group_clinicians(group),
        "now": now,
    }


@login_required
def group_detail(request, group_id: int):
    actor = staff_actor(request)
    group = selectors.group_get_for_actor(actor=actor, group_id=group_id)
    context = _group_context(actor, group)
    if group.state == "open" and policy.can_lead_group(actor):
        courses, _, _ = _group_choices(actor, group.kind)
        context["add_form"] = forms.GroupAddForm(courses=courses)
        if group.kind == "integration":
            context["close_form"] = forms.GroupCloseForm(
                attendees=context["attendees"],
                initial={"attended": [a.course_id for a in context["attendees"]]},
            )
    return render(request, "encounters/group.html", context)


@login_required
@require_POST
def group_close(request, group_id: int):
    """Close a group integration session: attendance goes on each client's course."""
    actor = staff_actor(request)
    group = selectors.group_get_for_actor(actor=actor, group_id=group_id, audit_action="")
    attendees = selectors.group_attendees(actor=actor, group=group)
    form = forms.GroupCloseForm(request.POST, attendees=attendees)
    if not form.is_valid():
        messages.error(request, "Tick the clients who attended.")
        return redirect(group.get_absolute_url())
    try:
        services.group_integration_close(
            actor=actor, group_id=group.pk, attended_course_ids=form.cleaned_data["attended"],
            note=form.cleaned_data["note"],
        )  # fmt: skip
    except PermissionDenied:
        raise
    except GateBlocked as exc:
        context = _group_context(actor, group)
        context["refused"] = exc.reasons
        return render(request, "encounters/group.html", context, status=409)
    except (ValidationError, DomainError) as exc:
        messages.error(request, " ".join(_problems(exc)))
    else:
        messages.success(request, "Integration recorded on each attending client's course.")
    return redirect(group.get_absolute_url())


@login_required
def group_rows(request, group_id: int):
    actor = staff_actor(request)
    # Like the session screen's poll: each poll audits every client it shows.
    group = selectors.group_get_for_actor(actor=actor, group_id=group_id, audit_action="")
    return render(
        request,
        "encounters/_group_rows.html",
        _group_context(actor, group, audit_action="group_session.poll"),
    )


@login_required
@require_POST
def group_add(request, group_id: int):
    actor = staff_actor(request)
    group = selectors.group_get_for_actor(actor=actor, group_id=group_id, audit_action="")
    courses, _, _ = _group_choices(actor, group.kind)
    form = forms.GroupAddForm(request.POST, courses=courses)
    if not form.is_valid():
        messages.error(request, "Choose a client whose course is ready to dose.")
    else:
        try:
            services.group_add_client(
                actor=actor, group_id=group.pk, course_id=form.cleaned_data["course"]
            )
        except PermissionDenied:
            raise
        except (ValidationError, DomainError) as exc:
            messages.error(request, " ".join(_problems(exc)))
        else:
            messages.success(request, "Client added to the group.")
    return redirect(group.get_absolute_url())


# ---- settings -----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request):
    """The practice's in-session thresholds (practice admins)."""
    actor = staff_actor(request)
    if not policy.can_manage_practice_settings(actor):
        raise Http404()
    current = SessionSettings.objects.filter(organisation=actor.organisation).first()
    form = forms.SettingsForm(request.POST or None, instance=current or SessionSettings())
    if request.method == "POST" and form.is_valid():
        try:
            services.session_settings_update(actor=actor, data=form.cleaned_data)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "Session settings saved.")
            return redirect("encounters:settings")
    return render(
        request, "encounters/settings.html", {"form": form}, status=422 if form.errors else 200
    )
