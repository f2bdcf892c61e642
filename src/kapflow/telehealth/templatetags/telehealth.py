"""`{% video_link appointment %}`: where a telehealth appointment meets. The session room,
unless the practice chose its own external video link (TelehealthSettings), in which case
the appointment's link is shown as before. One query per practice per page, whatever the
number of appointments listed."""

from django import template

from kapflow.telehealth import selectors

register = template.Library()


@register.inclusion_tag("telehealth/_video_link.html", takes_context=True)
def video_link(context, appointment, portal=False, room_only=False):
    organisation_id = getattr(appointment, "organisation_id", None)
    if organisation_id is None:  # the portal's rows: the signed-in client's own practice
        actor = getattr(context.get("request"), "actor", None)
        organisation_id = getattr(actor, "organisation_id", None)
    cache = context.render_context.setdefault("telehealth_external", {})
    if organisation_id not in cache:
        cache[organisation_id] = organisation_id is not None and selectors.uses_external_link(
            organisation_id
        )
    return {
        "appointment_id": getattr(appointment, "pk", None) or appointment.id,
        "external": cache[organisation_id],
        "url": appointment.telehealth_url,
        "portal": portal,
        # The companion is shown the room only (the external link was never theirs to see).
        "room_only": room_only,
    }
