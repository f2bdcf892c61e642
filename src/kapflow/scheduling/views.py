"""Scheduling pages: the clinician's week, an appointment, booking, rescheduling,
cancelling, availability, rooms, the personal calendar feed, the client's own appointments
and the companion's view. Thin: rules live in services, selectors and policy.

Times are shown in the viewer's zone (ActorMiddleware activates it) and the zone is named
on every page. Staff pages answer 404 to clients and companions; the client's and the
companion's pages answer 404 to everyone else.
"""

from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from kapflow import policy
from kapflow.audit.services import audit_route_not_found
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.core.views import add_errors, staff_actor
from kapflow.scheduling import forms, ical, selectors, services
from kapflow.scheduling.models import AppointmentKind


def _zone_name() -> str:
    return timezone.get_current_timezone_name()


def _int(value) -> int | None:
    return int(value) if isinstance(value, str) and value.isdecimal() and len(value) < 19 else None


def _scheduler(request):
    actor = staff_actor(request)
    if not policy.can_schedule(actor):
        raise audit_route_not_found(request)
    return actor


def _changeable(actor, appointment_id: int):
    """The appointment, if the actor may change it: not seen, 404; seen but not theirs to
    change (a partner's prescriber and the practice's therapy session), 403."""
    appt = selectors.appointment_get_for_actor(actor=actor, appointment_id=appointment_id)
    if not policy.can_change_appointment(actor, appt):
        raise PermissionDenied(
            "A partner's prescriber changes only their own medical evaluations and follow-ups."
        )
    return appt


def _refusal_by_fields(form, exc) -> None:
    """Each licensure refusal beside the clinician's field (else at the top of the form)."""
    for field_name, reason in exc.found:
        form.add_error(field_name if field_name in form.fields else None, reason.message)


def _anchor(request, today: date) -> date:
    """The day the calendar opens on: ?date= (or the older ?week=), else today; clamped far
    from year 1 and 9999 (the bounds in the viewer's zone would overflow)."""
    for name in ("date", "week"):
        try:
            anchor = date.fromisoformat(request.GET.get(name, "")[:10])
        except ValueError:
            continue
        return min(max(anchor, date(2000, 1, 3)), today + timedelta(days=5 * 366))
    return today


@login_required
def week(request):
    """The calendar: a clinician's day or week as a grid (rows of time, a column per day),
    their free half hours one click from a prefilled booking form."""
    actor = _scheduler(request)
    today = clock.viewer_today()
    view = "day" if request.GET.get("view") == "day" else "week"
    cal = selectors.calendar_for_member(
        actor=actor, membership_id=_int(request.GET.get("member")),
        anchor=_anchor(request, today), view=view, zone_name=_zone_name(),
    )  # fmt: skip
    members = []
    if policy.can_manage_rooms(actor):
        members = [
            m
            for m in selectors.schedulable_members(actor=actor)
            if m.organisation_id == actor.organisation_id
        ]
    is_own = cal.membership.pk == actor.pk
    return render(
        request,
        "scheduling/week.html",
        {"cal": cal, "members": members, "zone_name": _zone_name(), "is_own": is_own,
         "member_q": "" if is_own else f"&member={cal.membership.pk}",
         "can_manage_availability": policy.can_manage_availability(actor, cal.membership)},
    )  # fmt: skip


@login_required
def appointment_detail(request, appointment_id: int):
    actor = _scheduler(request)
    appt = selectors.appointment_get_for_actor(actor=actor, appointment_id=appointment_id)
    return render(
        request,
        "scheduling/detail.html",
        {"appt": appt, "history": selectors.appointment_history(appointment=appt),
         "zone_name": _zone_name(), "now": timezone.now(),
         "can_change": policy.can_change_appointment(actor, appt),
         # The question session_open asks: admins and partner prescribers read sessions but
         # do not open them.
         "can_open_session": appt.course is not None
         and policy.can_run_session(actor, appt.course),
         "record": selectors.appointment_record(appointment=appt),
         "check_in_from": appt.starts_at - services.CHECK_IN_EARLY},
    )  # fmt: skip


# The book page lists this many clients by name; any other client the actor may see can
# still be booked (a posted or pre-selected id is checked against policy.clients_queryset).
CLIENT_CHOICES_MAX = 300


