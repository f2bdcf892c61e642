from django.urls import path

from kapflow.scheduling import views

app_name = "scheduling"

urlpatterns = [
    path("", views.week, name="week"),
    path("book/", views.book, name="book"),
    path("<int:appointment_id>/", views.appointment_detail, name="detail"),
    path("<int:appointment_id>/reschedule/", views.reschedule, name="reschedule"),
    path("<int:appointment_id>/cancel/", views.cancel, name="cancel"),
    path("<int:appointment_id>/mark/", views.mark, name="mark"),
    path("<int:appointment_id>/check-in/", views.check_in, name="check_in"),
    path("<int:appointment_id>/start/", views.start, name="start"),
    path("<int:appointment_id>/complete/", views.complete, name="complete"),
    path("availability/", views.availability, name="availability"),
    path("rooms/", views.rooms, name="rooms"),
    path("calendar/", views.calendar, name="calendar"),
    path("feed/<str:token>.ics", views.feed, name="feed"),
    path("mine/", views.mine, name="mine"),
    path("mine/book/", views.self_book, name="self_book"),
    path("companion/", views.companion, name="companion"),
]
