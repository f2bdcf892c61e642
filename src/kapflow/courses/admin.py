"""Platform staff see gate settings only; courses hold PHI and are reached through the app."""

from django.contrib import admin

from kapflow.courses.models import GateSettings

admin.site.register(GateSettings)
