"""Benchmark the client list, client detail, course dashboard, outcomes and prescriber queue
read paths on PostgreSQL at scale.

What it measures
----------------
One practice organisation holds N clients (default 100,000). A practice admin sees all of them;
a therapist is on the care team of every third client; a partner prescriber (from a partner
organisation) is on every tenth. Against that data set the script times:

1. ``selector.list.admin``: ``patients.selectors.client_list`` page 1, practice admin, no search;
2. ``selector.search.therapist``: the same selector for the therapist with a last-name search
   (``selector.list.therapist``, the therapist's unsearched page 1, is measured as well);
3. ``selector.detail.admin``: ``patients.selectors.client_get_for_actor`` on varying client ids;
4. ``http.*``: the full HTTP path through ``django.test.Client`` (middleware, session, MFA gate,
   template rendering): GET /clients/, GET /clients/<id>/, and the therapist's POSTed search;
5. the course dashboard: every client has one course of care (stages in ``STAGE_WEIGHTS``, 57 %
   open, with their timeline events). ``selector.courses.admin`` / ``.therapist`` time
   ``courses.selectors.course_list`` page 1 (open courses, sorted by stage) for the admin and
   the therapist, ``selector.courses.stage`` the admin's page filtered to one stage, and
   ``http.courses.admin`` GET /courses/ (skipped, with a note, if the page does not answer 200).
   Their raw SQL returns the same page: the course rows joined to client, clinicians, practice
   and gate settings, one correlated subquery per fact ``with_facts`` annotates, LIMIT 25, and
   the COUNT(*). The courses that dose carry a prescription, its fills and one DoseUse per
   dosing session (``build_prescribing``), so the supply facts ``with_facts`` reads from
   kapflow.prescriptions are realistic; the raw SQL has the same three subqueries. The
   practice has a current KAP and a telehealth consent document, and the clients of courses
   at consented stage or later have signed the KAP consent (and, dosing at home, the
   telehealth consent; ``build_consents``), so the consent facts are realistic too; the raw
   SQL has the same five consent subqueries;
6. the partner prescriber's queue (``--scenarios prescriber``): ``--referred`` clients (default
   20,000) are referred to the bench prescriber (sent 10 %, accepted or scheduled 10 %,
   evaluated 75 %, declined or withdrawn 5 %), with open refill requests, followup.due items and
   daily low-dose logs over the last two weeks. ``selector.prescriber.queue`` times
   ``prescriptions.selectors.prescriber_queue`` and ``http.prescriber.queue`` GET /prescribing/
   signed in as the prescriber; the raw SQL runs the same seven statements. Before timing, the
   selector's counts and rows are checked equal to the raw SQL's, and the query counts of the
   selector and of the page for a second prescriber with 40 referrals are compared with those
   at full size: the run fails (exit 1, after writing the results) if they differ.
7. scheduling (``--scenarios schedule``, see bench/scheduling.py): 50 clinicians x 5 years
   of appointments (about 300,000, loaded with COPY); ``selector.schedule.week`` times
   ``scheduling.selectors.week_for_member``, ``http.schedule.week`` GET /schedule/ and
   ``http.schedule.feed`` the clinician's iCalendar feed, with the query counts checked equal
   at a small clinician's size.

Each selector scenario forces evaluation the way a page would: the page rows, every client's
``care_team.all()`` and each member's ``membership.user``. Each scenario runs 3 warm-ups and then
``--repeat`` timed runs (default 30); the report gives the median and p95 (nearest rank) wall
time, the number of SQL queries of one extra run (``CaptureQueriesContext``; for the detail
scenarios on a client with a therapist and a prescriber on the team) and the ratio of
the median to the median of hand-written SQL (``connection.cursor()``) returning the same rows:
COUNT(*), the 25 page rows and the care-team rows for a list page (with the same
``UPPER(col::text) LIKE UPPER(%s)`` predicate Django emits for a search); the client row, its
care team, the team's clinician licences and its companions for a detail page. The audit
service alone (``audit.25`` and ``audit.1``) is timed as a further baseline. The selectors also
write audit rows (one INSERT per call) which the raw SQL does not, so a ratio above 1 is
expected and partly by design.

How
---
PostgreSQL is required. DATABASE_URL is used when set; otherwise a dedicated database
``postgres://postgres@127.0.0.1:5432/kapflow_bench`` is created if missing. The script migrates,
builds the data set with ``bulk_create`` in batches (reused on the next run when the row counts
match; ``--rebuild`` forces a rebuild), runs ``VACUUM ANALYZE`` on the new rows, then measures.
KAPFLOW_DEMO_MODE=1 is set before settings load so that staff without an enrolled MFA device
are not redirected to MFA setup on the HTTP path. The database connection is kept open for the
whole run (no per-request reconnects), as a server with persistent connections would.

Results: a markdown table on stdout, the same figures (plus raw samples and the captured SQL)
as JSON in bench/results/latest.json. Progress goes to stderr.

    make bench BENCH_ARGS="--clients 2000 --repeat 10"   # quick run
    make bench                                           # 100,000 clients, 30 repeats
    make bench BENCH_ARGS="--scenarios courses"          # only the course dashboard
    make bench BENCH_ARGS="--scenarios prescriber"       # only the prescriber's queue
    make bench BENCH_ARGS="--scenarios schedule"         # only scheduling (week view, feed)
    make bench BENCH_ARGS="--scenarios directory"        # only the public directory search
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from common import capture, count_statements, load_actor, log  # bench/common.py

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/kapflow_bench"

PRACTICE_SLUG = "bench-practice"
PARTNER_SLUG = "bench-partner"
ADMIN_EMAIL = "bench-admin@kapflow-bench.example"
THERAPIST_EMAIL = "bench-therapist@kapflow-bench.example"
PRESCRIBER_EMAIL = "bench-prescriber@kapflow-bench.example"
THERAPIST2_EMAIL = "bench-therapist2@kapflow-bench.example"
PRESCRIBER2_EMAIL = "bench-prescriber2@kapflow-bench.example"
SMALL_PRESCRIBER_EMAIL = "bench-prescriber-small@kapflow-bench.example"

SEED = 20240601
BATCH = 5000
WARMUPS = 3
THERAPIST_EVERY = 3  # the therapist is on the care team of every 3rd client
PRESCRIBER_EVERY = 10  # the partner prescriber on every 10th

# Fictional names are built from these syllables (two or three for a last name).
SYLLABLES = [
    "ar", "bel", "cor", "dan", "el", "fin", "gar", "hol", "is", "jor", "kel", "lan", "mor",
    "nev", "or", "pel", "quin", "ros", "sal", "tam", "ul", "ven", "wes", "yar", "zel",
]  # fmt: skip
FIRST_NAMES = [
    "Arlo", "Brisa", "Calder", "Dova", "Emrys", "Fenna", "Galen", "Hesper", "Ilsa", "Jory",
    "Kestrel", "Linnea", "Marek", "Nerys", "Oren", "Pella", "Quill", "Rhoswen", "Soren", "Tamsin",
    "Ulric", "Vesna", "Wren", "Xanthe", "Yorick", "Zinnia", "Alder", "Bryony", "Cael", "Delphine",
]  # fmt: skip
PRONOUNS = ["", "she/her", "he/him", "they/them"]
SEARCH_TERM = "danhol"  # a last-name fragment: "dan" + "hol" (about 0.25 % of clients)

# Courses: one per client, stages in these proportions (per 100 clients), so that 57 % are
# open. Every course has one transition event (its latest stage change) plus these events.
STAGE_WEIGHTS = {
    "inquiry": 5, "intake": 5, "referred": 4, "medical_evaluation": 4, "eligible": 3,
    "not_eligible": 5, "consented": 3, "preparation": 5, "active": 20, "maintenance": 8,
    "completed": 20, "discharged": 6, "withdrawn": 12,
}  # fmt: skip
STAGE_EVENTS = {
    "preparation": ("preparation",),
    "active": ("preparation", "risk_screen", "dosing"),
    "maintenance": ("preparation", "risk_screen", "dosing", "dosing", "integration", "followup"),
    "completed": ("preparation", "risk_screen", "dosing", "integration"),
}
STAGE_FILTER = "active"  # the stage-filtered dashboard scenario
CLOSED_STAGES = ("not_eligible", "completed", "discharged", "withdrawn")
# What each course mainly treats, by client id modulo 20 (so the outcomes scenario can also
# set it on courses built before the field existed): depression 9, anxiety 4, PTSD 3, OCD 1,
# substance use 1, other 2.
CONDITION_CYCLE = (
    ["depression"] * 9 + ["anxiety"] * 4 + ["ptsd"] * 3 + ["ocd", "substance_use"]
    + ["other"] * 2
)  # fmt: skip

# Outcomes: PHQ-9 responses, on average RESPONSES_PER_CLIENT per client (0 to 40; see
# _response_counts), about 1 % of them corrected and one client in 50 with a draft.
RESPONSES_PER_CLIENT = 20
OUTCOMES_INSTRUMENT = "phq9"


# ---- database -------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    """Refuse anything but PostgreSQL; create the database if it does not exist yet."""
    import dj_database_url
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    config = dj_database_url.parse(url)
    if "postgresql" not in config["ENGINE"] and "postgis" not in config["ENGINE"]:
        sys.exit(f"bench/run.py needs PostgreSQL; DATABASE_URL uses {config['ENGINE']}.")
    conninfo = make_conninfo(
        host=config.get("HOST") or None,
        port=str(config["PORT"]) if config.get("PORT") else None,
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        dbname="postgres",
    )
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
            ).fetchone()
            if not found:
                log(f"creating database {config['NAME']}")
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
    except psycopg.OperationalError as exc:
        sys.exit(f"cannot reach PostgreSQL for {config['NAME']!r}: {exc}")


def setup_django() -> None:
    os.environ["DATABASE_URL"] = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    ensure_database(os.environ["DATABASE_URL"])
    # Before settings load: unenrolled staff pass the MFA gate (see accounts.middleware).
    os.environ["KAPFLOW_DEMO_MODE"] = "1"
    # The baseline view /bench/baseline/<pk> (kapflow.config.bench_urls).
    os.environ["KAPFLOW_BENCH_VIEWS"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapflow.config.settings")
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)

    import django

    django.setup()

    from django.db import connection

    # Keep one connection for the whole run: request_finished would otherwise close it every
    # CONN_MAX_AGE seconds and one sample would pay for a reconnect.
    connection.settings_dict["CONN_MAX_AGE"] = None


# ---- data set -------------------------------------------------------------------------------


def _last_name(rng: random.Random) -> str:
    parts = rng.choices(SYLLABLES, k=3 if rng.random() < 0.5 else 2)
    return "".join(parts).capitalize()


def _actors():
    """Organisations, users and memberships (idempotent). Returns a dict of model objects."""
    from kapflow.accounts.models import (
        Membership,
        MembershipRole,
        Organisation,
        Partnership,
        Role,
        User,
    )

    practice, _ = Organisation.objects.get_or_create(
        slug=PRACTICE_SLUG,
        defaults={"name": "Cedar Hollow Bench Practice", "kind": "practice", "state": "OR"},
    )
    partner, _ = Organisation.objects.get_or_create(
        slug=PARTNER_SLUG,
        defaults={"name": "Lumen Bench Prescribers", "kind": "partner", "state": "OR"},
    )
    Partnership.objects.get_or_create(practice=practice, partner=partner)

    def member(org, email, full_name, role, title=""):
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, password=None, full_name=full_name)
        membership, _ = Membership.objects.get_or_create(
            organisation=org, user=user, defaults={"title": title}
        )
        MembershipRole.objects.get_or_create(membership=membership, role=role)
        return membership

    admin = member(practice, ADMIN_EMAIL, "Ada Benchmark", Role.PRACTICE_ADMIN)
    therapist = member(practice, THERAPIST_EMAIL, "Theo Benchmark", Role.THERAPIST, "LMFT")
    prescriber = member(partner, PRESCRIBER_EMAIL, "Priya Benchmark", Role.PRESCRIBER, "PMHNP")
    # The therapist of the courses of clients whose care team the bench therapist is not on
    # (no care-team rows of its own, so the client-list data set is unchanged).
    therapist2 = member(practice, THERAPIST2_EMAIL, "Tess Benchmark", Role.THERAPIST, "LPC")
    # The prescriber of the courses not referred to the bench prescriber (see
    # build_prescribing), and a prescriber with a small queue for the flat-query-count check.
    prescriber2 = member(partner, PRESCRIBER2_EMAIL, "Pax Benchmark", Role.PRESCRIBER, "MD")
    small = member(partner, SMALL_PRESCRIBER_EMAIL, "Sol Benchmark", Role.PRESCRIBER, "PA-C")
    return {
        "practice": practice,
        "partner": partner,
        "admin": admin,
        "therapist": therapist,
        "therapist2": therapist2,
        "prescriber": prescriber,
        "prescriber2": prescriber2,
        "prescriber_small": small,
    }


def _expected_team_rows(n: int) -> int:
    return len(range(0, n, THERAPIST_EVERY)) + len(range(0, n, PRESCRIBER_EVERY))


def build_data(n: int, rebuild: bool) -> dict:
    """Create (or reuse) N clients and their care teams. Returns facts about the data set."""
    from django.utils import timezone

    from kapflow.clinical.geography import US_STATES
    from kapflow.patients.models import CareTeamMember, Client

    actors = _actors()
    practice = actors["practice"]
    clients = Client.objects.filter(organisation=practice)
    team = CareTeamMember.objects.filter(organisation=practice)
    have_clients, have_team = clients.count(), team.count()
    # The rows made here are added by the admin; build_prescribing adds the referrals' grants
    # (added by the referring therapist) and owns them.
    have_base = team.filter(added_by_id=actors["admin"].user_id).count() if have_team else 0
    if not rebuild and have_clients == n and have_base == _expected_team_rows(n):
        log(f"reusing data set: {have_clients} clients, {have_team} care-team rows")
        return {"reused": True, "build_seconds": 0.0, **actors}

    started = time.perf_counter()
    if have_clients or have_team:
        log(f"removing old data set ({have_clients} clients, {have_team} care-team rows)")
        delete_rows(practice, [*_course_roots(), (Client, "organisation_id = %(org)s")])

    rng = random.Random(SEED)
    states = sorted(US_STATES)
    now = timezone.now()
    added_by = actors["admin"].user_id
    log(f"creating {n} clients in batches of {BATCH}")
    position = 0
    while position < n:
        size = min(BATCH, n - position)
        batch = []
        for _ in range(size):
            first = rng.choice(FIRST_NAMES)
            last = _last_name(rng)
            created = now - timedelta(minutes=rng.randrange(3 * 365 * 24 * 60))
            batch.append(
                Client(
                    organisation=practice,
                    legal_first_name=first,
                    legal_last_name=last,
                    preferred_name=rng.choice(FIRST_NAMES) if rng.random() < 0.1 else "",
                    pronouns=rng.choice(PRONOUNS),
                    date_of_birth=date(1940, 1, 1) + timedelta(days=rng.randrange(65 * 365)),
                    email=f"{first}.{last}.{position + len(batch)}@example.org".lower(),
                    phone=f"503-555-01{rng.randrange(100):02d}",
                    address_line1=f"{rng.randrange(1, 9999)} {_last_name(rng)} Lane",
                    city=f"{_last_name(rng)}ton",
                    state=rng.choice(states),
                    postal_code=f"{rng.randrange(10000, 99999)}",
                    emergency_contact_name=f"{rng.choice(FIRST_NAMES)} {last}",
                    emergency_contact_relationship="sibling",
                    emergency_contact_phone=f"503-555-01{rng.randrange(100):02d}",
                    created_at=created,
                    updated_at=created,
                )
            )
        created_rows = Client.objects.bulk_create(batch)
        members = []
        for offset, client in enumerate(created_rows):
            index = position + offset
            if index % THERAPIST_EVERY == 0:
                members.append(
                    CareTeamMember(
                        organisation=practice,
                        client=client,
                        membership=actors["therapist"],
                        role="therapist",
                        is_primary=True,
                        added_by_id=added_by,
                        added_at=client.created_at,
                    )
                )
            if index % PRESCRIBER_EVERY == 0:
                members.append(
                    CareTeamMember(
                        organisation=practice,
                        client=client,
                        membership=actors["prescriber"],
                        role="prescriber",
                        added_by_id=added_by,
                        added_at=client.created_at,
                    )
                )
        CareTeamMember.objects.bulk_create(members)
        position += size
        log(f"  {position}/{n}")

    vacuum_later(Client._meta.db_table, CareTeamMember._meta.db_table, "")
    return {"reused": False, "build_seconds": time.perf_counter() - started, **actors}


def _stage_cycle() -> list[str]:
    cycle = [stage for stage, weight in STAGE_WEIGHTS.items() for _ in range(weight)]
    random.Random(SEED + 2).shuffle(cycle)
    return cycle


def _expected_events(n: int) -> int:
    cycle = _stage_cycle()
    return sum(1 + len(STAGE_EVENTS.get(cycle[i % len(cycle)], ())) for i in range(n))


# ---- replacing a data set ---------------------------------------------------------------
#
# A rebuild runs in one transaction (build_all): the old rows are deleted and the new ones made
# together, so a failure leaves the previous data set as it was. VACUUM cannot run inside a
# transaction, so the builders name their tables (vacuum_later) and main vacuums after COMMIT.

_VACUUM: list[tuple[str, bool]] = []


def vacuum_later(*tables: str, full: bool = False) -> None:
    """VACUUM (FULL) ANALYZE these tables after the rebuild commits; "" is a plain ANALYZE of
    the whole database."""
    for table in tables:
        if (table, full) not in _VACUUM:
            _VACUUM.append((table, full))


def run_vacuums() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table, full in _VACUUM:
            if not table:
                cursor.execute("ANALYZE")
                continue
            log(f"VACUUM {'FULL ' if full else ''}ANALYZE {table}")
            cursor.execute(f"VACUUM {'FULL ' if full else ''}ANALYZE {table}")
    _VACUUM.clear()


def _doomed_models(roots: list) -> tuple[list, dict]:
    """The root models and every model whose rows reference theirs through a database
    foreign key, transitively: (models with each one before the models that reference it,
    {model: [(column, parent model, parent column)]})."""
    from django.apps import apps

    every = [
        m for m in apps.get_models(include_auto_created=True)
        if m._meta.managed and not m._meta.proxy
    ]  # fmt: skip
    edges: dict = {model: [] for model, _where in roots}
    queue = list(edges)
    while queue:
        parent = queue.pop(0)
        for model in every:
            for field in model._meta.concrete_fields:
                if (
                    field.is_relation
                    and field.db_constraint
                    and field.related_model is parent
                    and model is not parent  # a table's references to itself go with it
                ):
                    if model not in edges:
                        edges[model] = []
                        queue.append(model)
                    edges[model].append((field.column, parent, field.target_field.column))
    # Parents before children (Kahn): a child's doomed rows are found through its parents'.
    ordered, placed = [], set()
    while len(ordered) < len(edges):
        ready = [
            m for m in edges
            if m not in placed and all(p in placed for _c, p, _t in edges[m])
        ]  # fmt: skip
        if not ready:
            left = sorted(m._meta.db_table for m in edges if m not in placed)
            raise SystemExit(f"cannot order the bench delete, a cycle among {left}")
        for model in ready:
            ordered.append(model)
            placed.add(model)
    return ordered, edges


def delete_rows(practice, roots: list[tuple]) -> dict[str, int]:
    """Delete the bench practice's rows of the root models ((model, SQL condition with
    %(org)s), ...) and every row that references them, in any table, through a foreign key
    (kapflow's tables and any added later: the model graph is read, not a list kept here).

    The doomed ids are collected parents first into temporary tables, then deleted children
    first, so no reference is ever left dangling and nothing outside the closure is touched.
    Tables that refuse DELETE by trigger (submitted responses, consent records, signed
    notes, decisions: their migrations) have their own triggers switched off for this
    transaction only, and back on before it commits. Must run inside the rebuild's
    transaction. Returns {table: rows deleted}."""
    from django.db import connection

    ordered, edges = _doomed_models(roots)
    conditions = {model: [where] for model, where in roots}
    temp = {model: f"bench_doomed_{i}" for i, model in enumerate(ordered)}
    deleted = {}
    with connection.cursor() as cursor:
        for model in ordered:
            pk = model._meta.pk.column
            where = [f"({c})" for c in conditions.get(model, [])]
            for column, parent, target in edges[model]:
                parent_pk = parent._meta.pk.column
                if target == parent_pk:
                    where.append(f"{column} IN (SELECT {parent_pk} FROM {temp[parent]})")
                else:  # a reference to another unique column of the parent (rare)
                    where.append(
                        f"{column} IN (SELECT p.{target} FROM {parent._meta.db_table} p "
                        f"JOIN {temp[parent]} d ON d.{parent_pk} = p.{parent_pk})"
                    )
            cursor.execute(f"DROP TABLE IF EXISTS {temp[model]}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {temp[model]} ON COMMIT DROP AS "
                f"SELECT {pk} FROM {model._meta.db_table} WHERE {' OR '.join(where)}",
                {"org": practice.pk},
            )
        for model in reversed(ordered):
            table, pk = model._meta.db_table, model._meta.pk.column
            cursor.execute(f"SELECT COUNT(*) FROM {temp[model]}")
            if not cursor.fetchone()[0]:
                continue
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass "
                "AND NOT tgisinternal AND tgenabled <> 'D'",
                [table],
            )
            guards = [row[0] for row in cursor.fetchall()]
            for name in guards:
                cursor.execute(f'ALTER TABLE {table} DISABLE TRIGGER "{name}"')
            cursor.execute(f"DELETE FROM {table} WHERE {pk} IN (SELECT {pk} FROM {temp[model]})")
            deleted[table] = cursor.rowcount
            for name in guards:
                cursor.execute(f'ALTER TABLE {table} ENABLE TRIGGER "{name}"')
    if deleted:
        log("  deleted " + ", ".join(f"{t} {n:,}" for t, n in deleted.items()))
    return deleted


def _course_roots() -> list[tuple]:
    """A course rebuild replaces the courses (and with them everything that references
    them: events, due items, stored facts, prescribing, ...), and the rows built from the
    courses' stages: consent signatures, questionnaire responses and prescribing."""
    from kapflow.courses.models import Course

    return [
        (Course, "organisation_id = %(org)s"),
        *_consent_roots(),
        *_response_roots(),
        *_prescribing_roots(),
    ]


def _delete_courses(practice) -> None:
    delete_rows(practice, _course_roots())


# The latest stage change of a course at each stage: (action, from stage, prescriber's step).
LAST_STEP = {
    "inquiry": ("open", "", False),
    "intake": ("start_intake", "inquiry", False),
    "referred": ("refer", "intake", False),
    "medical_evaluation": ("begin_evaluation", "referred", True),
    "eligible": ("decide_eligible", "medical_evaluation", True),
    "not_eligible": ("decide_not_eligible", "medical_evaluation", True),
    "consented": ("record_consent", "eligible", False),
    "preparation": ("start_preparation", "consented", False),
    "active": ("activate", "preparation", False),
    "maintenance": ("enter_maintenance", "active", False),
    "completed": ("complete", "maintenance", False),
    "discharged": ("discharge", "active", False),
    "withdrawn": ("withdraw", "preparation", False),
}
ELIGIBLE_ON = {"eligible", "consented", "preparation", "active", "maintenance", "completed"}
CONSENTED_ON = {"consented", "preparation", "active", "maintenance", "completed"}


def build_courses(data: dict, n: int, rebuild: bool) -> dict:
    """One course per client (stages per STAGE_WEIGHTS) with its facts and timeline events,
    reused when the course and event counts match."""
    from django.utils import timezone

    from kapflow.courses.models import Course, CourseEvent, GateSettings
    from kapflow.patients.models import CareTeamMember, Client

    practice = data["practice"]
    GateSettings.objects.get_or_create(organisation=practice)
    have_courses = Course.objects.filter(organisation=practice).count()
    have_events = CourseEvent.objects.filter(organisation=practice).count()
    expected_events = _expected_events(n)
    if not rebuild and have_courses == n and have_events == expected_events:
        log(f"reusing courses: {have_courses} courses, {have_events} events")
        return {"reused": True, "build_seconds": 0.0, "events": have_events}

    started = time.perf_counter()
    if have_courses or have_events:
        log(f"removing old courses ({have_courses} courses, {have_events} events)")
        _delete_courses(practice)

    rng = random.Random(SEED + 3)
    cycle = _stage_cycle()
    now = timezone.now()
    therapist, therapist2 = data["therapist"], data["therapist2"]
    prescriber = data["prescriber"]
    on_team = set(
        CareTeamMember.objects.filter(membership=therapist, ended_at__isnull=True).values_list(
            "client_id", flat=True
        )
    )
    client_ids = list(
        Client.objects.filter(organisation=practice).order_by("id").values_list("id", flat=True)
    )

    def days(low: float, high: float) -> timedelta:
        return timedelta(days=rng.uniform(low, high))

    log(f"creating {len(client_ids)} courses in batches of {BATCH}")
    events_made = 0
    for position in range(0, len(client_ids), BATCH):
        courses, timelines = [], []
        for offset, client_id in enumerate(client_ids[position : position + BATCH]):
            stage = cycle[(position + offset) % len(cycle)]
            who = therapist if client_id in on_team else therapist2
            if stage in CLOSED_STAGES:
                changed = now - days(1, 700)
            elif stage == "maintenance":
                changed = now - days(30, 300)
            elif stage == "active":
                changed = now - days(3, 90)
            else:
                changed = now - days(0.1, 60)
            opened = changed if stage == "inquiry" else changed - days(10, 60)
            past_intake = stage not in {"inquiry", "intake"} and (
                stage not in {"discharged", "withdrawn"} or rng.random() < 0.5
            )
            course = Course(
                organisation=practice, client_id=client_id, stage=stage, therapist=who,
                pathway="low_dose" if rng.random() < 0.4 else "higher_dose",
                condition=CONDITION_CYCLE[client_id % len(CONDITION_CYCLE)],
                delivery="at_home" if rng.random() < 0.3 else "in_person",
                prescriber=prescriber if past_intake else None, opened_at=opened,
                stage_changed_at=changed, closed_at=changed if stage in CLOSED_STAGES else None,
            )  # fmt: skip
            if stage in ELIGIBLE_ON:
                course.eligibility = "eligible"
                course.clearance_on = (opened + days(3, 9)).date()
                course.clearance_valid_days = rng.choice([180, 365, 365])
            elif stage == "not_eligible":
                course.eligibility = "not_eligible"
            action, from_stage, by_prescriber = LAST_STEP[stage]
            actor = prescriber if by_prescriber else who
            timeline = [("transition", changed, actor, {"action": action, "from_stage":
                         from_stage, "to_stage": stage})]  # fmt: skip
            # Before the latest change for closed courses; around it for open ones.
            start, end = (opened, changed) if stage in CLOSED_STAGES else (changed, now)
            for kind in STAGE_EVENTS.get(stage, ()):
                if kind == "preparation":
                    at = changed - days(1, 8) if stage != "completed" else opened + days(9, 10)
                else:
                    at = start + (end - start) * rng.uniform(0.3, 0.97)
                extra = {"positive": rng.random() < 0.03} if kind == "risk_screen" else {}
                timeline.append((kind, at, prescriber if kind == "followup" else who, extra))
            courses.append(course)
            timelines.append(timeline)
        created = Course.objects.bulk_create(courses)
        events = [
            CourseEvent(
                organisation=practice,
                course=course,
                kind=kind,
                occurred_at=at,
                recorded_at=at,
                actor_id=by.user_id,
                actor_membership=by,
                **extra,
            )
            for course, timeline in zip(created, timelines, strict=True)
            for kind, at, by, extra in timeline
        ]
        CourseEvent.objects.bulk_create(events, batch_size=BATCH)
        events_made += len(events)
        log(f"  {position + len(courses)}/{len(client_ids)} courses, {events_made} events")

    vacuum_later(Course._meta.db_table, CourseEvent._meta.db_table)
    return {"reused": False, "build_seconds": time.perf_counter() - started, "events": events_made}


# ---- consent data set -----------------------------------------------------------------------

# The practice's current consent documents (kapflow.consents): version 1 of each, published
# at a fixed time before any bench course opened (courses open at most about two years ago).
CONSENT_PUBLISHED_AT = datetime(2020, 1, 1, 9, 0, tzinfo=UTC)
BENCH_CONSENT_DOCUMENTS = {
    # kind: (title, body)
    "kap": (
        "Consent to ketamine-assisted psychotherapy",
        "Bench practice consent to ketamine-assisted psychotherapy (version 1): what the "
        "treatment is, its risks and alternatives, the medical evaluation by the partner "
        "prescriber, and that you may withdraw this consent at any time.\n",
    ),
    "telehealth": (
        "Telehealth and at-home dosing consent",
        "Bench practice telehealth and at-home dosing consent (version 1): sessions by video, "
        "a sober companion on dosing days, safe storage of the medicine and who to call.\n",
    ),
}
CONSENT_TABLES = ("consents_consentwithdrawal", "consents_consentsignature")


def _consent_documents(data: dict) -> dict:
    """The bench practice's current KAP and telehealth documents (idempotent): {kind: doc}."""
    from kapflow.consents.models import ConsentDocument

    documents = {}
    for kind, (title, body) in BENCH_CONSENT_DOCUMENTS.items():
        documents[kind], _ = ConsentDocument.objects.get_or_create(
            organisation=data["practice"], kind=kind, version=1,
            defaults={"title": title, "body": body, "published_at": CONSENT_PUBLISHED_AT,
                      "published_by": data["admin"].user},
        )  # fmt: skip
    return documents


def _consent_roots() -> list[tuple]:
    """The practice's consent signatures (and so their withdrawals), not its documents."""
    from kapflow.consents.models import ConsentSignature

    return [(ConsentSignature, "organisation_id = %(org)s")]


def _delete_consent_signatures(practice) -> None:
    delete_rows(practice, _consent_roots())


def _consent_plan(data: dict) -> list[tuple[int, str, datetime]]:
    """(client id, kind, signed at) of every signature: the client of each course at
    consented stage or later signed the KAP consent between 5 and 9 days after the course
    opened (before the therapist recorded consent), and, when the course doses at home, the
    telehealth consent a few minutes later. Times come from a hash of the course id."""
    from kapflow.courses.models import Course

    plan = []
    for course_id, client_id, delivery, opened in (
        Course.objects.filter(organisation=data["practice"], stage__in=CONSENTED_ON)
        .order_by("id")
        .values_list("id", "client_id", "delivery", "opened_at")
    ):
        at = opened + timedelta(days=5 + 4 * _frac(course_id, 71))
        plan.append((client_id, "kap", at))
        if delivery == "at_home":
            plan.append((client_id, "telehealth", at + timedelta(minutes=2 + course_id % 14)))
    return plan


def build_consents(data: dict, rebuild: bool) -> dict:
    """The practice's current KAP and telehealth documents and the signatures of the clients
    whose course is at consented stage or later (see _consent_plan), so that the consent
    facts with_facts annotates are realistic. Reused when the signature counts per kind
    match the plan (a course rebuild deletes the signatures, see _delete_courses)."""
    from django.db.models import Count
    from django.utils import timezone

    from kapflow.consents.models import ConsentSignature, ConsentWithdrawal
    from kapflow.patients.models import Client

    practice = data["practice"]
    documents = _consent_documents(data)
    plan = _consent_plan(data)
    expected = dict.fromkeys(documents, 0)
    for _client, kind, _at in plan:
        expected[kind] += 1
    signatures = ConsentSignature.objects.filter(organisation=practice)
    have = dict.fromkeys(documents, 0) | dict(
        signatures.values("document__kind")
        .annotate(n=Count("id"))
        .values_list("document__kind", "n")
    )
    withdrawals = ConsentWithdrawal.objects.filter(organisation=practice).count()
    if not rebuild and have == expected and not withdrawals:
        log(f"reusing consent signatures: {have}")
        return {"reused": True, "build_seconds": 0.0, "signatures": have}

    started = time.perf_counter()
    if any(have.values()) or withdrawals:
        log(f"removing old consent signatures ({have}, {withdrawals} withdrawals)")
        _delete_consent_signatures(practice)
    names = {
        pk: f"{first} {last}"
        for pk, first, last in Client.objects.filter(organisation=practice).values_list(
            "id", "legal_first_name", "legal_last_name"
        )
    }
    log(f"creating {len(plan)} consent signatures ({expected})")
    ConsentSignature.objects.bulk_create(
        (
            ConsentSignature(
                organisation=practice,
                document=documents[kind],
                client_id=client_id,
                sequence=1,
                signed_by=None,
                typed_name=names[client_id],
                signed_on=timezone.localdate(at),
                signed_at=at,
                content_sha256=documents[kind].content_sha256,
            )
            for client_id, kind, at in plan
        ),
        batch_size=BATCH,
    )
    vacuum_later(ConsentSignature._meta.db_table, "consents_consentdocument")
    return {"reused": False, "build_seconds": time.perf_counter() - started, "signatures": expected}


# ---- outcomes data set ----------------------------------------------------------------------


def _response_counts(n: int) -> list[int]:
    """Responses per client: pairs of clients get 20 + d and 20 - d (d from 0 to 20), so the
    total is exactly RESPONSES_PER_CLIENT * n (n even) and some clients have 0 or 1 scores."""
    counts = []
    for i in range(n):
        # 8 is coprime with 21, so d takes every value from 0 to 20.
        d = ((i // 2) * 8) % (RESPONSES_PER_CLIENT + 1)
        counts.append(RESPONSES_PER_CLIENT + (d if i % 2 == 0 else -d))
    if n % 2:
        counts[-1] = RESPONSES_PER_CLIENT
    return counts


def _response_roots() -> list[tuple]:
    """The practice's questionnaire rows: urgent tasks, responses, assignments (and so their
    links), measurement plans, and whatever references them."""
    from kapflow.assessments.models import Assignment, MeasurementPlan, Response, UrgentTask

    return [
        (model, "organisation_id = %(org)s")
        for model in (UrgentTask, Response, Assignment, MeasurementPlan)
    ]


def _delete_responses(practice) -> None:
    delete_rows(practice, _response_roots())


def _set_conditions(practice) -> int:
    """Spread Course.condition by CONDITION_CYCLE (courses built before the field existed all
    say "depression"). Touches only rows that differ, so a second run writes nothing."""
    from django.db import connection

    cycle = "ARRAY[" + ", ".join(f"'{c}'" for c in CONDITION_CYCLE) + "]"
    wanted = f"({cycle})[1 + (client_id %% {len(CONDITION_CYCLE)})]"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE courses_course SET condition = {wanted} "
            f"WHERE organisation_id = %s AND condition IS DISTINCT FROM {wanted}",
            [practice.pk],
        )
        return cursor.rowcount


def _phq9_history(rng: random.Random, count: int) -> list[int]:
    """A plausible PHQ-9 trajectory: a baseline of 5-26, then a drift towards the client's own
    end point (most improve, some do not), with week-to-week noise."""
    baseline = min(27, max(5, round(rng.gauss(16, 4.5))))
    improvement = rng.choice([-0.15, 0.1, 0.3, 0.45, 0.55, 0.65, 0.8, 0.9])
    totals = []
    for j in range(count):
        progress = j / (count - 1) if count > 1 else 0.0
        value = baseline * (1 - improvement * progress) + rng.gauss(0, 1.6)
        totals.append(0 if j and value < 0 else min(27, max(0, round(value))))
    totals[0] = baseline
    return totals


def build_outcomes(data: dict, n: int, rebuild: bool) -> dict:
    """RESPONSES_PER_CLIENT PHQ-9 responses per client on average, loaded with COPY, and the
    courses' conditions spread; reused when the response count matches."""
    from django.db import connection, transaction
    from django.utils import timezone

    from kapflow.assessments.models import Response
    from kapflow.clinical import instruments
    from kapflow.courses.models import Course

    practice = data["practice"]
    changed = _set_conditions(practice)
    if changed:
        log(f"set the condition of {changed} courses")
    counts = _response_counts(n)
    expected = sum(counts)
    responses = Response.objects.filter(organisation=practice)
    have = responses.count()
    if not rebuild and have == expected:
        # Same total: check the spread too (the clients that have any response).
        scored = responses.values("client_id").distinct().count()
        if scored == sum(1 for c in counts if c):
            log(f"reusing responses: {have} of {scored} clients")
            seconds = build_outcome_summaries(practice, scored=scored, force=bool(changed))
            return {"reused": True, "build_seconds": seconds, "responses": have}

    started = time.perf_counter()
    if have:
        log(f"removing old responses ({have})")
        _delete_responses(practice)

    phq9 = instruments.get(OUTCOMES_INSTRUMENT)
    bands = {total: phq9.band_for(total) for total in range(phq9.min_total, phq9.max_total + 1)}
    courses = dict(
        Course.objects.filter(organisation=practice)
        .order_by("client_id", "opened_at", "id")
        .values_list("client_id", "id")
    )
    client_ids = list(
        Response._meta.get_field("client")
        .related_model.objects.filter(organisation=practice)
        .order_by("id")
        .values_list("id", flat=True)
    )
    rng = random.Random(SEED + 4)
    now = timezone.now()
    columns = (
        "id, organisation_id, client_id, course_id, instrument, answers, total, band, severity, "
        "detail, safety_flags, source, started_at, submitted_at, corrects_id, correction_reason"
    )
    log(f"creating {expected} {OUTCOMES_INSTRUMENT} responses with COPY")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE assessments_response IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM assessments_response")
        next_id = cursor.fetchone()[0] + 1
        made = 0
        with cursor.copy(f"COPY assessments_response ({columns}) FROM STDIN") as copy:
            lines: list[str] = []
            for index, client_id in enumerate(client_ids):
                count = counts[index] if index < len(counts) else 0
                if not count:
                    continue
                # The last row is a draft for one client in 50; one client in 10 has a
                # correction (the original and its correction are both rows).
                draft = count >= 3 and index % 50 == 7
                corrected = count >= 4 and index % 10 == 3
                submitted = count - draft - corrected
                totals = _phq9_history(rng, submitted)
                course = courses.get(client_id)
                course_col = str(course) if course else "\\N"
                first = now - timedelta(days=7 * submitted + rng.uniform(1, 30))
                rows = []
                for j, total in enumerate(totals):
                    at = first + timedelta(days=7 * j, hours=rng.uniform(-30, 30))
                    rows.append([total, at, None, ""])
                if corrected:
                    # The original of the second-to-last score was mis-entered; the correction
                    # (same administration time) replaces it.
                    k = max(1, len(rows) - 2)
                    wrong = min(27, rows[k][0] + rng.choice([3, 5, 8]))
                    original = [wrong, rows[k][1], None, ""]
                    rows[k][2] = "orig"
                    rows[k][3] = "Item 4 was keyed in from the wrong row of the paper form."
                    rows.insert(k, original)
                for row in rows:
                    total, at, corrects, reason = row
                    if corrects == "orig":
                        corrects = next_id - 1
                    band = bands[total]
                    when = at.isoformat()
                    lines.append(
                        f"{next_id}\t{practice.pk}\t{client_id}\t{course_col}\t"
                        f"{OUTCOMES_INSTRUMENT}\t{{}}\t{total}\t{band.label}\t{band.severity}\t"
                        f"{{}}\t[]\tportal\t{when}\t{when}\t"
                        f"{corrects if corrects else chr(92) + 'N'}\t{reason}\n"
                    )
                    next_id += 1
                if draft:
                    at = (now - timedelta(hours=rng.uniform(1, 48))).isoformat()
                    lines.append(
                        f"{next_id}\t{practice.pk}\t{client_id}\t{course_col}\t"
                        f"{OUTCOMES_INSTRUMENT}\t{{}}\t\\N\t\t\\N\t{{}}\t[]\tportal\t{at}\t\\N\t"
                        "\\N\t\n"
                    )
                    next_id += 1
                made += count
                if len(lines) >= 50_000:
                    copy.write("".join(lines))
                    lines.clear()
                if (index + 1) % 20_000 == 0:
                    log(f"  {index + 1}/{len(client_ids)} clients, {made} responses")
            copy.write("".join(lines))
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('assessments_response', 'id'), %s)",
            [next_id - 1],
        )
    build_outcome_summaries(practice, scored=sum(1 for c in counts if c), force=True)
    vacuum_later("assessments_response", "courses_course")
    return {"reused": False, "build_seconds": time.perf_counter() - started, "responses": made}


