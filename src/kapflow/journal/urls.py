from django.urls import path

from kapflow.journal import views

app_name = "journal"
urlpatterns = [
    path("", views.entry_list, name="list"),
    path("new/", views.entry_new, name="new"),
    path("<int:entry_id>/edit/", views.entry_edit, name="edit"),
    path("<int:entry_id>/delete/", views.entry_delete, name="delete"),
    path("courses/<int:course_id>/", views.course_entries, name="course"),
]
