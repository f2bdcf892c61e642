"""`kapflow restore FILE [--to URL]`: a `kapflow backup` file into an empty database
(kapflow.portability.backup; docs/deploy.md, "Backup and restore")."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from kapflow.portability.backup import (
    BackupRefused,
    database_settings,
    fingerprint,
    restore,
)

CHECK_ALIAS = "restore_check"


class Command(BaseCommand):
    help = (
        "Restore a backup made by `kapflow backup` into an empty database: the configured "
        "one (DATABASE_URL), or --to URL. Prints the restored tables' row counts and digest."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE")
        parser.add_argument("--to", metavar="URL", help="postgres://... or sqlite:///path")

    def handle(self, *args, file: str, to: str | None = None, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file} is not a file.")
        settings = database_settings(to)
        try:
            restore(path=path, settings=settings)
        except BackupRefused as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Restored {path} into {settings['NAME']}.")
        connections.settings[CHECK_ALIAS] = connections.configure_settings(
            {"default": {}, CHECK_ALIAS: settings}
        )[CHECK_ALIAS]
        try:
            self.stdout.write(f"Restored: {fingerprint(CHECK_ALIAS).line()}")
        finally:
            connections[CHECK_ALIAS].close()
