from django.urls import path

from kapflow.notes import views

app_name = "notes"

urlpatterns = [
    path("clients/<int:client_id>/", views.client_notes, name="client"),
    path("clients/<int:client_id>/records.pdf", views.records_pdf, name="records_pdf"),
    path("new/", views.note_new, name="new"),
    path("cosign/", views.cosign_queue, name="cosign_queue"),
    path("supervision/", views.supervision, name="supervision"),
    path("<int:note_id>/", views.note_detail, name="detail"),
    path("<int:note_id>.pdf", views.note_pdf, name="pdf"),
    path("<int:note_id>/save/", views.note_autosave, name="autosave"),
    path("<int:note_id>/sign/", views.note_sign, name="sign"),
    path("<int:note_id>/delete/", views.note_delete, name="delete"),
    path("<int:note_id>/addenda/", views.note_addendum, name="addendum"),
    path("<int:note_id>/cosign/", views.note_cosign, name="cosign"),
]
