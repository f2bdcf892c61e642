from django.urls import path

from kapflow.assessments import views

app_name = "assessments"
urlpatterns = [
    path("clients/<int:client_id>/", views.client_assessments, name="client"),
    path("clients/<int:client_id>/enter/<str:instrument>/", views.enter, name="enter"),
    path("responses/<int:response_id>/", views.response_detail, name="response"),
    path("urgent/<int:task_id>/", views.urgent_task, name="urgent"),
    path("assignments/<int:assignment_id>/send-link/", views.link_send, name="link_send"),
    path("mine/", views.portal_list, name="portal"),
    path("mine/<int:assignment_id>/", views.portal_fill, name="portal_fill"),
]
