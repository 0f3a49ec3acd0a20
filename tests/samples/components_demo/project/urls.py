from __future__ import annotations

from app import views
from django.urls import include, path

urlpatterns = [
    path("", views.home, name="home"),
    path("cart/add/", views.add_to_cart, name="add_to_cart"),
    path("inbox/", views.inbox, name="inbox"),
    path("accounts/", include("django.contrib.auth.urls")),
]
