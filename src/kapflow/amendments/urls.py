from django.urls import path

from kapflow.amendments import views

app_name = "amendments"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("<int:amendment_id>/", views.detail, name="detail"),
    path("<int:amendment_id>/extend/", views.extend, name="extend"),
    path("<int:amendment_id>/accept/", views.accept, name="accept"),
    path("<int:amendment_id>/deny/", views.deny, name="deny"),
    path("<int:amendment_id>/rebut/", views.rebut, name="rebut"),
    path("mine/", views.mine, name="mine"),
    path("mine/new/", views.mine_new, name="mine_new"),
    path("mine/<int:amendment_id>/", views.mine_detail, name="mine_detail"),
]
