"""`kapflow export_verify <file> [<file> ...]`: did kapflow produce this file, unchanged?

Hashes each file (SHA-256) and looks the hash up in the audit trail, where every export
recorded the digest of the file it sent (decision 0037). Prints ids, actions and times only,
never names. Exits non-zero when any file matches no export, or when the event that vouches
for it no longer carries its own digest. `--digest` checks a hash instead of a file (the
value of a download's Repr-Digest header, or 64 hex digits).
"""

import hashlib
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kapflow.audit.chain import event_intact
from kapflow.audit.exports import find_exports, parse_digest, repr_digest


def _file_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            hasher.update(block)
    return hasher.hexdigest()


class Command(BaseCommand):
    help = (
        "Hash exported files (SHA-256) and say whether kapflow produced them: each export's "
        "audit event holds the digest of the file it sent. Fails when a file matches none."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help="Exported files (CSV, PDF) to check.")
        parser.add_argument(
            "--digest", action="append", default=[], help="A SHA-256 to look up instead."
        )

    def handle(self, *args, files=(), digest=(), **options):
        if not files and not digest:
            raise CommandError("Name at least one file, or give --digest.")
        checks = []
        for name in files:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"{name}: not a file")
            checks.append((name, _file_digest(path)))
        for value in digest:
            parsed = parse_digest(value)
            if parsed is None:
                raise CommandError(f"{value}: not a SHA-256 (64 hex digits or sha-256=:...:)")
            checks.append(("digest", parsed))
        failed = []
        for label, hex_digest in checks:
            matches = find_exports(hex_digest=hex_digest)
            self.stdout.write(f"{label}: {repr_digest(hex_digest)}")
            if not matches:
                self.stdout.write(
                    "  NO MATCH: no kapflow export has this digest; the file was changed "
                    "after it was exported, or kapflow did not produce it."
                )
                failed.append(label)
                continue
            for event in matches:
                intact = event_intact(event)
                self.stdout.write(
                    f"  MATCH: audit event #{event.pk} {event.action} at "
                    f"{event.at.isoformat()} by user #{event.actor_id or '-'} for organisation "
                    f"#{event.organisation_id or '-'}"
                    + (f", client #{event.client_id}" if event.client_id else "")
                    + ("" if intact else " (THE EVENT WAS CHANGED: its own digest fails)")
                )
                if not intact:
                    failed.append(label)
        if failed:
            raise CommandError(f"not verified: {', '.join(failed)}")
        self.stdout.write("OK: kapflow produced every file given, unchanged.")
