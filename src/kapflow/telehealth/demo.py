"""The demo's session room: a telehealth dosing appointment for the demo client's at-home
course, starting a quarter of an hour after the demo is loaded, with the demo therapist,
client and companion on it, so all three sign-ins can enter its room. The client and
companion wait in the waiting room until the therapist starts the dosing session (the
gate) and admits them. Rows are made directly, like the rest of the demo's history."""

from datetime import datetime, timedelta

from django.utils import timezone


def load_demo_room(*, practice, own, therapist, companion, now: datetime | None = None) -> dict:
    from kapflow.courses.models import Course
    from kapflow.scheduling.models import Appointment, AppointmentParticipant

    now = now or timezone.now()
    course = Course.objects.for_org(practice).filter(client=own, closed_at__isnull=True).first()
    if course is None:
        return {"room_appointment": None}
    starts_at = now.replace(second=0, microsecond=0) + timedelta(minutes=15)
    appointment = Appointment.objects.create(
        organisation=practice, kind="dosing", course=course, starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=3), time_zone="America/Los_Angeles",
        telehealth=True, created_by=therapist.user,
    )  # fmt: skip
    common = {"organisation": practice, "appointment": appointment,
              "starts_at": appointment.starts_at, "ends_at": appointment.ends_at}  # fmt: skip
    AppointmentParticipant.objects.create(role="client", client=own, course=course, **common)
    AppointmentParticipant.objects.create(role="therapist", membership=therapist, **common)
    AppointmentParticipant.objects.create(role="companion", companion=companion, **common)
    return {"room_appointment": appointment.pk}
