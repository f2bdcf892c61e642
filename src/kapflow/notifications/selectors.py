"""Notification reads: the unread count for the header, and the actor's list.

Neither shows PHI (a notification holds none), so neither writes an audit row; the page a
notification points to audits its own read when it is opened.
"""

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import F
from django.urls import NoReverseMatch, reverse

from kapflow.accounts.models import Membership
from kapflow.notifications.models import Notification

PAGE_SIZE = 30


def _mine(actor: Membership):
    return Notification.objects.for_org(actor.organisation).filter(recipient=actor)


def unread_count(*, actor: Membership | None) -> int:
    """One query; 0 without a membership."""
    if actor is None:
        return 0
    return _mine(actor).filter(read_at__isnull=True).count()


@dataclass
class NotificationRow:
    notification: Notification
    text: str
    url: str  # empty when the route no longer exists

    @property
    def unread(self) -> bool:
        return self.notification.read_at is None


def link_for(notification: Notification) -> str:
    if not notification.route:
        return ""
    try:
        args = [notification.object_id] if notification.object_id is not None else []
        return reverse(notification.route, args=args)
    except NoReverseMatch:
        return ""


def notification_list(*, actor: Membership, page: int | str = 1) -> Page:
    """A page of the actor's notifications, unread first then newest: two queries (count
    and rows) whatever the page holds."""
    qs = _mine(actor).order_by(F("read_at").asc(nulls_first=True), "-created_at", "-id")
    result = Paginator(qs, PAGE_SIZE).get_page(page)
    result.object_list = [
        NotificationRow(n, n.get_kind_display(), link_for(n)) for n in result.object_list
    ]
    return result


def latest_unread(*, actor: Membership, limit: int = 5) -> list[NotificationRow]:
    """The newest unread ones (for the home page): one query."""
    rows = _mine(actor).filter(read_at__isnull=True).order_by("-created_at", "-id")[:limit]
    return [NotificationRow(n, n.get_kind_display(), link_for(n)) for n in rows]