def build_outcome_summaries(practice, *, scored: int, force: bool) -> float:
    """The stored outcome summaries (decision 0043), one per client with a PHQ-9 score, as
    the write paths keep them: recomputed by outcomes.services when forced (new responses,
    conditions changed) or when their count differs from `scored`. Returns the seconds."""
    from kapflow.outcomes.models import OutcomeSummary
    from kapflow.outcomes.services import outcome_summaries_rebuild

    have = OutcomeSummary.objects.filter(organisation=practice).count()
    if not force and have == scored:
        log(f"reusing outcome summaries: {have}")
        return 0.0
    from django.db import connection

    started = time.perf_counter()
    log(f"summarising the outcomes of {scored} clients")
    written = outcome_summaries_rebuild(organisation_id=practice.pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE outcomes_outcomesummary")  # allowed inside a transaction
    seconds = time.perf_counter() - started
    log(f"  {written} outcome summaries in {seconds:.1f} s")
    return seconds


# ---- prescribing data set -------------------------------------------------------------------

REFERRED = 20_000  # default --referred: clients referred to the bench prescriber
SMALL_REFERRED = 40  # the small prescriber's referrals, for the flat-query-count check
# A referral's status follows its course's stage: sent while the course is "referred",
# accepted or scheduled during the medical evaluation, evaluated once decided (and for every
# later stage). A declined or withdrawn referral sends the course back to intake, clears its
# prescriber and ends the prescriber's care-team grant (prescriptions.services.referral_close).
REFERRAL_BUCKETS = {
    "sent": ("referred",),
    "evaluating": ("medical_evaluation",),
    "evaluated": ("eligible", "not_eligible", "consented", "preparation", "active",
                  "maintenance", "completed", "discharged"),
    "closed": ("intake",),
}  # fmt: skip
REFERRAL_MIX = {"sent": 10, "evaluating": 10, "evaluated": 75, "closed": 5}  # per cent
REFERRAL_DIAGNOSES = [
    {"code": "F33.1", "description": "Major depressive disorder, recurrent, moderate"}
]
# Courses with a prescription (and its first fill): every course that doses or did, and half
# of those in preparation. Session doses are one DoseUse per dosing event.
RX_STAGES = ("active", "maintenance", "completed", "discharged")
DOSING_STAGES = ("active", "maintenance")
SELF_LOG_DAYS = 14  # daily low-dose logs over the last 14 days (the queue reads the last 7)
REFILL_OPEN = 0.08  # share of dosing courses with an open refill request
FOLLOWUP_OPEN = 0.4  # share of maintenance courses with an open followup.due item
BENCH_DEA = "AB1234563"  # a well-formed DEA number (check digit 3), fictional


def _frac(key: int, salt: int) -> float:
    """A fixed pseudo-random fraction in [0, 1) per (key, salt): the same on every run and
    whatever the build order or --referred, so the plan's row counts are reproducible."""
    digest = hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _referral_split(total: int) -> dict[str, int]:
    split = {k: total * share // 100 for k, share in REFERRAL_MIX.items() if k != "evaluated"}
    split["evaluated"] = total - sum(split.values())
    return split


def _rx_shape(pathway: str, delivery: str) -> dict:
    """The prescription of a course by pathway and delivery (fictional but plausible)."""
    if pathway == "low_dose":
        return {"product": "ketamine_sl_rdt", "strength_mg": 50, "dose_mg": 50,
                "frequency": "daily", "quantity": 30, "refills": 2}  # fmt: skip
    if delivery == "at_home":
        return {"product": "ketamine_sl_rdt", "strength_mg": 100, "dose_mg": 300,
                "frequency": "per_session", "quantity": 6, "refills": 1}  # fmt: skip
    return {"product": "ketamine_inj_50", "strength_mg": 50, "dose_mg": 75,
            "frequency": "per_session", "quantity": 6, "refills": 1}  # fmt: skip


def _prescribing_roots() -> list[tuple]:
    """The practice's prescribing rows (refill requests, dose uses, fills, prescriptions,
    evaluations, referrals and what references them), its followup.due items and the
    referrals' care-team grants (prescriber rows added by a bench therapist)."""
    from kapflow.courses.models import DueItem
    from kapflow.patients.models import CareTeamMember
    from kapflow.prescriptions.models import (
        Dispense,
        DoseUse,
        MedicalEvaluation,
        Prescription,
        Referral,
        RefillRequest,
    )

    org = "organisation_id = %(org)s"
    return [
        (model, org)
        for model in (RefillRequest, DoseUse, Dispense, Prescription, MedicalEvaluation, Referral)
    ] + [
        (DueItem, f"{org} AND code = 'followup.due'"),
        (
            CareTeamMember,
            f"{org} AND role = 'prescriber' AND added_by_id IN (SELECT id FROM accounts_user "
            f"WHERE email IN ('{THERAPIST_EMAIL}', '{THERAPIST2_EMAIL}'))",
        ),
    ]


def _delete_prescribing(practice) -> None:
    delete_rows(practice, _prescribing_roots())


def _prescribing_plan(data: dict, referred: int) -> dict:
    """Which course is referred to whom, and every prescribing row to create, as keyword
    dicts (prescriptions referenced by their index in the plan). Deterministic given the
    courses: presence decisions come from _frac, so the counts do not depend on the date."""
    from django.utils import timezone

    from kapflow.courses.models import Course, CourseEvent
    from kapflow.patients.models import CareTeamMember

    practice = data["practice"]
    bench, small, other = data["prescriber"], data["prescriber_small"], data["prescriber2"]
    users = {m.pk: m.user_id for m in (data["therapist"], data["therapist2"], bench, small, other)}
    now = timezone.now()
    today = timezone.localdate()
    courses = list(
        Course.objects.filter(organisation=practice)
        .order_by("id")
        .values_list(
            "id", "client_id", "stage", "pathway", "delivery", "opened_at", "stage_changed_at",
            "therapist_id", "prescriber_id",
        )
    )  # fmt: skip
    granted = set(
        CareTeamMember.objects.filter(
            membership=bench, added_by_id=data["admin"].user_id, ended_at__isnull=True
        ).values_list("client_id", flat=True)
    )
    bucket_of = {stage: name for name, stages in REFERRAL_BUCKETS.items() for stage in stages}
    buckets: dict[str, list] = {name: [] for name in REFERRAL_BUCKETS}
    for row in courses:
        if row[2] in bucket_of:
            buckets[bucket_of[row[2]]].append(row)
    for name, rows in buckets.items():
        # Clients the prescriber is already on the care team of first (their grant is reused);
        # for closed referrals last (their grant has ended; the base grants stay as they are).
        rows.sort(key=lambda r: ((r[1] in granted) == (name == "closed"), r[0]))

    # The small prescriber picks from the end of each bucket (a fifth of its evaluated
    # courses in maintenance, so that its queue has follow-ups too), the bench prescriber
    # takes the start.
    small_picks: dict[str, list] = {}
    reserved: dict[str, int] = {}
    for name, want in _referral_split(SMALL_REFERRED).items():
        rows = buckets[name]
        reserved[name] = min(len(rows), 10 * want)
        pool = rows[len(rows) - reserved[name] :]
        first = [r for r in pool if r[2] == "maintenance"][: want // 5]
        rest = [r for r in reversed(pool) if r not in first]
        small_picks[name] = first + rest[: want - len(first)]
    capacity = min(
        (len(buckets[k]) - reserved[k]) * 100 // share for k, share in REFERRAL_MIX.items()
    )
    if referred > capacity:
        log(f"only {capacity} courses can be referred with this mix (asked {referred})")
        referred = capacity
    split = _referral_split(referred)
    assigned: dict[int, tuple] = {}  # course id -> (prescriber, bucket)
    for name, rows in buckets.items():
        for row in rows[: split[name]]:
            assigned[row[0]] = (bench, name)
        for row in small_picks[name]:
            assigned[row[0]] = (small, name)

    def days(key: int, salt: int, low: float, high: float) -> timedelta:
        return timedelta(days=low + (high - low) * _frac(key, salt))

    dosings: dict[int, list] = {}
    for event_id, course_id, at, actor_id in (
        CourseEvent.objects.filter(organisation=practice, kind="dosing")
        .order_by("occurred_at", "id")
        .values_list("id", "course_id", "occurred_at", "actor_id")
    ):
        dosings.setdefault(course_id, []).append((event_id, at, actor_id))

    plan: dict = {
        "referred": referred,
        "prescriber_of": {},  # course id -> membership id (only where it is not None)
        "grants": [],
        "referrals": [],
        "prescriptions": [],
        "dispenses": [],
        "uses": [],
        "refills": [],
        "due_items": [],
    }
    for cid, client_id, stage, pathway, delivery, opened, changed, therapist_id, was in courses:
        referee, bucket = assigned.get(cid, (None, None))
        has_rx = stage in RX_STAGES or (stage == "preparation" and _frac(cid, 1) < 0.5)
        who = referee if bucket != "closed" else None
        if who is None and bucket is None and (was is not None or has_rx):
            who = other
        if who is not None:
            plan["prescriber_of"][cid] = who.pk
        if referee is not None:
            sent_at = opened + days(cid, 10, 1, 3)
            status_at = sent_at + days(cid, 11, 3, 12)
            if bucket == "closed":
                sent_at, status_at = changed - days(cid, 10, 2, 8), changed
            if referee is small or client_id not in granted:
                plan["grants"].append(
                    {"client_id": client_id, "membership_id": referee.pk,
                     "added_by_id": users[therapist_id], "added_at": sent_at,
                     "ended_at": status_at if bucket == "closed" else None,
                     "ended_reason": "Referral closed." if bucket == "closed" else ""}
                )  # fmt: skip
            extra: dict = {"responded_by_id": users[referee.pk]}
            if bucket == "sent":
                status, sent_at, status_at, extra = "sent", changed, changed, {}
            elif bucket == "evaluating":
                sent_at, status_at = changed - days(cid, 12, 1, 6), changed
                status = "accepted" if _frac(cid, 13) < 0.5 else "scheduled"
                if status == "scheduled":
                    extra["scheduled_for"] = now + days(cid, 14, 1, 21)
            elif bucket == "evaluated":
                status = "evaluated"
            elif _frac(cid, 13) < 0.5:
                status = "declined"
                extra["status_reason"] = "Not a candidate at this time: uncontrolled hypertension."
            else:
                # Withdrawn by the practice: the therapist is the one who answered.
                status = "withdrawn"
                extra = {"status_reason": "The client chose not to proceed.",
                         "responded_by_id": users[therapist_id]}  # fmt: skip
            plan["referrals"].append(
                {"course_id": cid, "client_id": client_id, "prescriber_id": referee.pk,
                 "status": status, "sent_by_id": users[therapist_id], "sent_at": sent_at,
                 "status_changed_at": status_at, **extra}
            )  # fmt: skip
        if who is None or not has_rx:
            continue
        by_user = users[who.pk]
        events = dosings.get(cid, [])
        anchor = events[0][1] if events else changed
        written = (anchor - days(cid, 15, 1, 5)).date()
        daily = pathway == "low_dose" and stage in DOSING_STAGES
        if daily:
            written = min(written, today - timedelta(days=SELF_LOG_DAYS + 2))
        shape = _rx_shape(pathway, delivery)
        index = len(plan["prescriptions"])
        plan["prescriptions"].append(
            {"course_id": cid, "prescriber_id": who.pk, "pathway": pathway, "written_on": written,
             "created_at": datetime.combine(written, datetime.min.time(), UTC), **shape}
        )  # fmt: skip
        fills = 2 if daily and stage == "maintenance" else 1
        for fill in range(fills):
            on = min(written + timedelta(days=1 + 28 * fill), today)
            plan["dispenses"].append(
                {"rx": index, "fill_number": fill, "quantity": shape["quantity"],
                 "dispensed_on": on, "recorded_by_id": by_user,
                 "shipped_on": on if delivery == "at_home" else None}
            )  # fmt: skip
        for event_id, at, actor_id in events:
            plan["uses"].append(
                {"course_id": cid, "rx": index, "source": "session", "used_at": at,
                 "taken_on": at.date(), "amount_mg": shape["dose_mg"], "dosing_event_id": event_id,
                 "recorded_by_id": actor_id}
            )  # fmt: skip
        if daily:
            # Most clients log every day; 45 % missed one to three of the last seven days.
            misser = _frac(cid, 20) < 0.45
            forced = int(_frac(cid, 21) * 7)
            for back in range(SELF_LOG_DAYS):
                if back < 7:
                    missed = misser and (back == forced or _frac(cid * 100 + back, 22) < 0.2)
                else:
                    missed = _frac(cid * 100 + back, 23) < 0.1
                if missed:
                    continue
                on = today - timedelta(days=back)
                at = datetime.combine(on, datetime.min.time(), UTC) + days(cid + back, 24, 0.3, 0.6)
                plan["uses"].append(
                    {"course_id": cid, "rx": index, "source": "self_log", "used_at": at,
                     "taken_on": on, "amount_mg": shape["dose_mg"], "dosing_event_id": None,
                     "recorded_by_id": users[therapist_id]}
                )  # fmt: skip
        if stage in DOSING_STAGES:
            if _frac(cid, 30) < REFILL_OPEN:
                plan["refills"].append(
                    {"course_id": cid, "rx": index, "prescriber_id": who.pk,
                     "doses_left": int(_frac(cid, 31) * 2), "fills_left": int(_frac(cid, 32) * 2),
                     "status": "open", "raised_at": now - days(cid, 33, 0.1, 10)}
                )  # fmt: skip
            if _frac(cid, 34) < 0.15:
                raised = now - days(cid, 35, 40, 100)
                plan["refills"].append(
                    {"course_id": cid, "rx": index, "prescriber_id": who.pk, "doses_left": 1,
                     "fills_left": 1, "status": "fulfilled", "raised_at": raised,
                     "resolved_at": raised + days(cid, 36, 0.5, 5), "resolved_by_id": by_user,
                     "note": "Fill 1 recorded."}
                )  # fmt: skip
        if stage == "maintenance":
            if _frac(cid, 40) < FOLLOWUP_OPEN:
                due = now + timedelta(days=1) - days(cid, 41, 0, 26)
                plan["due_items"].append(
                    {"course_id": cid, "due_at": due, "overdue": due < now,
                     "raised_at": min(due, now) - timedelta(days=1)}
                )  # fmt: skip
            if _frac(cid, 42) < 0.5:
                due = now - days(cid, 43, 100, 160)
                plan["due_items"].append(
                    {"course_id": cid, "due_at": due, "overdue": False,
                     "raised_at": due - timedelta(days=1), "resolved_at": due + timedelta(days=3)}
                )  # fmt: skip
    return plan


def _plan_counts(plan: dict, data: dict) -> dict:
    bench, small = data["prescriber"].pk, data["prescriber_small"].pk
    counts = {
        "courses.bench": sum(1 for p in plan["prescriber_of"].values() if p == bench),
        "courses.small": sum(1 for p in plan["prescriber_of"].values() if p == small),
        "grants": len(plan["grants"]),
        "prescriptions": len(plan["prescriptions"]),
        "dispenses": len(plan["dispenses"]),
        "uses.session": sum(1 for u in plan["uses"] if u["source"] == "session"),
        "uses.self_log": sum(1 for u in plan["uses"] if u["source"] == "self_log"),
        "refills": len(plan["refills"]),
        "due_items": len(plan["due_items"]),
    }
    for r in plan["referrals"]:
        key = f"referrals.{'bench' if r['prescriber_id'] == bench else 'small'}.{r['status']}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _db_counts(data: dict) -> dict:
    from django.db.models import Count

    from kapflow.courses.models import Course, DueItem
    from kapflow.patients.models import CareTeamMember
    from kapflow.prescriptions.models import (
        Dispense,
        DoseUse,
        Prescription,
        Referral,
        RefillRequest,
    )

    org = data["practice"]
    bench, small = data["prescriber"], data["prescriber_small"]
    uses = dict(
        DoseUse.objects.filter(organisation=org)
        .values("source")
        .annotate(n=Count("id"))
        .values_list("source", "n")
    )
    counts = {
        "courses.bench": Course.objects.filter(organisation=org, prescriber=bench).count(),
        "courses.small": Course.objects.filter(organisation=org, prescriber=small).count(),
        "grants": CareTeamMember.objects.filter(
            organisation=org, role="prescriber",
            added_by_id__in=[data["therapist"].user_id, data["therapist2"].user_id],
        ).count(),
        "prescriptions": Prescription.objects.filter(organisation=org).count(),
        "dispenses": Dispense.objects.filter(organisation=org).count(),
        "uses.session": uses.get("session", 0),
        "uses.self_log": uses.get("self_log", 0),
        "refills": RefillRequest.objects.filter(organisation=org).count(),
        "due_items": DueItem.objects.filter(organisation=org, code="followup.due").count(),
    }  # fmt: skip
    for prescriber_id, status, n in (
        Referral.objects.filter(organisation=org)
        .values("prescriber_id", "status")
        .annotate(n=Count("id"))
        .values_list("prescriber_id", "status", "n")
    ):
        who = {bench.pk: "bench", small.pk: "small"}.get(prescriber_id, str(prescriber_id))
        counts[f"referrals.{who}.{status}"] = n
    return counts


def _refresh_self_logs(practice) -> int:
    """Move the daily logs so that the latest is today (a reused data set ages by the day,
    and the queue reads the last seven days). Returns the days moved."""
    from django.db import connection
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT MAX(taken_on) FROM prescriptions_doseuse "
            "WHERE organisation_id = %s AND source = 'self_log'",
            [practice.pk],
        )
        latest = cursor.fetchone()[0]
        if latest is None or latest >= timezone.localdate():
            return 0
        shift = (timezone.localdate() - latest).days
        cursor.execute(
            "UPDATE prescriptions_doseuse SET taken_on = taken_on + %s, "
            "used_at = used_at + make_interval(days => %s) "
            "WHERE organisation_id = %s AND source = 'self_log'",
            [shift, shift, practice.pk],
        )
    return shift


def build_prescribing(data: dict, referred: int, rebuild: bool) -> dict:
    """Referrals (`referred` to the bench prescriber, SMALL_REFERRED to the small one), the
    care-team grants they imply, every course's prescriber, the prescriptions, fills and dose
    uses of the courses that dose, daily low-dose logs, refill requests and followup.due
    items. Reused when every row count matches the plan."""
    from django.db import connection

    from kapflow.clinical import prescribing as rx
    from kapflow.courses.models import DueItem
    from kapflow.patients.models import CareTeamMember
    from kapflow.prescriptions.models import (
        Dispense,
        DoseUse,
        Prescription,
        Referral,
        RefillRequest,
    )

    practice, partner = data["practice"], data["partner"]
    plan = _prescribing_plan(data, referred)
    expected = _plan_counts(plan, data)
    have = _db_counts(data)
    if not rebuild and have == expected:
        shifted = _refresh_self_logs(practice)
        if shifted:
            log(f"moved the daily low-dose logs {shifted} days forward")
        log(
            f"reusing prescribing: {plan['referred']} referrals to the bench prescriber, "
            f"{have['prescriptions']} prescriptions, {have['uses.self_log']} daily logs"
        )
        return {"reused": True, "build_seconds": 0.0, "referred": plan["referred"]}

    started = time.perf_counter()
    if any(have.values()):
        log("removing old prescribing rows")
        _delete_prescribing(practice)
    log(f"assigning prescribers and {plan['referred']} + {SMALL_REFERRED} referrals")
    with connection.cursor() as cursor:
        ids, prescribers = zip(*plan["prescriber_of"].items(), strict=True)
        cursor.execute(
            "UPDATE courses_course co SET prescriber_id = v.prescriber_id "
            "FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::bigint[]) AS prescriber_id) v "
            "WHERE co.id = v.id AND co.prescriber_id IS DISTINCT FROM v.prescriber_id",
            [list(ids), list(prescribers)],
        )
        reassigned = cursor.rowcount
        # The prescriber's own timeline steps (decisions, follow-ups) follow the course's
        # prescriber.
        mine = [data[k].pk for k in ("prescriber", "prescriber2", "prescriber_small")]
        cursor.execute(
            "UPDATE courses_courseevent e SET actor_membership_id = co.prescriber_id, "
            "actor_id = m.user_id FROM courses_course co "
            "JOIN accounts_membership m ON m.id = co.prescriber_id "
            "WHERE e.course_id = co.id AND co.organisation_id = %s "
            "AND e.actor_membership_id = ANY(%s) AND e.actor_membership_id <> co.prescriber_id",
            [practice.pk, mine],
        )
    CareTeamMember.objects.bulk_create(
        [CareTeamMember(organisation=practice, role="prescriber", **g) for g in plan["grants"]],
        batch_size=BATCH,
    )
    Referral.objects.bulk_create(
        [
            Referral(
                organisation=practice, partner=partner, diagnoses=REFERRAL_DIAGNOSES,
                reason="Treatment-resistant depression; referred for a medical evaluation for "
                "ketamine-assisted psychotherapy.",
                medications="Sertraline 100 mg daily", consent_to_share=True,
                consent_note="Signed release of information on file.", **r,
            )
            for r in plan["referrals"]
        ],
        batch_size=BATCH,
    )  # fmt: skip
    log(f"creating {len(plan['prescriptions'])} prescriptions, fills and dose uses")
    prescriptions = []
    for p in plan["prescriptions"]:
        item = rx.PRODUCTS[p["product"]]
        prescriptions.append(
            Prescription(
                organisation=practice, drug=item.drug, rxcui=item.rxcui, form=item.form,
                route=item.route.value, pharmacy_name="Bench Compounding Pharmacy",
                pharmacy_phone="503-555-0100", dea_number=BENCH_DEA,
                expires_on=rx.expires_on(p["written_on"]), **p,
            )
        )  # fmt: skip
    prescriptions = Prescription.objects.bulk_create(prescriptions, batch_size=BATCH)

    def rows(model, items):
        out = []
        for item in items:
            item = dict(item)
            index = item.pop("rx")
            out.append(model(organisation=practice, prescription=prescriptions[index], **item))
        model.objects.bulk_create(out, batch_size=BATCH)
        return len(out)

    rows(Dispense, plan["dispenses"])
    rows(DoseUse, plan["uses"])
    rows(RefillRequest, plan["refills"])
    DueItem.objects.bulk_create(
        [
            DueItem(organisation=practice, code="followup.due", label="Medical follow-up", **d)
            for d in plan["due_items"]
        ],
        batch_size=BATCH,
    )
    if reassigned:
        # The first assignment rewrites most course rows: compact the table again, so that
        # the course scenarios scan the same pages as on a freshly built data set.
        log(f"{reassigned} courses got another prescriber: VACUUM FULL courses_course later")
        vacuum_later("courses_course", full=True)
    vacuum_later(
        "courses_course", "courses_courseevent", "courses_dueitem", "patients_careteammember",
        "prescriptions_referral", "prescriptions_prescription", "prescriptions_dispense",
        "prescriptions_doseuse", "prescriptions_refillrequest",
    )  # fmt: skip
    have = _db_counts(data)
    if have != expected:
        raise SystemExit(f"prescribing rows do not match the plan: {have} != {expected}")
    return {
        "reused": False,
        "build_seconds": time.perf_counter() - started,
        "referred": plan["referred"],
    }


# ---- the whole data set --------------------------------------------------------------------


def build_all(clients: int, referred: int, rebuild: bool, which: str) -> dict:
    """Build or reuse every part of the data set the scenarios need, in one transaction:
    a rebuild (asked for, or a different size) deletes the old rows and makes the new ones
    together, so an error part-way leaves the previous data set whole. Constraints are
    checked per statement (not deferred to COMMIT), so the deletes' order is checked as it
    runs and no queue of deferred checks grows with the rows. VACUUM ANALYZE after COMMIT."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        data = build_data(clients, rebuild)
        if which in ("all", "reads", "courses", "outcomes", "prescriber"):
            data["courses"] = build_courses(data, clients, rebuild)
            data["consents"] = build_consents(data, rebuild)
            data["prescribing"] = build_prescribing(data, referred, rebuild)
        if which in ("all", "outcomes"):
            data["outcomes"] = build_outcomes(data, clients, rebuild)
        if "courses" in data:
            data["course_facts"] = build_course_facts(data)
    if _VACUUM:
        run_vacuums()
    data["clients_n"] = clients
    log(f"data set ready ({time.perf_counter() - started:.1f} s)")
    return data


def build_course_facts(data: dict) -> dict:
    """The caseload reads each course's stored facts (courses.CourseFacts, decision 0042),
    which the services keep as they write; bulk_create and COPY bypass them, so the bench
    stores them the way `kapflow refresh_course_facts` does, whenever a part of the data
    set they are read from was built, or the stored rows do not cover every course."""
    try:
        from kapflow.courses.models import Course, CourseFacts
        from kapflow.courses.services import course_facts_refresh
    except ImportError:  # a checkout before stored facts: the caseload computes them
        return {"reused": True, "build_seconds": 0.0, "rows": 0}

    practice = data["practice"]
    built = any(not data[k]["reused"] for k in ("courses", "consents", "prescribing") if k in data)
    stored = CourseFacts.objects.filter(organisation=practice).count()
    courses = Course.objects.filter(organisation=practice).count()
    if not built and stored == courses:
        log(f"reusing stored course facts: {stored}")
        return {"reused": True, "build_seconds": 0.0, "rows": stored}
    started = time.perf_counter()
    log(f"storing the facts of {courses} courses")
    rows = course_facts_refresh(organisation_id=practice.pk)
    vacuum_later(CourseFacts._meta.db_table)
    return {"reused": False, "build_seconds": time.perf_counter() - started, "rows": rows}


# ---- measuring ------------------------------------------------------------------------------


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def measure_rounds(pairs: list[tuple], solo: dict, repeat: int) -> tuple[dict, dict, dict]:
    """ABAB rounds: WARMUPS untimed rounds, then `repeat` timed ones. In a round each
    scenario runs once right beside one call of its baseline (pairs of (name, fn, baseline
    key, baseline fn)): the baseline first in even rounds and the scenario first in odd ones,
    so neither always finds the caches the other just warmed, and the pairs in an order
    rotated by one each round. Baselines no scenario uses (`solo`) run once a round too.
    Every fn receives the round number. A busy moment on a shared machine so falls on a
    scenario and its baseline alike, and each round gives a ratio of its own.

    Returns (samples per scenario, samples per baseline, ratio per round per scenario)."""
    items = [("pair", p) for p in pairs] + [("solo", (key, fn)) for key, fn in solo.items()]
    scenario: dict = {name: [] for name, *_rest in pairs}
    baseline: dict = {key: [] for _n, _f, key, _b in pairs} | {key: [] for key in solo}
    ratios: dict = {name: [] for name, *_rest in pairs}

    def timed(fn, i: int) -> float:
        started = time.perf_counter()
        fn(i)
        return (time.perf_counter() - started) * 1000

    for i in range(WARMUPS + repeat):
        shift = i % max(1, len(items))
        for kind, item in items[shift:] + items[:shift]:
            if kind == "solo":
                key, fn = item
                ms = timed(fn, i)
                if i >= WARMUPS:
                    baseline[key].append(ms)
                continue
            name, fn, key, base_fn = item
            if i % 2 == 0:
                a = timed(base_fn, i)
                b = timed(fn, i)
            else:
                b = timed(fn, i)
                a = timed(base_fn, i)
            if i >= WARMUPS:
                scenario[name].append(b)
                baseline[key].append(a)
                ratios[name].append(b / a)
    return scenario, baseline, ratios


# ---- raw SQL baselines ----------------------------------------------------------------------


def _client_columns() -> str:
    from kapflow.patients.models import Client

    return ", ".join(f"c.{f.column}" for f in Client._meta.concrete_fields)


TEAM_SQL = """
    SELECT t.id, t.client_id, t.role, t.is_primary, t.added_at, t.licence_warning,
           u.id, u.full_name, u.email, o.id, o.name
    FROM patients_careteammember t
    JOIN accounts_membership m ON m.id = t.membership_id
    JOIN accounts_user u ON u.id = m.user_id
    JOIN accounts_organisation o ON o.id = m.organisation_id
    WHERE t.client_id = ANY(%s) AND t.ended_at IS NULL
    ORDER BY t.role, t.is_primary DESC, t.id
"""

ORDER = "ORDER BY c.legal_last_name, c.legal_first_name, c.id"
# A clinician's clients, as policy.clients_queryset scopes them: the organisation first
# (tenancy), then the care-team grant or an open emergency grant (decision 0036).
CLINICIAN_SCOPE = """
    c.organisation_id = %(org)s AND (
        EXISTS (SELECT 1 FROM patients_careteammember t
                WHERE t.client_id = c.id AND t.membership_id = %(member)s
                  AND t.ended_at IS NULL)
        OR EXISTS (SELECT 1 FROM patients_emergencyaccess g
                   WHERE g.client_id = c.id AND g.membership_id = %(member)s
                     AND g.organisation_id = %(org)s AND g.ended_at IS NULL
                     AND g.expires_at > %(now)s))
"""
# The predicate Django's icontains emits on PostgreSQL, so that the comparison is like for like.
SEARCH = """
    AND (UPPER(c.legal_last_name::text) LIKE UPPER(%(term)s)
         OR UPPER(c.legal_first_name::text) LIKE UPPER(%(term)s)
         OR UPPER(c.preferred_name::text) LIKE UPPER(%(term)s)
         OR UPPER(c.email::text) LIKE UPPER(%(term)s))
"""

# How the selectors page (set by the scenarios from a first call, see paging_of): Django's
# Paginator counts every matching row and reads the page's rows; a bounded page
# (kapflow.core.paging) counts at most cap + 1 and reads one row more than it shows.
PAGING = {"clients": (False, 0), "courses": (False, 0)}


def paging_of(page) -> tuple[bool, int]:
    """(bounded, cap) of a page a selector returned."""
    if hasattr(page.paginator, "count_exact"):
        from kapflow.core.paging import COUNT_CAP

        return True, COUNT_CAP
    return False, 0


def page_count(cursor, from_where: str, params, kind: str) -> int:
    bounded, cap = PAGING[kind]
    if bounded:
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {from_where} LIMIT {cap + 1}) bounded", params
        )
    else:
        cursor.execute(f"SELECT COUNT(*) FROM {from_where}", params)
    return cursor.fetchone()[0]


def page_limit(kind: str, per_page: int = 25) -> int:
    return per_page + 1 if PAGING[kind][0] else per_page


def _client_page(where: str, params: dict):
    from django.db import connection

    with connection.cursor() as cursor:
        count = page_count(cursor, f"patients_client c WHERE {where}", params, "clients")
        cursor.execute(
            f"SELECT {_client_columns()} FROM patients_client c WHERE {where} {ORDER} "
            f"LIMIT {page_limit('clients')}",
            params,
        )
        rows = cursor.fetchall()[:25]
        cursor.execute(TEAM_SQL, [[r[0] for r in rows]])
        team = cursor.fetchall()
    return count, rows, team


def raw_list_admin(org_id: int):
    """A practice admin's list page: every client of the practice."""
    return _client_page("c.organisation_id = %(org)s", {"org": org_id})


def raw_clinician_list(org_id: int, membership_id: int, term: str = ""):
    """A clinician's list page: the practice's clients whose care team they are on (or who
    they hold an emergency grant for), optionally searched."""
    from django.utils import timezone

    params = {"org": org_id, "member": membership_id, "now": timezone.now()}
    where = CLINICIAN_SCOPE
    if term:
        where += SEARCH
        params["term"] = f"%{term}%"
    return _client_page(where, params)


def raw_detail(org_id: int, client_id: int):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_client_columns()}, o.name FROM patients_client c "
            "JOIN accounts_organisation o ON o.id = c.organisation_id "
            "WHERE c.id = %s AND c.organisation_id = %s",
            [client_id, org_id],
        )
        row = cursor.fetchone()
        cursor.execute(TEAM_SQL, [[client_id]])
        team = cursor.fetchall()
        cursor.execute(
            "SELECT id, user_id, licence_type, state, number, expires_on "
            "FROM accounts_clinicianlicence WHERE user_id = ANY(%s)",
            [[r[6] for r in team]],
        )
        licences = cursor.fetchall()
        cursor.execute(
            "SELECT p.id, p.relationship, u.id, u.full_name, u.email "
            "FROM patients_companion p JOIN accounts_user u ON u.id = p.user_id "
            "WHERE p.client_id = %s ORDER BY p.id",
            [client_id],
        )
        companions = cursor.fetchall()
    return row, team, licences, companions


