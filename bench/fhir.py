"""FHIR bench: search and Patient/$everything at CLIENTS clients on PostgreSQL, through the
full Django stack (bearer token, audit INSERTs and all), and a bulk $export run.

    KAPFLOW_TESTING=1 .venv/bin/python bench/fhir.py [--clients 1000] [--repeat 30]
        [--export-only]

The system-level $export runs in a child process of its own, as the task worker would, so its
peak memory (VmHWM, and the Python heap's peak from tracemalloc in a second, slower run
with --tracemalloc) is the export's and not the searches'. It prints resources/s, the audit
rows the export wrote and the peak memory.

Uses (and creates) the database kapflow_fhirbench unless DATABASE_URL is set; builds the data
set with the suite's own factories (tests/fhir/test_fhir.py `_record`: one of every clinical
resource per client) and reuses it while the practice's client count matches. Before timing
it checks that each search page issues the same number of statements for a page of one row as
for a page of 50 (a fixed query count), and prints medians in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/kapflow_fhirbench"
PRACTICE = "FHIR Bench Practice"


def log(message: str) -> None:
    print(f"[bench fhir] {message}", file=sys.stderr, flush=True)


def setup(*, migrate: bool = True) -> None:
    os.environ["DATABASE_URL"] = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    os.environ.setdefault("KAPFLOW_TESTING", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapflow.config.settings")
    # This script is named fhir.py: its own directory must not shadow the `fhir` package
    # (fhir.resources, which the suite's factories import).
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    for path in (str(ROOT / "src"), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    if not migrate:  # the export's child process: the parent made the database ready
        import django

        django.setup()
        return
    import psycopg
    from psycopg import sql

    name = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
    admin_url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build(n: int):
    """The practice, its staff and n clients, each with one of every clinical resource."""
    from kapflow.accounts.models import Membership, Organisation, Role
    from kapflow.patients.models import Client
    from tests.accounts.factories import OrganisationFactory, PartnerFactory, member, partnership
    from tests.fhir.test_fhir import _record
    from tests.patients.factories import ClientFactory, on_team

    world = type("World", (), {})()
    started = time.perf_counter()
    practice = Organisation.objects.filter(name=PRACTICE).first()
    have = Client.objects.filter(organisation=practice).count() if practice else 0
    if have > n:
        sys.exit(f"{PRACTICE} has {have} clients, more than {n}: drop the bench database first.")
    if practice is None:
        world.practice = OrganisationFactory(name=PRACTICE, state="OR")
        partner = PartnerFactory(name="FHIR Bench Partner")
        partnership(world.practice, partner)
        world.admin = member(world.practice, Role.PRACTICE_ADMIN)
        world.therapist = member(world.practice, Role.THERAPIST, licences=[("LMFT", "OR")])
        prescriber = member(partner, Role.PRESCRIBER, licences=[("NP", "OR")])
    else:
        # Reuse what is there (an interrupted build is topped up to n clients).
        world.practice = practice
        staff = Membership.objects.filter(organisation=practice).order_by("pk")
        world.admin = staff.filter(roles__role=Role.PRACTICE_ADMIN).first()
        world.therapist = staff.filter(roles__role=Role.THERAPIST).first()
        prescriber = Membership.objects.filter(
            organisation__name="FHIR Bench Partner", roles__role=Role.PRESCRIBER
        ).first()
    if have:
        log(f"reusing {have} clients")
    for i in range(have, n):
        client = ClientFactory(organisation=world.practice)
        on_team(client, world.therapist)
        on_team(client, prescriber, role="prescriber", added_by=world.therapist.user)
        _record(world, client, world.therapist, prescriber)
        if (i + 1) % 100 == 0:
            log(f"{i + 1} clients built")
    world.client = Client.objects.filter(organisation=world.practice).order_by("pk").first()
    log(f"{n} clients ready in {time.perf_counter() - started:.0f} s")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return world


def median_ms(fn, repeat: int) -> float:
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def statements(fn) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured)


def _high_water_kb() -> int:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux keeps the parent's
    peak in it across fork and exec, so a child would report the bench's own size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_export(job_id: int, trace: bool) -> None:
    """The child process: run one export as the worker would and print what it cost (JSON)."""
    import json
    import tracemalloc

    setup(migrate=False)
    from django.conf import settings

    from kapflow.fhir import export

    settings.MEDIA_ROOT = os.environ.get("KAPFLOW_BENCH_MEDIA", settings.MEDIA_ROOT)
    baseline = _high_water_kb()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    result = export.export_run(export_id=job_id)
    seconds = time.perf_counter() - started
    heap_peak = tracemalloc.get_traced_memory()[1] if trace else None
    print(json.dumps({
        "resources": result["resources"], "seconds": seconds,
        "maxrss_kb": _high_water_kb(),
        "baseline_kb": baseline, "heap_peak_bytes": heap_peak,
    }))  # fmt: skip


def bulk_export(world, trace: bool = False) -> dict:
    """A system-level export of the whole practice, in a child process; its files are removed
    afterwards."""
    import json
    import subprocess
    import tempfile

    from kapflow.audit.models import AuditEvent
    from kapflow.fhir import export
    from kapflow.fhir.models import BulkExport
    from kapflow.fhir.selectors import SPECS

    BulkExport.objects.filter(requested_by=world.admin, status__in=["queued", "running"]).update(
        status="cancelled"
    )
    job = BulkExport.objects.create(
        organisation=world.admin.organisation, requested_by=world.admin,
        token=f"bench-{time.time_ns()}", level="system", types=list(SPECS), request_url="bench",
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as media:
        args = [sys.executable, str(Path(__file__).resolve()), "--run-export", str(job.pk)]
        if trace:
            args.append("--tracemalloc")
        done = subprocess.run(
            args, env={**os.environ, "KAPFLOW_BENCH_MEDIA": media}, capture_output=True,
            text=True, check=True,
        )  # fmt: skip
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        job.refresh_from_db()
        export.export_cancel(actor=world.admin, token=job.token)
    figures["audit_rows"] = AuditEvent.objects.filter(
        action="fhir.export", target_type="bulkexport", target_id=job.pk
    ).count()
    return figures


def print_export(figures: dict, label: str) -> None:
    rate = figures["resources"] / figures["seconds"]
    grown = (figures["maxrss_kb"] - figures["baseline_kb"]) / 1024
    line = (
        f"bulk $export (system{label}): {figures['resources']} resources in "
        f"{figures['seconds']:.1f} s, {rate:.0f} resources/s; {figures['audit_rows']} audit "
        f"rows; peak RSS {figures['maxrss_kb'] / 1024:.0f} MB ({grown:+.0f} MB over the "
        "process after start-up)"
    )
    if figures["heap_peak_bytes"] is not None:
        line += f"; Python heap peak {figures['heap_peak_bytes'] / 1024 / 1024:.1f} MB"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--export-only", action="store_true", help="skip the searches")
    parser.add_argument("--run-export", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_export:
        run_export(args.run_export, args.tracemalloc)
        return
    setup()
    from django.test import Client as HttpClient

    from kapflow.accounts import services as accounts
    from kapflow.accounts.models import ApiTokenScope
    from kapflow.fhir.selectors import SPECS

    world = build(args.clients)
    if args.export_only:
        print(f"\nFHIR bench, {args.clients} clients, PostgreSQL\n")
        print_export(bulk_export(world), "")
        print_export(bulk_export(world, trace=True), ", under tracemalloc")
        return
    _, secret = accounts.api_token_create(
        actor=world.admin, name="fhir-bench", mfa_verified=True, scope=ApiTokenScope.READ
    )
    web = HttpClient()
    headers = {"Authorization": f"Bearer {secret}"}

    def get(path: str, **params):
        def run():
            response = web.get(f"/fhir/R4/{path}", params, headers=headers)
            assert response.status_code == 200, (path, response.status_code)
            return response

        return run

    rows = []
    for name in SPECS:
        page = get(name, _count=50)
        small = get(name, _count=1)
        # Group's audit INSERTs grow with its members (one per 1,000 clients it names, the
        # bound PostgreSQL puts on one statement's parameters): not a fixed count.
        counts = None if name == "Group" else (statements(small), statements(page))
        rows.append((f"search {name} (_count=50)", median_ms(page, args.repeat), counts))
    include = get("Encounter", _count=50, _include="Encounter:patient")
    rows.append(
        (
            "search Encounter + _include (_count=50)",
            median_ms(include, args.repeat),
            (statements(get("Encounter", _count=1, _include="Encounter:patient")),
             statements(include)),
        )
    )  # fmt: skip
    one = get("MedicationRequest", patient=world.client.pk)
    rows.append(("search MedicationRequest?patient=", median_ms(one, args.repeat), None))
    everything = get(f"Patient/{world.client.pk}/$everything")
    rows.append(("Patient/$everything", median_ms(everything, args.repeat), None))

    figures = bulk_export(world)

    print(f"\nFHIR bench, {args.clients} clients, PostgreSQL, median of {args.repeat} runs\n")
    print("| request | median ms | statements (1 row / 50 rows) |")
    print("|---|---:|---|")
    for label, ms, counts in rows:
        fixed = "" if counts is None else f"{counts[0]} / {counts[1]}"
        print(f"| {label} | {ms:.1f} | {fixed} |")
    print()
    print_export(figures, "")
    unequal = [label for label, _, counts in rows if counts and counts[0] != counts[1]]
    if unequal:
        sys.exit(f"query counts differ between 1 and 50 rows: {unequal}")


if __name__ == "__main__":
    main()
