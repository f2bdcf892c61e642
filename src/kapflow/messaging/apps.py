from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "kapflow.messaging"
    label = "messaging"
    verbose_name = "Secure messages"
