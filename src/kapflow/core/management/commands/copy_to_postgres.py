"""Move this installation's data to PostgreSQL (decision 0043; docs/deploy.md, "Moving from
SQLite to PostgreSQL"): every row of the current database into an empty, migrated
PostgreSQL database, all or nothing, ids kept and sequences reset."""

import os
import subprocess
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from kapflow.core.dbcopy import TARGET_ALIAS, CopyRefused, copy_database, target_connect


class Command(BaseCommand):
    help = (
        "Copy every row of the current database (DATABASE_URL, SQLite by default) into an "
        "empty PostgreSQL database, in one transaction: ids kept, sequences reset, the audit "
        "chain intact. Stop the web server, worker and scheduler first."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--to", required=True, metavar="URL", help="the target, postgres://user@host/name"
        )
        parser.add_argument(
            "--migrate",
            action="store_true",
            help="run migrate on the target first (it must still be empty)",
        )

    def _migrate(self, url: str) -> None:
        """`kapflow migrate` with the target as its database, in a process of its own: data
        migrations read `default` (few name another database), which here is the source."""
        env = {**os.environ, "DATABASE_URL": url}
        done = subprocess.run(
            [sys.executable, "-m", "kapflow", "migrate", "--no-input", "-v", "0"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise CommandError(f"migrate on the target failed:\n{done.stderr[-2000:]}")

    def handle(self, *args, to: str, migrate: bool = False, **options):
        try:
            target = target_connect(to)
        except CopyRefused as exc:
            raise CommandError(exc.message) from exc
        if connections["default"].settings_dict == target.settings_dict:
            raise CommandError("The target is the current database.")
        if migrate:
            self._migrate(to)
        verbose = options.get("verbosity", 1) > 1
        try:
            copied = copy_database(
                target=TARGET_ALIAS, progress=self.stdout.write if verbose else None
            )
        except CopyRefused as exc:
            raise CommandError(exc.message) from exc
        except DatabaseError as exc:
            # E.g. a text longer than its column, which SQLite never checked: fix and rerun.
            raise CommandError(f"The copy stopped and wrote nothing: {exc}") from exc
        with target.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh statistics for the planner on the new database
        rows = sum(t.rows for t in copied)
        self.stdout.write(
            f"Copied {rows} rows in {len(copied)} tables. Next: point DATABASE_URL at the new "
            "database and run `kapflow audit_verify`."
        )