def _columns(model, alias: str) -> str:
    return ", ".join(f"{alias}.{f.column}" for f in model._meta.concrete_fields)


def course_page_sql() -> str:
    """The caseload page by hand, as courses.selectors.course_list reads it (decision 0042):
    each course with its client, clinicians, practice and gate settings, and its stored
    facts (courses_coursefacts: every fact the rules read, kept by the services), joined."""
    from kapflow.accounts.models import Organisation, User
    from kapflow.courses.models import FACT_FIELDS, Course, GateSettings
    from kapflow.patients.models import Client

    return (
        f"SELECT {_columns(Course, 'co')}, {_columns(Organisation, 'o')}, "
        f"{_columns(GateSettings, 'gs')}, {_columns(Client, 'cl')}, tm.id, tm.title, "
        f"{_columns(User, 'tu')}, pm.id, pm.title, {_columns(User, 'pu')}, "
        + ", ".join(f"f.{name}" for name in FACT_FIELDS)
        + " FROM courses_course co"
        " JOIN patients_client cl ON cl.id = co.client_id"
        " JOIN accounts_membership tm ON tm.id = co.therapist_id"
        " JOIN accounts_user tu ON tu.id = tm.user_id"
        " LEFT JOIN accounts_membership pm ON pm.id = co.prescriber_id"
        " LEFT JOIN accounts_user pu ON pu.id = pm.user_id"
        " JOIN accounts_organisation o ON o.id = co.organisation_id"
        " LEFT JOIN courses_gatesettings gs ON gs.organisation_id = o.id"
        " LEFT JOIN courses_coursefacts f ON f.course_id = co.id"
    )


