"""/fhir/R4: metadata, Patient/{id}/$everything, read and search (decision 0048)."""

from django.urls import path, re_path

from kapflow.fhir import views

app_name = "fhir"

urlpatterns = [
    path("metadata", views.metadata, name="metadata"),
    path("Patient/<str:resource_id>/$everything", views.everything, name="everything"),
    path("<str:resource_type>/<str:resource_id>", views.read, name="read"),
    path("<str:resource_type>", views.search, name="search"),
    re_path(r"^(?P<rest>.*)$", views.unknown, name="unknown"),
]
