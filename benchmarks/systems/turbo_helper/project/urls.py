"""No pages: the websocket, and the save view the POST scenarios post to."""

from __future__ import annotations

from chat.views import create_message
from django.urls import path

urlpatterns = [path("messages/", create_message)]
