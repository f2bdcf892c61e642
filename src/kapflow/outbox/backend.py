"""An e-mail backend that keeps messages in the local outbox (decision 0039).

The default in demo, debug and test runs (pytest itself uses Django's locmem backend). It
prints nothing: the console backend printed client addresses and live invitation links to
the output. Several processes (the web server, a worker) share the outbox through the
database.
"""

from django.core.mail.backends.base import BaseEmailBackend

from kapflow.outbox.services import outbox_store


class OutboxBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            try:
                outbox_store(message=message)
            except Exception:
                if not self.fail_silently:
                    raise
                continue
            sent += 1
        return sent
