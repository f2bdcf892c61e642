from django.urls import path

from kapflow.billing import views

app_name = "billing"
urlpatterns = [
    path("", views.workbench, name="workbench"),
    path("finance/", views.finance, name="finance"),
    path("charge/", views.charge, name="charge"),
    path("fees/", views.fee_schedule, name="fees"),
    path("settings/", views.billing_settings, name="settings"),
    path("statements/run/", views.statements_run, name="statements_run"),
    path("claims.csv", views.claims_csv, name="claims_csv"),
    path("invoices/", views.invoice_list, name="invoices"),
    path("invoices/<int:invoice_id>/", views.invoice_detail, name="invoice"),
    path(
        "invoices/<int:invoice_id>/superbill.pdf",
        views.invoice_superbill,
        name="invoice_superbill",
    ),
    path("invoices/<int:invoice_id>/<str:action>/", views.invoice_action, name="invoice_action"),
    path("clients/<int:client_id>/", views.client_billing, name="client"),
    path("clients/<int:client_id>/superbill.pdf", views.client_superbill, name="client_superbill"),
    path("me/", views.mine, name="mine"),
    path("me/superbill.pdf", views.mine_superbill, name="mine_superbill"),
    path("me/invoices/<int:invoice_id>/receipt.pdf", views.mine_receipt, name="mine_receipt"),
    path("me/statements/<int:statement_id>.pdf", views.mine_statement, name="mine_statement"),
]