COURSE_OPEN = "co.stage NOT IN ('not_eligible', 'completed', 'discharged', 'withdrawn')"
# The caseload's default order: stages in pipeline order (kapflow.clinical.course.Stage),
# longest-waiting first within a stage.
COURSE_ORDER = (
    "ORDER BY CASE "
    + " ".join(
        f"WHEN co.stage = '{stage}' THEN {rank}"
        for rank, stage in enumerate(
            ["inquiry", "intake", "referred", "medical_evaluation", "eligible", "not_eligible",
             "consented", "preparation", "active", "maintenance", "completed", "discharged",
             "withdrawn"]
        )
    )
    + " ELSE NULL END, co.stage_changed_at, co.id"
)  # fmt: skip


def raw_course_list(org_id: int, *, member_id: int | None = None, stage: str = ""):
    """The count and the rows of the caseload's page 1: open courses of the practice (or of
    the clinician's clients, scoped as policy.courses_queryset scopes them), optionally one
    stage, sorted by stage. Rows end with the stored facts, in FACT_FIELDS order."""
    from django.db import connection
    from django.utils import timezone

    params = {"org": org_id, "member": member_id, "stage": stage, "now": timezone.now()}
    where = f"co.organisation_id = %(org)s AND {COURSE_OPEN}"
    if member_id is not None:
        where += (
            f" AND co.client_id IN (SELECT c.id FROM patients_client c WHERE {CLINICIAN_SCOPE})"
        )
    if stage:
        where += " AND co.stage = %(stage)s"
    with connection.cursor() as cursor:
        count = page_count(cursor, f"courses_course co WHERE {where}", params, "courses")
        cursor.execute(
            f"{course_page_sql()} WHERE {where} {COURSE_ORDER} LIMIT {page_limit('courses')}",
            params,
        )
        rows = cursor.fetchall()[:25]
    return count, rows


