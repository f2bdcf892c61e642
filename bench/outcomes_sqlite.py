"""The practice outcomes report on SQLite, the default engine (decision 0043): before and after.

Builds (or reuses) a SQLite file with one practice of N clients (default 10,000), one course
each (pathway, delivery and condition spread by client id) and PHQ-9 responses as bench/run.py
makes them (20 per client on average, 0 to 40; one client in 10 with a corrected score, one
in 50 with a draft), summarised by outcomes.services. Then times, grouped by pathway:

- `old`: the report's sums computed from every response on each call, as before decision
  0043 (tests/outcomes/oracle.py, the old code word for word);
- `selector`: practice_outcomes (the stored summaries, the report's rows, the audit INSERT);
- `http`: GET /outcomes/practice/?group_by=pathway as the practice admin;

first on a database that has never been analysed (sqlite_stat1 dropped: what every SQLite
installation had, since nothing ran ANALYZE), then after kapflow.core.sqlite.optimize (what
migrate and the nightly job now run). The sums of `old` and `selector` are checked equal.

    KAPFLOW_TESTING=1 .venv/bin/python bench/outcomes_sqlite.py [--clients 10000]
        [--database /tmp/kapflow-outcomes-10k.sqlite3] [--repeat 30] [--old-repeat 3]

The markdown table goes to stdout, progress to stderr. The file is the benchmark's own
(default under /tmp); it is rebuilt when its client count differs.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
SEED = 20261207
RESPONSES_PER_CLIENT = 20
PATHWAYS = ("higher_dose", "low_dose")
DELIVERIES = ("in_person", "in_person", "at_home")
# Per 20 clients, as bench/run.py's CONDITION_CYCLE.
CONDITIONS = ("depression",) * 9 + ("anxiety",) * 4 + ("ptsd",) * 3 + ("ocd", "substance_use")
CONDITIONS += ("other", "other")


def log(message: str) -> None:
    print(f"[outcomes-sqlite] {message}", file=sys.stderr, flush=True)


def setup(database: str) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("KAPFLOW_TESTING", "1")
    os.environ.setdefault("KAPFLOW_DEMO_MODE", "1")  # staff without MFA pass the gate
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapflow.config.settings")
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    import django

    django.setup()


def _counts(n: int) -> list[int]:
    """0 to 40 responses per client, 20 on average (pairs 20 + d, 20 - d)."""
    counts = []
    for i in range(n):
        d = ((i // 2) * 8) % (RESPONSES_PER_CLIENT + 1)
        counts.append(RESPONSES_PER_CLIENT + (d if i % 2 == 0 else -d))
    return counts


def build(n: int) -> dict:
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from kapflow.accounts.models import Membership, MembershipRole, Organisation, Role, User
    from kapflow.assessments.models import Response
    from kapflow.clinical import instruments
    from kapflow.courses.models import Course
    from kapflow.outcomes.services import outcome_summaries_rebuild
    from kapflow.patients.models import Client

    call_command("migrate", verbosity=0)
    practice, _ = Organisation.objects.get_or_create(
        slug="bench-sqlite-practice",
        defaults={"name": "Bench SQLite Practice", "kind": "practice", "state": "OR"},
    )

    def member(email: str, name: str, role: str) -> Membership:
        user = User.objects.filter(email=email).first() or User.objects.create_user(
            email, password=None, full_name=name
        )
        membership, _ = Membership.objects.get_or_create(organisation=practice, user=user)
        MembershipRole.objects.get_or_create(membership=membership, role=role)
        return membership

    admin = member("bench-admin@kapflow-sqlite.example", "Ada Bench", Role.PRACTICE_ADMIN)
    therapists = [
        member(f"bench-therapist{i}@kapflow-sqlite.example", f"Theo Bench {i}", Role.THERAPIST)
        for i in (1, 2)
    ]
    clients = Client.objects.filter(organisation=practice)
    if clients.count() == n:
        log(f"reusing {n} clients")
        return {"practice": practice, "admin": admin, "built": False}
    if clients.exists():
        raise SystemExit("the file holds another size of practice: remove it or pick --database")
    started = time.perf_counter()
    rng = random.Random(SEED)
    phq9 = instruments.get("phq9")
    bands = {t: phq9.band_for(t) for t in range(phq9.min_total, phq9.max_total + 1)}
    now = timezone.now()
    with transaction.atomic():
        made = Client.objects.bulk_create(
            [
                Client(organisation=practice, legal_first_name=f"Client{i}",
                       legal_last_name=f"Bench{i}", email=f"client{i}@example.org",
                       date_of_birth=date(1960, 1, 1) + timedelta(days=i), state="OR")
                for i in range(n)
            ],
            batch_size=1000,
        )  # fmt: skip
        Course.objects.bulk_create(
            [
                Course(organisation=practice, client=c, therapist=therapists[i % 2],
                       pathway=PATHWAYS[(i // 3) % 2], delivery=DELIVERIES[i % 3],
                       condition=CONDITIONS[i % len(CONDITIONS)],
                       opened_at=now - timedelta(days=400))
                for i, c in enumerate(made)
            ],
            batch_size=1000,
        )  # fmt: skip
        rows = []
        for index, (client, count) in enumerate(zip(made, _counts(n), strict=True)):
            base = min(27, max(5, round(rng.gauss(16, 4.5))))
            drop = rng.choice([-0.15, 0.1, 0.3, 0.45, 0.55, 0.65, 0.8, 0.9])
            first = now - timedelta(days=7 * count + rng.uniform(1, 30))
            last_pk_row = None
            for j in range(count):
                value = base * (1 - drop * (j / max(count - 1, 1))) + rng.gauss(0, 1.6)
                total = base if j == 0 else min(27, max(0, round(value)))
                at = first + timedelta(days=7 * j)
                rows.append(
                    Response(organisation=practice, client=client, instrument="phq9",
                             total=total, band=bands[total].label,
                             severity=bands[total].severity, source="portal", started_at=at,
                             submitted_at=at)
                )  # fmt: skip
                last_pk_row = rows[-1]
            if count >= 3 and index % 50 == 7:
                rows.append(Response(organisation=practice, client=client, instrument="phq9",
                                     source="portal", started_at=now))  # fmt: skip
            if count >= 4 and index % 10 == 3:
                last_pk_row.needs_correction = True  # corrected once it has an id (_save)
            if len(rows) >= 20_000:
                _save(rows)
                rows = []
        _save(rows)
        log(f"{n} clients, {Response.objects.filter(organisation=practice).count()} responses")
        written = outcome_summaries_rebuild(organisation_id=practice.pk)
        log(f"{written} outcome summaries; built in {time.perf_counter() - started:.1f} s")
    return {"practice": practice, "admin": admin, "built": True}


def _save(rows: list) -> None:
    """Insert, then give each marked score a correction (the original keeps its row, the
    correction has the same time and another total)."""
    from kapflow.assessments.models import Response

    made = Response.objects.bulk_create(rows, batch_size=1000)
    fixes = [
        Response(organisation_id=r.organisation_id, client_id=r.client_id, instrument="phq9",
                 total=max(0, r.total - 3), band=r.band, severity=r.severity, source="staff",
                 started_at=r.submitted_at, submitted_at=r.submitted_at, corrects_id=r.pk,
                 correction_reason="Keyed from the wrong row.")
        for r in made
        if getattr(r, "needs_correction", False)
    ]  # fmt: skip
    Response.objects.bulk_create(fixes, batch_size=1000)


def drop_statistics() -> None:
    """Back to a database nothing ever analysed (as every installation was)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("sqlite_stat1", "sqlite_stat4"):
            cursor.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [table]
            )
            if cursor.fetchone():
                cursor.execute(f"DROP TABLE {table}")
    connection.close()  # the next connection reads the schema (and statistics) afresh


