"""The scheduled integrity check: `kapflow audit_verify --enqueue` from cron (nightly)."""

import logging

from django_tasks import task

logger = logging.getLogger(__name__)


@task()
def audit_verify_task() -> dict:
    from kapflow.audit.services import audit_chain_check

    check = audit_chain_check()
    return {"ok": check.ok, "events": check.events, "broken_id": check.broken_id}
