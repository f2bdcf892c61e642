"""Search across clients and courses for staff: the header's search box.

Reads only, scoped by the same policy as the client list and the caseload
(policy.clients_queryset, policy.courses_queryset): a record outside the actor's reach is
not found here either. Every row shown is audited (client.list, course.list) in one INSERT
per kind. A fixed number of queries whatever the term or the number of hits: one per kind,
bounded at LIMIT rows (one more to know there are more), plus the audit INSERTs.

The term arrives in a POST body, never in a URL (decision 0007), and is never logged.
"""

from dataclasses import dataclass, field

from django.db.models import Q

from kapflow import policy
from kapflow.audit.services import audit_record_many
from kapflow.core.errors import NotFound

LIMIT = 20
MAX_WORDS = 4
MAX_LENGTH = 100


@dataclass
class SearchResults:
    term: str
    clients: list = field(default_factory=list)
    courses: list = field(default_factory=list)
    more_clients: bool = False
    more_courses: bool = False

    @property
    def empty(self) -> bool:
        return not self.clients and not self.courses


def _words(term: str) -> list[str]:
    return term.strip()[:MAX_LENGTH].split()[:MAX_WORDS]


def _name_condition(word: str, prefix: str = "") -> Q:
    """A name word, as the client list searches (patients.selectors.client_list); a number
    matches the client's number."""
    condition = (
        Q(**{f"{prefix}legal_last_name__icontains": word})
        | Q(**{f"{prefix}legal_first_name__icontains": word})
        | Q(**{f"{prefix}preferred_name__icontains": word})
    )
    # isdecimal+isascii: "²" is a digit to isdigit() but not an int.
    if word.isascii() and word.isdecimal() and len(word) < 12:
        condition |= Q(**{f"{prefix}pk": int(word)})
    return condition


def search(*, actor, term: str) -> SearchResults:
    """Clients and courses whose client's name (or number) holds every word of `term`."""
    if not policy.is_staff_actor(actor) or not policy.can_list_clients(actor):
        raise NotFound()
    results = SearchResults(term=term.strip()[:MAX_LENGTH])
    words = _words(term)
    if not words:
        return results

    clients = policy.clients_queryset(actor)
    for word in words:
        clients = clients.filter(_name_condition(word))
    rows = list(clients.order_by("legal_last_name", "legal_first_name", "id")[: LIMIT + 1])
    results.clients, results.more_clients = rows[:LIMIT], len(rows) > LIMIT

    if policy.can_list_courses(actor):
        courses = policy.courses_queryset(actor)
        for word in words:
            courses = courses.filter(_name_condition(word, prefix="client__"))
        rows = list(
            courses.select_related("client", "therapist__user").order_by(
                "client__legal_last_name", "client__legal_first_name", "-opened_at", "id"
            )[: LIMIT + 1]
        )
        results.courses, results.more_courses = rows[:LIMIT], len(rows) > LIMIT

    if results.clients:
        audit_record_many(actor=actor, action="client.list", targets=results.clients)
    if results.courses:
        audit_record_many(
            actor=actor, action="course.list", targets=results.courses, client_attr="client_id"
        )
    return results
