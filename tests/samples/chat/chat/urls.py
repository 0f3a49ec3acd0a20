from __future__ import annotations

from django.urls import path

from . import views

app_name = "chat"
urlpatterns = [
    path("", views.RoomList.as_view(), name="rooms"),
    path("rooms/new/", views.RoomCreate.as_view(), name="room_create"),
    path("rooms/<int:pk>/", views.RoomDetail.as_view(), name="room"),
    path("rooms/<int:pk>/edit/", views.RoomUpdate.as_view(), name="room_update"),
    path("rooms/<int:pk>/send/", views.MessageCreate.as_view(), name="send"),
    path("rooms/<int:pk>/announce/", views.announce, name="announce"),
    path("messages/<int:pk>/delete/", views.message_delete, name="message_delete"),
]
