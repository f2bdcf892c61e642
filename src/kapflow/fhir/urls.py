"""/fhir/R4: metadata, bulk $export, Patient/{id}/$everything, read and search (decision
0048)."""

from django.urls import path, re_path

from kapflow.fhir import export_views, views

app_name = "fhir"

urlpatterns = [
    path("metadata", views.metadata, name="metadata"),
    path("$export", export_views.kickoff_system, name="export"),
    path("Patient/$export", export_views.kickoff_patient, name="export-patient"),
    path("Group/<str:group_id>/$export", export_views.kickoff_group, name="export-group"),
    path("$export-status/<str:token>", export_views.status, name="export-status"),
    path("$export-file/<str:token>/<str:name>", export_views.download, name="export-file"),
    path("Patient/<str:resource_id>/$everything", views.everything, name="everything"),
    path("<str:resource_type>/<str:resource_id>", views.read, name="read"),
    path("<str:resource_type>", views.search, name="search"),
    re_path(r"^(?P<rest>.*)$", views.unknown, name="unknown"),
]
