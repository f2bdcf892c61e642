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
]
