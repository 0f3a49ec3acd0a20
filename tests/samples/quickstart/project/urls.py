from __future__ import annotations

from django.urls import path
from django.views.generic import TemplateView
from quickstart import views

urlpatterns = [
    path("", TemplateView.as_view(template_name="quickstart/broadcast.html")),
    path("named/", views.named_broadcast),
]
