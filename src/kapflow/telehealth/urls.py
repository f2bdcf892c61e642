from django.urls import path

from kapflow.telehealth import views

app_name = "telehealth"

urlpatterns = [
    path("<int:appointment_id>/", views.room, name="room"),
]
