from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "kapflow.accounts"
    label = "accounts"
    verbose_name = "Accounts and organisations"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from kapflow.core.middleware import session_clock_start

        # Automatic logoff's clocks start at sign-in (decision 0032).
        user_logged_in.connect(session_clock_start, dispatch_uid="kapflow_session_clock")
