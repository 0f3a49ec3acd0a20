from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.room_list, name="room_list"),
    path("rooms/new/", views.room_create, name="room_create"),
    path("rooms/<int:pk>/", views.room_detail, name="room_detail"),
    path("rooms/<int:pk>/delete/", views.room_delete, name="room_delete"),
    path("rooms/<int:pk>/messages/", views.message_create, name="message_create"),
    path("messages/<int:pk>/edit/", views.message_edit, name="message_edit"),
    path("messages/<int:pk>/delete/", views.message_delete, name="message_delete"),
]
