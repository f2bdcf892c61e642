"""The session room page. Thin: who may enter is kapflow.telehealth.selectors.room_access;
the room itself runs over the WebSocket (kapflow.telehealth.consumers) and in
static/kapflow/room.js. The page carries only ids."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from kapflow import policy
from kapflow.core import clock
from kapflow.core.errors import NotFound
from kapflow.core.views import add_errors, staff_actor
from kapflow.telehealth import selectors, services
from kapflow.telehealth.forms import TelehealthSettingsForm
from kapflow.telehealth.models import VisualCheckAnswer


@login_required
def room(request, appointment_id: int):
    try:
        access = selectors.room_access(user=request.user, appointment_id=appointment_id)
    except NotFound:
        raise Http404("Room not found.") from None
    appointment = access.appointment
    external = selectors.uses_external_link(appointment.organisation_id)
    refusal = selectors.room_window_refusal(appointment, clock.now())
    host = policy.can_host_room(access.actor, access.role)
    session = selectors.dosing_session_for(appointment) if host else None
    context = {
        "appointment": appointment,
        "role": access.role,
        "host": host,
        "external": external,
        "refusal": refusal,
        "session": session,
        "plan": selectors.emergency_plan(access.room, appointment) if host else None,
        "answers": VisualCheckAnswer.choices,
    }
    response = render(request, "telehealth/room.html", context)
    # The one page that may use the camera and microphone (everywhere else: none).
    response["Permissions-Policy"] = "camera=(self), microphone=(self), geolocation=()"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request):
    """The practice's choice of video: the session room or its own link (practice admins)."""
    actor = staff_actor(request)
    if not policy.can_manage_practice_settings(actor):
        raise Http404()
    current = "external" if selectors.uses_external_link(actor.organisation_id) else "room"
    form = TelehealthSettingsForm(request.POST or None, initial={"video": current})
    if request.method == "POST" and form.is_valid():
        try:
            services.telehealth_settings_update(
                actor=actor, use_external_link=form.cleaned_data["video"] == "external"
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "Session room settings saved.")
            return redirect("telehealth:settings")
    return render(
        request, "telehealth/settings.html", {"form": form}, status=422 if form.errors else 200
    )
