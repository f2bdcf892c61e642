"""Benchmark the client list and client detail read paths on PostgreSQL at scale.

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
   template rendering): GET /clients/, GET /clients/<id>/, and the therapist's POSTed search.

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
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/kapflow_bench"

PRACTICE_SLUG = "bench-practice"
PARTNER_SLUG = "bench-partner"
ADMIN_EMAIL = "bench-admin@kapflow-bench.example"
THERAPIST_EMAIL = "bench-therapist@kapflow-bench.example"
PRESCRIBER_EMAIL = "bench-prescriber@kapflow-bench.example"

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


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


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
    return {
        "practice": practice,
        "partner": partner,
        "admin": admin,
        "therapist": therapist,
        "prescriber": prescriber,
    }


def _expected_team_rows(n: int) -> int:
    return len(range(0, n, THERAPIST_EVERY)) + len(range(0, n, PRESCRIBER_EVERY))


def build_data(n: int, rebuild: bool) -> dict:
    """Create (or reuse) N clients and their care teams. Returns facts about the data set."""
    from django.db import connection
    from django.utils import timezone

    from kapflow.clinical.geography import US_STATES
    from kapflow.patients.models import CareTeamMember, Client, Companion

    actors = _actors()
    practice = actors["practice"]
    clients = Client.objects.filter(organisation=practice)
    team = CareTeamMember.objects.filter(organisation=practice)
    have_clients, have_team = clients.count(), team.count()
    if not rebuild and have_clients == n and have_team == _expected_team_rows(n):
        log(f"reusing data set: {have_clients} clients, {have_team} care-team rows")
        return {"reused": True, "build_seconds": 0.0, **actors}

    started = time.perf_counter()
    if have_clients or have_team:
        log(f"removing old data set ({have_clients} clients, {have_team} care-team rows)")
        with connection.cursor() as cursor:
            for table in (CareTeamMember, Companion, Client):
                cursor.execute(
                    f"DELETE FROM {table._meta.db_table} WHERE organisation_id = %s",
                    [practice.pk],
                )

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

    log("VACUUM ANALYZE")
    with connection.cursor() as cursor:
        for model in (Client, CareTeamMember):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
        cursor.execute("ANALYZE")
    return {"reused": False, "build_seconds": time.perf_counter() - started, **actors}


# ---- measuring ------------------------------------------------------------------------------


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def measure(fn, repeat: int) -> list[float]:
    """WARMUPS untimed calls, then `repeat` timed calls; fn receives the call number."""
    for i in range(WARMUPS):
        fn(i)
    samples = []
    for i in range(WARMUPS, WARMUPS + repeat):
        started = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


def capture(fn, i: int) -> list[str]:
    """The SQL of one call, as Django logs it (Django also logs BEGIN/COMMIT/SAVEPOINT)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn(i)
    return [q["sql"] for q in ctx.captured_queries]


def count_statements(sql: list[str]) -> tuple[int, int]:
    """(data statements, transaction-control statements)."""
    tx = sum(1 for q in sql if q.split(None, 1)[0].upper() in TRANSACTION_CONTROL)
    return len(sql) - tx, tx


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
ON_TEAM = """
    EXISTS (SELECT 1 FROM patients_careteammember t
            WHERE t.client_id = c.id AND t.membership_id = %s AND t.ended_at IS NULL)
"""
# The predicate Django's icontains emits on PostgreSQL, so that the comparison is like for like.
SEARCH = """
    AND (UPPER(c.legal_last_name::text) LIKE UPPER(%s) OR UPPER(c.legal_first_name::text) LIKE
         UPPER(%s) OR UPPER(c.preferred_name::text) LIKE UPPER(%s) OR UPPER(c.email::text) LIKE
         UPPER(%s))
"""


def raw_list_admin(org_id: int):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM patients_client c WHERE c.organisation_id = %s", [org_id]
        )
        count = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT {_client_columns()} FROM patients_client c "
            f"WHERE c.organisation_id = %s {ORDER} LIMIT 25",
            [org_id],
        )
        rows = cursor.fetchall()
        cursor.execute(TEAM_SQL, [[r[0] for r in rows]])
        team = cursor.fetchall()
    return count, rows, team


def raw_clinician_list(membership_id: int, term: str = ""):
    """A clinician's list page: clients whose care team they are on, optionally searched."""
    from django.db import connection

    where, params = ON_TEAM, [membership_id]
    if term:
        where += SEARCH
        params += [f"%{term}%"] * 4
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM patients_client c WHERE {where}", params)
        count = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT {_client_columns()} FROM patients_client c WHERE {where} {ORDER} LIMIT 25",
            params,
        )
        rows = cursor.fetchall()
        cursor.execute(TEAM_SQL, [[r[0] for r in rows]])
        team = cursor.fetchall()
    return count, rows, team


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


# ---- scenarios ------------------------------------------------------------------------------


def load_actor(membership_id: int):
    from kapflow.accounts.models import Membership

    return (
        Membership.objects.select_related("organisation", "user")
        .prefetch_related("roles")
        .get(pk=membership_id)
    )


def _touch_page(page) -> int:
    rows = list(page.object_list)
    for client in rows:
        for member in client.care_team.all():
            _ = member.membership.user.full_name
    return len(rows)


