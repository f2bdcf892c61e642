"""Read paths for assessments: the client's questionnaires, urgent tasks, score series."""

from django.db.models import QuerySet

from kapflow import policy
from kapflow.assessments.models import Assignment, Response, UrgentTask
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.patients.models import Client


def current_responses(qs: QuerySet) -> QuerySet:
    """Submitted responses that no later correction replaced."""
    return qs.filter(submitted_at__isnull=False, corrected_by__isnull=True)


def client_assessments(*, actor, client_id: int) -> dict:
    client = policy.clients_queryset(actor).filter(pk=client_id).first()
    if client is None or not policy.can_see_scores(actor, client):
        raise audit_not_found(actor=actor, model=Client, object_id=client_id)
    audit_record(actor=actor, action="assessment.list", target=client, client_id=client.pk)
    return {
        "client": client,
        "responses": list(
            current_responses(Response.objects.filter(client=client))
            .select_related("entered_by", "corrects")
            .order_by("-submitted_at", "-id")[:200]
        ),
        "open_assignments": list(
            Assignment.objects.filter(
                client=client, completed_at__isnull=True, cancelled_at__isnull=True
            )
            .select_related("assigned_by__user")
            .order_by("due_at", "id")
        ),
        "urgent": list(
            UrgentTask.objects.filter(client=client, resolved_at__isnull=True).order_by(
                "created_at", "id"
            )
        ),
    }


def response_get_for_actor(*, actor, response_id: int) -> Response:
    response = (
        Response.objects.filter(pk=response_id, client__in=policy.clients_queryset(actor))
        .select_related("client", "entered_by", "corrects")
        .first()
    )
    if response is None or not policy.can_see_scores(actor, response.client):
        raise audit_not_found(actor=actor, model=Response, object_id=response_id)
    audit_record(
        actor=actor, action="assessment.view", target=response, client_id=response.client_id
    )
    return response


def urgent_task_get_for_actor(*, actor, task_id: int) -> UrgentTask:
    task = (
        UrgentTask.objects.filter(pk=task_id, client__in=policy.clients_queryset(actor))
        .select_related("client", "response", "resolved_by__user", "course")
        .first()
    )
    if task is None or not policy.can_see_clinical(actor):
        raise audit_not_found(actor=actor, model=UrgentTask, object_id=task_id)
    audit_record(actor=actor, action="urgent_task.view", target=task, client_id=task.client_id)
    return task


def urgent_tasks_open(*, actor, limit: int = 50) -> list[UrgentTask]:
    """Open urgent tasks for the clients the actor may see (clinicians and admins)."""
    if not policy.can_see_clinical(actor):
        return []
    return list(
        UrgentTask.objects.filter(
            client__in=policy.clients_queryset(actor), resolved_at__isnull=True
        )
        .select_related("client")
        .order_by("created_at")[:limit]
    )


def portal_assignments(*, user) -> list[Assignment]:
    return list(
        Assignment.objects.filter(
            client__user=user, completed_at__isnull=True, cancelled_at__isnull=True
        ).order_by("due_at", "id")
    )


def portal_assignment(*, user, assignment_id: int, actor=None) -> Assignment:
    """The signed-in client's own assignment; anyone else's is "not found" (recorded for the
    practice holding it)."""
    assignment = Assignment.objects.filter(pk=assignment_id, client__user=user).first()
    if assignment is None:
        raise audit_not_found(actor=actor, model=Assignment, object_id=assignment_id)
    return assignment


def draft_answers(*, assignment: Assignment) -> dict:
    draft = Response.objects.filter(assignment=assignment, submitted_at__isnull=True).first()
    return dict(draft.answers) if draft else {}