def _book_form(request, actor, data=None, initial=None):
    clients = list(
        policy.clients_queryset(actor).order_by("legal_last_name", "legal_first_name", "pk")[
            :CLIENT_CHOICES_MAX
        ]
    )
    wanted = list((initial or {}).get("clients", []))
    if data is not None:
        wanted += [i for i in (_int(v) for v in data.getlist("clients")[:50]) if i]
    listed = {c.pk for c in clients}
    wanted = [i for i in dict.fromkeys(wanted) if i not in listed]
    if wanted:
        clients += list(policy.clients_queryset(actor).filter(pk__in=wanted))
    rooms = selectors.rooms_list(organisation_id=actor.organisation_id, active_only=True)
    clinicians = selectors.schedulable_members(actor=actor)
    if initial is not None and "room" not in initial and not initial.get("telehealth"):
        # A practice with one room books in it unless told otherwise (issue 17: one choice
        # less per booking); the booking checks the room's clashes as always.
        rooms = list(rooms)
        if len(rooms) == 1:
            initial = {**initial, "room": rooms[0].pk}
    return forms.BookForm(
        data, initial=initial, clients=clients, clinicians=clinicians, rooms=rooms,
        integration_hours=selectors.integration_hours(actor.organisation_id),
        kinds=policy.bookable_kinds(actor),
    )  # fmt: skip


def _book_initial(request, actor) -> dict:
    initial = {"starts_at": forms.default_start(timezone.now())}
    # A free slot of the calendar: ?at=<UTC instant>&therapist=<id>&room=<id> (ids only).
    at = _parse_start((request.GET.get("at") or "").replace("Z", "+00:00"))
    now = timezone.now()
    # Only a plausible booking time: a year 1 or 9999 instant cannot be shown in a zone west
    # (or east) of UTC, and the form would fail to draw (a 500 instead of a default).
    if at is not None and now - timedelta(days=366) <= at <= now + timedelta(days=5 * 366):
        initial["starts_at"] = at
    for name in ("therapist", "prescriber", "room"):
        if _int(request.GET.get(name)):
            initial[name] = int(request.GET[name])
    kind = request.GET.get("kind")
    if kind in AppointmentKind.values:
        initial["kind"] = kind
    course_id = _int(request.GET.get("course"))
    if course_id:
        course = policy.courses_queryset(actor).filter(pk=course_id).first()
        if course is None:
            raise Http404()
        initial["clients"] = [course.client_id]
        initial["therapist"] = course.therapist_id
        if course.delivery == "at_home" and kind == AppointmentKind.DOSING:
            initial["telehealth"] = True
    client_id = _int(request.GET.get("client"))
    if client_id and "clients" not in initial:
        initial["clients"] = [client_id]
    if initial.get("kind") == AppointmentKind.DOSING:
        initial["book_integration"] = True
        initial["integration_starts_at"] = forms.rules.default_integration_start(
            initial["starts_at"], _zone_name()
        )
    return initial