def scenarios(data: dict, repeat: int) -> tuple[list[dict], dict]:
    from django.test import Client as HttpClient

    from kapflow.audit.services import audit_record, audit_record_many
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

    web_admin = HttpClient()
    web_admin.force_login(data["admin"].user, backend="django.contrib.auth.backends.ModelBackend")
    web_therapist = HttpClient()
    web_therapist.force_login(
        data["therapist"].user, backend="django.contrib.auth.backends.ModelBackend"
    )

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

    raw = {
        "list": lambda _i: raw_list_admin(org_id),
        "list.therapist": lambda _i: raw_clinician_list(therapist.pk),
        "search": lambda _i: raw_clinician_list(therapist.pk, SEARCH_TERM),
        "detail": lambda i: raw_detail(org_id, detail_id(i)),
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
    ]

    # What the audit trail alone costs: the same service calls the selectors make, with an
    # action name of their own so that these rows are recognisable in the bench database.
    page_rows = list(Client.objects.filter(organisation_id=org_id).order_by("id")[:25])
    raw["audit.25"] = lambda _i: audit_record_many(
        actor=admin, action="bench.audit_probe", targets=page_rows
    )
    raw["audit.1"] = lambda _i: audit_record(
        actor=admin, action="bench.audit_probe", target=page_rows[0], client_id=page_rows[0].pk
    )

    baselines = {}
    for key, fn in raw.items():
        log(f"baseline: {key}")
        samples = measure(fn, repeat)
        queries, tx = count_statements(capture(fn, 0))
        baselines[key] = {
            "median_ms": statistics.median(samples),
            "p95_ms": p95(samples),
            "queries": queries,
            "transaction_statements": tx,
            "samples_ms": samples,
        }

    results = []
    for name, label, fn, baseline in plan:
        log(f"scenario: {name}")
        samples = measure(fn, repeat)
        sql = capture(fn, WARMUPS + repeat)
        queries, tx = count_statements(sql)
        median = statistics.median(samples)
        results.append(
            {
                "name": name,
                "label": label,
                "median_ms": median,
                "p95_ms": p95(samples),
                "min_ms": min(samples),
                "queries": queries,
                "transaction_statements": tx,
                "raw_baseline": baseline,
                "raw_median_ms": baselines[baseline]["median_ms"],
                "ratio_to_raw": median / baselines[baseline]["median_ms"],
                "samples_ms": samples,
                "sql": [q[:400] for q in sql],
            }
        )

    facts = {
        "search_term": SEARCH_TERM,
        "search_matches_therapist": raw_clinician_list(therapist.pk, SEARCH_TERM)[0],
        "therapist_clients": therapist.care_of.filter(ended_at__isnull=True).count(),
        "prescriber_clients": data["prescriber"].care_of.filter(ended_at__isnull=True).count(),
    }
    return results, {"baselines": baselines, **facts}


# ---- report ---------------------------------------------------------------------------------


def markdown(meta: dict, results: list[dict], extra: dict) -> str:
    lines = [
        f"## kapflow bench: {meta['clients']:,} clients, {meta['repeat']} runs "
        f"(+{WARMUPS} warm-ups), PostgreSQL {meta['postgres']}",
        "",
        "| Scenario | What | Median ms | p95 ms | Queries | Raw SQL median ms | × raw |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['label']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} "
            f"| {r['queries']} (+{r['transaction_statements']} tx) "
            f"| {r['raw_median_ms']:.2f} ({r['raw_baseline']}) "
            f"| {r['ratio_to_raw']:.1f} |"
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
        "- Queries counts data statements of one call; '+N tx' are the BEGIN/COMMIT Django also "
        "logs around atomic blocks.",
        "- Every selector and page call also writes audit rows (one INSERT: 25 rows for a list "
        "page, 1 for a detail), which the raw SQL baselines do not; the HTTP rows further include "
        "session, user, membership and MFA-device lookups, the session save and template "
        "rendering. Ratios are therefore an upper bound on ORM overhead, not a like-for-like.",
        "- Raw search uses the predicate Django's icontains emits on PostgreSQL: "
        "UPPER(col::text) LIKE UPPER(%s).",
        f"- Therapist is on {extra['therapist_clients']:,} care teams, the partner prescriber on "
        f"{extra['prescriber_clients']:,}; search {extra['search_term']!r} matches "
        f"{extra['search_matches_therapist']:,} of the therapist's clients.",
        f"- Data set {'reused' if meta['data_reused'] else 'built'}"
        + ("" if meta["data_reused"] else f" in {meta['build_seconds']:.1f} s")
        + f"; total run {meta['total_seconds']:.1f} s. p95 is nearest-rank over the timed runs.",
    ]
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
    args = parser.parse_args(argv)
    if args.clients < 30 or args.repeat < 1:
        parser.error("--clients must be at least 30 and --repeat at least 1")

    started = time.perf_counter()
    setup_django()

    import django
    from django.core.management import call_command
    from django.db import connection

    log(f"database {connection.settings_dict['NAME']} on {connection.settings_dict['HOST']}")
    call_command("migrate", interactive=False, verbosity=0)
    data = build_data(args.clients, args.rebuild)
    results, extra = scenarios(data, args.repeat)

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
        "data_reused": data["reused"],
        "build_seconds": round(data["build_seconds"], 2),
        "total_seconds": time.perf_counter() - started,
        "audit_note": "selectors and pages write audit rows (one INSERT per call); raw SQL not",
    }
    print(markdown(meta, results, extra))

    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / "latest.json"
    out.write_text(json.dumps({"meta": meta, **extra, "scenarios": results}, indent=2) + "\n")
    log(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
