"""Background work for courses. Arguments are ids only."""

import logging

from django_tasks import task

logger = logging.getLogger(__name__)


@task()
def deadline_scan_task(organisation_id: int) -> dict:
    from kapflow.courses.services import deadline_scan

    result = deadline_scan(organisation_id=organisation_id)
    logger.info(
        "courses.deadline_scan",
        extra={"organisation_id": organisation_id, "raised": result.raised},
    )
    return {"raised": result.raised, "resolved": result.resolved, "notified": result.notified}
