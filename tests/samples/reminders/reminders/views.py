from __future__ import annotations

from typing import TYPE_CHECKING

from django.shortcuts import render

from turbo.shortcuts import remove_frame, render_frame

from .forms import ReminderForm
from .models import Reminder

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def reminder_list(request: HttpRequest) -> HttpResponse:
    return render(request, "reminders/list.html", {"reminders": Reminder.objects.all()})


def reminder_form(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if request.POST.get("action") == "Clear":
            Reminder.objects.all().delete()
            return remove_frame(selector="#reminders li").response
        form = ReminderForm(request.POST)
        if form.is_valid():
            reminder = form.save()
            frame = render_frame(request, "reminders/item.html", {"reminder": reminder})
            return frame.append(id="reminders").response
    else:
        form = ReminderForm()
    return render(request, "reminders/form.html", {"form": form})


def reminder_search(request: HttpRequest) -> HttpResponse:
    found = Reminder.objects.filter(text__icontains=request.POST.get("search", ""))
    frame = render_frame(request, "reminders/items.html", {"reminders": found})
    return frame.replace(id="reminders").response
