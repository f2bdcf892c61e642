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


# The zones a US practice's people are in, first and in words (time-zone pickers).
COMMON_ZONES: list[tuple[str, str]] = [
    ("America/New_York", "Eastern time (New York)"),
    ("America/Chicago", "Central time (Chicago)"),
    ("America/Denver", "Mountain time (Denver)"),
    ("America/Phoenix", "Mountain time without daylight saving (Arizona)"),
    ("America/Los_Angeles", "Pacific time (Los Angeles)"),
    ("America/Anchorage", "Alaska time (Anchorage)"),
    ("Pacific/Honolulu", "Hawaii time (Honolulu)"),
    ("America/Puerto_Rico", "Atlantic time (Puerto Rico, U.S. Virgin Islands)"),
    ("Pacific/Guam", "Chamorro time (Guam, Northern Mariana Islands)"),
    ("Pacific/Pago_Pago", "Samoa time (American Samoa)"),
]
# The rest, grouped by the region their name starts with; the legacy aliases (US/Pacific,
# EST5EDT, Etc/GMT+8, ...) are left out: each names a zone listed under its real name.
ZONE_REGIONS = ("America", "Europe", "Asia", "Africa", "Australia", "Pacific", "Atlantic",
                "Indian", "Antarctica", "Arctic")  # fmt: skip


def time_zone_choices(*, blank: str = "") -> list:
    """Choices for a time-zone select: `blank` (when given) first, then COMMON_ZONES under
    "United States", then every other zone grouped by region, then UTC."""
    from zoneinfo import available_timezones

    common = {name for name, _label in COMMON_ZONES}
    groups: dict[str, list[tuple[str, str]]] = {region: [] for region in ZONE_REGIONS}
    for name in sorted(available_timezones()):
        region = name.split("/", 1)[0]
        if name in common or region not in groups:
            continue
        groups[region].append((name, name.split("/", 1)[1].replace("_", " ")))
    choices: list = [("", blank)] if blank else []
    choices.append(("United States", COMMON_ZONES))
    choices += [(region, zones) for region, zones in groups.items() if zones]
    choices.append(("Other", [("UTC", "UTC (coordinated universal time)")]))
    return choices
