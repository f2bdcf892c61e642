"""WebSocket routes (kapflow.config.asgi). Only ids in the path, never PHI."""

from django.urls import path

from kapflow.telehealth.consumers import RoomConsumer

websocket_urlpatterns = [
    path("ws/telehealth/<int:appointment_id>/", RoomConsumer.as_asgi()),
]
