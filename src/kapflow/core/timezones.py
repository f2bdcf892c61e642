"""Which time zone a person sees times in. Times are stored in UTC; pages show them in the
viewer's zone, which ActorMiddleware activates for each request.

Order: the user's own setting (a client's is set from their record's state when they accept
the invitation); else their organisation's zone (its own setting, else its state's); else
DEFAULT_TIME_ZONE.
"""

from zoneinfo import ZoneInfo

from kapflow.clinical.geography import DEFAULT_TIME_ZONE, state_time_zone


def organisation_zone(organisation) -> str:
    if organisation is None:
        return DEFAULT_TIME_ZONE
    if organisation.time_zone:
        return organisation.time_zone
    return state_time_zone(organisation.state) if organisation.state else DEFAULT_TIME_ZONE


def client_zone(client) -> str:
    """A client's zone: their account's setting, else their record's state."""
    user = getattr(client, "user", None) if client.user_id else None
    if user is not None and user.time_zone:
        return user.time_zone
    return state_time_zone(client.state) if client.state else organisation_zone(None)


def viewer_zone(user, actor) -> str:
    """No query: a client's account gets their record's zone when they accept the invitation
    (patients.services.companion_link_on_accept), and the organisation comes with the
    membership."""
    if user is not None and getattr(user, "time_zone", ""):
        return user.time_zone
    return organisation_zone(actor.organisation if actor is not None else None)


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name or DEFAULT_TIME_ZONE)
