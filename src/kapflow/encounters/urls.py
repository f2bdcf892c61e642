"""Pages of the dosing session (the core screen), group sessions, and the client's and
companion's session pages. Ids only in URLs, never PHI."""

from django.urls import path

from kapflow.encounters import views

app_name = "encounters"

urlpatterns = [
    path("open/", views.session_open, name="open"),
    path("mine/", views.my_sessions, name="mine"),
    path("settings/", views.settings_page, name="settings"),
    path("groups/new/", views.group_new, name="group_new"),
    path("groups/<int:group_id>/", views.group_detail, name="group"),
    path("groups/<int:group_id>/rows/", views.group_rows, name="group_rows"),
    path("groups/<int:group_id>/add/", views.group_add, name="group_add"),
    path("groups/<int:group_id>/close/", views.group_close, name="group_close"),
    path("<int:session_id>/", views.session_detail, name="detail"),
    path("<int:session_id>/live/", views.session_live, name="live"),
    path("<int:session_id>/start/", views.session_start, name="start"),
    path("<int:session_id>/entries/<str:kind>/", views.entry_add, name="entry"),
    path(
        "<int:session_id>/entries/<int:entry_id>/correct/",
        views.entry_correct,
        name="correct",
    ),
    path("<int:session_id>/discharge/", views.session_discharge, name="discharge"),
    path("<int:session_id>/abandon/", views.session_abandon, name="abandon"),
    path("<int:session_id>/checklist/", views.checklist, name="checklist"),
    path("<int:session_id>/readout/", views.readout, name="readout"),
]
