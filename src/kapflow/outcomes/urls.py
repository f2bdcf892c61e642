from django.urls import path

from kapflow.outcomes import views

app_name = "outcomes"
urlpatterns = [
    path("clients/<int:client_id>/", views.client_outcomes, name="client"),
    path("mine/", views.own_outcomes, name="mine"),
    path("practice/", views.practice_outcomes, name="practice"),
    path("practice.csv", views.practice_outcomes_csv, name="practice_csv"),
]
