from django.conf import settings
from django.core.management.base import BaseCommand

from kapflow.core.demo import DEMO_PASSWORD, SIGN_INS, load_demo


class Command(BaseCommand):
    help = "Load the fictional demo practice (Harbor Light Therapy) and print the sign-ins."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=40)

    def handle(self, *args, clients, **options):
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
