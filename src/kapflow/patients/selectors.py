"""Read paths for clients and care teams; pages and the API share them.

Every selector starts from policy.clients_queryset(actor), so a client outside the actor's
reach is simply not found. Reads of client data are audited here, where they happen.
"""

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Prefetch, Q, QuerySet

from kapflow import policy
from kapflow.audit.services import audit_access_denied, audit_record, audit_record_many
from kapflow.core.errors import NotFound
from kapflow.patients.models import CareTeamMember, Client

PAGE_SIZE = 25

SORTS = {
    "name": ("legal_last_name", "legal_first_name", "id"),
    "-name": ("-legal_last_name", "-legal_first_name", "-id"),
    "dob": ("date_of_birth", "id"),
    "-dob": ("-date_of_birth", "-id"),
    "state": ("state", "legal_last_name", "id"),
    "newest": ("-created_at", "-id"),
}


@dataclass(frozen=True)
class ClientListQuery:
    search: str = ""
    state: str = ""
    sort: str = "name"
    page: int = 1


def _active_team_prefetch():
    return Prefetch(
        "care_team",
        queryset=CareTeamMember.objects.filter(ended_at__isnull=True)
        .select_related("membership__user", "membership__organisation")
        .order_by("role", "-is_primary", "id"),
    )


def client_list(*, actor, query: ClientListQuery) -> Page:
    """One page of the clients the actor may see, searched and sorted. Fixed query count:
    count, page rows, care teams; plus one insert for the audit rows."""
    if not policy.can_list_clients(actor):
        raise NotFound()
    qs: QuerySet = policy.clients_queryset(actor)
    term = query.search.strip()
    if term:
        for word in term.split()[:4]:
            condition = (
                Q(legal_last_name__icontains=word)
                | Q(legal_first_name__icontains=word)
                | Q(preferred_name__icontains=word)
                | Q(email__icontains=word)
            )
            # isdecimal+isascii: "²" is a digit to isdigit() but not an int.
            if word.isascii() and word.isdecimal() and len(word) < 12:
                condition |= Q(pk=int(word))
            qs = qs.filter(condition)
    if query.state:
        qs = qs.filter(state=query.state)
    qs = qs.order_by(*SORTS.get(query.sort, SORTS["name"])).prefetch_related(
        _active_team_prefetch()
    )
    paginator = Paginator(qs, PAGE_SIZE)
    page = paginator.get_page(query.page)
    audit_record_many(actor=actor, action="client.list", targets=page.object_list)
    return page


def _client_qs(actor) -> QuerySet:
    return (
        policy.clients_queryset(actor)
        .select_related("organisation", "user")
        .prefetch_related(
            _active_team_prefetch(), "care_team__membership__user__licences", "companions__user"
        )
    )


@dataclass(frozen=True)
class CareTeamRow:
    member: CareTeamMember
    findings: list  # list[LicenceFinding], computed today from the clinician's licences


def care_team_rows(*, client: Client, today) -> list[CareTeamRow]:
    """The active care team with today's licensure findings for the client's current state
    (the warning stored at assignment can go stale when a licence lapses or the client
    moves). Uses the licences prefetched by client_get_for_actor: no queries."""
    from kapflow.accounts.selectors import licences_as_rules
    from kapflow.clinical.licensure import licence_findings

    return [
        CareTeamRow(
            member=m,
            findings=licence_findings(
                licences_as_rules(m.membership.user.licences.all()), state=client.state, today=today
            ),
        )
        for m in client.care_team.all()
    ]


def client_get_for_actor(*, actor, client_id: int, audit_action: str = "client.view") -> Client:
    """The client if the actor may see it, else NotFound (same answer for 'missing')."""
    client = _client_qs(actor).filter(pk=client_id).first()
    if client is None:
        audit_access_denied(actor=actor, model=Client, object_id=client_id)
        raise NotFound("Client not found.")
    if audit_action:
        audit_record(actor=actor, action=audit_action, target=client, client_id=client.pk)
    return client


def client_get_for_update(*, actor, client_id: int) -> Client:
    """Lock the client row for a write path (inside the caller's transaction)."""
    client = policy.clients_queryset(actor).select_for_update().filter(pk=client_id).first()
    if client is None:
        audit_access_denied(actor=actor, model=Client, object_id=client_id)
        raise NotFound("Client not found.")
    return client


def own_client_record(*, user) -> Client | None:
    """The signed-in client's own record (portal)."""
    return Client.objects.select_related("organisation").filter(user=user).first()


def companion_links(*, user):
    """The clients a companion supports, for the companion's home: organisation and
    confirmation only; templates must not show clinical fields."""
    from kapflow.patients.models import Companion

    return Companion.objects.filter(user=user).select_related("organisation")


def companion_checkins_for_course(*, actor, course, limit: int = 20):
    """The companion's recent check-ins for a course, for its clinicians (and the practice's
    admins): what the companion reported during at-home sessions. One query; audited."""
    from kapflow import policy
    from kapflow.audit.services import audit_record
    from kapflow.patients.models import CompanionCheckin

    if not policy.can_see_clinical(actor):
        return []
    rows = list(
        CompanionCheckin.objects.filter(course=course)
        .select_related("companion__user")
        .order_by("-recorded_at", "-id")[:limit]
    )
    if rows:
        audit_record(
            actor=actor, action="companion_checkin.list", target=course,
            client_id=course.client_id,
        )  # fmt: skip
    return rows