@login_required
@require_http_methods(["GET", "POST"])
def book(request):
    actor = _scheduler(request)
    initial = _book_initial(request, actor) if request.method == "GET" else None
    form = _book_form(request, actor, request.POST if request.method == "POST" else None, initial)
    warnings, refused, status = [], [], None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            booking = services.appointment_book(
                actor=actor, kind=data["kind"], starts_at=data["starts_at"],
                minutes=data.get("minutes"), client_ids=data["clients"],
                therapist_id=data.get("therapist"), prescriber_id=data.get("prescriber"),
                room_id=data.get("room"), telehealth=data.get("telehealth", False),
                telehealth_url=data.get("telehealth_url", ""), recurrence=form.recurrence(),
                integration_starts_at=data.get("integration_starts_at")
                if data.get("book_integration") else None,
                confirm=data.get("confirm", False), display_zone=_zone_name(),
            )  # fmt: skip
        except services.ConfirmationRequired as exc:
            warnings = exc.reasons
            form.data = form.data.copy()
            form.data["confirm"] = "on"
        except services.SchedulingConflict as exc:
            refused = exc.reasons
        except services.LicenceRefused as exc:
            _refusal_by_fields(form, exc)
        except NotFound:
            form.add_error("clients", "Choose a client you can book.")
        except PermissionDenied as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            status = 403
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except forms.forms.ValidationError as exc:
            add_errors(form, exc)
        else:
            count = len(booking.appointments)
            messages.success(request, "Booked." if count == 1 else f"Booked {count} appointments.")
            return redirect("scheduling:detail", booking.first.pk)
    status = status or (422 if (form.errors or refused) else 200)
    return render(
        request,
        "scheduling/book.html",
        {"form": form, "warnings": warnings, "refused": refused, "zone_name": _zone_name()},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def reschedule(request, appointment_id: int):
    actor = _scheduler(request)
    appt = _changeable(actor, appointment_id)
    form = forms.RescheduleForm(
        request.POST if request.method == "POST" else None,
        initial={"starts_at": appt.starts_at, "minutes": appt.duration_minutes,
                 "version": appt.version},
    )  # fmt: skip
    warnings, refused = [], []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            booking = services.appointment_reschedule(
                actor=actor, appointment_id=appt.pk, version=data["version"],
                starts_at=data["starts_at"], minutes=data.get("minutes"),
                reason=data.get("reason", ""), confirm=data.get("confirm", False),
                display_zone=_zone_name(),
            )  # fmt: skip
        except services.ConfirmationRequired as exc:
            warnings = exc.reasons
            form.data = form.data.copy()
            form.data["confirm"] = "on"
        except services.SchedulingConflict as exc:
            refused = exc.reasons
        except services.LicenceRefused as exc:
            _refusal_by_fields(form, exc)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except forms.forms.ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "Moved.")
            return redirect("scheduling:detail", booking.first.pk)
    return render(
        request,
        "scheduling/reschedule.html",
        {"appt": appt, "form": form, "warnings": warnings, "refused": refused,
         "zone_name": _zone_name()},
        status=422 if (form.errors or refused) else 200,
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def cancel(request, appointment_id: int):
    actor = _scheduler(request)
    appt = _changeable(actor, appointment_id)
    form = forms.CancelForm(
        request.POST if request.method == "POST" else None, initial={"version": appt.version}
    )
    if not appt.series_id:
        del form.fields["following"]
    if request.method == "POST" and form.is_valid():
        try:
            services.appointment_cancel(
                actor=actor, appointment_id=appt.pk, version=form.cleaned_data["version"],
                reason=form.cleaned_data["reason"],
                following=form.cleaned_data.get("following", False),
            )  # fmt: skip
        except DomainError as exc:
            form.add_error(None, exc.message)
        except forms.forms.ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "Cancelled.")
            return redirect("scheduling:detail", appt.pk)
    return render(
        request, "scheduling/cancel.html", {"appt": appt, "form": form, "zone_name": _zone_name()},
        status=422 if form.errors else 200,
    )  # fmt: skip


def _status_step(request, appointment_id: int, step) -> HttpResponse:
    """One status action posted from the appointment page; a refusal comes back as a
    message naming what to fix, on the appointment's page."""
    actor = _scheduler(request)
    try:
        appt = step(actor, _int(request.POST.get("version")))
    except NotFound:
        raise
    except DomainError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        messages.error(request, exc.message)
    except forms.forms.ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{appt.get_status_display()}.")
        for note in getattr(appt, "integration_skipped", []):
            messages.warning(request, note)
    return redirect("scheduling:detail", appointment_id)


@login_required
@require_POST
def mark(request, appointment_id: int):
    return _status_step(
        request, appointment_id,
        lambda actor, version: services.appointment_mark(
            actor=actor, appointment_id=appointment_id, version=version,
            status=request.POST.get("status", ""), reason=request.POST.get("reason", ""),
        ),
    )  # fmt: skip


@login_required
@require_POST
def check_in(request, appointment_id: int):
    return _status_step(
        request, appointment_id,
        lambda actor, version: services.appointment_check_in(
            actor=actor, appointment_id=appointment_id, version=version
        ),
    )  # fmt: skip


@login_required
@require_POST
def start(request, appointment_id: int):
    return _status_step(
        request, appointment_id,
        lambda actor, version: services.appointment_start(
            actor=actor, appointment_id=appointment_id, version=version
        ),
    )  # fmt: skip


