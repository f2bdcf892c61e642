from django.urls import path

from kapflow.portal import views

app_name = "portal"
urlpatterns = [
    path("access-report/", views.access_report, name="access_report"),
    path("access-report/disclosures.pdf", views.access_report_pdf, name="access_report_pdf"),
    path("companion/new/", views.companion_new, name="companion_new"),
    path("companions/<int:companion_id>/", views.companion_detail, name="companion"),
]
