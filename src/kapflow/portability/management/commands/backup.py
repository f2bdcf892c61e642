"""`kapflow backup FILE`: the whole database to one file (kapflow.portability.backup;
docs/deploy.md, "Backup and restore")."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kapflow.portability.backup import BackupRefused, backup, fingerprint


class Command(BaseCommand):
    help = (
        "Back up the whole database: pg_dump's custom format on PostgreSQL, SQLite's online "
        "backup on SQLite. Safe while the install runs. Stored files are not included."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE")
        parser.add_argument(
            "--fingerprint",
            action="store_true",
            dest="show_fingerprint",
            help="also print row counts and a digest of every table, to compare with what "
            "`kapflow restore` prints (stop writers first, or they will differ)",
        )

    def handle(self, *args, file: str, show_fingerprint: bool = False, **options):
        out = Path(file)
        try:
            backup(out=out)
        except BackupRefused as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Wrote {out} ({out.stat().st_size} bytes).")
        if show_fingerprint:
            self.stdout.write(f"Backed up: {fingerprint().line()}")
