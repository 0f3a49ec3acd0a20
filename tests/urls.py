from __future__ import annotations

from django.urls import path

from tests.testapp import views

urlpatterns = [
    path("rooms/<int:pk>/", views.room, name="room"),
    path("rooms/<int:pk>/say/", views.say, name="say"),
]
