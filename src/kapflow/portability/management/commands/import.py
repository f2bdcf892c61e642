"""`kapflow import FILE`: a practice archive into an empty install
(kapflow.portability.importer; docs/deploy.md, "Moving a practice")."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kapflow.portability.importer import ImportRefused, import_practice


class Command(BaseCommand):
    help = (
        "Load a practice archive written by `kapflow export` into this install, which must be "
        "empty (migrated, nothing else). Checks every member's SHA-256 first; all or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE")
        parser.add_argument(
            "--rechain-audit",
            action="store_true",
            help="when the archive's audit trail was chained under another KAPFLOW_AUDIT_KEY, "
            "chain it again under this install's key instead of refusing",
        )

    def handle(self, *args, file: str, rechain_audit: bool = False, **options):
        quiet = options.get("verbosity", 1) == 0
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file} is not a file.")
        try:
            result = import_practice(
                path=path,
                rechain_audit=rechain_audit,
                progress=None if quiet else self.stdout.write,
            )
        except ImportRefused as exc:
            raise CommandError(exc.message) from exc
        if not result.audit.ok:
            raise CommandError(
                f"Imported, but the audit trail does not verify at event "
                f"{result.audit.broken_id}: {result.audit.detail}"
            )
        self.stdout.write(
            f"Imported {result.manifest['practice']['slug']}: {result.rows} rows, "
            f"{result.files} files, audit trail intact ({result.audit.events} events), "
            f"{result.seconds:.1f} s."
        )
