"""Benchmark the audit trail's hash chain on PostgreSQL (decision 0033).

What it measures
----------------
1. ``write.plain``: inserting one audit row with ``save(force_insert=True)`` in its own
   transaction, digests precomputed (what a write cost before the chain, plus two columns);
2. ``write.chained``: ``kapflow.audit.services.audit_record`` (advisory lock, read of the chain
   head, HMAC, insert) in its own transaction. The difference is the per-write overhead;
3. ``verify``: ``kapflow.audit.chain.verify`` over ``--events`` rows (default 1,000,000),
   generated in Python with valid digests and loaded with COPY, walked in batches of
   ``--batch-size``.

It needs a throwaway PostgreSQL database that it migrates and fills: pass it as
DATABASE_URL. Never point it at real data.

    createdb kfaudit_bench
    KAPFLOW_TESTING=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/kfaudit_bench \\
        .venv/bin/python bench/audit_chain.py --events 1000000
"""

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapflow.config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        sys.exit("PostgreSQL only: set DATABASE_URL to a throwaway database.")
    call_command("migrate", verbosity=0)
    from kapflow.audit import chain
    from kapflow.audit.models import AuditEvent
    from kapflow.audit.services import audit_record

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent RESTART IDENTITY")

    def _stats(samples):
        return statistics.median(samples) * 1e6, statistics.quantiles(samples, n=100)[94] * 1e6

    def timed(fn, n):
        for _ in range(n):
            fn()

    def plain():
        with transaction.atomic():
            AuditEvent(
                action="client.view", target_type="client", target_id=1, client_id=1,
                prev_digest="0" * 64, digest="1" * 64,
            ).save(force_insert=True)  # fmt: skip

    def chained():
        with transaction.atomic():
            audit_record(actor=None, action="client.view")

    timed(chained, 200)  # warm up (connection, plans, the first head read)
    # Interleaved, so that the shared machine's noise falls on both alike; commits are not
    # waited for (synchronous_commit off), so the fsync does not hide the difference.
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    plain_samples, chained_samples = [], []
    for _ in range(args.writes):
        for fn, samples in ((plain, plain_samples), (chained, chained_samples)):
            started = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - started)
    plain_median, plain_p95 = _stats(plain_samples)
    chained_median, chained_p95 = _stats(chained_samples)
    print(f"write.plain    median {plain_median:7.0f} us  p95 {plain_p95:7.0f} us")
    print(f"write.chained  median {chained_median:7.0f} us  p95 {chained_p95:7.0f} us")
    print(f"overhead       median {chained_median - plain_median:7.0f} us per write")

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent RESTART IDENTITY")
    started = time.perf_counter()
    key = chain.chain_key()
    prev = chain.GENESIS
    base = datetime(2026, 1, 1, tzinfo=UTC)
    columns = (
        "at, actor_id, organisation_id, record_organisation_id, action, target_type, target_id,"
        " client_id, subject_hash, request_id, client_request_id, ip_address, user_agent, route,"
        " changed_fields, prev_digest, digest"
    )
    raw = connection.connection  # psycopg 3
    with raw.cursor() as cursor, cursor.copy(f"COPY audit_auditevent ({columns}) FROM STDIN") as cp:
        for i in range(args.events):
            at = base + timedelta(milliseconds=37 * i)
            values = [
                at, 1000 + i % 40, 1 + i % 3, None, "client.view", "client", 5000 + i % 9000,
                5000 + i % 9000, "", f"{i:032x}", "", "10.0.0.1", "Mozilla/5.0 bench",
                "patients:detail", ["preferred_name"] if i % 10 == 0 else [],
            ]  # fmt: skip
            digest = chain.digest(key, prev, values)
            values[-1] = json.dumps(values[-1])
            cp.write_row([*values, prev, digest])
            prev = digest
    raw.commit()
    print(f"load           {args.events} events in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditevent")
    started = time.perf_counter()
    result = chain.verify(batch_size=args.batch_size)
    seconds = time.perf_counter() - started
    print(f"verify         {result.events} events, ok={result.ok}, {seconds:.1f} s "
          f"({result.events / seconds:,.0f} events/s)")  # fmt: skip


if __name__ == "__main__":
    main()
