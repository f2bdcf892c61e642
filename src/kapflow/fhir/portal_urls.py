"""The client's own record as a FHIR Bundle, under /me/record/ (decision 0048)."""

from django.urls import path

from kapflow.fhir import views

app_name = "fhir_portal"

urlpatterns = [
    path("fhir.json", views.my_record, name="my_record"),
    path("record.pdf", views.my_record_pdf, name="my_record_pdf"),
]
