"""Reading care-team grants: the one module (with kapflow.patients' own) whose queries name
CareTeamMember (issue 20). A grant is open while `ended_at` is empty; an open grant is what
lets a clinician see a client (kapflow.policy). Written only by patients.services
(care_team_grant, care_team_end); tests/patients/test_care_team_reads.py fails if a module
elsewhere queries the table itself.

Below kapflow.policy and every app's selectors: it imports the model only.
"""

from django.db.models import Exists, OuterRef, QuerySet

from kapflow.patients.models import CareTeamMember


def open_grants(**filters) -> QuerySet[CareTeamMember]:
    """The open grants, narrowed by `filters` (client_id=, membership_id=, role=, ...)."""
    return CareTeamMember.objects.filter(ended_at__isnull=True, **filters)


def holds_grant(membership_id, *, client: str = "client_id") -> Exists:
    """EXISTS: `membership_id` holds an open grant on the outer row's client (`client` names
    the outer query's client column: "pk" for a Client query, "client_id", "course__client",
    ...). Usable in filter() and annotate()."""
    return Exists(open_grants(client=OuterRef(client), membership_id=membership_id))


def on_care_team(membership_id, client_id: int) -> bool:
    return open_grants(client_id=client_id, membership_id=membership_id).exists()


def team_member_ids(client_id) -> QuerySet:
    """The memberships on the client's care team (a subquery: ids only)."""
    return open_grants(client_id=client_id).values("membership_id")


def team_emails(client_id: int, *, organisation_id: int | None = None) -> set[str]:
    """Where a notice about a client goes: the e-mail of every active person on their care
    team (of `organisation_id` only, when given). Addresses only, no client detail."""
    grants = open_grants(
        client_id=client_id, membership__is_active=True, membership__user__is_active=True
    )
    if organisation_id is not None:
        grants = grants.filter(membership__organisation_id=organisation_id)
    return set(grants.values_list("membership__user__email", flat=True))


def clients_on_team(membership_id, client_ids) -> set[int]:
    """Which of `client_ids` the membership holds an open grant on."""
    return set(
        open_grants(client_id__in=client_ids, membership_id=membership_id).values_list(
            "client_id", flat=True
        )
    )


def every_grant() -> QuerySet[CareTeamMember]:
    """Open and ended grants: a care team's history, as the record shows it (FHIR CareTeam)."""
    return CareTeamMember.objects.all()