@login_required
@require_POST
def complete(request, appointment_id: int):
    return _status_step(
        request, appointment_id,
        lambda actor, version: services.appointment_complete(
            actor=actor, appointment_id=appointment_id, version=version,
            note=request.POST.get("note", ""),
        ),
    )  # fmt: skip


# ---- availability and rooms -----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def availability(request):
    actor = staff_actor(request)
    member_id = _int(request.GET.get("member"))
    current = selectors.availability_for(actor=actor, membership_id=member_id)
    rule_form, exception_form = forms.RuleForm(prefix="rule"), forms.ExceptionForm(prefix="off")
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "add_rule":
                rule_form = forms.RuleForm(request.POST, prefix="rule")
                if rule_form.is_valid():
                    services.availability_rule_add(
                        actor=actor, membership_id=current.membership.pk, **rule_form.cleaned_data
                    )
                    return redirect(request.get_full_path())
            elif action == "add_exception":
                exception_form = forms.ExceptionForm(request.POST, prefix="off")
                if exception_form.is_valid():
                    services.availability_exception_add(
                        actor=actor, membership_id=current.membership.pk,
                        **exception_form.cleaned_data,
                    )  # fmt: skip
                    return redirect(request.get_full_path())
            elif action == "remove_rule" and _int(request.POST.get("id")):
                services.availability_rule_remove(actor=actor, rule_id=int(request.POST["id"]))
                return redirect(request.get_full_path())
            elif action == "remove_exception" and _int(request.POST.get("id")):
                services.availability_exception_remove(
                    actor=actor, exception_id=int(request.POST["id"])
                )
                return redirect(request.get_full_path())
        except forms.forms.ValidationError as exc:
            add_errors(rule_form if action == "add_rule" else exception_form, exc)
    return render(
        request,
        "scheduling/availability.html",
        {"current": current, "rule_form": rule_form, "exception_form": exception_form,
         "zone_name": _zone_name()},
        status=422 if (rule_form.errors or exception_form.errors) else 200,
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def rooms(request):
    actor = staff_actor(request)
    if not policy.can_manage_rooms(actor):
        raise Http404()
    form = forms.RoomForm(request.POST if request.POST.get("action") == "create" else None)
    current = services.settings_for(actor.organisation_id)
    offsets = ", ".join(str(o) for o in reversed(services.reminder_offsets(current)))
    settings_form = forms.SettingsForm(
        request.POST if request.POST.get("action") == "settings" else None,
        initial={"group_size_max": current.group_size_max,
                 "reminder_offsets": offsets,
                 "reminder_sms": current.reminder_sms,
                 "reminder_sender_name": current.reminder_sender_name,
                 "integration_late_refused": current.integration_late_refused},
    )  # fmt: skip
    if request.method == "POST":
        try:
            if request.POST.get("action") == "settings" and settings_form.is_valid():
                services.scheduling_settings_update(actor=actor, **settings_form.cleaned_data)
                messages.success(request, "Settings saved.")
                return redirect("scheduling:rooms")
            if request.POST.get("action") == "create" and form.is_valid():
                services.room_create(actor=actor, **form.cleaned_data)
                messages.success(request, "Room added.")
                return redirect("scheduling:rooms")
            if request.POST.get("action") == "toggle" and _int(request.POST.get("id")):
                room = next(
                    (r for r in selectors.rooms_list(organisation_id=actor.organisation_id)
                     if r.pk == int(request.POST["id"])), None,
                )  # fmt: skip
                if room is None:
                    raise Http404()
                services.room_update(
                    actor=actor, room_id=room.pk, name=room.name, capacity=room.capacity,
                    is_active=not room.is_active,
                )  # fmt: skip
                return redirect("scheduling:rooms")
        except forms.forms.ValidationError as exc:
            add_errors(settings_form if request.POST.get("action") == "settings" else form, exc)
    return render(
        request,
        "scheduling/rooms.html",
        {"rooms": selectors.rooms_list(organisation_id=actor.organisation_id), "form": form,
         "settings_form": settings_form},
        status=422 if (form.errors or settings_form.errors) else 200,
    )  # fmt: skip


# ---- calendar feed --------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def calendar(request):
    actor = getattr(request, "actor", None)
    if not policy.can_use_calendar_feed(actor):
        raise Http404()
    form = forms.FeedForm(request.POST or None)
    new_url = ""
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            services.calendar_feed_revoke(actor=actor)
            messages.success(request, "The calendar link no longer works.")
            return redirect("scheduling:calendar")
        if form.is_valid():
            _, raw = services.calendar_feed_create(
                actor=actor, show_details=form.cleaned_data["show_details"]
            )
            from django.urls import reverse

            new_url = request.build_absolute_uri(reverse("scheduling:feed", args=[raw]))
    return render(
        request,
        "scheduling/calendar.html",
        {"feed": selectors.active_feed(actor=actor), "form": form, "new_url": new_url},
    )


@never_cache
def feed(request, token: str):
    """The secret URL is the credential: no session. Unknown or revoked: 404."""
    found = selectors.feed_for_token(token)
    if found is None:
        raise Http404()
    now = timezone.now()
    appointments = selectors.feed_appointments(feed=found, now=now)
    services.calendar_feed_used(feed=found, now=now)
    body = ical.feed_ics(appointments, show_details=found.show_details, now=now)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="kapflow.ics"'
    response["Referrer-Policy"] = "no-referrer"
    return response


# ---- the client and the companion -----------------------------------------------------------


@login_required
def mine(request):
    actor = getattr(request, "actor", None)
    if not policy.is_client_actor(actor):
        raise Http404()
    return render(
        request,
        "scheduling/mine.html",
        {"appointments": selectors.upcoming_for_client(actor=actor), "zone_name": _zone_name()},
    )


@login_required
def companion(request):
    actor = getattr(request, "actor", None)
    if not policy.is_companion_actor(actor):
        raise Http404()
    return render(
        request,
        "scheduling/companion.html",
        {"appointments": selectors.upcoming_for_companion(actor=actor), "zone_name": _zone_name()},
    )


# ---- self-scheduling in the portal (issue 16, decision 0046) ---------------------------------


def _parse_start(value: str):
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(value or "")
    except ValueError:
        return None
    return moment if moment.tzinfo else None


@login_required
@require_http_methods(["GET", "POST"])
def self_book(request):
    """The client's own booking page: open times per kind, a move or cancel per session,
    and "ask for a dosing session"."""
    actor = getattr(request, "actor", None)
    if not policy.is_client_actor(actor):
        raise Http404()
    error = ""
    if request.method == "POST":
        action = request.POST.get("action", "book")
        starts_at = _parse_start(request.POST.get("starts_at", ""))
        try:
            if action == "book":
                if starts_at is None:
                    raise DomainError("Choose one of the times shown.", field="starts_at")
                services.appointment_self_book(
                    actor=actor, kind=request.POST.get("kind", ""), starts_at=starts_at
                )
                messages.success(request, "Your session is booked.")
            elif action == "move":
                if starts_at is None:
                    raise DomainError("Choose one of the times shown.", field="starts_at")
                services.appointment_self_move(
                    actor=actor,
                    appointment_id=_int(request.POST.get("appointment_id")) or 0,
                    starts_at=starts_at,
                )
                messages.success(request, "Your session is moved.")
            elif action == "cancel":
                services.appointment_self_cancel(
                    actor=actor, appointment_id=_int(request.POST.get("appointment_id")) or 0
                )
                messages.success(request, "Your session is cancelled.")
            elif action == "dosing_request":
                services.dosing_request(actor=actor, note=request.POST.get("note", ""))
                messages.success(request, "Your therapist will be in touch to book it.")
            else:
                raise DomainError("Choose what to do.")
        except (DomainError, PermissionDenied) as exc:
            error = exc.message
        except NotFound:
            error = "That session was not found."
        except forms.forms.ValidationError as exc:
            error = " ".join(exc.messages)
        if not error:
            return redirect("scheduling:self_book")
    try:
        options = selectors.self_book_options(actor=actor)
    except NotFound:
        options = None
    appointments = selectors.upcoming_for_client(actor=actor)
    # Each session the client may change, with the open times it may move to.
    changeable = {a.id: options[a.kind][1] for a in appointments if options and a.kind in options}
    return render(
        request,
        "scheduling/self_book.html",
        {
            "options": options,
            "rows": [(a, changeable.get(a.id)) for a in appointments],
            "appointments": appointments,
            "zone_name": _zone_name(),
            "error": error,
            "kinds": dict(AppointmentKind.choices),
        },
    )
