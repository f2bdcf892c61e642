"""Home pages: the staff home, the client's portal home and the companion's home.

A client sees only their own record; a companion sees nothing clinical.
"""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from kapflow import policy
from kapflow.audit.selectors import client_access_report
from kapflow.audit.services import audit_record
from kapflow.patients.selectors import companion_links, own_client_record


@login_required
def home(request):
    actor = request.actor
    if policy.is_staff_actor(actor):
        return render(request, "portal/staff_home.html")
    if policy.is_client_actor(actor):
        return client_home(request)
    if policy.is_companion_actor(actor):
        companions = companion_links(user=request.user)
        return render(request, "portal/companion_home.html", {"companions": companions})
    return render(request, "portal/no_membership.html")


def client_home(request):
    client = own_client_record(user=request.user)
    if client is None:
        return render(request, "portal/no_membership.html")
    audit_record(
        actor=request.actor, action="portal.record_view", target=client, client_id=client.pk
    )
    from kapflow.courses.models import Course

    daily_plan = Course.objects.filter(
        client=client, pathway="low_dose", stage__in=["active", "maintenance"]
    ).exists()
    return render(request, "portal/client_home.html", {"client": client, "daily_plan": daily_plan})


@login_required
def access_report(request):
    """'Who looked at my record': the client's own accounting of access."""
    if not policy.is_client_actor(request.actor):
        raise Http404()
    client = own_client_record(user=request.user)
    if client is None:
        raise Http404()
    events = client_access_report(client_id=client.pk)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "portal/access_report.html", {"page": page, "client": client})
