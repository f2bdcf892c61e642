"""The stored course facts (CourseFacts, decision 0042), written from the rows they are read
from. A module of its own below the services: every write path that changes a fact's rows
calls course_facts_refresh after its writes, kapflow.prescriptions' dose paths included,
without importing the course services (issue 20: no import circle)."""

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Q

from kapflow.core import clock
from kapflow.courses.models import FACT_FIELDS, Course, CourseFacts
from kapflow.courses.selectors import with_facts


def course_facts_refresh(
    *,
    course_id: int | None = None,
    client_id: int | None = None,
    user_id: int | None = None,
    organisation_id: int | None = None,
    missing: bool = False,
) -> int:
    """Store the facts (CourseFacts) of one course, of a client's courses, of the courses a
    clinician (by user) is therapist or prescriber of, of a practice's courses, or of every
    course that has none yet (`missing`): computed from the rows themselves by with_facts,
    in one INSERT ... SELECT ... ON CONFLICT statement, inside the caller's transaction.
    Every write path that changes a row a fact is read from calls it after its writes;
    `kapflow refresh_course_facts` repairs. Returns the number of courses written."""
    scopes = [
        Q(pk=course_id) if course_id is not None else None,
        Q(client_id=client_id) if client_id is not None else None,
        Q(therapist__user_id=user_id) | Q(prescriber__user_id=user_id)
        if user_id is not None
        else None,
        Q(organisation_id=organisation_id) if organisation_id is not None else None,
        Q(facts__isnull=True) if missing else None,
    ]
    given = [scope for scope in scopes if scope is not None]
    if len(given) != 1:
        raise ValueError("Name exactly one set of courses to refresh.")
    courses = Course.objects.filter(given[0])
    fresh = with_facts(courses).values("id", "organisation_id", *FACT_FIELDS)
    try:
        select_sql, params = fresh.query.get_compiler(connection=connection).as_sql()
    except EmptyResultSet:
        return 0
    q = connection.ops.quote_name
    columns = ["course_id", "organisation_id", *FACT_FIELDS, "refreshed_at"]
    picked = [f"fresh.{q(name)}" for name in ("id", "organisation_id", *FACT_FIELDS)]
    updates = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in columns[1:])
    # Only quoted names and Django's compiled SELECT are pasted in; every value is a
    # parameter. WHERE true: SQLite needs it to parse an upsert from a SELECT.
    statement = (
        f"INSERT INTO {q(CourseFacts._meta.db_table)} ({', '.join(map(q, columns))}) "  # noqa: S608
        f"SELECT {', '.join(picked)}, %s FROM ({select_sql}) fresh WHERE true "
        f"ON CONFLICT ({q('course_id')}) DO UPDATE SET {updates}"
    )
    now = connection.ops.adapt_datetimefield_value(clock.now())
    with connection.cursor() as cursor:
        cursor.execute(statement, [now, *params])
        return cursor.rowcount
