from django.urls import path

from kapflow.patients import views

app_name = "patients"
urlpatterns = [
    path("", views.client_list, name="list"),
    path("new/", views.client_create, name="create"),
    path("<int:client_id>/", views.client_detail, name="detail"),
    path("<int:client_id>/edit/", views.client_edit, name="edit"),
    path("<int:client_id>/care-team/add/", views.care_team_add, name="care_team_add"),
    path("<int:client_id>/care-team/remove/", views.care_team_remove, name="care_team_remove"),
    path("<int:client_id>/portal-invite/", views.portal_invite, name="portal_invite"),
    path("emergency-access/", views.emergency_access, name="emergency_access"),
    path("emergency-access/report/", views.emergency_report, name="emergency_report"),
    path("emergency-access/<int:grant_id>/", views.emergency_detail, name="emergency_detail"),
    path("emergency-access/<int:grant_id>/end/", views.emergency_access_end, name="emergency_end"),
    path(
        "emergency-access/<int:grant_id>/review/", views.emergency_review, name="emergency_review"
    ),
    path(
        "emergency-access/<int:grant_id>/revoke/", views.emergency_revoke, name="emergency_revoke"
    ),
]
