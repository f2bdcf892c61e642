from django.urls import path

from kapflow.portal import views

app_name = "portal"
urlpatterns = [
    path("access-report/", views.access_report, name="access_report"),
]
