from django.urls import path

from kapflow.consents import views

app_name = "consents"
urlpatterns = [
    path("documents/", views.documents, name="documents"),
    path("documents/<int:document_id>/", views.document_detail, name="document"),
    path("clients/<int:client_id>/", views.client_consents, name="client"),
    path("signatures/<int:signature_id>/", views.signature_detail, name="signature"),
    path(
        "signatures/<int:signature_id>/withdraw/",
        views.signature_withdraw,
        name="signature_withdraw",
    ),
    path("mine/", views.mine, name="mine"),
    path("mine/<int:document_id>/sign/", views.sign, name="sign"),
    path("mine/signed/<int:signature_id>/", views.signed, name="signed"),
    path("mine/signed/<int:signature_id>/withdraw/", views.withdraw, name="withdraw"),
]
