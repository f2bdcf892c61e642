"""Public pages (/find/, /screen/, /consultation/) and the practice's (/directory/)."""

from django.urls import path

from kapflow.directory import views

app_name = "directory"
urlpatterns = [
    path("find/", views.search, name="search"),
    path("find/practice/<slug:slug>/", views.practice, name="practice"),
    path("find/clinician/<slug:slug>/", views.clinician, name="clinician"),
    path("find/clinician/<slug:slug>/request/", views.request_consultation, name="request"),
    path("find/request-sent/", views.request_sent, name="request_sent"),
    path("screen/", views.prescreen, name="prescreen"),
    path("consultation/<str:token>/", views.manage_request, name="manage_request"),
    path("directory/", views.manage, name="manage"),
    path(
        "directory/clinicians/<int:membership_id>/", views.manage_clinician, name="manage_clinician"
    ),
    path("directory/inquiries/", views.inquiries, name="inquiries"),
    path("directory/inquiries/<int:inquiry_id>/", views.inquiry, name="inquiry"),
    path("directory/funnel/", views.funnel, name="funnel"),
]
