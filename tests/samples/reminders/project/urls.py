from __future__ import annotations

from django.urls import path
from reminders import views

urlpatterns = [
    path("", views.reminder_list, name="reminder_list"),
    path("form/", views.reminder_form, name="reminder_form"),
    path("search/", views.reminder_search, name="reminder_search"),
]
