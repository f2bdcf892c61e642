"""Background work for assessments. Arguments are ids only; e-mails carry no PHI.

The e-mails the services enqueue live in notify.py (so that the services need not import
this module, which imports them); they are imported here too, because jobs queued before
they moved name them by this module's path.
"""

import logging

from django_tasks import task

from kapflow.assessments.notify import link_email, urgent_task_notify  # noqa: F401

logger = logging.getLogger(__name__)


@task()
def measurement_scan_task(organisation_id: int) -> int:
    from kapflow.assessments.services import measurement_scan

    created = measurement_scan(organisation_id=organisation_id)
    logger.info(
        "assessment.measurement_scan",
        extra={"organisation_id": organisation_id, "assignments_created": created},
    )
    return created
