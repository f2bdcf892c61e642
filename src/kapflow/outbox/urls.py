from django.urls import path

from kapflow.outbox import views

app_name = "outbox"
urlpatterns = [path("", views.outbox_list, name="list")]