# ---- scenarios ------------------------------------------------------------------------------


def signed_in(user):
    """A test client signed in as `user`, as the middleware expects after a real sign-in:
    past MFA when the user has an enrolled device (`make bench-http` enrols the therapist;
    demo mode lets the others through without one)."""
    from django.test import Client as HttpClient
    from django_otp import DEVICE_ID_SESSION_KEY

    from kapflow.accounts.models import AuthenticatorDevice

    web = HttpClient()
    web.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    # The id only: loading the device decrypts its seed, which needs that run's field keys.
    device = AuthenticatorDevice.objects.filter(user=user, confirmed=True).values("pk").first()
    if device is not None:
        session = web.session
        session[DEVICE_ID_SESSION_KEY] = f"{AuthenticatorDevice._meta.label_lower}/{device['pk']}"
        session.save()
    return web


def bearer(membership) -> dict:
    """HTTP headers with a bearer token for the membership (made once, reused by later runs;
    marked as made after MFA, so it works outside demo mode too)."""
    from kapflow.accounts.models import ApiToken, ApiTokenMfa, hash_secret
    from kapflow.core import clock

    raw = "kf_bench_" + hashlib.sha256(f"bench-token-{membership.pk}".encode()).hexdigest()[:32]
    now = clock.now()
    ApiToken.objects.update_or_create(
        token_hash=hash_secret(raw),
        defaults={
            "membership": membership, "name": "bench", "prefix": raw[3:11],
            "mfa": ApiTokenMfa.VERIFIED, "created_at": now,
            "expires_at": now + timedelta(days=300), "revoked_at": None,
        },
    )  # fmt: skip
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _touch_page(page) -> int:
    rows = list(page.object_list)
    for client in rows:
        for member in client.care_team.all():
            _ = member.membership.user.full_name
    return len(rows)


