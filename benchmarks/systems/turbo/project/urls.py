"""No pages: the websocket, and the save view the POST scenarios post to."""

from __future__ import annotations

from django.urls import path
from feed.views import create_message

urlpatterns = [path("messages/", create_message)]
