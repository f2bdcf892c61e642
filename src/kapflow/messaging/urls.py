from django.urls import path

from kapflow.messaging import views

app_name = "messaging"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("new/", views.thread_new, name="new"),
    path("<int:thread_id>/", views.thread, name="thread"),
    path("<int:thread_id>/participants/", views.participant_add, name="participant_add"),
    path("attachments/<int:attachment_id>/", views.attachment_download, name="attachment"),
]
