"""Background work for billing, run daily by the scheduler (kapflow.runtime.jobs).
Arguments are practice ids only; logs carry ids and counts."""

import logging

from django_tasks import task

logger = logging.getLogger(__name__)


@task()
def subscriptions_bill_task(organisation_id: int) -> dict:
    """Charge the practice's subscriptions whose billing day has come (safe to run again)."""
    from kapflow.billing.services import subscriptions_bill_scheduled

    charged = subscriptions_bill_scheduled(organisation_id=organisation_id)
    logger.info("billing.subscriptions_task",
                extra={"organisation_id": organisation_id, "charged": charged})  # fmt: skip
    return {"charged": charged}


@task()
def statements_month_end_task(organisation_id: int) -> dict:
    """Make last month's statements once the practice's month has ended (safe to run again)."""
    from kapflow.billing.services import statements_month_end

    made = statements_month_end(organisation_id=organisation_id)
    logger.info("billing.statements_task",
                extra={"organisation_id": organisation_id, "statements": made})  # fmt: skip
    return {"statements": made}