def client_scenarios(data: dict, repeat: int):
    """The client list / search / detail scenarios: (plan, raw baselines, facts)."""
    from django.test import Client as HttpClient

    from kapflow.patients import selectors
    from kapflow.patients.models import CareTeamMember, Client

    admin = load_actor(data["admin"].pk)
    therapist = load_actor(data["therapist"].pk)
    org_id = data["practice"].pk

    ids = list(Client.objects.filter(organisation_id=org_id).values_list("id", flat=True))
    rng = random.Random(SEED + 1)
    wanted = WARMUPS + repeat
    detail_ids = rng.sample(ids, wanted) if len(ids) >= wanted else rng.choices(ids, k=wanted)
    # The query count is captured on the last id: a client with both a therapist and a
    # prescriber, so that every prefetch of the detail page has rows to follow.
    full_team = (
        CareTeamMember.objects.filter(membership=data["prescriber"], ended_at__isnull=True)
        .filter(client__care_team__membership=data["therapist"])
        .values_list("client_id", flat=True)
        .first()
    )
    detail_ids.append(full_team or ids[0])

    def detail_id(i: int) -> int:
        return detail_ids[i % len(detail_ids)]

    list_query = selectors.ClientListQuery()
    search_query = selectors.ClientListQuery(search=SEARCH_TERM)

    # The raw SQL pages the way the selector does, and returns the same rows and count.
    PAGING["clients"] = paging_of(selectors.client_list(actor=admin, query=list_query))
    for who, query, sql in (
        (admin, list_query, lambda: raw_list_admin(org_id)),
        (therapist, list_query, lambda: raw_clinician_list(org_id, therapist.pk)),
        (therapist, search_query, lambda: raw_clinician_list(org_id, therapist.pk, SEARCH_TERM)),
    ):
        page = selectors.client_list(actor=who, query=query)
        count, rows, _team = sql()
        same_count = min(count, PAGING["clients"][1] or count) == page.paginator.count
        if not same_count or [c.pk for c in page.object_list] != [r[0] for r in rows]:
            raise SystemExit(f"client list: the raw SQL and the selector disagree ({who})")

    def sel_list(_i):
        return _touch_page(selectors.client_list(actor=admin, query=list_query))

    def sel_list_therapist(_i):
        return _touch_page(selectors.client_list(actor=therapist, query=list_query))

    def sel_search(_i):
        return _touch_page(selectors.client_list(actor=therapist, query=search_query))

    def sel_detail(i):
        client = selectors.client_get_for_actor(actor=admin, client_id=detail_id(i))
        for member in client.care_team.all():
            _ = member.membership.user.full_name
        _ = [c.user.full_name for c in client.companions.all()]
        return client.organisation.name

    web_admin = signed_in(data["admin"].user)
    web_therapist = signed_in(data["therapist"].user)

    def ok(response):
        if response.status_code != 200:
            where = response.headers.get("Location", "")
            raise SystemExit(f"HTTP path answered {response.status_code} {where}")
        return len(response.content)

    def http_list(_i):
        return ok(web_admin.get("/clients/"))

    def http_detail(i):
        return ok(web_admin.get(f"/clients/{detail_id(i)}/"))

    def http_search(_i):
        return ok(web_therapist.post("/clients/", {"q": SEARCH_TERM, "sort": "name"}))

    api_web = HttpClient()
    admin_token = bearer(data["admin"])

    def api_detail(i):
        return ok(api_web.get(f"/api/v1/clients/{detail_id(i)}", **admin_token))

    def baseline_view(i):
        return ok(api_web.get(f"/bench/baseline/{detail_id(i)}"))

    raw = {
        "list": lambda _i: raw_list_admin(org_id),
        "list.therapist": lambda _i: raw_clinician_list(org_id, therapist.pk),
        "search": lambda _i: raw_clinician_list(org_id, therapist.pk, SEARCH_TERM),
        "detail": lambda i: raw_detail(org_id, detail_id(i)),
        "view": baseline_view,
    }

    plan = [
        ("selector.list.admin", "client_list page 1, practice admin", sel_list, "list"),
        (
            "selector.list.therapist",
            "client_list page 1, therapist (extra)",
            sel_list_therapist,
            "list.therapist",
        ),
        (
            "selector.search.therapist",
            f"client_list search {SEARCH_TERM!r}, therapist",
            sel_search,
            "search",
        ),
        ("selector.detail.admin", "client_get_for_actor, varying ids", sel_detail, "detail"),
        ("http.list.admin", "GET /clients/ (admin)", http_list, "list"),
        ("http.detail.admin", "GET /clients/<id>/ (admin)", http_detail, "detail"),
        ("http.search.therapist", f"POST /clients/ q={SEARCH_TERM!r}", http_search, "search"),
        (
            "http.api.detail.admin",
            "GET /api/v1/clients/<id> (admin's bearer token)",
            api_detail,
            "view",
        ),
    ]

    def facts() -> dict:
        return {
            "search_term": SEARCH_TERM,
            "search_matches_therapist": raw_clinician_list(org_id, therapist.pk, SEARCH_TERM)[0],
            "therapist_clients": therapist.care_of.filter(ended_at__isnull=True).count(),
            "prescriber_clients": data["prescriber"].care_of.filter(ended_at__isnull=True).count(),
        }

    return plan, raw, facts


def _touch_rows(page) -> int:
    """What the dashboard template reads of each row (course_row did the rest, no queries)."""
    for row in page.object_list:
        course = row.course
        _ = (course.client.legal_last_name, course.therapist.user.full_name, row.next_step)
        _ = course.prescriber.user.full_name if course.prescriber else ""
        _ = [(b.code, b.message) for b in row.blockers]
        _ = [(d.code, d.due_at, d.overdue) for d in row.deadlines]
    return len(page.object_list)


def course_scenarios(data: dict, repeat: int):
    """The course dashboard scenarios: (plan, raw baselines, facts)."""
    from django.test import Client as HttpClient

    from kapflow.courses import selectors
    from kapflow.courses.models import Course

    admin = load_actor(data["admin"].pk)
    therapist = load_actor(data["therapist"].pk)
    org_id = data["practice"].pk
    everything = selectors.CourseFilters()
    one_stage = selectors.CourseFilters(stage=STAGE_FILTER)

    # The raw SQL pages as the selector does and returns the same rows with the same facts.
    from kapflow.courses.models import FACT_FIELDS

    PAGING["courses"] = paging_of(selectors.course_list(actor=admin, filters=everything))
    for who, filters, member in (
        (admin, everything, None),
        (therapist, everything, therapist.pk),
        (admin, one_stage, None),
    ):
        page = selectors.course_list(actor=who, filters=filters)
        count, rows = raw_course_list(org_id, member_id=member, stage=filters.stage)
        mine = [(r.course.pk, *(getattr(r.course, f) for f in FACT_FIELDS)) for r in page]
        theirs = [(r[0], *r[-len(FACT_FIELDS) :]) for r in rows]
        if min(count, PAGING["courses"][1] or count) != page.paginator.count or mine != theirs:
            raise SystemExit(f"caseload: the raw SQL and the selector disagree ({who})")

    def sel_admin(_i):
        return _touch_rows(selectors.course_list(actor=admin, filters=everything))

    def sel_therapist(_i):
        return _touch_rows(selectors.course_list(actor=therapist, filters=everything))

    def sel_stage(_i):
        return _touch_rows(selectors.course_list(actor=admin, filters=one_stage))

    raw = {
        "courses": lambda _i: raw_course_list(org_id),
        "courses.therapist": lambda _i: raw_course_list(org_id, member_id=therapist.pk),
        "courses.stage": lambda _i: raw_course_list(org_id, stage=STAGE_FILTER),
    }
    plan = [
        ("selector.courses.admin", "course_list page 1, admin, open", sel_admin, "courses"),
        (
            "selector.courses.therapist",
            "course_list page 1, therapist, open",
            sel_therapist,
            "courses.therapist",
        ),
        (
            "selector.courses.stage",
            f"course_list page 1, admin, stage={STAGE_FILTER}",
            sel_stage,
            "courses.stage",
        ),
    ]

    web_admin = signed_in(data["admin"].user)
    probe = web_admin.get("/courses/")
    http_note = ""
    if probe.status_code == 200:

        def http_courses(_i):
            response = web_admin.get("/courses/")
            if response.status_code != 200:
                raise SystemExit(f"GET /courses/ answered {response.status_code}")
            return len(response.content)

        plan.append(("http.courses.admin", "GET /courses/ (admin)", http_courses, "courses"))
        web_therapist = signed_in(data["therapist"].user)

        def http_courses_therapist(_i):
            response = web_therapist.get("/courses/")
            if response.status_code != 200:
                raise SystemExit(f"GET /courses/ (therapist) answered {response.status_code}")
            return len(response.content)

        plan.append(
            (
                "http.courses.therapist",
                "GET /courses/ (therapist)",
                http_courses_therapist,
                "courses.therapist",
            )
        )
    else:
        http_note = f"GET /courses/ answered {probe.status_code}: not measured"
        log(http_note)

    api_web = HttpClient()
    admin_token = bearer(data["admin"])

    def api_courses(_i):
        response = api_web.get("/api/v1/courses", **admin_token)
        if response.status_code != 200:
            raise SystemExit(f"GET /api/v1/courses answered {response.status_code}")
        return len(response.content)

    plan.append(
        ("http.api.courses.admin", "GET /api/v1/courses (admin's token)", api_courses, "courses")
    )

    def facts() -> dict:
        courses = Course.objects.filter(organisation_id=org_id)
        return {
            "courses": courses.count(),
            "courses_open": raw_course_list(org_id)[0],
            "courses_therapist_open": raw_course_list(org_id, member_id=therapist.pk)[0],
            "courses_stage_filter": STAGE_FILTER,
            "courses_stage_count": raw_course_list(org_id, stage=STAGE_FILTER)[0],
            "course_events": data["courses"]["events"],
            "consent_signatures": data["consents"]["signatures"],
            "http_courses_note": http_note,
        }

    return plan, raw, facts


# ---- outcomes -------------------------------------------------------------------------------

# The practice report by hand: per client the first and the latest current score (LATERAL,
# ORDER BY ... LIMIT 1 on the (client, instrument, submitted_at) index), "at least two scores"
# as first id <> latest id, the group from the client's most recent course, then the same
# sums as outcomes.selectors.AGGREGATE_SQL (PHQ-9: response is improvement x 2 >= baseline,
# remission is latest <= 4).
CURRENT_SCORE = """
    SELECT r.id, r.total FROM assessments_response r
    WHERE r.client_id = c.id AND r.organisation_id = %(org)s AND r.instrument = %(instrument)s
      AND r.submitted_at IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM assessments_response x WHERE x.corrects_id = r.id)
"""


def raw_practice_outcomes(org_id: int, group_by: str, instrument: str = OUTCOMES_INSTRUMENT):
    from django.db import connection

    key = (
        "'all'"
        if group_by == "all"
        else f"co.{'therapist_id' if group_by == 'therapist' else group_by}"
    )
    course = (
        ""
        if group_by == "all"
        else """LEFT JOIN LATERAL (
            SELECT co.pathway, co.delivery, co.condition, co.therapist_id FROM courses_course co
            WHERE co.client_id = c.id AND co.organisation_id = %(org)s
            ORDER BY co.opened_at DESC, co.id DESC LIMIT 1) co ON true"""
    )
    names = ", u.full_name" if group_by == "therapist" else ""
    join_names = (
        " LEFT JOIN accounts_membership m ON m.id = co.therapist_id"
        " LEFT JOIN accounts_user u ON u.id = m.user_id"
        if group_by == "therapist"
        else ""
    )
    sql = f"""
        SELECT {key}, COUNT(*), SUM(f.total), SUM(l.total), SUM(l.total - f.total),
               SUM((l.total - f.total) * (l.total - f.total)),
               SUM(CASE WHEN f.total > 0 THEN 1 ELSE 0 END),
               SUM(CASE WHEN f.total > 0 AND (f.total - l.total) * 2 >= f.total THEN 1 ELSE 0 END),
               SUM(CASE WHEN l.total <= 4 THEN 1 ELSE 0 END){names}
        FROM patients_client c
        CROSS JOIN LATERAL ({CURRENT_SCORE} ORDER BY r.submitted_at, r.id LIMIT 1) f
        CROSS JOIN LATERAL ({CURRENT_SCORE} ORDER BY r.submitted_at DESC, r.id DESC LIMIT 1) l
        {course}{join_names}
        WHERE c.organisation_id = %(org)s AND f.id <> l.id
        {"" if group_by == "all" else f"GROUP BY {key}{names}"}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"org": org_id, "instrument": instrument})
        return cursor.fetchall()


def raw_practice_summaries(org_id: int, group_by: str, instrument: str = OUTCOMES_INSTRUMENT):
    """The same sums by hand from the stored summaries (decision 0043), what the selector now
    reads: one GROUP BY over the practice's rows of clients with two or more scores (for the
    therapist also joined to the user's name). The baseline the selectors are timed against;
    raw_practice_outcomes (from every response) is what both are checked against."""
    from django.db import connection

    key = {"all": "'all'", "therapist": "s.therapist_id"}.get(group_by, f"s.{group_by}")
    names = ", u.full_name" if group_by == "therapist" else ""
    join_names = (
        " LEFT JOIN accounts_membership m ON m.id = s.therapist_id"
        " LEFT JOIN accounts_user u ON u.id = m.user_id"
        if group_by == "therapist"
        else ""
    )
    sql = f"""
        SELECT {key}, COUNT(*), SUM(s.baseline_total), SUM(s.latest_total), SUM(s.change),
               SUM(s.change::int * s.change::int),
               COUNT(*) FILTER (WHERE s.baseline_total > 0),
               COUNT(*) FILTER (WHERE s.response), COUNT(*) FILTER (WHERE s.remission){names}
        FROM outcomes_outcomesummary s{join_names}
        WHERE s.organisation_id = %(org)s AND s.instrument = %(instrument)s AND s.scores >= 2
        {"" if group_by == "all" else f"GROUP BY {key}{names}"}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"org": org_id, "instrument": instrument})
        return cursor.fetchall()


