from django.urls import path

from kapflow.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.audit_list, name="list"),
    path("export.csv", views.audit_export, name="export"),
    path("verify/", views.export_verify, name="verify"),
    path(
        "clients/<int:client_id>/disclosures/",
        views.client_disclosures,
        name="client_disclosures",
    ),
    path(
        "clients/<int:client_id>/disclosures.pdf",
        views.client_disclosures_pdf,
        name="client_disclosures_pdf",
    ),
]
