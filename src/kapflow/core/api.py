"""Helpers for ninja routers."""

from kapflow import policy
from kapflow.core.errors import NotFound


def staff_actor(request):
    actor = getattr(request, "actor", None)
    if not policy.is_staff_actor(actor):
        raise NotFound()
    return actor
