"""Re-encrypt every secret kept in the database under the first KAPFLOW_FIELD_KEYS key.

Rotation (decision 0034): put the new key first in KAPFLOW_FIELD_KEYS (keep the old ones after
it), restart, run this, then drop the old keys and restart again.
"""

from django.core.management.base import BaseCommand

from kapflow.accounts.services import field_secrets_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt TOTP seeds under the first KAPFLOW_FIELD_KEYS key (key rotation)."

    def handle(self, *args, **options):
        count = field_secrets_reencrypt()
        if options["verbosity"]:
            self.stdout.write(f"Re-encrypted {count} authenticator seed(s) with the first key.")