def raw_client_outcomes(org_id: int, client_id: int):
    """A client's series by hand: the client row, its current scores, its dosing dates."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_client_columns()} FROM patients_client c "
            "WHERE c.id = %s AND c.organisation_id = %s",
            [client_id, org_id],
        )
        row = cursor.fetchone()
        cursor.execute(
            "SELECT r.id, r.instrument, r.submitted_at, r.total, r.band, r.corrects_id, "
            "r.safety_flags FROM assessments_response r "
            "WHERE r.organisation_id = %s AND r.client_id = %s AND r.submitted_at IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM assessments_response x WHERE x.corrects_id = r.id) "
            "ORDER BY r.instrument, r.submitted_at, r.id",
            [org_id, client_id],
        )
        scores = cursor.fetchall()
        cursor.execute(
            "SELECT e.occurred_at FROM courses_courseevent e "
            "JOIN courses_course co ON co.id = e.course_id "
            "WHERE e.organisation_id = %s AND co.client_id = %s AND e.kind = 'dosing' "
            "ORDER BY e.occurred_at, e.id",
            [org_id, client_id],
        )
        dosings = cursor.fetchall()
    return row, scores, dosings


OUTCOME_GROUPINGS = ("pathway", "therapist", "condition")


def outcome_scenarios(data: dict, repeat: int):
    """The outcomes scenarios: (plan, raw baselines, facts)."""

    from kapflow.assessments.models import Response
    from kapflow.clinical import instruments
    from kapflow.outcomes import selectors

    admin = load_actor(data["admin"].pk)
    org_id = data["practice"].pk
    phq9 = instruments.get(OUTCOMES_INSTRUMENT)

    # The selector (stored summaries), the raw SQL over the summaries and the raw SQL over
    # every response must agree to the last count before anything is timed.
    for group_by in OUTCOME_GROUPINGS:
        mine = {
            (s.key, s.n, s.sum_baseline, s.sum_latest, s.sum_change, s.sum_change_sq,
             s.response_n, s.responders, s.remitters)
            for s in selectors.practice_sums(
                organisation_id=org_id, instrument=phq9, group_by=group_by
            )
        }  # fmt: skip
        theirs = {tuple(v if v is None or isinstance(v, str) else int(v) for v in row[:9])
                  for row in raw_practice_outcomes(org_id, group_by)}  # fmt: skip
        stored = {tuple(v if v is None or isinstance(v, str) else int(v) for v in row[:9])
                  for row in raw_practice_summaries(org_id, group_by)}  # fmt: skip
        if not mine == theirs == stored:
            raise SystemExit(f"outcomes selector and raw SQL disagree for {group_by}")

    def report(group_by: str):
        def run(_i):
            result = selectors.practice_outcomes(
                actor=admin, instrument=OUTCOMES_INSTRUMENT, group_by=group_by
            )
            return [(row.label, row.n, row.change, row.response) for row in result.rows]

        return run

    # Clients with the most scores (40, about 2 % of them), for the client series scenarios.
    counts = _response_counts(data["clients_n"])
    ids = list(
        Response._meta.get_field("client")
        .related_model.objects.filter(organisation_id=org_id)
        .order_by("id")
        .values_list("id", flat=True)
    )
    busiest = [pk for pk, n in zip(ids, counts, strict=False) if n == 2 * RESPONSES_PER_CLIENT]
    wanted = WARMUPS + repeat + 1
    client_ids = (busiest * (wanted // max(len(busiest), 1) + 1))[:wanted] or ids[:wanted]

    def sel_client(i):
        result = selectors.client_outcomes(actor=admin, client_id=client_ids[i % len(client_ids)])
        return [len(s.scores) for s in result.series]

    web_admin = signed_in(data["admin"].user)

    def ok(response):
        if response.status_code != 200:
            raise SystemExit(f"HTTP path answered {response.status_code}")
        return len(response.content)

    def http_practice(_i):
        return ok(web_admin.get("/outcomes/practice/", {"group_by": "condition"}))

    def http_client(i):
        return ok(web_admin.get(f"/outcomes/clients/{client_ids[i % len(client_ids)]}/"))

    def raw_report(group_by: str):
        return lambda _i: raw_practice_summaries(org_id, group_by)

    raw = {f"outcomes.{g}": raw_report(g) for g in OUTCOME_GROUPINGS}
    raw["outcomes.client"] = lambda i: raw_client_outcomes(org_id, client_ids[i % len(client_ids)])
    plan = [
        (f"selector.outcomes.{g}", f"practice_outcomes phq9 by {g}", report(g), f"outcomes.{g}")
        for g in OUTCOME_GROUPINGS
    ]
    plan += [
        ("http.outcomes.practice", "GET /outcomes/practice/ by condition", http_practice,
         "outcomes.condition"),
        ("selector.outcomes.client", "client_outcomes, 40 PHQ-9 scores", sel_client,
         "outcomes.client"),
        ("http.outcomes.client", "GET /outcomes/clients/<id>/ (SVG chart)", http_client,
         "outcomes.client"),
    ]  # fmt: skip

    def facts() -> dict:
        responses = Response.objects.filter(organisation_id=org_id)
        (everyone,) = selectors.practice_sums(
            organisation_id=org_id, instrument=phq9, group_by="all"
        )
        return {
            "responses": responses.count(),
            "responses_corrected": responses.filter(corrects__isnull=False).count(),
            "responses_draft": responses.filter(submitted_at__isnull=True).count(),
            "outcome_clients": everyone.n,
            "outcome_responders": everyone.responders,
            "outcome_remitters": everyone.remitters,
        }

    return plan, raw, facts


# ---- the prescriber's queue -----------------------------------------------------------------

QUEUE_REFERRAL = """
    SELECT {referral}, {client}, {organisation}, {course}
    FROM prescriptions_referral r
    JOIN patients_client c ON c.id = r.client_id
    JOIN accounts_organisation o ON o.id = r.organisation_id
    JOIN courses_course co ON co.id = r.course_id
    WHERE r.partner_id = %(partner)s AND r.prescriber_id = %(me)s AND {status}
    ORDER BY {order}, r.id LIMIT 25
"""


def raw_prescriber_queue(partner_id: int, membership_id: int, today: date) -> dict:
    """The prescriber's queue by hand, one statement per section as the selector has: the two
    referral counts, the oldest 25 new and 25 in-evaluation referrals (with client, practice
    and course), the open refill requests' count and oldest 25 (with course, client,
    prescription), the 25 first open followup.due items of the prescriber's courses (overdue
    first) and the 25 low-dose courses in a dosing stage with fewest days with a dose (from
    any source: a supervised session dose counts) in the last seven days (under seven), by a
    LATERAL count. Refills, follow-ups and low-dose courses are those of clients whose care
    team the prescriber is still on (the selector's grant check)."""
    from django.db import connection

    from kapflow.accounts.models import Organisation
    from kapflow.courses.models import Course, DueItem
    from kapflow.patients.models import Client
    from kapflow.prescriptions.models import Prescription, Referral, RefillRequest

    params = {"partner": partner_id, "me": membership_id, "today": today,
              "week_ago": today - timedelta(days=7)}  # fmt: skip
    # The sections after the referrals: the prescriber's own courses while the grant lasts.
    granted = (
        "EXISTS (SELECT 1 FROM patients_careteammember t WHERE t.client_id = co.client_id "
        "AND t.membership_id = %(me)s AND t.ended_at IS NULL)"
    )
    cols = {
        "referral": _columns(Referral, "r"),
        "client": _columns(Client, "c"),
        "organisation": _columns(Organisation, "o"),
        "course": _columns(Course, "co"),
    }
    out: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FILTER (WHERE r.status = 'sent'), "
            "COUNT(*) FILTER (WHERE r.status IN ('accepted', 'scheduled')) "
            "FROM prescriptions_referral r "
            "WHERE r.partner_id = %(partner)s AND r.prescriber_id = %(me)s",
            params,
        )
        out["new"], out["evaluating"] = cursor.fetchone()
        cursor.execute(
            QUEUE_REFERRAL.format(status="r.status = 'sent'", order="r.sent_at", **cols), params
        )
        out["new_rows"] = cursor.fetchall()
        cursor.execute(
            QUEUE_REFERRAL.format(
                status="r.status IN ('accepted', 'scheduled')", order="r.status_changed_at", **cols
            ),
            params,
        )
        out["evaluating_rows"] = cursor.fetchall()
        cursor.execute(
            "SELECT COUNT(*) FROM prescriptions_refillrequest q "
            "JOIN courses_course co ON co.id = q.course_id "
            f"WHERE q.prescriber_id = %(me)s AND q.status = 'open' AND {granted}",
            params,
        )
        out["refills"] = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT {_columns(RefillRequest, 'q')}, {cols['course']}, {cols['client']}, "
            f"{_columns(Prescription, 'p')} FROM prescriptions_refillrequest q "
            "JOIN courses_course co ON co.id = q.course_id "
            "JOIN patients_client c ON c.id = co.client_id "
            "JOIN prescriptions_prescription p ON p.id = q.prescription_id "
            f"WHERE q.prescriber_id = %(me)s AND q.status = 'open' AND {granted} "
            "ORDER BY q.raised_at, q.id LIMIT 25",
            params,
        )
        out["refill_rows"] = cursor.fetchall()
        cursor.execute(
            f"SELECT {_columns(DueItem, 'd')}, {cols['course']}, {cols['client']} "
            "FROM courses_dueitem d JOIN courses_course co ON co.id = d.course_id "
            "JOIN patients_client c ON c.id = co.client_id "
            "WHERE co.prescriber_id = %(me)s AND d.code = 'followup.due' "
            f"AND d.resolved_at IS NULL AND {granted} "
            "ORDER BY d.overdue DESC, d.due_at, d.id LIMIT 25",
            params,
        )
        out["followup_rows"] = cursor.fetchall()
        cursor.execute(
            f"SELECT {cols['course']}, l.n, {cols['client']} FROM courses_course co "
            "JOIN patients_client c ON c.id = co.client_id "
            "CROSS JOIN LATERAL (SELECT COUNT(DISTINCT u.taken_on) AS n "
            "FROM prescriptions_doseuse u WHERE u.course_id = co.id "
            "AND u.taken_on > %(week_ago)s AND u.taken_on <= %(today)s) l "
            "WHERE co.prescriber_id = %(me)s AND co.pathway = 'low_dose' "
            f"AND co.stage IN ('active', 'maintenance') AND {granted} AND l.n < 7 "
            "ORDER BY l.n, co.id LIMIT 25",
            params,
        )
        out["low_dose_rows"] = cursor.fetchall()
    return out


def _queue_ids(queue) -> dict:
    """The selector's queue as counts and row ids (the raw SQL's first column is the id)."""
    return {
        "new": queue.counts["new"],
        "evaluating": queue.counts["evaluating"],
        "refills": queue.counts["refills"],
        "new_rows": [r.pk for r in queue.new_referrals],
        "evaluating_rows": [r.pk for r in queue.evaluations],
        "refill_rows": [r.pk for r in queue.refills],
        "followup_rows": [d.pk for d in queue.followups],
        "low_dose_rows": [c.pk for c in queue.low_dose],
    }


def _raw_ids(raw: dict) -> dict:
    return {k: [row[0] for row in v] if isinstance(v, list) else v for k, v in raw.items()}


def _touch_queue(queue) -> int:
    """What the queue template reads of each row (all select_related: no queries)."""
    for r in queue.new_referrals + queue.evaluations:
        _ = (r.client.legal_last_name, r.client.legal_first_name, r.organisation.name)
        _ = (r.sent_at, r.status_changed_at, r.scheduled_for, r.get_status_display())
    for r in queue.refills:
        _ = (r.course.client.legal_last_name, r.prescription.pk, r.doses_left, r.raised_at)
    for d in queue.followups:
        _ = (d.course.client.legal_last_name, d.overdue, d.due_at)
    for c in queue.low_dose:
        _ = (c.client.legal_last_name, c.logged_7d)
    return sum(len(section) for section in (queue.new_referrals, queue.evaluations,
               queue.refills, queue.followups, queue.low_dose))  # fmt: skip


