from django.urls import path

from kapflow.courses import views

app_name = "courses"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("prescriber/", views.prescriber_dashboard, name="prescriber"),
    path("settings/", views.gate_settings, name="settings"),
    path("overrides/", views.override_report, name="overrides"),
    path("open/<int:client_id>/", views.course_open, name="open"),
    path("<int:course_id>/", views.course_detail, name="detail"),
    path("<int:course_id>/transition/", views.course_transition, name="transition"),
    path("<int:course_id>/record/", views.course_record, name="record"),
    path("<int:course_id>/dosing/", views.dosing_start, name="dosing"),
    path("<int:course_id>/overrides/sign/", views.override_sign, name="override_sign"),
]
