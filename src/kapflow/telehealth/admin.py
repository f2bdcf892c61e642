"""Platform staff set a practice's telehealth choice (its own video link or kapflow's room);
rooms, seats and visits are reached through the app only."""

from django.contrib import admin

from kapflow.telehealth.models import TelehealthSettings

admin.site.register(TelehealthSettings)