def timed(fn, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure(data: dict, repeat: int, old_repeat: int) -> dict:
    from django.db import connection
    from django.test import Client as HttpClient

    from kapflow.accounts.models import Membership
    from kapflow.clinical import instruments
    from kapflow.outcomes import selectors
    from tests.outcomes import oracle

    practice = data["practice"]
    admin = (
        Membership.objects.select_related("organisation", "user")
        .prefetch_related("roles")
        .get(pk=data["admin"].pk)
    )
    web = HttpClient()
    web.force_login(admin.user, backend="django.contrib.auth.backends.ModelBackend")

    def old():
        return oracle.recomputed_sums(
            organisation_id=practice.pk, instrument=instruments.PHQ9, group_by="pathway"
        )

    def new():
        return selectors.practice_sums(
            organisation_id=practice.pk, instrument=instruments.PHQ9, group_by="pathway"
        )

    def selector():
        report = selectors.practice_outcomes(actor=admin, instrument="phq9", group_by="pathway")
        return [(row.label, row.n) for row in report.rows]

    def http():
        response = web.get("/outcomes/practice/", {"group_by": "pathway"})
        if response.status_code != 200:
            raise SystemExit(f"GET /outcomes/practice/ answered {response.status_code}")

    key = lambda s: str(s.key)  # noqa: E731
    if sorted(new(), key=key) != sorted(old(), key=key):
        raise SystemExit("the stored summaries and the old computation disagree")
    connection.close()
    selector(), http()  # warm
    return {
        "old": timed(old, old_repeat),
        "selector": timed(selector, repeat),
        "http": timed(http, repeat),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--database", default="/tmp/kapflow-outcomes-10k.sqlite3")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--old-repeat", type=int, default=3)
    args = parser.parse_args(argv)
    setup(args.database)

    from django.db import connection

    from kapflow.core.sqlite import optimize

    data = build(args.clients)
    drop_statistics()
    log("timing on a database never analysed")
    before = measure(data, args.repeat, args.old_repeat)
    analysed = optimize()
    connection.close()
    log(f"optimize (ANALYZE within analysis_limit, PRAGMA optimize): {analysed * 1000:.0f} ms")
    log("timing after optimize")
    after = measure(data, args.repeat, args.old_repeat)
    size = Path(args.database).stat().st_size / 1024**2

    def cell(samples):
        return f"{statistics.median(samples):,.1f}"

    print(f"## Practice outcomes report on SQLite {connection.Database.sqlite_version}: "
          f"{args.clients:,} clients, grouped by pathway ({size:,.0f} MB file)\n")  # fmt: skip
    print("| What | never analysed: median ms | after optimize: median ms | runs |")
    print("|---|---:|---:|---:|")
    print(f"| old: sums from every response (before 0043) | {cell(before['old'])} | "
          f"{cell(after['old'])} | {args.old_repeat} |")  # fmt: skip
    print(f"| selector: practice_outcomes from the summaries | {cell(before['selector'])} | "
          f"{cell(after['selector'])} | {args.repeat} |")  # fmt: skip
    print(f"| http: GET /outcomes/practice/?group_by=pathway | {cell(before['http'])} | "
          f"{cell(after['http'])} | {args.repeat} |")  # fmt: skip
    print(f"\noptimize() itself: {analysed * 1000:,.0f} ms.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
