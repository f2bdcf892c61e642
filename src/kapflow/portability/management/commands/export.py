"""`kapflow export --practice SLUG [--out FILE]`: the whole practice in one archive
(kapflow.portability.export; docs/deploy.md, "Moving a practice")."""

from datetime import UTC
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kapflow.core import clock
from kapflow.portability.export import ExportRefused, export_practice


class Command(BaseCommand):
    help = (
        "Write every record, stored file and audit event of one practice to an archive "
        "(a .tar.gz with a manifest of SHA-256 digests). The archive holds the records in "
        "the clear: keep it as you keep the database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--practice", required=True, metavar="SLUG")
        parser.add_argument("--out", metavar="FILE", help="default: SLUG-YYYY-MM-DD.kapflow.tar.gz")

    def handle(self, *args, practice: str, out: str | None = None, **options):
        quiet = options.get("verbosity", 1) == 0
        # The default name carries the export's UTC date (an operator's file, not a record).
        stamp = clock.now().astimezone(UTC).date().isoformat()
        target = Path(out or f"{practice}-{stamp}.kapflow.tar.gz")
        try:
            result = export_practice(
                slug=practice, out=target, progress=None if quiet else self.stdout.write
            )
        except ExportRefused as exc:
            raise CommandError(exc.message) from exc
        rows = sum(result.manifest["tables"].values())
        self.stdout.write(
            f"Wrote {result.path}: {rows} rows in {len(result.manifest['tables'])} tables, "
            f"{result.manifest['files']['count']} files, {result.seconds:.1f} s. "
            f"SHA-256 {result.sha256}"
        )
