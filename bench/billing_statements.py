"""The month-end statement run (issue 15, decision 0045): total time, and queries per client.

Builds (or reuses) one practice with N clients (default 20,000), each with one issued invoice
this month and, for every other client, a payment: rows written with bulk_create, since the
charges themselves are not what is measured. Then times
kapflow.billing.services.statements_run for the month, `--repeat` times (each run replaces
the month's statements), and counts its queries for N clients and for a practice of 10: the
count must be the same (the run is a few aggregates and one bulk insert in batches of 2,000,
not counting the statements' INSERTs, batched 2,000 rows at a time).

    KAPFLOW_TESTING=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/kfbilling_bench \\
        .venv/bin/python bench/billing_statements.py [--clients 20000] [--repeat 5]

Without DATABASE_URL it uses a SQLite file under /tmp. It migrates and fills the database:
never point it at real data. The markdown table goes to stdout, progress to stderr.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import date
from decimal import Decimal

EMAIL = "bench-billing@kapflow-bench.example"


def log(message: str) -> None:
    print(f"[billing-statements] {message}", file=sys.stderr, flush=True)


def practice_with(n: int, slug: str):
    """A practice of `n` clients with an issued invoice each (reused when the count matches)."""
    from kapflow.accounts.models import Organisation, User
    from kapflow.billing.models import Invoice, Payment
    from kapflow.patients.models import Client

    org, _ = Organisation.objects.get_or_create(
        slug=slug, defaults={"name": f"Bench billing {n}", "kind": "practice", "state": "OR"}
    )
    if Invoice.objects.for_org(org).count() == n:
        return org
    user = User.objects.filter(email=EMAIL).first() or User.objects.create_user(EMAIL, None)
    Payment.objects.for_org(org).delete()
    Invoice.objects.for_org(org).delete()
    Client.objects.for_org(org).delete()
    from kapflow.core import clock

    today = clock.clinical_date(org).replace(day=1)
    clients = Client.objects.bulk_create(
        [Client(organisation=org, legal_first_name="Bench", legal_last_name=f"Client {i}",
                date_of_birth=date(1980, 1, 1)) for i in range(n)],
        batch_size=5000,
    )  # fmt: skip
    invoices = Invoice.objects.bulk_create(
        [Invoice(organisation=org, client=c, number=i + 1, state="issued", created_by=user,
                 issued_on=today, total=Decimal("330.00"), client_total=Decimal("330.00"),
                 balance=Decimal("330.00")) for i, c in enumerate(clients)],
        batch_size=5000,
    )  # fmt: skip
    Payment.objects.bulk_create(
        [Payment(organisation=org, invoice=inv, amount=Decimal("100.00"), method="manual",
                 received_on=today, recorded_by=user) for inv in invoices[::2]],
        batch_size=5000,
    )  # fmt: skip
    return org


def queries(org, month: date) -> int:
    """The run's queries other than the statements' batched INSERTs (their number follows
    the engine's batch size: 2,000 rows on PostgreSQL, fewer on SQLite's parameter limit)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kapflow.billing.services import statements_run

    with CaptureQueriesContext(connection) as captured:
        statements_run(organisation=org, month_start=month)
    return sum(
        1
        for q in captured.captured_queries
        if not q["sql"].startswith('INSERT INTO "billing_statement"')
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "sqlite:////tmp/kapflow-billing-bench.sqlite3")
    os.environ.setdefault("KAPFLOW_TESTING", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapflow.config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from kapflow.billing.services import statements_run

    call_command("migrate", verbosity=0)
    log(f"building {args.clients} clients")
    big = practice_with(args.clients, f"bench-billing-{args.clients}")
    small = practice_with(10, "bench-billing-10")
    from kapflow.core import clock

    month = clock.clinical_date(big).replace(day=1)
    q_big, q_small = queries(big, month), queries(small, month)
    times = []
    for i in range(args.repeat):
        started = time.perf_counter()
        count = statements_run(organisation=big, month_start=month)
        times.append(time.perf_counter() - started)
        log(f"run {i + 1}: {times[-1]:.2f} s, {count} statements")
    print("| clients | runs | median s | max s | queries (N) | queries (10) | per client |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.clients} | {args.repeat} | {statistics.median(times):.2f} | "
          f"{max(times):.2f} | {q_big} | {q_small} | {q_big / args.clients:.4f} |")  # fmt: skip
    if q_big != q_small:
        log("FAIL: the query count grows with the number of clients")
        sys.exit(1)


if __name__ == "__main__":
    main()
