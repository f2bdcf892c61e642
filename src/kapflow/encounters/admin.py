"""Platform staff see session settings only; sessions hold PHI and are reached through the
app (the practice's admins edit the settings at /sessions/settings/)."""

from django.contrib import admin

from kapflow.encounters.models import SessionSettings

admin.site.register(SessionSettings)