def prescriber_scenarios(data: dict, repeat: int):
    """The partner prescriber's queue: (plan, raw baselines, facts). Before timing, the
    selector's counts and rows are checked equal to the raw SQL's, and the query counts of
    the selector and of the page at the small prescriber's size (SMALL_REFERRED referrals)
    checked equal to those at the bench prescriber's."""
    from django.db.models import Count, Q
    from django.utils import timezone

    from kapflow.courses.models import Course
    from kapflow.prescriptions import selectors
    from kapflow.prescriptions.models import Referral

    full = load_actor(data["prescriber"].pk)
    small = load_actor(data["prescriber_small"].pk)
    partner_id = data["partner"].pk

    for who in (full, small):
        today = timezone.localdate()
        mine = _queue_ids(selectors.prescriber_queue(actor=who, today=today))
        theirs = _raw_ids(raw_prescriber_queue(partner_id, who.pk, today))
        if mine != theirs:
            diff = {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
            raise SystemExit(f"prescriber_queue and raw SQL disagree for {who.user.email}: {diff}")

    def sel_queue(actor):
        return lambda _i: _touch_queue(selectors.prescriber_queue(actor=actor))

    def web_for(membership):
        web = signed_in(membership.user)
        return web

    web_full, web_small = web_for(data["prescriber"]), web_for(data["prescriber_small"])

    def http_queue(web):
        def run(_i):
            response = web.get("/prescribing/")
            if response.status_code != 200:
                where = response.headers.get("Location", "")
                raise SystemExit(f"GET /prescribing/ answered {response.status_code} {where}")
            return len(response.content)

        return run

    # The same number of statements at 40 referrals as at 20,000 (plus the audit INSERT).
    flat = {}
    for name, at_small, at_full in (
        ("selector", sel_queue(small), sel_queue(full)),
        ("http", http_queue(web_small), http_queue(web_full)),
    ):
        at_small(0), at_full(0)  # warm: the first request of a session differs
        small_n, _ = count_statements(capture(at_small, 0))
        full_n, _ = count_statements(capture(at_full, 0))
        flat[name] = {"small": small_n, "full": full_n}
        if small_n != full_n:
            log(f"QUERY COUNT GROWS: {name} {small_n} at {SMALL_REFERRED} referrals, {full_n} full")

    raw = {
        "prescriber": lambda _i: raw_prescriber_queue(partner_id, full.pk, timezone.localdate()),
    }
    plan = [
        ("selector.prescriber.queue", "prescriber_queue, bench prescriber", sel_queue(full),
         "prescriber"),
        ("http.prescriber.queue", "GET /prescribing/ (prescriber)", http_queue(web_full),
         "prescriber"),
    ]  # fmt: skip

    def facts() -> dict:
        today = timezone.localdate()
        queue = selectors.prescriber_queue(actor=full, today=today)
        small_queue = selectors.prescriber_queue(actor=small, today=today)
        referrals = Referral.objects.filter(prescriber=full)
        low_dose = Course.objects.filter(
            prescriber=full, pathway="low_dose", stage__in=list(DOSING_STAGES)
        )
        # Days with a dose (any source) in the last seven, as the queue counts them.
        missed = low_dose.annotate(
            logged=Count(
                "dose_uses__taken_on",
                filter=Q(
                    dose_uses__taken_on__gt=today - timedelta(days=7),
                    dose_uses__taken_on__lte=today,
                ),
                distinct=True,
            )
        ).filter(logged__lt=7)
        return {
            "prescriber_referred": referrals.count(),
            "prescriber_referrals_by_status": dict(
                sorted(Counter(referrals.values_list("status", flat=True)).items())
            ),
            "prescriber_courses": Course.objects.filter(prescriber=full).count(),
            "prescriber_counts": queue.counts,
            "prescriber_followups_open": _count_followups(full.pk),
            "prescriber_low_dose_courses": low_dose.count(),
            "prescriber_low_dose_missed": missed.count(),
            "prescriber_small_sections": {
                "new": len(small_queue.new_referrals),
                "evaluations": len(small_queue.evaluations),
                "refills": len(small_queue.refills),
                "followups": len(small_queue.followups),
                "low_dose": len(small_queue.low_dose),
            },
            "prescriber_query_counts": flat,
            "prescriber_queries_flat": all(v["small"] == v["full"] for v in flat.values()),
        }

    return plan, raw, facts


def _count_followups(membership_id: int) -> int:
    from kapflow.courses.models import DueItem

    return DueItem.objects.filter(
        course__prescriber_id=membership_id, code="followup.due", resolved_at__isnull=True
    ).count()


def scenarios(data: dict, repeat: int, which: str = "all") -> tuple[list[dict], dict]:
    from kapflow.audit.services import audit_record, audit_record_many
    from kapflow.patients.models import Client

    plan, raw, fact_fns = [], {}, []
    from directory import directory_scenarios  # bench/directory.py
    from scheduling import schedule_scenarios  # bench/scheduling.py

    makers = (("clients", client_scenarios), ("courses", course_scenarios),
              ("outcomes", outcome_scenarios), ("prescriber", prescriber_scenarios),
              ("schedule", schedule_scenarios), ("directory", directory_scenarios))  # fmt: skip
    for name, make in makers:
        if which in ("all", name) or (which == "reads" and name in ("clients", "courses")):
            part_plan, part_raw, part_facts = make(data, repeat)
            plan += part_plan
            raw.update(part_raw)
            fact_fns.append(part_facts)

    # What the audit trail alone costs: the same service calls the selectors make, with an
    # action name of their own so that these rows are recognisable in the bench database.
    admin = load_actor(data["admin"].pk)
    page_rows = list(Client.objects.filter(organisation_id=data["practice"].pk).order_by("id")[:25])
    raw["audit.25"] = lambda _i: audit_record_many(
        actor=admin, action="bench.audit_probe", targets=page_rows
    )
    raw["audit.1"] = lambda _i: audit_record(
        actor=admin, action="bench.audit_probe", target=page_rows[0], client_id=page_rows[0].pk
    )

    # Each scenario is timed beside its own baseline, round after round (measure_rounds).
    used = {baseline for _n, _l, _f, baseline in plan}
    pairs = [(name, fn, baseline, raw[baseline]) for name, _label, fn, baseline in plan]
    solo = {key: fn for key, fn in raw.items() if key not in used}
    log(f"timing {len(plan)} scenarios beside their baselines, {repeat} ABAB rounds")
    samples, base_samples, ratios = measure_rounds(pairs, solo, repeat)

    baselines = {}
    for key, fn in raw.items():
        queries, tx = count_statements(capture(fn, 0))
        runs = base_samples[key]
        baselines[key] = {
            "median_ms": statistics.median(runs),
            "p95_ms": p95(runs),
            "queries": queries,
            "transaction_statements": tx,
            "samples_ms": runs,
        }

    results = []
    for name, label, fn, baseline in plan:
        runs = samples[name]
        sql = capture(fn, WARMUPS + repeat)
        queries, tx = count_statements(sql)
        median = statistics.median(runs)
        results.append(
            {
                "name": name,
                "label": label,
                "median_ms": median,
                "p95_ms": p95(runs),
                "min_ms": min(runs),
                "queries": queries,
                "transaction_statements": tx,
                "raw_baseline": baseline,
                "raw_median_ms": baselines[baseline]["median_ms"],
                # The median of the rounds' own ratios (each round: this scenario's time over
                # its baseline's, measured side by side), and their range.
                "ratio_to_raw": statistics.median(ratios[name]),
                "ratio_min": min(ratios[name]),
                "ratio_max": max(ratios[name]),
                "ratio_of_medians": median / baselines[baseline]["median_ms"],
                "ratios": ratios[name],
                "samples_ms": runs,
                "sql": [q[:400] for q in sql],
            }
        )

    facts: dict = {}
    for fn in fact_fns:
        facts.update(fn())
    return results, {"baselines": baselines, **facts}


# ---- report ---------------------------------------------------------------------------------


def markdown(meta: dict, results: list[dict], extra: dict) -> str:
    courses = f", {extra['courses']:,} courses" if "courses" in extra else ""
    if "prescriber_referred" in extra:
        courses += f", {extra['prescriber_referred']:,} referred"
    if "responses" in extra:
        courses += f", {extra['responses']:,} responses"
    lines = [
        f"## kapflow bench: {meta['clients']:,} clients{courses}, {meta['repeat']} runs "
        f"(+{WARMUPS} warm-ups), PostgreSQL {meta['postgres']}",
        "",
        "| Scenario | What | Median ms | p95 ms | Queries | Raw SQL median ms | × raw "
        "(rounds' median) | rounds' range |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['label']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} "
            f"| {r['queries']} (+{r['transaction_statements']} tx) "
            f"| {r['raw_median_ms']:.2f} ({r['raw_baseline']}) "
            f"| {r['ratio_to_raw']:.2f} | {r['ratio_min']:.2f}–{r['ratio_max']:.2f} |"
        )
    b = extra["baselines"]
    lines += [
        "",
        "Baselines (raw SQL through connection.cursor() returning the same rows; audit.N = "
        "the audit service alone writing N rows): "
        + "; ".join(
            f"{k}: median {v['median_ms']:.2f} ms, p95 {v['p95_ms']:.2f} ms, {v['queries']} queries"
            for k, v in b.items()
        ),
        "",
        "Notes:",
        "- Timing: ABAB rounds. Each round runs every scenario once right beside one call of "
        "its baseline (baseline first in even rounds, scenario first in odd ones), the pairs "
        "rotated each round; '× raw' is the median of the rounds' own ratios, with their range.",
        "- Queries counts data statements of one call; '+N tx' are the BEGIN/COMMIT Django also "
        "logs around atomic blocks.",
        "- Every selector and page call also writes audit rows (one INSERT: 25 rows for a list "
        "page, 1 for a detail), which the raw SQL baselines do not; the HTTP rows further include "
        "session, user, membership and MFA-device lookups, the session save and template "
        "rendering. Ratios are therefore an upper bound on ORM overhead, not a like-for-like.",
    ]
    if "search_term" in extra:
        lines += [
            "- Raw client SQL is scoped as policy.clients_queryset scopes the selector: the "
            "practice first, then (for a clinician) the care-team grant or an open emergency "
            "grant; search uses the predicate Django's icontains emits on PostgreSQL, "
            "UPPER(col::text) LIKE UPPER(%s); checked before timing to return the selector's "
            "rows and count.",
            f"- Therapist is on {extra['therapist_clients']:,} care teams, the partner prescriber "
            f"on {extra['prescriber_clients']:,}; search {extra['search_term']!r} matches "
            f"{extra['search_matches_therapist']:,} of the therapist's clients.",
        ]
    if "courses" in extra:
        lines += [
            f"- Courses: {extra['courses']:,} (one per client) with {extra['course_events']:,} "
            f"events; {extra['courses_open']:,} open, {extra['courses_therapist_open']:,} of "
            f"them on the therapist's care teams; {extra['courses_stage_count']:,} at stage "
            f"{extra['courses_stage_filter']!r}. Raw course SQL: the page's course rows joined "
            "to client, clinicians, practice, gate settings and the stored facts, scoped as "
            "the selector scopes them, and the count the way the selector counts (bounded at "
            f"{PAGING['courses'][1]:,} when it is); checked before timing to return the same "
            "rows, facts and count as the selector.",
            "- Consent: the practice's current KAP and telehealth documents (version 1); "
            + ", ".join(f"{n:,} {k}" for k, n in extra["consent_signatures"].items())
            + " signatures (the clients of courses at consented stage or later; telehealth "
            "when the course doses at home), no withdrawals: the stored consent facts.",
        ]
        if extra.get("http_courses_note"):
            lines.append(f"- {extra['http_courses_note']}.")
    if "responses" in extra:
        lines += [
            f"- Outcomes: {extra['responses']:,} {OUTCOMES_INSTRUMENT} responses "
            f"({extra['responses_corrected']:,} corrections, {extra['responses_draft']:,} "
            f"drafts); {extra['outcome_clients']:,} clients have two or more current scores "
            f"({extra['outcome_responders']:,} responders, {extra['outcome_remitters']:,} "
            "remitters). Raw outcomes SQL: the same sums by one GROUP BY over the stored "
            "outcome summaries (decision 0043); before timing, the selector's sums are checked "
            "equal to it and to the sums computed from every response (per client the first "
            "and latest current score by LATERAL ... ORDER BY ... LIMIT 1 and the most recent "
            "course). The client scenarios vary the client (40 scores each); the HTTP one "
            "renders the SVG charts.",
        ]
    built = []
    for name, key in (
        ("clients", "clients_data"),
        ("courses", "courses_data"),
        ("consent signatures", "consents_data"),
        ("responses", "outcomes_data"),
        ("prescribing", "prescribing_data"),
    ):
        if meta.get(key):
            how = meta[key]
            built.append(
                f"{name} " + ("reused" if how["reused"] else f"built in {how['seconds']:.1f} s")
            )
    if "prescriber_referred" in extra:
        flat = extra["prescriber_query_counts"]
        statuses = ", ".join(
            f"{k} {v:,}" for k, v in extra["prescriber_referrals_by_status"].items()
        )
        lines += [
            f"- Prescriber: {extra['prescriber_referred']:,} clients referred to the bench "
            f"prescriber ({statuses}), prescriber of {extra['prescriber_courses']:,} "
            f"courses; queue counts {extra['prescriber_counts']}, "
            f"{extra['prescriber_followups_open']:,} open follow-ups, "
            f"{extra['prescriber_low_dose_missed']:,} of "
            f"{extra['prescriber_low_dose_courses']:,} low-dose dosing courses had a dose on "
            "fewer than 7 of the last 7 days. Raw prescriber SQL: the same seven statements "
            "(counts, sections with their joins and the care-team grant check, LATERAL count "
            "of the week's days with a dose), LIMIT 25 each; "
            "the selector's counts and row ids are checked equal to it before timing.",
            f"- Query count at {SMALL_REFERRED} referrals vs full: selector "
            f"{flat['selector']['small']} vs {flat['selector']['full']}, page "
            f"{flat['http']['small']} vs {flat['http']['full']} "
            + ("(flat)." if extra["prescriber_queries_flat"] else "(GROWS: the run fails)."),
        ]
    lines.append(
        f"- Data set: {', '.join(built)}; total run {meta['total_seconds']:.1f} s. "
        "p95 is nearest-rank over the timed runs."
    )
    return "\n".join(lines)


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return ""
    return out.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100_000, help="clients (default 100000)")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per scenario")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data set")
    parser.add_argument(
        "--referred",
        type=int,
        default=REFERRED,
        help=f"clients referred to the bench prescriber (default {REFERRED})",
    )
    parser.add_argument(
        "--scenarios",
        choices=[
            "all",
            "reads",
            "clients",
            "courses",
            "outcomes",
            "prescriber",
            "schedule",
            "directory",
        ],
        default="all",
        help="which scenarios to run (default all)",
    )
    parser.add_argument(
        "--build-only",
        action="store_true",
        help="build (or reuse) the data set for --scenarios, then stop (bench/http_load.py)",
    )
    args = parser.parse_args(argv)
    if args.clients < 30 or args.repeat < 1 or args.referred < 0:
        parser.error("--clients must be at least 30, --repeat at least 1, --referred positive")

    started = time.perf_counter()
    setup_django()

    import django
    from django.core.management import call_command
    from django.db import connection

    log(f"database {connection.settings_dict['NAME']} on {connection.settings_dict['HOST']}")
    call_command("migrate", interactive=False, verbosity=0)
    data = build_all(args.clients, args.referred, args.rebuild, args.scenarios)
    if args.build_only:
        log(f"data set ready in {time.perf_counter() - started:.1f} s (--build-only)")
        return 0
    results, extra = scenarios(data, args.repeat, args.scenarios)

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    meta = {
        "clients": args.clients,
        "repeat": args.repeat,
        "warmups": WARMUPS,
        "postgres": postgres,
        "django": django.get_version(),
        "python": platform.python_version(),
        "commit": git_commit(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": connection.settings_dict["NAME"],
        "scenarios": args.scenarios,
        "clients_data": {"reused": data["reused"], "seconds": round(data["build_seconds"], 2)},
        "courses_data": data.get("courses")
        and {
            "reused": data["courses"]["reused"],
            "seconds": round(data["courses"]["build_seconds"], 2),
        },
        "outcomes_data": data.get("outcomes")
        and {
            "reused": data["outcomes"]["reused"],
            "seconds": round(data["outcomes"]["build_seconds"], 2),
        },
        "consents_data": data.get("consents")
        and {
            "reused": data["consents"]["reused"],
            "seconds": round(data["consents"]["build_seconds"], 2),
            "signatures": data["consents"]["signatures"],
        },
        "prescribing_data": data.get("prescribing")
        and {
            "reused": data["prescribing"]["reused"],
            "seconds": round(data["prescribing"]["build_seconds"], 2),
            "referred": data["prescribing"]["referred"],
        },
        "total_seconds": time.perf_counter() - started,
        "audit_note": "selectors and pages write audit rows (one INSERT per call); raw SQL not",
    }
    print(markdown(meta, results, extra))

    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / "latest.json"
    out.write_text(json.dumps({"meta": meta, **extra, "scenarios": results}, indent=2) + "\n")
    log(f"wrote {out.relative_to(ROOT)}")
    if extra.get("prescriber_queries_flat") is False:
        log(f"FAILED: the prescriber queue's query count grows: {extra['prescriber_query_counts']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
