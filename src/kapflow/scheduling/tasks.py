"""Background work for scheduling. Task arguments are ids only."""

from django_tasks import task


@task()
def reminders_send_task(organisation_id: int | None = None) -> int:
    """Send the due appointment reminders (kapflow.scheduling.reminders)."""
    from kapflow.scheduling.reminders import reminders_send

    return reminders_send(organisation_id=organisation_id)
