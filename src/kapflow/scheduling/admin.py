"""Platform admin for the practice-level scheduling objects that hold no PHI (rooms and
settings). Appointments are not here: they link clients to times, and are read and changed
only through the pages and the API, with the audit trail."""

from django.contrib import admin

from kapflow.scheduling.models import Room, SchedulingSettings


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "organisation", "capacity", "is_active")
    list_filter = ("is_active",)


@admin.register(SchedulingSettings)
class SchedulingSettingsAdmin(admin.ModelAdmin):
    list_display = ("organisation", "group_size_max", "reminder_offsets", "reminder_sms")
