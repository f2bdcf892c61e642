"""Read paths for clients and care teams; pages and the API share them.

Every selector starts from policy.clients_queryset(actor), so a client outside the actor's
reach is simply not found. Reads of client data are audited here, where they happen.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.paginator import Page, Paginator
from django.db.models import Aggregate, F, JSONField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import JSONObject

from kapflow import policy
from kapflow.audit.services import audit_access_denied, audit_record, audit_record_many
from kapflow.core import clock
from kapflow.core.errors import NotFound
from kapflow.core.paging import BoundedPage, bounded_page
from kapflow.core.querytemplate import QueryTemplate
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


def client_list(*, actor, query: ClientListQuery) -> BoundedPage:
    """One page of the clients the actor may see, searched and sorted. Fixed query count:
    a count bounded at COUNT_CAP (never the whole practice, decision 0042), page rows, care
    teams; plus one insert for the audit rows."""
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
    page = bounded_page(qs, number=query.page, per_page=PAGE_SIZE)
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
class TeamMember:
    """One active care-team member as the API's client detail shows it."""

    id: int
    membership_id: int
    name: str
    organisation: str
    role: str
    is_primary: bool
    added_at: datetime
    licence_warning: str


class _JsonRows(Aggregate):
    """A JSON array of the aggregated JSON objects (jsonb on PostgreSQL)."""

    function = "JSONB_AGG"
    output_field = JSONField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="JSON_GROUP_ARRAY", **extra_context)


def _team_json() -> Subquery:
    """The client's active care team as one JSON array, read in the client's own query."""
    return Subquery(
        CareTeamMember.objects.filter(client=OuterRef("pk"), ended_at__isnull=True)
        .order_by()
        .values("client")
        .annotate(
            rows=_JsonRows(
                JSONObject(
                    id="id",
                    membership_id="membership_id",
                    role="role",
                    is_primary="is_primary",
                    added_at="added_at",
                    licence_warning="licence_warning",
                    full_name="membership__user__full_name",
                    email="membership__user__email",
                    organisation="membership__organisation__name",
                )
            )
        )
        .values("rows")[:1],
        output_field=JSONField(),
    )


def _team_member(row: dict) -> TeamMember:
    added_at = datetime.fromisoformat(row["added_at"])
    if added_at.tzinfo is None:  # SQLite keeps UTC without an offset
        added_at = added_at.replace(tzinfo=UTC)
    return TeamMember(
        id=row["id"],
        membership_id=row["membership_id"],
        name=row["full_name"] or row["email"],
        organisation=row["organisation"],
        role=row["role"],
        is_primary=bool(row["is_primary"]),
        added_at=added_at,
        licence_warning=row["licence_warning"],
    )


# Compiled once per scope shape and bound per call (decision 0055): building and compiling
# this query cost more CPU than PostgreSQL spends running it.
_CLIENT_DETAIL = QueryTemplate(
    lambda *, client_id, **scope: (
        policy.clients_scope(**scope)
        .annotate(team_json=_team_json())
        .filter(pk=client_id)
        .order_by("pk")[:1]
    ),
    shape=("practice", "admin", "clinician"),
    optional=("organisation_id", "membership_id", "now"),  # not every scope reads them
)


def client_detail(*, actor, client_id: int, audit_action: str = "client.view") -> Client:
    """The client with its active care team as `client.team` (TeamMember rows, ordered as
    the pages order them), if the actor may see it, else NotFound. One query, plus the
    audit row: the API's detail read (the page also shows licences and companions, and
    uses client_get_for_actor)."""
    client = (
        None
        if actor is None
        else _CLIENT_DETAIL.first(
            **policy.client_scope_shape(actor),
            organisation_id=actor.organisation_id,
            membership_id=actor.pk,
            now=clock.now(),
            client_id=int(client_id),
        )
    )
    if client is None:
        audit_access_denied(actor=actor, model=Client, object_id=client_id)
        raise NotFound("Client not found.")
    team = [_team_member(row) for row in client.team_json or []]
    client.team = sorted(team, key=lambda m: (m.role, not m.is_primary, m.id))
    if audit_action:
        audit_record(actor=actor, action=audit_action, target=client, client_id=client.pk)
    return client


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


def care_team_memberships(*, client_id: int):
    """The active memberships on the client's care team now (the partner's prescribers
    included): whom the client's own events concern, e.g. to notify them. A lazy queryset."""
    from kapflow.accounts.models import Membership
    from kapflow.patients.models import CareTeamMember

    return Membership.objects.filter(
        pk__in=CareTeamMember.objects.filter(client_id=client_id, ended_at__isnull=True).values(
            "membership_id"
        ),
        is_active=True,
        user__is_active=True,
    )


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


