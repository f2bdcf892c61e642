"""`manage.py demo`: load the demo practice and print its sign-ins at KAPFLOW_BASE_URL.

The demo's times (today's sessions, doses an hour ago, overdue follow-ups) are relative to
the moment it is loaded, so a demo loaded on an earlier day is rebuilt: the database is
emptied (`flush`) and loaded again. That happens only when the database holds nothing but
the demo's organisations; otherwise the command says so and loads on top.
"""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from kapflow.demo.loader import demo_stale_since, load_demo, only_demo_organisations
from kapflow.demo.people import DEMO_PASSWORD, SIGN_INS


class Command(BaseCommand):
    help = (
        "Load the fictional demo practice (Harbor Light Therapy) and print the sign-ins. "
        "A demo loaded on an earlier day is rebuilt for today."
    )

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=40)
        parser.add_argument(
            "--rebuild", action="store_true", help="Empty the demo database and load it afresh."
        )

    def handle(self, *args, clients, rebuild, **options):
        stale_since = demo_stale_since()
        if rebuild or stale_since is not None:
            if only_demo_organisations():
                call_command("flush", interactive=False, verbosity=0)
                self.stdout.write(
                    f"Rebuilding the demo (it was loaded on {stale_since})."
                    if stale_since
                    else "Rebuilding the demo."
                )
            else:
                self.stdout.write(
                    "Not rebuilding the demo: this database holds other organisations too. "
                    f"Its times are as of {stale_since or 'its first load'}."
                )
        result = load_demo(clients=clients)
        # Raise the due and overdue items (follow-ups, integration) as cron would, without
        # printing the scan's notification e-mails.
        from django.test.utils import override_settings

        from kapflow.accounts.models import Organisation
        from kapflow.courses.services import deadline_scan

        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            for organisation in Organisation.objects.filter(kind="practice"):
                deadline_scan(organisation_id=organisation.pk)
        self.stdout.write(
            f"Demo loaded: {result['practice']} with partner {result['partner']}, "
            f"{result['clients']} clients."
        )
        self.stdout.write(f"Sign in at {settings.KAPFLOW_BASE_URL}/ with password {DEMO_PASSWORD}:")
        for email, _name, _org, roles, *_ in SIGN_INS:
            self.stdout.write(f"  {email:34} {', '.join(roles)}")
        if not settings.KAPFLOW_DEMO_MODE:
            self.stdout.write(
                "KAPFLOW_DEMO_MODE is off: staff sign-ins will be asked to enrol MFA."
            )
