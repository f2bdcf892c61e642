"""Notification pages: the list (unread first), open one (marks it read and goes to its page),
mark all read, and the header's unread count (an htmx fragment, so a page's own query count
does not change with it)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from kapflow.core.errors import NotFound
from kapflow.notifications import selectors, services


def _actor(request):
    actor = getattr(request, "actor", None)
    if actor is None:
        raise NotFound()
    return actor


@login_required
@require_GET
def notification_list(request):
    actor = _actor(request)
    page = selectors.notification_list(actor=actor, page=request.GET.get("page", 1))
    return render(
        request,
        "notifications/list.html",
        {"page": page, "unread": selectors.unread_count(actor=actor)},
    )


@login_required
@require_POST
def notification_open(request):
    actor = _actor(request)
    try:
        notification_id = int(request.POST.get("id", ""))
    except ValueError:
        notification_id = 0
    notification = services.notification_open(actor=actor, notification_id=notification_id)
    if notification is None:
        messages.info(request, "That notification is no longer there.")
        return redirect("notifications:list")
    url = selectors.link_for(notification)
    return redirect(url or "notifications:list")


@login_required
@require_POST
def notifications_read_all(request):
    count = services.notifications_read_all(actor=_actor(request))
    messages.success(
        request,
        f"{count} notification{'s' if count != 1 else ''} marked read."
        if count
        else "Nothing was unread.",
    )
    return redirect("notifications:list")


@login_required
@require_GET
def bell(request):
    """The header link with the unread count (loaded after the page, one query)."""
    actor = getattr(request, "actor", None)
    return render(
        request,
        "notifications/_bell_link.html",
        {"unread": selectors.unread_count(actor=actor)},
    )