# ---- emergency access (decision 0036) -------------------------------------------------------


def emergency_client_matches(
    *, actor, date_of_birth, last_name: str = "", first_name: str = "", client_number=None
) -> list[Client]:
    """The clients of the actor's own practice matching an exact identity: the date of birth
    with the client number, or with the legal last name and the legal or preferred first
    name (case ignored). Never a search: no partial names, so the page cannot list the
    practice's clients. At most two rows (two means "ask for the number")."""
    qs = Client.objects.for_org(actor.organisation).filter(date_of_birth=date_of_birth)
    if client_number:
        qs = qs.filter(pk=client_number)
    else:
        qs = qs.filter(legal_last_name__iexact=last_name.strip()).filter(
            Q(legal_first_name__iexact=first_name.strip())
            | Q(preferred_name__iexact=first_name.strip())
        )
    return list(qs.select_related("organisation").order_by("id")[:2])


def emergency_grants_open(*, actor) -> list:
    """The actor's grants not yet closed (live or lapsed but not yet marked expired), with
    their clients: the banner and the per-request check. One query."""
    from kapflow.patients.models import EmergencyAccess

    if not policy.can_open_emergency_access(actor):
        return []
    return list(
        EmergencyAccess.objects.for_org(actor.organisation)
        .filter(membership=actor, ended_at__isnull=True)
        .select_related("client")
        .order_by("expires_at", "id")
    )


def emergency_grants_for_request(request) -> list:
    """emergency_grants_open for the request's actor, read once per request (the banner and
    EmergencyAccessMiddleware share it). Views that open or end a grant redirect, so the
    page that renders after them reads afresh."""
    cached = getattr(request, "_kapflow_emergency_grants", None)
    if cached is None:
        actor = getattr(request, "actor", None)
        # The query that loaded the actor said whether they hold any grant not yet closed
        # (accounts.selectors.prime_actor; a grant opened since sets it): most clinicians hold
        # none, and then no query is needed.
        if getattr(actor, "holds_emergency_grant", None) is False:
            cached = []
        else:
            cached = emergency_grants_open(actor=actor)
        request._kapflow_emergency_grants = cached
    return cached


def _grants_for_admin(actor) -> QuerySet:
    from kapflow.patients.models import EmergencyAccess

    if not policy.can_review_emergency_access(actor):
        raise NotFound()
    return EmergencyAccess.objects.for_org(actor.organisation).select_related(
        "client", "membership__user", "ended_by__user", "reviewed_by__user"
    )


def emergency_access_list(*, actor, unreviewed: bool = False, page: int | str = 1) -> Page:
    """The practice's emergency grants for its admins: not yet reviewed first, then newest.
    Audited once per client shown."""
    qs = _grants_for_admin(actor)
    if unreviewed:
        qs = qs.filter(reviewed_at__isnull=True)
    qs = qs.order_by(F("reviewed_at").asc(nulls_first=True), "-started_at", "-id")
    result = Paginator(qs, PAGE_SIZE).get_page(page)
    audit_record_many(
        actor=actor, action="breakglass.report", targets=result.object_list,
        client_attr="client_id",
    )  # fmt: skip
    return result


def emergency_access_detail(*, actor, grant_id: int):
    """One grant for the practice's admins, with what its holder did under it (the audit rows
    of the holder on that client between its start and its end). Audited."""
    from kapflow.audit.selectors import emergency_access_trail
    from kapflow.core import clock
    from kapflow.patients.models import EmergencyAccess

    grant = _grants_for_admin(actor).filter(pk=grant_id).first()
    if grant is None:
        audit_access_denied(actor=actor, model=EmergencyAccess, object_id=grant_id)
        raise NotFound("Emergency access not found.")
    audit_record(actor=actor, action="breakglass.report", target=grant, client_id=grant.client_id)
    until = grant.ended_at or min(grant.expires_at, clock.now())
    trail = list(emergency_access_trail(grant=grant, until=until).select_related("actor"))
    return grant, trail


def emergency_unreviewed_count(*, actor) -> int:
    """Grants of the practice its admins have not yet reviewed (their home shows it)."""
    from kapflow.patients.models import EmergencyAccess

    if not policy.can_review_emergency_access(actor):
        return 0
    return (
        EmergencyAccess.objects.for_org(actor.organisation).filter(reviewed_at__isnull=True).count()
    )
