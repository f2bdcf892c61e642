from django.urls import path

from kapflow.alerts import views

app_name = "alerts"
urlpatterns = [
    path("", views.alert_list, name="list"),
    path("report/", views.report, name="report"),
    path("report/<int:client_id>/", views.report, name="report_for"),
    path("help/<int:client_id>/", views.help_now, name="help"),
    path("sent/<int:alert_id>/", views.sent, name="sent"),
    path("<int:alert_id>/", views.detail, name="detail"),
    path("<int:alert_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("courses/<int:course_id>/banner/", views.course_banner, name="course_banner"),
]
