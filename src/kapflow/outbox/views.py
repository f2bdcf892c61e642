"""The outbox page (/outbox/): demo mode only (decision 0039)."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from kapflow import policy
from kapflow.outbox import selectors

PER_PAGE = 20


@login_required
def outbox_list(request):
    if not policy.can_view_outbox(request.user):
        raise Http404()
    actor = getattr(request, "actor", None)
    messages = selectors.outbox_list(user=request.user, actor=actor)
    page = Paginator(messages, PER_PAGE).get_page(request.GET.get("page") or 1)
    return render(
        request,
        "outbox/outbox_list.html",
        {
            "page": page,
            "days": settings.KAPFLOW_OUTBOX_DAYS,
            "shows_invitations": policy.outbox_invitations_queryset(actor) is not None,
        },
    )
