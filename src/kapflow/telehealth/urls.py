from django.urls import path

from kapflow.telehealth import views

app_name = "telehealth"

urlpatterns = [
    path("settings/", views.settings_page, name="settings"),
    path("<int:appointment_id>/", views.room, name="room"),
]
