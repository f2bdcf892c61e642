"""The session room page. Thin: who may enter is kapflow.telehealth.selectors.room_access;
the room itself runs over the WebSocket (kapflow.telehealth.consumers) and in
static/kapflow/room.js. The page carries only ids."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from kapflow import policy
from kapflow.core import clock
from kapflow.core.errors import NotFound
from kapflow.telehealth import selectors
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
