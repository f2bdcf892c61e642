"""Demo schedule for the fictional practice (kapflow.demo.loader can call load_demo_schedule
after load_demo): two rooms, weekday hours for each therapist, and two weeks of upcoming
appointments for the open courses, booked through the services (so clashes are skipped and
every booking is audited). Idempotent: nothing is added once the practice has appointments.
Then `send_demo_reminders()` sends what is due (console e-mail and SMS backends)."""

from datetime import datetime, time, timedelta

from django.db.models import F
from django.utils import timezone

from kapflow.clinical import scheduling as rules
from kapflow.core.errors import DomainError
from kapflow.core.timezones import organisation_zone

# The kind booked next for a course at each stage.
NEXT_KIND = {
    "intake": "intake",
    "referred": "consultation",
    "medical_evaluation": "medical_evaluation",
    "eligible": "preparation",
    "consented": "preparation",
    "preparation": "preparation",
    "active": "dosing",
    "maintenance": "integration",
}
SLOTS = (time(9), time(11), time(14), time(16))


def load_demo_schedule(*, practice, now: datetime | None = None) -> dict:
    from django.core.exceptions import ValidationError

    from kapflow.accounts.models import Membership, Role
    from kapflow.courses.models import Course
    from kapflow.scheduling import services
    from kapflow.scheduling.models import Appointment, AvailabilityRule, Room

    now = now or timezone.now()
    if Appointment.objects.for_org(practice).exists():
        return {"appointments": 0}
    admin = (
        Membership.objects.filter(
            organisation=practice, is_active=True, roles__role=Role.PRACTICE_ADMIN
        )
        .select_related("organisation", "user")
        .prefetch_related("roles")
        .first()
    )
    if admin is None:
        return {"appointments": 0}
    for name in ("Cedar Room", "Birch Room"):
        if not Room.objects.for_org(practice).filter(name=name).exists():
            services.room_create(actor=admin, name=name)
    zone_name = organisation_zone(practice)
    therapists = list(
        Membership.objects.filter(
            organisation=practice, is_active=True, roles__role=Role.THERAPIST
        ).distinct()
    )
    for t in therapists:
        if not AvailabilityRule.objects.filter(membership=t).exists():
            for day in range(5):
                services.availability_rule_add(
                    actor=admin, membership_id=t.pk, weekday=day, start_time=time(9),
                    end_time=time(17), time_zone=zone_name,
                )  # fmt: skip
    rooms = [r.pk for r in Room.objects.for_org(practice).filter(is_active=True)]
    courses = Course.objects.for_org(practice).filter(
        closed_at__isnull=True, stage__in=list(NEXT_KIND)
    )
    made = 0
    local_today = now.astimezone(rules.ZoneInfo(zone_name)).date()
    # Clients with a portal account first (the client sign-in sees their appointments, and
    # their companion the at-home session's time).
    ordered = courses.order_by(F("client__user").desc(nulls_last=True), "pk")
    for index, course in enumerate(ordered[:30]):
        day = local_today + timedelta(days=1 + index % 10)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        start = rules.to_aware(datetime.combine(day, SLOTS[index % len(SLOTS)]), zone_name)
        kind = NEXT_KIND[course.stage]
        at_home = course.delivery == "at_home"
        # An in-person course doses in a room; other visits are sometimes by video.
        video = at_home or (kind != "dosing" and index % 3 == 0)
        try:
            booking = services.appointment_book(
                actor=admin, kind=kind, starts_at=start, course_ids=[course.pk],
                telehealth=video,
                room_id=None if video else rooms[index % len(rooms)],
                integration_starts_at=rules.default_integration_start(start, zone_name)
                if kind == "dosing" else None,
                confirm=True,
            )  # fmt: skip
        except (DomainError, ValidationError):
            continue
        made += len(booking.appointments)
    return {"appointments": made}


def send_demo_reminders(*, now: datetime | None = None) -> int:
    from kapflow.scheduling.reminders import reminders_send

    return reminders_send(now=now)
