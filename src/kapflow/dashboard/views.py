"""The home page: one dashboard per role.

Staff see the sections of every role they hold (a practice admin who also treats clients sees
both): the clinician's today, the prescriber's queue counts, the practice at a glance, the
billing work. A client gets the portal home (with its next-step card), a companion the next
session they attend. Thin: the content is kapflow.dashboard.selectors'.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from kapflow import policy
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_batch
from kapflow.core import clock
from kapflow.dashboard import selectors
from kapflow.notifications.selectors import latest_unread, unread_count


@login_required
def home(request):
    actor = request.actor
    if policy.is_staff_actor(actor):
        return staff_home(request)
    if policy.is_client_actor(actor):
        from kapflow.portal.views import client_home

        return client_home(request)
    if policy.is_companion_actor(actor):
        return companion_home(request)
    return render(request, "portal/no_membership.html")


def staff_home(request):
    actor = request.actor
    now = clock.now()
    practice = actor.organisation.kind == "practice"
    context = {
        "can_schedule": policy.can_schedule(actor),
        "can_lead_group": policy.can_lead_group(actor),
        "can_create_client": policy.can_create_client(actor),
        "notifications": latest_unread(actor=actor),
        "notification_count": unread_count(actor=actor),
    }
    with audit_batch():
        if actor.has_role(Role.THERAPIST, Role.PRESCRIBER):
            context["clinician"] = selectors.therapist_home(actor=actor, now=now)
        if actor.has_role(Role.PRESCRIBER):
            from kapflow.prescriptions.selectors import prescriber_queue

            context["queue"] = prescriber_queue(actor=actor)
        if actor.has_role(Role.PRACTICE_ADMIN) and practice:
            context["glance"] = selectors.practice_glance(actor=actor, now=now)
    return render(request, "dashboard/staff.html", context)


def companion_home(request):
    return render(
        request,
        "dashboard/companion.html",
        {"home": selectors.companion_home(actor=request.actor)},
    )
